/* parser.y: the grammar of .model files. Each action only builds AST nodes
 * (ast.c); meaning is given by sema.c. Productions read as the language
 * reference (docs/LANGUAGE.md) describes them. Errors recover at the end of the
 * statement, so one run reports several. */
%define api.pure full
%define api.prefix {dmc_yy}
%define parse.error detailed
%locations
%param {void *scanner}
%parse-param {struct LexState *st}

%code requires {
#include "dmc.h"
typedef struct DMC_YYLTYPE {
  int first_line, first_column, last_line, last_column;
  SrcFile *file;
} DMC_YYLTYPE;
#define DMC_YYLTYPE_IS_DECLARED 1
struct LexState {
  SrcFile *file;
  int line, col, depth, eof_done, err_line;
  Loc open[64];          // unclosed ( [ {, innermost last
  char open_ch[64];
  int nopen;
  Loc unclosed;          // a ( or [ left open when a statement keyword was met
  char unclosed_ch;
  Node *result;
};
}

%code {
#include <string.h>
int dmc_yylex(DMC_YYSTYPE *yylval, DMC_YYLTYPE *yylloc, void *scanner);
#define YYLLOC_DEFAULT(Cur, Rhs, N)                                  \
  do {                                                               \
    if (N) {                                                         \
      (Cur).file = YYRHSLOC(Rhs, 1).file;                            \
      (Cur).first_line = YYRHSLOC(Rhs, 1).first_line;                \
      (Cur).first_column = YYRHSLOC(Rhs, 1).first_column;            \
      (Cur).last_line = YYRHSLOC(Rhs, N).last_line;                  \
      (Cur).last_column = YYRHSLOC(Rhs, N).last_column;              \
    } else {                                                         \
      (Cur) = YYRHSLOC(Rhs, 0);                                      \
      (Cur).first_line = (Cur).last_line;                            \
      (Cur).first_column = (Cur).last_column;                        \
    }                                                                \
  } while (0)

static Loc L(DMC_YYLTYPE l) {
  Loc loc = {l.file, l.first_line, l.first_column,
             l.last_line == l.first_line ? l.last_column : 0};
  return loc;
}
static Node *mk(NodeKind k, DMC_YYLTYPE l) { return ast_new(k, L(l)); }
static Node *binop(const char *op, Node *a, Node *b, DMC_YYLTYPE l) {
  Node *n = mk(ND_BINOP, l);
  n->name = op; n->a = a; n->b = b;
  return n;
}
static void dmc_yyerror(DMC_YYLTYPE *l, void *scanner, struct LexState *st, const char *msg) {
  (void)scanner;
  if (st->err_line == l->first_line) return;   // the lexer already reported this line
  st->err_line = l->first_line;
  if (!strcmp(msg, "memory exhausted")) {
    diag_error(L(*l), "expression is nested too deeply");
    return;
  }
  diag_error(L(*l), "%s", msg);
  if (strstr(msg, "unexpected '('")) diag_hint("a call has no space before its '(': write f(x)");
  if (st->unclosed_ch) {
    diag_note(st->unclosed, "this '%c' is not closed", st->unclosed_ch);
    st->unclosed_ch = 0;
  } else if (strstr(msg, "end of file") && st->nopen > 0) {
    diag_note(st->open[st->nopen - 1], "this '%c' is not closed", st->open_ch[st->nopen - 1]);
  }
}
}

%union { Node *node; }

%token NEWLINE "newline"
%token <node> MODEL "model" DATA "data" FEATURE "feature" LABEL "label" TABLE "table"
%token <node> PARAMKW "param" DEF "def" OUTPUT "output" LOSS "loss" TRAIN "train"
%token <node> FOR "for" IN "in" IF "if" ELSE "else" RETURN "return" FROM "from"
%token <node> AND "and" OR "or" NOT "not"
%token DOTDOT ".." ARROW "->" EQ "==" NE "!=" LE "<=" GE ">="
%token <node> IDENT "identifier" CALL "function name" NUMBER "number" STRING "string"

%type <node> stmts stmt simple compound block else_part options option optval
%type <node> columns column keyword expr postfix primary call args arg exprs exprs_opt
%type <node> dparams dparam_list dparam dims dims_opt retshape ident

%left OR
%left AND
%precedence NOT
%nonassoc EQ NE '<' LE '>' GE
%left '+' '-'
%left '*' '/' '@'
%precedence UMINUS

%%

program: stmts                   { st->result = $1; }
       ;

stmts: %empty                    { $$ = NULL; }
     | stmts stmt                { $$ = ast_append($1, $2); }
     | stmts NEWLINE             { $$ = $1; }
     ;

stmt: simple NEWLINE             { $$ = $1; }
    | compound                   { $$ = $1; }
    | error NEWLINE              { $$ = NULL; yyerrok; }
    ;

