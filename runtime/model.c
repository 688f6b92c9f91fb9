/* model.c -- descriptor helpers and the start-up consistency check (see model.h). */
#include "model.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

const char *rt_kind_name(DmcFeatureKind k) {
  switch (k) {
  case DMC_FEAT_ID: return "id";
  case DMC_FEAT_HASH: return "hash";
  case DMC_FEAT_FLOAT: return "float";
  case DMC_FEAT_WEIGHTED: return "weighted";
  case DMC_FEAT_CROSS: return "cross";
  case DMC_FEAT_NEGATIVE: return "negative";
  case DMC_FEAT_LABEL: return "label";
  }
  return "?";
}

int rt_param_trained(const DmcParam *p) { return p->lag_of < 0 && !p->is_stat; }

int rt_feat_width(const DmcFeature *f) { return f->len > 1 ? f->len : 1; }

int rt_feat_reads_columns(const DmcFeature *f) {
  return f->kind != DMC_FEAT_CROSS && f->kind != DMC_FEAT_NEGATIVE;
}

static int rec_find(const DmcRecord *r, const char *key, int pos) {
  for (int i = 0; i < r->n; i++)
    if (r->keys && r->keys[i] && !strcmp(r->keys[i], key)) return i;
  if (pos >= 0 && pos < r->n && (!r->keys || !r->keys[pos] || !r->keys[pos][0])) return pos;
  return -1;
}

double rt_rec_num(const DmcRecord *r, const char *key, int pos, double def) {
  int i = rec_find(r, key, pos);
  return i >= 0 && r->values ? r->values[i] : def;
}

int rt_rec_has(const DmcRecord *r, const char *key, int pos) { return rec_find(r, key, pos) >= 0; }

const char *rt_rec_str(const DmcRecord *r, const char *key, int pos) {
  int i = rec_find(r, key, pos);
  return i >= 0 && r->strings ? r->strings[i] : NULL;
}

