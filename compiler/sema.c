// sema.c: gives a parsed program its meaning by running it at compile time.
//
// The program is evaluated statement by statement: numbers, lists and functions
// are ordinary compile-time values; every tensor operation adds a node to the
// graph, whose shape rule (ir.c) checks it. A `def` call is inlined (its body runs
// in a fresh scope), `for` is unrolled and `if` decided, so the graph that comes
// out has no control flow. Errors are located at the token that caused them, with
// "in call to" notes through inlined defs; an erroneous binding is poisoned (NULL)
// so that one mistake is reported once, and evaluation goes on to find others.
#include "sema.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

static Value *eval(Ctx *c, Node *n);
static void exec_block(Ctx *c, Node *stmts);

// ---- diagnostics ----

void sema_error(Ctx *c, Loc loc, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  diag_error(loc, "%s", buf);
  int depth = 0;
  for (Frame *f = c->frame; f && depth < 4; f = f->up, depth++) diag_defer_note(f->call, "in call to '%s'", f->name);
}

// ---- values ----

Value *val_new(VKind k) {
  Value *v = arena_alloc(sizeof *v);
  v->kind = k;
  return v;
}

Value *val_int(double x) {
  Value *v = val_new(V_INT);
  v->num = x;
  return v;
}

static Value *val_num(double x, bool is_int) {
  Value *v = val_new(is_int ? V_INT : V_FLOAT);
  v->num = x;
  return v;
}

Value *val_tensor(IrNode *t, IrNode *mask) {
  if (!t) return NULL;
  Value *v = val_new(V_TENSOR);
  v->t = t;
  v->mask = mask;
  return v;
}

const char *val_kind_name(Value *v) {
  switch (v->kind) {
  case V_INT: return "an integer";
  case V_FLOAT: return "a number";
  case V_BOOL: return "a boolean";
  case V_STR: return "a string";
  case V_LIST: return "a list";
  case V_FUNC: return "a function";
  case V_TENSOR: return arena_printf("a tensor %s", shape_str(v->t->shape));
  case V_FEATURE: return arena_printf("feature '%s'", v->f->name);
  case V_RECORD: return arena_printf("%s(...)", v->rec->name);
  }
  return "?";
}

int64_t feature_size(Feature *f) { return f->vocab; }

// ---- scopes ----

static Scope *scope_new(Scope *parent) {
  Scope *s = arena_alloc(sizeof *s);
  s->parent = parent;
  return s;
}

static int scope_index(Scope *s, const char *name) {
  for (int i = s->names.len - 1; i >= 0; i--)
    if (!strcmp(s->names.items[i], name)) return i;
  return -1;
}

// Finds a name; *found tells a poisoned (NULL) binding from a missing one.
static Value *lookup(Ctx *c, const char *name, bool *found, Loc **where) {
  for (Scope *s = c->scope; s; s = s->parent) {
    int i = scope_index(s, name);
    if (i >= 0) {
      *found = true;
      if (where) *where = s->locs.items[i];
      return s->vals.items[i];
    }
  }
  *found = false;
  return NULL;
}

static void bind(Scope *s, const char *name, Value *v, Loc loc) {
  Loc *l = arena_alloc(sizeof *l);
  *l = loc;
  int i = scope_index(s, name);
  if (i >= 0) {
    s->vals.items[i] = v;
    s->locs.items[i] = l;
    return;
  }
  vec_push(&s->names, (void *)name);
  vec_push(&s->vals, v);
  vec_push(&s->locs, l);
}

// A name given once at top level (feature, table, def): a second definition is an error.
static bool define_once(Ctx *c, const char *name, Value *v, Loc loc) {
  int i = scope_index(c->globals, name);
  if (i >= 0) {
    Value *old = c->globals->vals.items[i];
    bool is_decl = !old || old->kind == V_FEATURE || old->kind == V_FUNC || (old->kind == V_TENSOR && old->param);
    if (is_decl) {
      sema_error(c, loc, "duplicate definition of '%s'", name);
      diag_note(*(Loc *)c->globals->locs.items[i], "'%s' was first defined here", name);
      return false;
    }
  }
  bind(c->globals, name, v, loc);
  return true;
}

// ---- graph helpers ----

IrNode *emit(Ctx *c, Op op, IrNode **in, int nin, const IrNode *attrs, Loc loc) {
  const char *err = NULL;
  IrNode *n = ir_add(c->g, op, in, nin, attrs, loc, &err);
  if (!n) {
    sema_error(c, loc, "%s", err);
    return NULL;
  }
  n->scope = c->prefix;
  return n;   // inside lagged(...), the parameters were already swapped by get_param
}

