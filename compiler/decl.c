// decl.c: the declarations of a model file: model, data, feature, label, table,
// param and train. Each checks its options against what its kind accepts (an
// unknown option is an error, not ignored) and records the result in the Graph,
// which is what the generated program's descriptor will be made from.
#include "sema.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

// ---- options ----

typedef struct {
  const char *name;
  char type;   // 'f' flag, 'i' integer, 'n' number, 's' string, 'r' record (call)
} OptSpec;

// Checks every option of `s` against `spec`; fills vals[i] (NULL when absent).
static bool read_options(Ctx *c, Node *s, const OptSpec *spec, int nspec, Node **vals, const char *what) {
  for (int i = 0; i < nspec; i++) vals[i] = NULL;
  bool ok = true;
  for (Node *o = s->list; o; o = o->next) {
    int i = 0;
    while (i < nspec && strcmp(spec[i].name, o->name)) i++;
    if (i == nspec) {
      sema_error(c, o->loc, "unknown option '%s' for %s", o->name, what);
      char list[256] = "";
      for (int j = 0; j < nspec; j++) snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", j ? ", " : "", spec[j].name);
      diag_hint("%s takes: %s", what, nspec ? list : "no options");
      ok = false;
      continue;
    }
    if (vals[i]) {
      sema_error(c, o->loc, "option '%s' is given twice", o->name);
      ok = false;
      continue;
    }
    char t = spec[i].type;
    Node *v = o->a;
    // `next_by uid`: a bare name after a string option is its value, unless it is an option itself
    if (t == 's' && !v && o->next && !o->next->a) {
      int j = 0;
      while (j < nspec && strcmp(spec[j].name, o->next->name)) j++;
      if (j == nspec) {
        v = ast_new(ND_STR, o->next->loc);
        v->str = o->next->name;
        o = o->next;
      }
    }
    const char *want = NULL;
    if (t == 'f' && v) want = "no value";
    if (t != 'f' && !v) want = t == 's' ? "a string" : t == 'r' ? "a call such as normal(0.01)" : "a number";
    if (v && t == 'i' && (v->kind != ND_NUM || !v->is_int)) want = "an integer";
    if (v && t == 'n' && v->kind != ND_NUM) want = "a number";
    if (v && t == 's' && v->kind != ND_STR) want = "a string in quotes";
    if (v && t == 'r' && v->kind != ND_CALL) want = "a call such as normal(0.01)";
    if (want) {
      sema_error(c, v ? v->loc : o->loc, "option '%s' takes %s", o->name, want);
      ok = false;
      continue;
    }
    vals[i] = t == 'f' ? o : v;
  }
  return ok;
}

// ---- records: optimizers and initialisers ----

Record *make_record(Ctx *c, const char *kind, Value *v, Loc loc) {
  if (!v) return NULL;
  if (v->kind != V_RECORD) {
    sema_error(c, loc, "expected an %s, got %s", kind, val_kind_name(v));
    diag_hint(kind[0] == 'o' ? "e.g. adam(lr=0.001)" : "e.g. normal(0.01)");
    return NULL;
  }
  const char *have = record_kind(v->rec->name);
  if (!have || strcmp(have, kind)) {
    sema_error(c, loc, "%s(...) is an %s, but an %s is expected here", v->rec->name, have ? have : "?", kind);
    return NULL;
  }
  return v->rec;
}

static Record *option_record(Ctx *c, Node *v, const char *kind) {
  if (!v) return NULL;
  return make_record(c, kind, sema_eval(c, v), v->loc);
}

// ---- features ----