int rt_rec_check_keys(const DmcRecord *r, const char *const *keys, const char *what,
                      RtError *err) {
  for (int i = 0; i < r->n; i++) {
    const char *k = r->keys ? r->keys[i] : NULL;
    if (!k || !*k) continue;
    int ok = 0;
    for (const char *const *p = keys; *p && !ok; p++) ok = !strcmp(*p, k);
    if (!ok) {
      char list[256] = "";
      for (const char *const *p = keys; *p; p++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", p == keys ? "" : ", ", *p);
      return rt_error(err, "%s: %s() has no option '%s' (it takes: %s)", what, r->name, k,
                      *keys ? list : "nothing");
    }
  }
  return 0;
}

const char *rt_rec_format(const DmcRecord *r, char *buf, size_t cap) {
  if (!r->name) {
    snprintf(buf, cap, "-");
    return buf;
  }
  size_t k = (size_t)snprintf(buf, cap, "%s(", r->name);
  for (int i = 0; i < r->n && k < cap; i++) {
    const char *key = r->keys && r->keys[i] && r->keys[i][0] ? r->keys[i] : NULL;
    const char *s = r->strings ? r->strings[i] : NULL;
    k += (size_t)snprintf(buf + k, cap - k, "%s%s%s", i ? ", " : "", key ? key : "", key ? "=" : "");
    if (k >= cap) break;
    if (s) k += (size_t)snprintf(buf + k, cap - k, "\"%s\"", s);
    else k += (size_t)snprintf(buf + k, cap - k, "%g", r->values ? r->values[i] : 0.0);
  }
  if (k < cap) snprintf(buf + k, cap - k, ")");
  return buf;
}

const char *rt_param_shape(const DmcParam *p, char *buf, size_t cap) {
  size_t k = (size_t)snprintf(buf, cap, "[");
  for (int i = 0; i < p->rank && k < cap; i++)
    k += (size_t)snprintf(buf + k, cap - k, "%s%" PRId64, i ? ", " : "", p->shape[i]);
  if (k < cap) snprintf(buf + k, cap - k, "]");
  return buf;
}

int rt_model_label(const DmcModel *m) {
  for (int i = 0; i < m->nfeatures; i++)
    if (m->features[i].kind == DMC_FEAT_LABEL) return i;
  return -1;
}

int rt_model_retrieves(const DmcModel *m) { return m->retrieve_output >= 0; }

int rt_model_heldout(const DmcModel *m) {
  return m->group_by && m->heldout_output >= 0 && m->heldout_feature >= 0;
}

/* ---- the consistency check ---- */

#define BUG "model descriptor (a dmc compiler bug): "

static int check_input(const DmcModel *m, const DmcFeature *f, int in, DmcDType want,
                       RtError *err) {
  if (in < 0 || in >= m->ninputs)
    return rt_error(err, BUG "feature '%s': input %d out of range", f->name, in);
  const DmcInput *x = &m->inputs[in];
  if (x->dtype != want || x->size != rt_feat_width(f))
    return rt_error(err, BUG "feature '%s': input '%s' is %s[%" PRId64 "], expected %s[%d]",
                    f->name, x->name, x->dtype == DMC_I32 ? "i32" : "f32", x->size,
                    want == DMC_I32 ? "i32" : "f32", rt_feat_width(f));
  return 0;
}

static int check_feature(const DmcModel *m, const DmcFeature *f, RtError *err) {
  int w = rt_feat_width(f);
  if (rt_feat_reads_columns(f)) {
    if (f->ncolumns < 1 || !f->columns)
      return rt_error(err, BUG "feature '%s' reads no column", f->name);
    if (f->ncolumns != 1 && f->ncolumns != w)
      return rt_error(err, BUG "feature '%s': %d columns for %d elements", f->name, f->ncolumns, w);
    if (f->ncolumns == 1 && w > 1 && !f->sep && !f->value_column)
      return rt_error(err, BUG "feature '%s': a list in one column without a separator", f->name);
    if (f->value_column && (f->kind != DMC_FEAT_WEIGHTED || f->ncolumns != 1 || !m->group_by))
      return rt_error(err, BUG "feature '%s': a pair source must be a weighted list of a group_by model",
                      f->name);
  }
  if (f->kind == DMC_FEAT_CROSS || f->kind == DMC_FEAT_NEGATIVE) {
    if (f->nsources < 1 || !f->sources || (f->kind == DMC_FEAT_NEGATIVE && f->nsources != 1))
      return rt_error(err, BUG "feature '%s': bad sources", f->name);
    for (int i = 0; i < f->nsources; i++) {
      int s = f->sources[i];
      if (s < 0 || s >= m->nfeatures || !rt_feat_reads_columns(&m->features[s]))
        return rt_error(err, BUG "feature '%s': source %d is not a data feature", f->name, s);
      const DmcFeature *src = &m->features[s];
      if (f->kind == DMC_FEAT_CROSS && (src->ncolumns != 1 || src->len > 1))
        return rt_error(err, BUG "feature '%s': crossed feature '%s' is not single-valued",
                        f->name, src->name);
      if (f->kind == DMC_FEAT_NEGATIVE &&
          ((rt_feat_width(src) != w && rt_feat_width(src) != 1) ||   /* a single id fills every slot */
           (src->kind != DMC_FEAT_ID && src->kind != DMC_FEAT_HASH &&
                                       src->kind != DMC_FEAT_WEIGHTED)))
        return rt_error(err, BUG "feature '%s': source '%s' is not one id or an id list of the same shape",
                        f->name, src->name);
    }
  }
  int ids = f->kind == DMC_FEAT_ID || f->kind == DMC_FEAT_HASH || f->kind == DMC_FEAT_WEIGHTED ||
            f->kind == DMC_FEAT_CROSS || f->kind == DMC_FEAT_NEGATIVE;
  if (ids && f->kind != DMC_FEAT_NEGATIVE && (f->vocab < 2 || f->vocab > INT32_MAX))
    return rt_error(err, BUG "feature '%s': vocab %" PRId64 " out of range", f->name, f->vocab);
  if (f->input >= 0 && check_input(m, f, f->input, ids ? DMC_I32 : DMC_F32, err)) return -1;
  if (f->kind == DMC_FEAT_WEIGHTED && f->weights_input >= 0 &&
      check_input(m, f, f->weights_input, DMC_F32, err))
    return -1;
  if (f->next_row && !(m->next_by && m->next_order))
    return rt_error(err, BUG "feature '%s' takes the next row but the model has no next_by", f->name);
  return 0;
}

static int check_param(const DmcModel *m, const DmcParam *p, RtError *err) {
  int64_t n = 1;
  if (p->rank < 0 || p->rank > 4) return rt_error(err, BUG "param '%s': rank %d", p->name, p->rank);
  for (int i = 0; i < p->rank; i++) n *= p->shape[i];
  if (n != p->size || p->offset < 0 || p->offset + p->size > m->params_size)
    return rt_error(err, BUG "param '%s': size or offset out of the parameter block", p->name);
  if (p->is_table && p->rank != 2)
    return rt_error(err, BUG "table '%s' is not [rows, dim]", p->name);
  if (p->lag_of >= 0) {
    if (p->lag_of >= m->nparams || m->params[p->lag_of].size != p->size || p->lag_every < 1)
      return rt_error(err, BUG "param '%s': bad lagged copy", p->name);
  }
  return 0;
}

/* A group_by model's held-out fields: both -1, or an output with an element for every
 * index of a pair-source feature. */
static int check_heldout(const DmcModel *m, RtError *err) {
  int o = m->heldout_output, f = m->heldout_feature;
  if (!m->group_by || (o < 0 && f < 0)) return 0;
  if (o < 0 || o >= m->noutputs || f < 0 || f >= m->nfeatures)
    return rt_error(err, BUG "held-out output %d, feature %d out of range", o, f);
  if (!m->features[f].value_column || m->outputs[o].size < m->features[f].vocab)
    return rt_error(err, BUG "held-out: output '%s' [%" PRId64 "] has no element for every id of '%s'",
                    m->outputs[o].name, m->outputs[o].size, m->features[f].name);
  return 0;
}

/* All three retrieval fields -1, or the user vector [d] against a [rows, d]
 * table whose rows are the indices of a single-id target. */
static int check_retrieval(const DmcModel *m, RtError *err) {
  int o = m->retrieve_output, p = m->retrieve_table, f = m->retrieve_target;
  if (o < 0 && p < 0 && f < 0) return 0;
  if (o < 0 || o >= m->noutputs || p < 0 || p >= m->nparams || f < 0 || f >= m->nfeatures)
    return rt_error(err, BUG "retrieval output %d, table %d, target %d out of range", o, p, f);
  const DmcParam *t = &m->params[p];
  const DmcFeature *y = &m->features[f];
  if (t->rank != 2 || t->shape[1] != m->outputs[o].size)
    return rt_error(err, BUG "retrieval: output '%s' [%" PRId64 "] does not match the rows of '%s'",
                    m->outputs[o].name, m->outputs[o].size, t->name);
  if (y->kind != DMC_FEAT_ID || y->len > 1 || y->input < 0 || y->vocab > t->shape[0])
    return rt_error(err, BUG "retrieval: target '%s' is not a single id with a row of '%s' each",
                    y->name, t->name);
  return 0;
}

int rt_model_check(const DmcModel *m, RtError *err) {
  if (m->abi_version != DMC_ABI_VERSION)
    return rt_error(err, "model descriptor: ABI version %d, this runtime is version %d\n"
                    "HINT: rebuild the program with the dmc that matches this runtime",
                    m->abi_version, DMC_ABI_VERSION);
  if (!m->forward || !m->backward || !m->workspace_floats)
    return rt_error(err, BUG "missing entry points");
  if (m->delimiter == '"' || m->delimiter == '\n' || m->delimiter == '\r' || !m->delimiter)
    return rt_error(err, BUG "bad delimiter");
  for (int i = 0; i < m->nfeatures; i++)
    if (check_feature(m, &m->features[i], err)) return -1;
  for (int i = 0; i < m->nparams; i++)
    if (check_param(m, &m->params[i], err)) return -1;
  for (int i = 0; i < m->nsparse; i++) {
    const DmcSparseGrad *s = &m->sparse[i];
    if (s->param < 0 || s->param >= m->nparams || !m->params[s->param].is_table ||
        s->ids_input < 0 || s->ids_input >= m->ninputs || m->inputs[s->ids_input].dtype != DMC_I32 ||
        m->inputs[s->ids_input].size != s->ids_per_example ||
        s->dim != m->params[s->param].shape[1] || s->grad_fixed < 0 || s->grad_per_row < 0 || s->vec_fixed < 0 ||
        s->vec_per_row < 0 || (s->vec_per_row && s->vec_per_row < s->dim))
      return rt_error(err, BUG "sparse gradient %d is inconsistent", i);
  }
  if (m->noutputs < 1) return rt_error(err, BUG "no output");
  for (int i = 0; i < m->noutputs; i++)
    if (m->outputs[i].size < 1 || m->outputs[i].fixed < 0 || m->outputs[i].per_row < 0)
      return rt_error(err, BUG "output '%s' has a bad size or offset", m->outputs[i].name);
  return check_retrieval(m, err) || check_heldout(m, err) ? -1 : 0;
}