Value *to_tensor(Ctx *c, Value *v, Loc loc) {
  if (!v) return NULL;
  switch (v->kind) {
  case V_TENSOR: return v;
  case V_INT:
  case V_FLOAT: return val_tensor(ir_const(c->g, v->num, loc), NULL);
  case V_FEATURE: {
    Feature *f = v->f;
    if (f->kind == FK_FLOAT || f->kind == FK_LABEL) return val_tensor(f->node, f->is_list ? f->mask : NULL);
    sema_error(c, loc, "feature '%s' holds ids, not numbers", f->name);
    diag_hint("embed it first: embed(%s, 16)", f->name);
    return NULL;
  }
  default:
    sema_error(c, loc, "expected a tensor, got %s", val_kind_name(v));
    return NULL;
  }
}

int layer_number(Ctx *c, const char *kind) {
  Counters *k = c->counters;
  for (int i = 0; i < k->kinds.len; i++)
    if (!strcmp(k->kinds.items[i], kind)) {
      intptr_t n = (intptr_t)k->counts.items[i];
      k->counts.items[i] = (void *)(n + 1);
      return (int)n;
    }
  vec_push(&k->kinds, (void *)kind);
  vec_push(&k->counts, (void *)(intptr_t)1);
  return 0;
}

// Path of the next layer created here: "<prefix>/<kind>_<k>", numbered within the
// enclosing layer instance (so a shared layer names its parts the same each call),
// or "<prefix>/<name>" when the call gives name="...".
const char *layer_prefix(Ctx *c, const char *kind, Value *name_arg) {
  const char *base = c->prefix[0] ? arena_printf("%s/", c->prefix) : "";
  if (name_arg && name_arg->kind == V_STR) return arena_printf("%s%s", base, name_arg->s);
  return arena_printf("%s%s_%d", base, kind, layer_number(c, kind));
}

static Param *find_param(Graph *g, const char *name) {
  for (int i = 0; i < g->params.len; i++)
    if (!strcmp(((Param *)g->params.items[i])->name, name)) return g->params.items[i];
  return NULL;
}

static Param *make_param(Ctx *c, const char *name, Shape s, Record *init, bool is_table, Loc loc) {
  Param *p = find_param(c->g, name);
  if (p) {
    if (!shape_eq(p->shape, s)) {
      sema_error(c, loc, "parameter '%s' is shared, but here it has shape %s instead of %s", name, shape_str(s),
                 shape_str(p->shape));
      diag_note(p->loc, "'%s' was created here", name);
      return NULL;
    }
    return p;
  }
  if (!init) {   // embeddings start small and random, dense weights by Glorot
    static Record normal = {"normal", 1, {"std"}, {0.01}, {0}, {0}};
    static Record xavier = {"xavier", 0, {0}, {0}, {0}, {0}};
    init = is_table ? &normal : &xavier;
  }
  p = arena_alloc(sizeof *p);
  p->name = name;
  p->shape = s;
  p->init = init;
  p->is_table = is_table;
  p->loc = loc;
  p->node = ir_leaf(c->g, OP_PARAM, DT_F32, s, false, name, p, loc);
  p->node->scope = c->prefix;
  vec_push(&c->g->params, p);
  return p;
}

// The parameter `name`, created on first use; inside lagged(...) its target copy.
IrNode *get_param(Ctx *c, const char *name, Shape s, Record *init, bool is_table, Loc loc) {
  for (int i = 0; i < s.rank; i++)
    if (s.dim[i] <= 0) {
      sema_error(c, loc, "parameter '%s' would have shape %s; every dimension must be positive", name, shape_str(s));
      return NULL;
    }
  if (shape_numel64(s) > MAX_NUMEL) {
    sema_error(c, loc, "parameter '%s' of shape %s has more than %d elements", name, shape_str(s), MAX_NUMEL);
    return NULL;
  }
  Param *p = make_param(c, name, s, init, is_table, loc);
  if (!p) return NULL;
  if (!c->lagged) return p->node;
  Param *t = make_param(c, arena_printf("%s@target", name), s, init, is_table, loc);
  if (!t) return NULL;
  t->lagged = true;
  t->lag_of = p->name;
  t->lag_every = c->lag_every;
  return t->node;
}

// ---- calls ----