// Expands a source list (a, b, "c d", x1..x5) into column names.
static bool read_columns(Ctx *c, Node *cols, Vec *out) {
  for (Node *col = cols; col; col = col->next) {
    if (col->c) {
      sema_error(c, col->loc, "an id:value pair of columns is only a source of a weighted feature");
      return false;
    }
    if (!col->b) {
      vec_push(out, (void *)col->str);
      continue;
    }
    const char *a = col->str, *b = col->b->name;
    size_t la = strlen(a), lb = strlen(b), pa = la, pb = lb;
    while (pa > 0 && isdigit((unsigned char)a[pa - 1])) pa--;
    while (pb > 0 && isdigit((unsigned char)b[pb - 1])) pb--;
    if (pa == la || pb == lb || pa != pb || strncmp(a, b, pa)) {
      sema_error(c, col->loc, "column range '%s..%s' needs two names that differ only in a trailing number", a, b);
      diag_hint("e.g. userRatedMovie1..userRatedMovie5");
      return false;
    }
    long from = strtol(a + pa, NULL, 10), to = strtol(b + pb, NULL, 10);
    if (to < from || to - from > 4096) {
      sema_error(c, col->loc, "column range '%s..%s' is empty or too long", a, b);
      return false;
    }
    for (long k = from; k <= to; k++) vec_push(out, arena_printf("%.*s%ld", (int)pa, a, k));
  }
  for (int i = 0; i < out->len; i++)
    for (int j = i + 1; j < out->len; j++)
      if (!strcmp(out->items[i], out->items[j])) {
        sema_error(c, cols->loc, "column '%s' is listed twice", (char *)out->items[i]);
        return false;
      }
  return true;
}

static void make_feature_nodes(Ctx *c, Feature *f) {
  Shape s = {0, {0}};
  if (f->is_list) s = (Shape){1, {f->len}};
  bool ids = f->kind != FK_FLOAT && f->kind != FK_LABEL;
  f->node = ir_leaf(c->g, OP_INPUT, ids ? DT_I32 : DT_F32, s, true, f->name, f, f->loc);
  if (f->kind == FK_WEIGHTED)
    f->weights = ir_leaf(c->g, OP_INPUT, DT_F32, s, true, arena_printf("%s.weights", f->name), f, f->loc);
  if (f->is_list && ids) {
    const char *err = NULL;
    f->mask = ir_add(c->g, OP_MASK, &f->node, 1, NULL, f->loc, &err);
    if (!f->mask) die("mask: %s", err);
  } else if (f->is_list) {
    // float lists from several columns are dense vectors, not padded sequences
    f->mask = NULL;
  }
}

static void register_feature(Ctx *c, Feature *f) {
  make_feature_nodes(c, f);
  vec_push(&c->g->features, f);
  Value *v = val_new(V_FEATURE);
  v->f = f;
  decl_define(c, f->name, v, f->loc);
}

static Feature *resolve_feature(Ctx *c, Value *v, Loc loc, const char *why) {
  if (!v) return NULL;
  if (v->kind != V_FEATURE) {
    sema_error(c, loc, "%s needs a feature, got %s", why, val_kind_name(v));
    return NULL;
  }
  return v->f;
}

static void decl_derived_feature(Ctx *c, Node *s, Feature *f) {
  Node *call = s->c;
  bool is_cross = !strcmp(call->name, "cross");
  if (!is_cross && strcmp(call->name, "negative")) {
    sema_error(c, call->loc, "unknown derived feature '%s'", call->name);
    diag_hint("derived features are cross(A, B, ...) and negative(F)");
    return;
  }
  for (Node *a = call->list; a; a = a->next) {
    if (a->name) {
      sema_error(c, a->loc, "%s() takes features only", call->name);
      return;
    }
    Feature *src = resolve_feature(c, sema_eval(c, a->a), a->a->loc, arena_printf("%s()", call->name));
    if (!src) return;
    if (src->kind == FK_FLOAT || src->kind == FK_LABEL || src->kind == FK_WEIGHTED) {
      sema_error(c, a->a->loc, "%s() needs id or hash features; '%s' is not one", call->name, src->name);
      return;
    }
    if (is_cross && src->is_list) {
      sema_error(c, a->a->loc, "cross() takes single-valued features; '%s' is a list", src->name);
      return;
    }
    vec_push(&f->sources, src);
  }
  Node *opt[1];
  if (is_cross) {
    if (f->sources.len < 2) {
      sema_error(c, call->loc, "cross() needs at least two features");
      return;
    }
    static const OptSpec spec[] = {{"buckets", 'i'}};
    if (!read_options(c, s, spec, 1, opt, "a cross feature")) return;
    if (!opt[0]) {
      sema_error(c, s->loc, "cross feature '%s' needs `buckets N`", f->name);
      return;
    }
    f->kind = FK_CROSS;
    f->vocab = (int64_t)opt[0]->num;
  } else {
    if (f->sources.len != 1) {
      sema_error(c, call->loc, "negative() takes exactly one feature");
      return;
    }
    if (!read_options(c, s, NULL, 0, opt, "a negative feature")) return;
    Feature *src = f->sources.items[0];
    f->kind = FK_NEGATIVE;
    f->vocab_of = src;   // negatives are drawn in the source's id space
    f->vocab = src->vocab;
    f->is_list = src->is_list;
    f->len = src->len;
  }
  if (f->vocab < 2) {
    sema_error(c, s->loc, "'%s' needs at least 2 buckets", f->name);
    return;
  }
  register_feature(c, f);
}

