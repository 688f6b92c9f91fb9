// sema.h: what sema.c (statements, expressions, defs) and builtins.c (the
// builtin functions) share. Not used outside these two files.
#ifndef SEMA_H
#define SEMA_H

#include "dmc.h"

// A compile-time value. Tensors are graph nodes; everything else (numbers,
// lists, functions, features, records) exists only while compiling.
typedef enum { V_INT, V_FLOAT, V_BOOL, V_STR, V_LIST, V_FUNC, V_TENSOR, V_FEATURE, V_RECORD } VKind;

typedef struct Value Value;
typedef struct Builtin Builtin;
typedef struct Scope Scope;
struct Value {
  VKind kind;
  double num;               // V_INT, V_FLOAT, V_BOOL
  const char *s;            // V_STR
  Vec list;                 // V_LIST: Value*
  Node *def;                // V_FUNC: a user def...
  Scope *env;               // ...and the scope it was defined in
  const Builtin *builtin;   // ...or a builtin
  IrNode *t;                // V_TENSOR
  IrNode *mask;             // V_TENSOR: padding mask [T] along axis 0 (a masked sequence)
  Param *param;             // V_TENSOR made from a declared table/param
  Feature *f;               // V_FEATURE
  Record *rec;              // V_RECORD
};

struct Scope {
  Scope *parent;
  Vec names, vals, locs;    // const char*, Value* (NULL after an error), Loc*
};

typedef struct Frame Frame;  // one active def call, for "in call to" notes and recursion
struct Frame {
  Frame *up;
  const char *name;
  Loc call;
};

typedef struct {            // layer numbering within one layer instance
  Vec kinds;                // const char*
  Vec counts;               // (intptr_t) next number
} Counters;

typedef struct {
  Graph *g;
  Scope *scope;
  Scope *globals;
  const char *prefix;       // parameter path of the current layer call ("" at top level)
  Counters *counters;       // numbering of the layers created inside it
  Frame *frame;
  Value *ret;
  bool returned;
  bool lagged;              // inside lagged(...): parameters map to target copies
  int depth;                // expression nesting, limited (the C stack is not)
  int64_t *unrolled;        // loop iterations unrolled so far in this compilation
  bool *unrolled_or_deep_reported;   // a limit was hit and said once: stay quiet
  int lag_every;
} Ctx;

// Arguments of a call, bound to a builtin's parameter list by name.
#define MAX_ARGS 16
typedef struct {
  int n;
  Value *v[MAX_ARGS];
  Loc loc[MAX_ARGS];
  bool given[MAX_ARGS];
  const char *names[MAX_ARGS];
  Node *call;
} Args;

typedef Value *BuiltinFn(Ctx *c, Args *a, const Builtin *b);
struct Builtin {
  const char *name;
  const char *params;       // "x,axis?": '?' optional, '*' collects the rest
  BuiltinFn *fn;
  Op op;                    // for the elementwise and reduction families
};

// sema.c
void sema_error(Ctx *c, Loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
Value *val_new(VKind k);
Value *val_int(double x);
Value *val_tensor(IrNode *t, IrNode *mask);
const char *val_kind_name(Value *v);
Value *to_tensor(Ctx *c, Value *v, Loc loc);    // numbers and float features become tensors
IrNode *emit(Ctx *c, Op op, IrNode **in, int nin, const IrNode *attrs, Loc loc);
IrNode *get_param(Ctx *c, const char *name, Shape s, Record *init, bool is_table, Loc loc);
const char *layer_prefix(Ctx *c, const char *kind, Value *name_arg);
int layer_number(Ctx *c, const char *kind);   // 0, 1, 2... per kind within this layer
Value *call_function(Ctx *c, Value *fn, Node *call, Value **pos, Loc *pos_loc, int npos,
                     const char **kw, Value **kwv, Loc *kw_loc, int nkw);
int64_t feature_size(Feature *f);   // vocabulary or buckets
Value *sema_eval(Ctx *c, Node *n);
void decl_define(Ctx *c, const char *name, Value *v, Loc loc);   // a top-level name, once
bool decl_name_free(Ctx *c, const char *name, Loc loc);          // reports a duplicate
void decl_poison(Ctx *c, const char *name, Loc loc);             // a failed declaration's name

// decl.c
void decl_stmt(Ctx *c, Node *s);
Record *make_record(Ctx *c, const char *kind, Value *v, Loc loc);   // checks an optimizer/initialiser
const char *record_kind(const char *name);   // "optimizer", "initializer" or NULL
Feature *feature_next(Ctx *c, Feature *f, Loc loc);
Feature *sampled_feature(Ctx *c, Feature *target, int samples, Loc loc);   // sampled_softmax's rows

// builtins.c
const Builtin *builtin_find(const char *name);
extern const Builtin builtins[];
Value *eval_lagged(Ctx *c, Node *call);

#endif