static Value *call_def(Ctx *c, Node *def, Scope *env, Node *call, Value **pos, Loc *pos_loc, int npos, const char **kw,
                       Value **kwv, Loc *kw_loc, int nkw) {
  for (Frame *f = c->frame; f; f = f->up)
    if (!strcmp(f->name, def->name)) {
      sema_error(c, call->loc, "recursive call to '%s'", def->name);
      diag_hint("defs are expanded at compile time; use `for` to repeat a layer");
      return NULL;
    }
  int nparams = ast_count(def->list);
  if (npos > nparams) {
    sema_error(c, pos_loc[nparams], "'%s' takes %d argument%s but %d were given", def->name, nparams,
               nparams == 1 ? "" : "s", npos);
    diag_note(def->loc, "'%s' is defined here", def->name);
    return NULL;
  }
  Scope *body = scope_new(env);
  Value *name_arg = NULL;
  for (int k = 0; k < nkw; k++) {
    if (!strcmp(kw[k], "name")) {
      name_arg = kwv[k];
      continue;
    }
    bool ok = false;
    for (Node *p = def->list; p && !ok; p = p->next) ok = !strcmp(p->name, kw[k]);
    if (!ok) {
      sema_error(c, kw_loc[k], "'%s' has no parameter named '%s'", def->name, kw[k]);
      diag_note(def->loc, "'%s' is defined here", def->name);
      return NULL;
    }
  }
  Ctx inner = *c;
  inner.scope = body;
  Frame frame = {c->frame, def->name, call->loc};
  inner.frame = &frame;
  inner.ret = NULL;
  inner.returned = false;
  int i = 0;
  for (Node *p = def->list; p; p = p->next, i++) {
    Value *v = NULL;
    Loc loc = call->loc;
    bool given = false;
    if (i < npos) {
      v = pos[i];
      loc = pos_loc[i];
      given = true;
    }
    for (int k = 0; k < nkw; k++)
      if (!strcmp(kw[k], p->name)) {
        if (given) {
          sema_error(c, kw_loc[k], "argument '%s' of '%s' is given twice", p->name, def->name);
          return NULL;
        }
        v = kwv[k];
        loc = kw_loc[k];
        given = true;
      }
    if (!given) {
      if (!p->a) {
        sema_error(c, call->loc, "missing argument '%s' of '%s'", p->name, def->name);
        diag_note(def->loc, "'%s' is defined here", def->name);
        return NULL;
      }
      Ctx dflt = inner;
      dflt.frame = c->frame;
      v = eval(&dflt, p->a);
    }
    if (!v) return NULL;
    if (p->has_shape) {   // x[n, k]: bind dimension names, check fixed dimensions
      Value *t = to_tensor(c, v, loc);
      if (!t) return NULL;
      Shape s = t->t->shape;
      int want = ast_count(p->list2);
      bool ok = s.rank == want;
      int d = 0;
      for (Node *dim = p->list2; ok && dim; dim = dim->next, d++) {
        if (dim->kind == ND_NUM) {
          ok = s.dim[d] == (int)dim->num;
          continue;
        }
        int j = scope_index(body, dim->name);
        if (j >= 0) {
          Value *prev = body->vals.items[j];
          ok = prev && prev->kind == V_INT && (int)prev->num == s.dim[d];
        } else {
          bind(body, dim->name, val_int(s.dim[d]), dim->loc);
        }
      }
      if (!ok) {
        char want_s[128] = "[";
        for (Node *dim = p->list2; dim; dim = dim->next)
          snprintf(want_s + strlen(want_s), sizeof want_s - strlen(want_s), "%s%s", dim == p->list2 ? "" : ",",
                   dim->kind == ND_NUM ? arena_printf("%d", (int)dim->num) : dim->name);
        strcat(want_s, "]");
        sema_error(c, loc, "shape mismatch: argument '%s' of '%s' is %s, expected %s", p->name, def->name,
                   shape_str(s), want_s);
        diag_note(p->loc, "'%s' is declared here", p->name);
        return NULL;
      }
      v = t;
    }
    bind(body, p->name, v, p->loc);
  }
  inner.prefix = layer_prefix(c, def->name, name_arg);
  inner.counters = arena_alloc(sizeof(Counters));
  exec_block(&inner, def->a->list);
  if (!inner.returned) {
    if (diag_error_count() == 0) sema_error(c, def->loc, "'%s' ends without `return`", def->name);
    return NULL;
  }
  Value *r = inner.ret;
  if (r && def->has_shape) {
    Value *t = to_tensor(c, r, call->loc);
    if (!t) return NULL;
    Shape s = t->t->shape;
    bool ok = s.rank == ast_count(def->list2);
    int d = 0;
    for (Node *dim = def->list2; ok && dim; dim = dim->next, d++) {
      if (dim->kind == ND_NUM) {
        ok = s.dim[d] == (int)dim->num;
        continue;
      }
      int j = scope_index(body, dim->name);
      Value *dv = j >= 0 ? body->vals.items[j] : NULL;
      ok = dv && dv->kind == V_INT && (int)dv->num == s.dim[d];
    }
    if (!ok) {
      char decl[128] = "[", here[128] = "[";
      bool all_known = true;
      for (Node *dim = def->list2; dim; dim = dim->next) {
        const char *sep = dim == def->list2 ? "" : ",";
        int j = dim->kind == ND_NUM ? -1 : scope_index(body, dim->name);
        Value *dv = j >= 0 ? body->vals.items[j] : NULL;
        snprintf(decl + strlen(decl), sizeof decl - strlen(decl), "%s%s", sep,
                 dim->kind == ND_NUM ? arena_printf("%d", (int)dim->num) : dim->name);
        if (dim->kind == ND_NUM) snprintf(here + strlen(here), sizeof here - strlen(here), "%s%d", sep, (int)dim->num);
        else if (dv && dv->kind == V_INT) snprintf(here + strlen(here), sizeof here - strlen(here), "%s%d", sep, (int)dv->num);
        else all_known = false;
      }
      strcat(decl, "]"), strcat(here, "]");
      if (all_known && strcmp(decl, here))
        sema_error(c, call->loc, "'%s' returns %s, but it is declared to return %s (here %s)", def->name, shape_str(s), decl, here);
      else
        sema_error(c, call->loc, "'%s' returns %s, but it is declared to return %s", def->name, shape_str(s), decl);
      diag_note(def->loc, "the return shape is declared here");
      return NULL;
    }
  }
  return r;
}