static void decl_feature(Ctx *c, Node *s) {
  Feature *f = arena_alloc(sizeof *f);
  f->name = s->name;
  f->loc = s->loc;
  if (s->c) {
    decl_derived_feature(c, s, f);
    return;
  }
  const char *k = s->str;
  static const OptSpec id_spec[] = {{"vocab", 'i'}, {"min_count", 'i'}, {"sep", 's'}};
  static const OptSpec hash_spec[] = {{"buckets", 'i'}, {"sep", 's'}};
  static const OptSpec float_spec[] = {{"normalize", 'f'}, {"log", 'f'}, {"default", 'n'}, {"sep", 's'}};
  static const OptSpec weighted_spec[] = {{"vocab", 'i'}, {"min_count", 'i'}, {"sep", 's'}, {"kv", 's'}};
  const OptSpec *spec;
  int nspec;
  if (!strcmp(k, "id")) f->kind = FK_ID, spec = id_spec, nspec = 3;
  else if (!strcmp(k, "hash")) f->kind = FK_HASH, spec = hash_spec, nspec = 2;
  else if (!strcmp(k, "float")) f->kind = FK_FLOAT, spec = float_spec, nspec = 4;
  else if (!strcmp(k, "weighted")) f->kind = FK_WEIGHTED, spec = weighted_spec, nspec = 4;
  else {
    sema_error(c, s->b->loc, "unknown feature kind '%s'", k);
    diag_hint("feature kinds are id, hash, float and weighted (and cross(...), negative(...))");
    return;
  }
  Node *opt[4];
  if (!read_options(c, s, spec, nspec, opt, arena_printf("a %s feature", k))) return;
  if (s->a) {
    Value *n = sema_eval(c, s->a);
    if (!n) return;
    if (n->kind != V_INT || n->num < 1 || n->num > 4096) {
      sema_error(c, s->a->loc, "a list length must be an integer from 1 to 4096");
      return;
    }
    f->is_list = true;
    f->len = (int)n->num;
  }
  if (f->kind == FK_WEIGHTED && !f->is_list) {
    sema_error(c, s->b->loc, "a weighted feature is a list: write weighted[N]");
    return;
  }
  if (f->kind == FK_WEIGHTED && s->list2 && s->list2->c) {   // from IDCOL:VALCOL, one pair per grouped row
    if (s->list2->next) {
      sema_error(c, s->list2->next->loc, "a weighted feature reads one id:value pair of columns");
      return;
    }
    if (!c->g->group_by) {
      sema_error(c, s->list2->loc, "'%s:%s' takes one pair per row of a group, but rows are not grouped", s->list2->str,
                 s->list2->c->name);
      diag_hint("declare the grouping first: data csv group_by \"movieId\"");
      return;
    }
    if (opt[2] || opt[3]) {
      sema_error(c, s->loc, "`sep` and `kv` split one column; this feature reads a pair of columns");
      return;
    }
    vec_push(&f->columns, (void *)s->list2->str);
    f->value_column = s->list2->c->name;
    f->vocab = (int64_t)(opt[0] ? opt[0]->num : 0);
    f->min_count = opt[1] ? (int)opt[1]->num : 1;
    if (!opt[0]) {
      sema_error(c, s->loc, "weighted feature '%s' needs a vocabulary size", f->name);
      return;
    }
    register_feature(c, f);
    return;
  }
  if (!read_columns(c, s->list2, &f->columns)) return;
  const char *sep = NULL;
  int sep_i = f->kind == FK_ID ? 2 : f->kind == FK_HASH ? 1 : f->kind == FK_FLOAT ? 3 : 2;
  if (opt[sep_i]) {
    sep = opt[sep_i]->str;
    if (strlen(sep) != 1) {
      sema_error(c, opt[sep_i]->loc, "a separator is one character, got \"%s\"", sep);
      return;
    }
  }
  f->sep = sep;
  int ncols = f->columns.len;
  if (!f->is_list && ncols != 1) {
    sema_error(c, s->list2->loc, "feature '%s' is one value but %d columns are given", f->name, ncols);
    diag_hint("write %s[%d] for a list of %d columns", k, ncols, ncols);
    return;
  }
  if (f->is_list && ncols == 1 && f->len > 1 && !sep) {
    sema_error(c, s->list2->loc, "%s[%d] from one column needs `sep`", k, f->len);
    diag_hint("e.g. from %s sep \",\"", (char *)f->columns.items[0]);
    return;
  }
  if (f->is_list && ncols > 1 && ncols != f->len) {
    sema_error(c, s->list2->loc, "%s[%d] but %d columns are given", k, f->len, ncols);
    return;
  }
  if (sep && ncols > 1) {
    sema_error(c, opt[sep_i]->loc, "`sep` splits one column; this feature reads %d columns", ncols);
    return;
  }
  if (!f->is_list && sep) {
    sema_error(c, opt[sep_i]->loc, "`sep` is for list features; write %s[N]", k);
    return;
  }
  switch (f->kind) {
  case FK_ID:
  case FK_WEIGHTED:
    if (!opt[0]) {
      sema_error(c, s->loc, "%s feature '%s' needs a vocabulary size", k, f->name);
      diag_hint("add `vocab N`: index 0 is padding, 1 out-of-vocabulary, 2..N-1 the most frequent ids");
      return;
    }
    f->vocab = (int64_t)opt[0]->num;
    f->min_count = opt[1] ? (int)opt[1]->num : 1;
    if (f->vocab < 3) {
      sema_error(c, opt[0]->loc, "a vocabulary needs at least 3 entries (padding, out-of-vocabulary, one id)");
      return;
    }
    if (opt[1] && f->min_count < 1) {
      sema_error(c, opt[1]->loc, "min_count must be at least 1");
      return;
    }
    if (f->kind == FK_WEIGHTED) f->kv = opt[3] ? opt[3]->str : ":";
    break;
  case FK_HASH:
    if (!opt[0]) {
      sema_error(c, s->loc, "hash feature '%s' needs `buckets N`", f->name);
      return;
    }
    f->vocab = (int64_t)opt[0]->num;
    if (f->vocab < 2) {
      sema_error(c, opt[0]->loc, "a hash feature needs at least 2 buckets (0 is for empty values)");
      return;
    }
    break;
  case FK_FLOAT:
    f->normalize = opt[0] != NULL;
    f->log1p = opt[1] != NULL;
    if (opt[2]) f->dflt = opt[2]->num, f->has_default = true;
    break;
  default: break;
  }
  if (f->vocab > 2000000000) {
    sema_error(c, opt[0]->loc, "vocabulary of %lld is too large (at most 2e9)", (long long)f->vocab);
    return;
  }
  register_feature(c, f);
}

