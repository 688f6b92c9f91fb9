// ast.c: syntax tree nodes. The parser's actions call only these constructors;
// all meaning is given later by sema.c.
#include "dmc.h"

Node *ast_new(NodeKind kind, Loc loc) {
  Node *n = arena_alloc(sizeof *n);
  n->kind = kind;
  n->loc = loc;
  return n;
}

Node *ast_append(Node *list, Node *item) {
  if (!item) return list;
  if (!list) return item;
  Node *p = list;
  while (p->next) p = p->next;
  p->next = item;
  return list;
}

int ast_count(Node *list) {
  int n = 0;
  for (; list; list = list->next) n++;
  return n;
}

const char *ast_kind_name(NodeKind k) {
  static const char *names[] = {
      "number", "string", "identifier", "call", "list", "binary", "unary", "index", "argument",
      "model", "data", "feature", "label", "table", "param", "def", "assignment", "output",
      "loss", "train", "for", "if", "return", "option", "column", "parameter",
  };
  return (unsigned)k < sizeof names / sizeof *names ? names[k] : "?";
}