static Value *call_builtin(Ctx *c, const Builtin *b, Node *call, Value **pos, Loc *pos_loc, int npos,
                           const char **kw, Value **kwv, Loc *kw_loc, int nkw) {
  Args a = {0};
  a.call = call;
  const char *names[MAX_ARGS];
  char flags[MAX_ARGS];
  int np = 0;
  int star = -1;
  for (const char *p = b->params; *p && np < MAX_ARGS;) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    flags[np] = (p[len - 1] == '?' || p[len - 1] == '*') ? p[len - 1] : 0;
    names[np] = arena_strndup(p, flags[np] ? len - 1 : len);
    if (flags[np] == '*') star = np;
    np++;
    p += len + (e ? 1 : 0);
  }
  a.n = np;
  for (int i = 0; i < np; i++) a.names[i] = names[i];
  if (star >= 0) {   // variadic: positional arguments form a list in slot `star`
    Value *l = val_new(V_LIST);
    for (int i = 0; i < npos; i++) vec_push(&l->list, pos[i]);
    a.v[star] = l;
    a.loc[star] = npos ? pos_loc[0] : call->loc;
    a.given[star] = true;
  } else {
    if (npos > np) {
      sema_error(c, pos_loc[np], "'%s' takes at most %d argument%s but %d were given", b->name, np, np == 1 ? "" : "s",
                 npos);
      return NULL;
    }
    for (int i = 0; i < npos; i++) {
      a.v[i] = pos[i];
      a.loc[i] = pos_loc[i];
      a.given[i] = true;
    }
  }
  for (int k = 0; k < nkw; k++) {
    int i = 0;
    while (i < np && (strcmp(names[i], kw[k]) || i == star)) i++;
    if (i == np) {
      sema_error(c, kw_loc[k], "'%s' has no parameter named '%s'", b->name, kw[k]);
      char list[256] = "";
      for (int j = 0; j < np; j++)
        if (j != star) snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", list[0] ? ", " : "", names[j]);
      if (list[0]) diag_hint("its parameters are: %s", list);
      return NULL;
    }
    if (a.given[i]) {
      sema_error(c, kw_loc[k], "argument '%s' of '%s' is given twice", kw[k], b->name);
      return NULL;
    }
    a.v[i] = kwv[k];
    a.loc[i] = kw_loc[k];
    a.given[i] = true;
  }
  for (int i = 0; i < np; i++) {
    if (!a.given[i] && !flags[i]) {
      sema_error(c, call->loc, "missing argument '%s' of '%s'", names[i], b->name);
      return NULL;
    }
    if (!a.given[i]) a.loc[i] = call->loc;
  }
  return b->fn(c, &a, b);
}

Value *call_function(Ctx *c, Value *fn, Node *call, Value **pos, Loc *pos_loc, int npos, const char **kw,
                     Value **kwv, Loc *kw_loc, int nkw) {
  if (fn->def) return call_def(c, fn->def, fn->env, call, pos, pos_loc, npos, kw, kwv, kw_loc, nkw);
  return call_builtin(c, fn->builtin, call, pos, pos_loc, npos, kw, kwv, kw_loc, nkw);
}