// next(F): the same feature read from the user's next row (DRN's next state).
Feature *feature_next(Ctx *c, Feature *f, Loc loc) {
  if (!c->g->next_by) {
    sema_error(c, loc, "next(%s) needs rows paired with the user's next row", f->name);
    diag_hint("declare it: data csv next_by \"userId\" order \"timestamp\"");
    return NULL;
  }
  if (f->next_row) {
    sema_error(c, loc, "'%s' is already a next-row feature", f->name);
    return NULL;
  }
  const char *name = arena_printf("next.%s", f->name);
  for (int i = 0; i < c->g->features.len; i++) {
    Feature *g = c->g->features.items[i];
    if (!strcmp(g->name, name)) return g;
  }
  Feature *n = arena_alloc(sizeof *n);
  *n = *f;
  n->name = name;
  n->next_row = true;
  n->vocab_of = f;   // the same ids as the feature it comes from
  n->loc = loc;
  make_feature_nodes(c, n);
  vec_push(&c->g->features, n);
  return n;
}

static void decl_one(Ctx *c, Node *s);

// S ids per example drawn by the runtime from target's vocabulary: a negative
// feature whose source is one id (the runtime fills every slot).
Feature *sampled_feature(Ctx *c, Feature *target, int samples, Loc loc) {
  Feature *n = arena_alloc(sizeof *n);
  n->name = arena_printf("%s.sampled", target->name);
  for (int k = 1;; k++) {   // unique among the graph's features
    bool used = false;
    for (int i = 0; i < c->g->features.len && !used; i++) used = !strcmp(((Feature *)c->g->features.items[i])->name, n->name);
    if (!used) break;
    n->name = arena_printf("%s.sampled%d", target->name, k);
  }
  n->kind = FK_NEGATIVE;
  n->is_list = true;
  n->len = samples;
  n->vocab = target->vocab;
  n->vocab_of = target;
  n->loc = loc;
  vec_push(&n->sources, target);
  make_feature_nodes(c, n);
  vec_push(&c->g->features, n);
  return n;
}