/* ident: a name in a position where a function name is also fine (def f (x)). */
ident: IDENT | CALL ;

simple: MODEL IDENT                            { $$ = mk(ND_MODEL, @2); $$->name = $2->name; }
      | DATA IDENT options                     { $$ = mk(ND_DATA, @2); $$->name = $2->name; $$->list = $3; }
      | FEATURE IDENT ':' IDENT FROM columns options
          { $$ = mk(ND_FEATURE, @2); $$->name = $2->name; $$->str = $4->name; $$->b = $4;
            $$->list2 = $6; $$->list = $7; }
      | FEATURE IDENT ':' IDENT '[' expr ']' FROM columns options
          { $$ = mk(ND_FEATURE, @2); $$->name = $2->name; $$->str = $4->name; $$->b = $4;
            $$->a = $6; $$->list2 = $9; $$->list = $10; }
      | FEATURE IDENT ':' call options
          { $$ = mk(ND_FEATURE, @2); $$->name = $2->name; $$->c = $4; $$->str = $4->name;
            $$->b = $4; $$->list = $5; }
      | LABEL IDENT FROM columns options
          { $$ = mk(ND_LABEL, @2); $$->name = $2->name; $$->list2 = $4; $$->list = $5; }
      | TABLE IDENT '[' exprs ']' options
          { $$ = mk(ND_TABLE, @2); $$->name = $2->name; $$->list2 = $4; $$->list = $6; }
      | PARAMKW IDENT '[' exprs ']' options
          { $$ = mk(ND_PARAMDECL, @2); $$->name = $2->name; $$->list2 = $4; $$->list = $6; }
      | IDENT '=' expr                         { $$ = mk(ND_ASSIGN, @1); $$->name = $1->name; $$->a = $3; }
      | OUTPUT IDENT                           { $$ = mk(ND_OUTPUT, @2); $$->name = $2->name; }
      | OUTPUT IDENT '=' expr                  { $$ = mk(ND_OUTPUT, @2); $$->name = $2->name; $$->a = $4; }
      | LOSS expr                              { $$ = mk(ND_LOSS, @2); $$->a = $2; }
      | TRAIN args                             { $$ = mk(ND_TRAIN, @1); $$->list = $2; }
      | RETURN expr                            { $$ = mk(ND_RETURN, @1); $$->a = $2; }
      ;

compound: DEF ident '(' dparams ')' retshape block
            { $$ = mk(ND_DEF, @2); $$->name = $2->name; $$->list = $4; $$->list2 = $6;
              $$->has_shape = $6 != NULL; $$->a = $7; if ($6 && $6->kind == ND_LIST) { $$->list2 = $6->list; } }
        | FOR IDENT IN expr block                { $$ = mk(ND_FOR, @1); $$->name = $2->name; $$->a = $4; $$->b = $5; $$->c = $2; }
        | IF expr block else_part                { $$ = mk(ND_IF, @1); $$->a = $2; $$->b = $3; $$->c = $4; }
        ;

else_part: %empty                        { $$ = NULL; }
         | ELSE block                    { $$ = $2; }
         | ELSE IF expr block else_part  { Node *n = mk(ND_IF, @2); n->a = $3; n->b = $4; n->c = $5;
                                           $$ = mk(ND_LIST, @2); $$->list = n; }
         ;

/* A block is a statement list wrapped in an ND_LIST node (so empty blocks exist). */
block: '{' stmts '}'                     { $$ = mk(ND_LIST, @1); $$->list = $2; }
     | '{' stmts simple '}'              { $$ = mk(ND_LIST, @1); $$->list = ast_append($2, $3); }
     ;

retshape: %empty                         { $$ = NULL; }
        | ARROW '[' dims_opt ']'         { $$ = mk(ND_LIST, @2); $$->list = $3; }
        ;

dparams: %empty                          { $$ = NULL; }
       | dparam_list                     { $$ = $1; }
       ;
dparam_list: dparam                      { $$ = $1; }
           | dparam_list ',' dparam      { $$ = ast_append($1, $3); }
           ;
dparam: IDENT                            { $$ = mk(ND_DEFPARAM, @1); $$->name = $1->name; }
      | IDENT '[' dims_opt ']'           { $$ = mk(ND_DEFPARAM, @1); $$->name = $1->name;
                                           $$->has_shape = true; $$->list2 = $3; }
      | IDENT '=' expr                   { $$ = mk(ND_DEFPARAM, @1); $$->name = $1->name; $$->a = $3; }
      ;
dims_opt: %empty                         { $$ = NULL; }
        | dims                           { $$ = $1; }
        ;