static Value *eval_call(Ctx *c, Node *n) {
  bool found;
  Value *fn = lookup(c, n->name, &found, NULL);
  if (!found) {
    const Builtin *b = builtin_find(n->name);
    if (!b) {
      sema_error(c, n->loc, "unknown function '%s'", n->name);
      return NULL;
    }
    fn = val_new(V_FUNC);
    fn->builtin = b;
  }
  if (!fn) return NULL;
  if (fn->kind != V_FUNC) {
    sema_error(c, n->loc, "'%s' is %s, not a function", n->name,
               fn->kind == V_FEATURE ? "a feature" : val_kind_name(fn));
    return NULL;
  }
  if (fn->builtin && !strcmp(fn->builtin->name, "lagged")) return eval_lagged(c, n);
  Value *pos[MAX_ARGS], *kwv[MAX_ARGS];
  Loc pos_loc[MAX_ARGS], kw_loc[MAX_ARGS];
  const char *kw[MAX_ARGS];
  int npos = 0, nkw = 0;
  bool bad = false;
  for (Node *a = n->list; a; a = a->next) {
    if (npos + nkw >= MAX_ARGS) {
      sema_error(c, a->loc, "too many arguments (at most %d)", MAX_ARGS);
      return NULL;
    }
    Value *v = eval(c, a->a);
    if (!v) bad = true;
    if (a->name) {
      kw[nkw] = a->name;
      kwv[nkw] = v;
      kw_loc[nkw++] = a->loc;   // name=value: the caret starts at the name
    } else {
      if (nkw > 0) {
        sema_error(c, a->loc, "a positional argument cannot follow a keyword argument");
        return NULL;
      }
      pos[npos] = v;
      pos_loc[npos++] = a->a->loc;
    }
  }
  if (bad) return NULL;
  return call_function(c, fn, n, pos, pos_loc, npos, kw, kwv, kw_loc, nkw);
}

// ---- expressions ----

static Value *binary_tensor(Ctx *c, Op op, Value *a, Value *b, Loc loc, Loc la, Loc lb) {
  a = to_tensor(c, a, la);
  b = to_tensor(c, b, lb);
  if (!a || !b) return NULL;
  IrNode *in[2] = {a->t, b->t};
  IrNode *r = emit(c, op, in, 2, NULL, loc);
  if (!r) return NULL;
  // a mask survives while its sequence axis does (it is axis 0 of the wider operand)
  IrNode *mask = a->mask && a->t->shape.rank == r->shape.rank ? a->mask : NULL;
  IrNode *mb = b->mask && b->t->shape.rank == r->shape.rank ? b->mask : NULL;
  if (mask && mb && mask != mb) {
    IrNode *mm[2] = {mask, mb};
    mask = emit(c, OP_MUL, mm, 2, NULL, loc);
  } else if (!mask) {
    mask = mb;
  }
  return val_tensor(r, mask);
}

static bool is_num(Value *v) { return v && (v->kind == V_INT || v->kind == V_FLOAT); }

static Value *eval_binop(Ctx *c, Node *n) {
  const char *op = n->name;
  if (!strcmp(op, "and") || !strcmp(op, "or")) {
    Value *a = eval(c, n->a);
    if (!a) return NULL;
    if (a->kind != V_BOOL) {
      sema_error(c, n->a->loc, "'%s' needs booleans, got %s", op, val_kind_name(a));
      return NULL;
    }
    if ((a->num != 0) == (op[0] == 'o')) return a;   // short circuit
    Value *b = eval(c, n->b);
    if (b && b->kind != V_BOOL) {
      sema_error(c, n->b->loc, "'%s' needs booleans, got %s", op, val_kind_name(b));
      return NULL;
    }
    return b;
  }
  Value *a = eval(c, n->a), *b = eval(c, n->b);
  if (!a || !b) return NULL;
  bool cmp = strchr("=!<>", op[0]) != NULL;
  if (cmp) {
    Value *r = val_new(V_BOOL);
    if (is_num(a) && is_num(b)) {
      double x = a->num, y = b->num;
      r->num = !strcmp(op, "==") ? x == y : !strcmp(op, "!=") ? x != y : !strcmp(op, "<") ? x < y
             : !strcmp(op, "<=") ? x <= y : !strcmp(op, ">") ? x > y : x >= y;
      return r;
    }
    if (a->kind == V_STR && b->kind == V_STR && (!strcmp(op, "==") || !strcmp(op, "!="))) {
      r->num = (strcmp(a->s, b->s) == 0) == (op[0] == '=');
      return r;
    }
    sema_error(c, n->loc, "cannot compare %s with %s", val_kind_name(a), val_kind_name(b));
    diag_hint("comparisons are decided while compiling; they work on numbers and strings");
    return NULL;
  }
  if (is_num(a) && is_num(b)) {
    bool is_int = a->kind == V_INT && b->kind == V_INT;
    double x = a->num, y = b->num;
    switch (op[0]) {
    case '+': return val_num(x + y, is_int);
    case '-': return val_num(x - y, is_int);
    case '*': return val_num(x * y, is_int);
    case '/':
      if (y == 0) {
        sema_error(c, n->loc, "division by zero");
        return NULL;
      }
      return is_int ? val_num(floor(x / y), true) : val_num(x / y, false);
    default: break;
    }
  }
  if (a->kind == V_LIST && b->kind == V_LIST && op[0] == '+') {
    Value *r = val_new(V_LIST);
    for (int i = 0; i < a->list.len; i++) vec_push(&r->list, a->list.items[i]);
    for (int i = 0; i < b->list.len; i++) vec_push(&r->list, b->list.items[i]);
    return r;
  }
  if (a->kind == V_LIST || b->kind == V_LIST || a->kind == V_STR || b->kind == V_STR || a->kind == V_FUNC ||
      b->kind == V_FUNC || a->kind == V_BOOL || b->kind == V_BOOL || a->kind == V_RECORD || b->kind == V_RECORD) {
    sema_error(c, n->loc, "cannot apply '%s' to %s and %s", op, val_kind_name(a), val_kind_name(b));
    return NULL;
  }
  Op o = op[0] == '+' ? OP_ADD : op[0] == '-' ? OP_SUB : op[0] == '*' ? OP_MUL : op[0] == '/' ? OP_DIV : OP_MATMUL;
  if (o == OP_MATMUL) {
    Value *ta = to_tensor(c, a, n->a->loc), *tb = to_tensor(c, b, n->b->loc);
    if (!ta || !tb) return NULL;
    IrNode *in[2] = {ta->t, tb->t};
    IrNode *r = emit(c, OP_MATMUL, in, 2, NULL, n->loc);
    return val_tensor(r, ta->mask);
  }
  return binary_tensor(c, o, a, b, n->loc, n->a->loc, n->b->loc);
}