// ---- the other declarations ----

static bool eval_shape(Ctx *c, Node *dims, Shape *s, const char *what) {
  *s = (Shape){0, {0}};
  for (Node *d = dims; d; d = d->next) {
    if (s->rank == MAX_RANK) {
      sema_error(c, d->loc, "%s has more than %d dimensions", what, MAX_RANK);
      return false;
    }
    Value *v = sema_eval(c, d);
    if (!v) return false;
    if (v->kind != V_INT || v->num < 1 || v->num > 1e9) {
      sema_error(c, d->loc, "a dimension must be a positive integer, got %s", val_kind_name(v));
      return false;
    }
    s->dim[s->rank++] = (int)v->num;
  }
  return true;
}

static void decl_param(Ctx *c, Node *s, bool is_table) {
  if (!decl_name_free(c, s->name, s->loc)) return;
  Shape shape;
  if (!eval_shape(c, s->list2, &shape, is_table ? "a table" : "a parameter")) return;
  if (is_table && shape.rank != 2) {
    sema_error(c, s->loc, "table '%s' must be [rows, dim], got %s", s->name, shape_str(shape));
    return;
  }
  static const OptSpec spec[] = {{"init", 'r'}, {"optimizer", 'r'}};
  Node *opt[2] = {NULL, NULL};
  if (!read_options(c, s, spec, is_table ? 2 : 1, opt, is_table ? "a table" : "a parameter")) return;
  Record *init = option_record(c, opt[0], "initializer");
  Record *optim = option_record(c, opt[1], "optimizer");
  if ((opt[0] && !init) || (opt[1] && !optim)) return;
  IrNode *n = get_param(c, s->name, shape, init, is_table, s->loc);
  if (!n) return;
  Param *p = (Param *)n->ref;
  p->optimizer = optim;
  Value *v = val_tensor(n, NULL);
  v->param = p;
  decl_define(c, s->name, v, s->loc);
}