dims: IDENT                              { $$ = $1; }
    | NUMBER                             { $$ = $1; }
    | dims ',' IDENT                     { $$ = ast_append($1, $3); }
    | dims ',' NUMBER                    { $$ = ast_append($1, $3); }
    ;

columns: column                          { $$ = $1; }
       | columns ',' column              { $$ = ast_append($1, $3); }
       ;
column: IDENT                            { $$ = mk(ND_COLUMN, @1); $$->str = $1->name; }
      | keyword                          { $$ = mk(ND_COLUMN, @1); $$->str = $1->name; }
      | STRING                           { $$ = mk(ND_COLUMN, @1); $$->str = $1->str; }
      | IDENT DOTDOT IDENT               { $$ = mk(ND_COLUMN, @$); $$->str = $1->name; $$->b = $3; }
      | IDENT ':' IDENT                  { $$ = mk(ND_COLUMN, @$); $$->str = $1->name; $$->c = $3; }
      ;

/* a column may be named like a keyword (`from label`) */
keyword: MODEL | DATA | FEATURE | LABEL | TABLE | PARAMKW | DEF | OUTPUT | LOSS | TRAIN
       | FOR | IN | IF | ELSE | RETURN | FROM | AND | OR | NOT ;

options: %empty                          { $$ = NULL; }
       | options option                  { $$ = ast_append($1, $2); }
       ;
option: IDENT                            { $$ = mk(ND_OPTION, @1); $$->name = $1->name; }
      | IDENT optval                     { $$ = mk(ND_OPTION, @1); $$->name = $1->name; $$->a = $2; }
      ;
optval: NUMBER                           { $$ = $1; }
      | '-' NUMBER                       { $$ = $2; $$->num = -$$->num; }
      | STRING                           { $$ = $1; }
      | call                             { $$ = $1; }
      | '[' exprs_opt ']'                { $$ = mk(ND_LIST, @$); $$->list = $2; }
      ;

expr: expr OR expr                       { $$ = binop("or", $1, $3, @2); }
    | expr AND expr                      { $$ = binop("and", $1, $3, @2); }
    | NOT expr                           { $$ = mk(ND_UNOP, @1); $$->name = "not"; $$->a = $2; }
    | expr EQ expr                       { $$ = binop("==", $1, $3, @2); }
    | expr NE expr                       { $$ = binop("!=", $1, $3, @2); }
    | expr '<' expr                      { $$ = binop("<", $1, $3, @2); }
    | expr LE expr                       { $$ = binop("<=", $1, $3, @2); }
    | expr '>' expr                      { $$ = binop(">", $1, $3, @2); }
    | expr GE expr                       { $$ = binop(">=", $1, $3, @2); }
    | expr '+' expr                      { $$ = binop("+", $1, $3, @2); }
    | expr '-' expr                      { $$ = binop("-", $1, $3, @2); }
    | expr '*' expr                      { $$ = binop("*", $1, $3, @2); }
    | expr '/' expr                      { $$ = binop("/", $1, $3, @2); }
    | expr '@' expr                      { $$ = binop("@", $1, $3, @2); }
    | '-' expr %prec UMINUS              { $$ = mk(ND_UNOP, @1); $$->name = "-"; $$->a = $2; }
    | postfix                            { $$ = $1; }
    ;

postfix: primary                         { $$ = $1; }
       | postfix '[' expr ']'            { $$ = mk(ND_INDEX, @3); $$->a = $1; $$->b = $3; }
       ;

primary: NUMBER                          { $$ = $1; }
       | STRING                          { $$ = $1; }
       | IDENT                           { $$ = $1; }
       | call                            { $$ = $1; }
       | '(' expr ')'                    { $$ = $2; }
       | '[' exprs_opt ']'               { $$ = mk(ND_LIST, @$); $$->list = $2; }
       ;

call: CALL '(' ')'                       { $$ = mk(ND_CALL, @1); $$->name = $1->name; }
    | CALL '(' args ')'                  { $$ = mk(ND_CALL, @1); $$->name = $1->name; $$->list = $3; }
    | CALL '(' args ',' ')'              { $$ = mk(ND_CALL, @1); $$->name = $1->name; $$->list = $3; }
    ;

args: arg                                { $$ = $1; }
    | args ',' arg                       { $$ = ast_append($1, $3); }
    ;
arg: expr                                { $$ = mk(ND_ARG, @1); $$->a = $1; }
   | IDENT '=' expr                      { $$ = mk(ND_ARG, @$); $$->name = $1->name; $$->a = $3; }
   ;

exprs_opt: %empty                        { $$ = NULL; }
         | exprs                         { $$ = $1; }
         | exprs ','                     { $$ = $1; }
         ;
exprs: expr                              { $$ = $1; }
     | exprs ',' expr                    { $$ = ast_append($1, $3); }
     ;

%%