static Value *eval_index(Ctx *c, Node *n) {
  Value *a = eval(c, n->a), *i = eval(c, n->b);
  if (!a || !i) return NULL;
  if (i->kind != V_INT) {
    sema_error(c, n->b->loc, "an index must be an integer, got %s", val_kind_name(i));
    return NULL;
  }
  int k = (int)i->num;
  if (a->kind == V_LIST) {
    if (k < 0) k += a->list.len;
    if (k < 0 || k >= a->list.len) {
      sema_error(c, n->b->loc, "index %d is out of range for a list of %d", (int)i->num, a->list.len);
      return NULL;
    }
    return a->list.items[k];
  }
  Value *t = to_tensor(c, a, n->a->loc);
  if (!t) return NULL;
  Shape s = t->t->shape;
  if (s.rank == 0) {
    sema_error(c, n->loc, "cannot index a scalar tensor");
    return NULL;
  }
  if (k < 0) k += s.dim[0];
  if (k < 0 || k >= s.dim[0]) {
    sema_error(c, n->b->loc, "index %d is out of range for axis 0 of %s", (int)i->num, shape_str(s));
    return NULL;
  }
  IrNode attrs = {0};
  attrs.axis = 0;
  attrs.start = k;
  attrs.len = 1;
  IrNode *sl = emit(c, OP_SLICE, &t->t, 1, &attrs, n->loc);
  if (!sl) return NULL;
  IrNode ra = {0};
  ra.shape.rank = s.rank - 1;
  for (int d = 1; d < s.rank; d++) ra.shape.dim[d - 1] = s.dim[d];
  return val_tensor(emit(c, OP_RESHAPE, &sl, 1, &ra, n->loc), NULL);
}

#define MAX_DEPTH 1000        // nested expressions: far beyond any model, well within the stack
#define MAX_UNROLLED 1000000  // loop iterations unrolled in one compilation

static Value *eval_node(Ctx *c, Node *n);

static Value *eval(Ctx *c, Node *n) {
  if (c->depth >= MAX_DEPTH) {
    if (!*c->unrolled_or_deep_reported) {   // once: the levels above would each say it again
      sema_error(c, n->loc, "expression is nested too deeply (more than %d levels)", MAX_DEPTH);
      *c->unrolled_or_deep_reported = true;
    }
    return NULL;
  }
  c->depth++;
  Value *v = eval_node(c, n);
  c->depth--;
  return v;
}

static Value *eval_node(Ctx *c, Node *n) {
  switch (n->kind) {
  case ND_NUM: return val_num(n->num, n->is_int);
  case ND_STR: {
    Value *v = val_new(V_STR);
    v->s = n->str;
    return v;
  }
  case ND_IDENT: {
    bool found;
    Value *v = lookup(c, n->name, &found, NULL);
    if (found) return v;
    if (!strcmp(n->name, "true") || !strcmp(n->name, "false")) {
      Value *b = val_new(V_BOOL);
      b->num = n->name[0] == 't';
      return b;
    }
    const Builtin *b = builtin_find(n->name);
    if (b) {
      Value *f = val_new(V_FUNC);
      f->builtin = b;
      return f;
    }
    sema_error(c, n->loc, "unknown name '%s'", n->name);
    return NULL;
  }
  case ND_LIST: {
    Value *l = val_new(V_LIST);
    for (Node *e = n->list; e; e = e->next) {
      Value *v = eval(c, e);
      if (!v) return NULL;
      vec_push(&l->list, v);
    }
    return l;
  }
  case ND_CALL: return eval_call(c, n);
  case ND_BINOP: return eval_binop(c, n);
  case ND_INDEX: return eval_index(c, n);
  case ND_UNOP: {
    Value *a = eval(c, n->a);
    if (!a) return NULL;
    if (!strcmp(n->name, "not")) {
      if (a->kind != V_BOOL) {
        sema_error(c, n->loc, "'not' needs a boolean, got %s", val_kind_name(a));
        return NULL;
      }
      Value *r = val_new(V_BOOL);
      r->num = !a->num;
      return r;
    }
    if (is_num(a)) return val_num(-a->num, a->kind == V_INT);
    Value *t = to_tensor(c, a, n->loc);
    if (!t) return NULL;
    return val_tensor(emit(c, OP_NEG, &t->t, 1, NULL, n->loc), t->mask);
  }
  default: die("eval of %s", ast_kind_name(n->kind));
  }
}