static void decl_train(Ctx *c, Node *s) {
  static const char *keys = "optimizer, sparse, batch, epochs, l2, seed";
  for (Node *a = s->list; a; a = a->next) {
    if (!a->name) {
      sema_error(c, a->loc, "train takes KEY=VALUE settings");
      diag_hint("keys: %s", keys);
      continue;
    }
    Value *v = sema_eval(c, a->a);
    if (!v) continue;
    Loc at = a->a->loc;
    if (!strcmp(a->name, "optimizer") || !strcmp(a->name, "sparse")) {
      Record *r = make_record(c, "optimizer", v, at);
      if (r) *(a->name[0] == 'o' ? &c->g->optimizer : &c->g->sparse_optimizer) = r;
    } else if (!strcmp(a->name, "batch") || !strcmp(a->name, "epochs") || !strcmp(a->name, "seed")) {
      if (v->kind != V_INT || v->num < (a->name[0] == 's' ? 0 : 1) || v->num > 1e8) {
        sema_error(c, at, "'%s' must be a%s integer, got %s", a->name, a->name[0] == 's' ? " non-negative" : " positive",
                   v->kind == V_INT ? arena_printf("%.0f", v->num) : val_kind_name(v));
        continue;
      }
      *(a->name[0] == 'b' ? &c->g->batch : a->name[0] == 'e' ? &c->g->epochs : &c->g->seed) = (int)v->num;
    } else if (!strcmp(a->name, "l2")) {
      if ((v->kind != V_INT && v->kind != V_FLOAT) || v->num < 0) {
        sema_error(c, at, "'l2' must be a number >= 0");
        continue;
      }
      if (false) {
        sema_error(c, at, "'l2' must be a number >= 0");
        continue;
      }
      c->g->l2 = v->num;
    } else {
      sema_error(c, a->loc, "unknown training setting '%s'", a->name);
      diag_hint("keys: %s", keys);
    }
  }
}

static void decl_data(Ctx *c, Node *s) {
  if (strcmp(s->name, "csv") && strcmp(s->name, "tsv")) {
    sema_error(c, s->loc, "unknown data format '%s'", s->name);
    diag_hint("formats are csv and tsv");
    return;
  }
  static const OptSpec spec[] = {{"delimiter", 's'}, {"next_by", 's'}, {"order", 's'}, {"group_by", 's'}};
  Node *opt[4];
  if (!read_options(c, s, spec, 4, opt, "data")) return;
  if (opt[3]) {
    if (opt[1]) {
      sema_error(c, opt[3]->loc, "`group_by` and `next_by` do not go together");
      return;
    }
    c->g->group_by = opt[3]->str;
  }
  c->g->format = s->name;
  c->g->delimiter = s->name[0] == 't' ? '\t' : ',';
  if (opt[0]) {
    if (strlen(opt[0]->str) != 1) {
      sema_error(c, opt[0]->loc, "a delimiter is one character");
      return;
    }
    c->g->delimiter = opt[0]->str[0];
  }
  if (opt[2] && !opt[1]) {
    sema_error(c, opt[2]->loc, "`order` goes with `next_by`");
    return;
  }
  if (opt[1]) c->g->next_by = opt[1]->str;
  if (opt[2]) c->g->next_order = opt[2]->str;
}

// Declarations that fail leave their name poisoned, so later uses stay quiet.
void decl_stmt(Ctx *c, Node *s) {
  int before = diag_error_count();
  decl_one(c, s);
  bool named = s->kind == ND_FEATURE || s->kind == ND_LABEL || s->kind == ND_TABLE || s->kind == ND_PARAMDECL;
  if (named && diag_error_count() > before) decl_poison(c, s->name, s->loc);
}

static void decl_one(Ctx *c, Node *s) {
  switch (s->kind) {
  case ND_MODEL: return;   // taken by sema_build
  case ND_DATA: decl_data(c, s); return;
  case ND_FEATURE: decl_feature(c, s); return;
  case ND_LABEL: {
    Feature *f = arena_alloc(sizeof *f);
    f->name = s->name;
    f->kind = FK_LABEL;
    f->loc = s->loc;
    Node *opt[1];
    if (!read_options(c, s, NULL, 0, opt, "a label")) return;
    if (!read_columns(c, s->list2, &f->columns)) return;
    if (f->columns.len != 1) {
      sema_error(c, s->list2->loc, "a label reads one column");
      return;
    }
    register_feature(c, f);
    return;
  }
  case ND_TABLE: decl_param(c, s, true); return;
  case ND_PARAMDECL: decl_param(c, s, false); return;
  case ND_TRAIN: decl_train(c, s); return;
  default: die("decl_stmt: %s", ast_kind_name(s->kind));
  }
}