// ---- statements ----

static void exec_stmt(Ctx *c, Node *s);

static void exec_block(Ctx *c, Node *stmts) {
  for (Node *s = stmts; s && !c->returned; s = s->next) exec_stmt(c, s);
}

static bool top_level_only(Ctx *c, Node *s) {
  if (c->frame || c->scope != c->globals) {
    sema_error(c, s->loc, "'%s' is only allowed at the top level", ast_kind_name(s->kind));
    return false;
  }
  return true;
}

void decl_define(Ctx *c, const char *name, Value *v, Loc loc) { define_once(c, name, v, loc); }

bool decl_name_free(Ctx *c, const char *name, Loc loc) {
  int i = scope_index(c->globals, name);
  if (i < 0) return true;
  Value *old = c->globals->vals.items[i];
  if (old && old->kind != V_FEATURE && old->kind != V_FUNC && !(old->kind == V_TENSOR && old->param)) return true;
  sema_error(c, loc, "duplicate definition of '%s'", name);
  diag_note(*(Loc *)c->globals->locs.items[i], "'%s' was first defined here", name);
  return false;
}

void decl_poison(Ctx *c, const char *name, Loc loc) {
  if (scope_index(c->globals, name) < 0) bind(c->globals, name, NULL, loc);
}

static void exec_stmt(Ctx *c, Node *s) {
  switch (s->kind) {
  case ND_ASSIGN: {
    bool found;
    Loc *where;
    Value *old = lookup(c, s->name, &found, &where);
    if (found && old && ((old->kind == V_FEATURE && !strcmp(old->f->name, s->name)) ||
                          (old->kind == V_TENSOR && old->param && !strcmp(old->param->name, s->name)))) {
      sema_error(c, s->loc, "cannot assign to '%s': it is a %s", s->name, old->kind == V_FEATURE ? "feature" : "declared parameter");
      diag_note(*where, "'%s' is declared here", s->name);
      return;
    }
    bind(c->scope, s->name, eval(c, s->a), s->loc);
    return;
  }
  case ND_RETURN:
    if (!c->frame) {
      sema_error(c, s->loc, "`return` outside a def");
      return;
    }
    c->ret = eval(c, s->a);
    c->returned = true;
    return;
  case ND_FOR: {
    Value *l = eval(c, s->a);
    if (!l) return;
    if (l->kind != V_LIST) {
      sema_error(c, s->a->loc, "`for` iterates over a list, got %s", val_kind_name(l));
      diag_hint("use range(n) to repeat n times");
      return;
    }
    for (int i = 0; i < l->list.len && !c->returned; i++) {
      if (++*c->unrolled > MAX_UNROLLED) {
        if (!*c->unrolled_or_deep_reported) {
          sema_error(c, s->loc, "loops unroll to more than %d iterations in all", MAX_UNROLLED);
          diag_hint("`for` is unrolled while compiling; nested loops multiply");
          *c->unrolled_or_deep_reported = true;
        }
        return;
      }
      bind(c->scope, s->name, l->list.items[i], s->c->loc);
      exec_block(c, s->b->list);
    }
    return;
  }
  case ND_IF: {
    Value *cond = eval(c, s->a);
    if (!cond) return;
    if (cond->kind != V_BOOL) {
      sema_error(c, s->a->loc, "`if` needs a condition known while compiling, got %s", val_kind_name(cond));
      return;
    }
    if (cond->num)
      exec_block(c, s->b->list);
    else if (s->c)
      exec_block(c, s->c->list);
    return;
  }
  case ND_DEF: {
    if (!top_level_only(c, s)) return;
    Value *f = val_new(V_FUNC);
    f->def = s;
    f->env = c->globals;
    for (Node *p = s->list; p; p = p->next)
      for (Node *q = p->next; q; q = q->next)
        if (!strcmp(p->name, q->name)) sema_error(c, q->loc, "parameter '%s' is listed twice", q->name);
    define_once(c, s->name, f, s->loc);
    return;
  }
  case ND_OUTPUT:
  case ND_LOSS: {
    if (!top_level_only(c, s)) return;
    Value *v;
    if (s->a) {
      v = eval(c, s->a);
    } else {
      bool found;
      v = lookup(c, s->name, &found, NULL);
      if (!found) {
        sema_error(c, s->loc, "unknown name '%s'", s->name);
        diag_hint("bind it first (`%s = ...`) or write `output %s = EXPR`", s->name, s->name);
        return;
      }
    }
    if (!v) return;
    v = to_tensor(c, v, s->a ? s->a->loc : s->loc);
    if (!v) return;
    Loc at = s->a ? s->a->loc : s->loc;
    if (!v->t->batched) {
      sema_error(c, at, "this %s does not depend on any feature", s->kind == ND_LOSS ? "loss" : "output");
      return;
    }
    Output *o = arena_alloc(sizeof *o);
    o->node = v->t;
    o->loc = s->loc;
    if (s->kind == ND_LOSS) {
      if (v->t->shape.rank != 0) {
        sema_error(c, at, "a loss must be one number per example, got %s", shape_str(v->t->shape));
        diag_hint("reduce it, e.g. sum(x) or mean(x)");
        return;
      }
      o->name = arena_printf("loss_%d", c->g->losses.len);
      vec_push(&c->g->losses, o);
    } else {
      for (int i = 0; i < c->g->outputs.len; i++)
        if (!strcmp(((Output *)c->g->outputs.items[i])->name, s->name)) {
          sema_error(c, s->loc, "duplicate output '%s'", s->name);
          return;
        }
      o->name = s->name;
      vec_push(&c->g->outputs, o);
      if (s->a) bind(c->scope, s->name, v, s->loc);
    }
    return;
  }
  default:
    if (!top_level_only(c, s)) return;
    decl_stmt(c, s);
  }
}

// Exposed to decl.c and builtins.c.
Value *sema_eval(Ctx *c, Node *n) { return eval(c, n); }

// Declares node (if any) as an output named `name` unless the model already outputs it.
static void ensure_output(Graph *g, IrNode *node, const char *name) {
  if (!node) return;
  for (int i = 0; i < g->outputs.len; i++)
    if (((Output *)g->outputs.items[i])->node == node) return;
  Output *o = arena_alloc(sizeof *o);
  o->name = name;
  o->node = node;
  o->loc = node->loc;
  vec_push(&g->outputs, o);
}

Graph *sema_build(Node *prog, Node *stdlib) {
  Ctx c = {0};
  c.g = ir_graph_new();
  c.globals = c.scope = scope_new(NULL);
  c.prefix = "";
  c.counters = arena_alloc(sizeof(Counters));
  c.unrolled = arena_alloc(sizeof(int64_t));
  c.unrolled_or_deep_reported = arena_alloc(sizeof(bool));
  for (Node *s = stdlib; s; s = s->next) exec_stmt(&c, s);
  // the user's own defs may replace stdlib ones: forget stdlib names' locations
  Scope *user = scope_new(c.globals);
  c.globals = c.scope = user;
  Node *model = NULL;
  for (Node *s = prog; s; s = s->next) {
    if (s->kind == ND_MODEL) {
      if (model) {
        sema_error(&c, s->loc, "a file describes one model; 'model' is given twice");
        diag_note(model->loc, "first given here");
      }
      model = s;
      c.g->model_name = s->name;
    }
  }
  if (!model && prog) {
    Loc first = prog->loc;
    first.col = 1, first.end_col = 0;
    sema_error(&c, first, "missing `model NAME` statement");
    diag_hint("start the file with e.g. `model deepfm`");
  }
  for (Node *s = prog; s; s = s->next) exec_stmt(&c, s);
  if (!prog) {
    diag_plain("the model file is empty");
    diag_error((Loc){0}, "nothing to compile");
    return c.g;
  }
  // retrieval reads the user vector, held-out scoring the reconstruction: make sure they are outputs
  ensure_output(c.g, c.g->retrieve_user, "user_vector");
  ensure_output(c.g, c.g->heldout_pred, "reconstruction");
  if (diag_error_count() == 0) {
    Loc end = model ? model->loc : prog->loc;
    if (c.g->outputs.len == 0) {
      sema_error(&c, end, "model '%s' has no `output`", c.g->model_name ? c.g->model_name : "?");
      diag_hint("add e.g. `output p` after binding p");
    }
    if (c.g->losses.len == 0) {
      sema_error(&c, end, "model '%s' has no `loss`", c.g->model_name ? c.g->model_name : "?");
      diag_hint("add e.g. `loss bce(p, clicked)`");
    }
  }
  return c.g;
}
