/* info.c -- `PROG info`: what this program was compiled from, read from the
 * descriptor alone (no data, no checkpoint): the model's name and
 * signature, training defaults, features with their columns, parameters
 * with shapes, sizes, initialisers and optimizers, inputs and outputs.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "model.h"

static const char *kind_str(const DmcFeature *f, char *buf, size_t cap) {
  if (f->len > 0) snprintf(buf, cap, "%s[%d]", rt_kind_name(f->kind), f->len);
  else snprintf(buf, cap, "%s", rt_kind_name(f->kind));
  return buf;
}

/* "a, b, c", "recent sep ','", or the source features of a cross/negative. */
static const char *source_str(const DmcModel *m, const DmcFeature *f, char *buf, size_t cap) {
  size_t k = 0;
  buf[0] = '\0';
  if (!rt_feat_reads_columns(f)) {
    k += (size_t)snprintf(buf, cap, "%s(", f->kind == DMC_FEAT_CROSS ? "cross" : "negative");
    for (int i = 0; i < f->nsources && k < cap; i++)
      k += (size_t)snprintf(buf + k, cap - k, "%s%s", i ? ", " : "", m->features[f->sources[i]].name);
    if (k < cap) snprintf(buf + k, cap - k, ")");
    return buf;
  }
  for (int i = 0; i < f->ncolumns && k < cap; i++)
    k += (size_t)snprintf(buf + k, cap - k, "%s%s", i ? ", " : "", f->columns[i]);
  if (f->value_column && k < cap) k += (size_t)snprintf(buf + k, cap - k, ":%s", f->value_column);
  if (f->sep && k < cap) k += (size_t)snprintf(buf + k, cap - k, " sep '%c'", f->sep);
  if (f->kind == DMC_FEAT_WEIGHTED && f->kv && k < cap) snprintf(buf + k, cap - k, " kv '%c'", f->kv);
  return buf;
}

static const char *options_str(const DmcFeature *f, char *buf, size_t cap) {
  size_t k = 0;
  buf[0] = '\0';
  if (f->kind == DMC_FEAT_ID || f->kind == DMC_FEAT_WEIGHTED)
    k += (size_t)snprintf(buf + k, cap - k, "vocab %" PRId64 " ", f->vocab);
  if (f->kind == DMC_FEAT_HASH || f->kind == DMC_FEAT_CROSS)
    k += (size_t)snprintf(buf + k, cap - k, "buckets %" PRId64 " ", f->vocab);
  if (f->min_count > 1 && k < cap) k += (size_t)snprintf(buf + k, cap - k, "min_count %d ", f->min_count);
  if (f->log1p && k < cap) k += (size_t)snprintf(buf + k, cap - k, "log ");
  if (f->normalize && k < cap) k += (size_t)snprintf(buf + k, cap - k, "normalize ");
  if (f->has_default && k < cap) k += (size_t)snprintf(buf + k, cap - k, "default %g ", f->default_value);
  if (f->next_row && k < cap) k += (size_t)snprintf(buf + k, cap - k, "next ");
  if (f->input < 0 && f->kind != DMC_FEAT_LABEL && k < cap) k += (size_t)snprintf(buf + k, cap - k, "(unused) ");
  if (k && k <= cap) buf[k - 1] = '\0';
  return buf;
}

static void info_text(const DmcModel *m) {
  char a[512], b[512], c[256];
  int64_t table_floats = 0;
  printf("model %s  signature %016" PRIx64 "  abi %d\n", m->name, m->signature, m->abi_version);
  printf("data: delimiter %s", m->delimiter == '\t' ? "tab" : m->delimiter == ',' ? "comma" : "other");
  if (m->next_by) printf(", next_by %s order %s", m->next_by, m->next_order);
  if (m->group_by) printf(", group_by %s", m->group_by);
  printf("\ntrain: batch %d, epochs %d, seed %d, l2 %g\n", m->batch, m->epochs, m->seed, m->l2);
  printf("  optimizer %s\n", rt_rec_format(&m->optimizer, a, sizeof a));
  printf("  sparse    %s\n", rt_rec_format(&m->sparse_optimizer, a, sizeof a));
  printf("\nfeatures (%d):\n", m->nfeatures);
  for (int i = 0; i < m->nfeatures; i++) {
    const DmcFeature *f = &m->features[i];
    printf("  %-12s %-12s %-36s %s\n", f->name, kind_str(f, c, sizeof c), source_str(m, f, a, sizeof a),
           options_str(f, b, sizeof b));
  }
  int64_t floats = 0;   // the parameters' own: the block also pads each to 16 floats
  for (int i = 0; i < m->nparams; i++) floats += m->params[i].size;
  printf("\nparameters (%d, %" PRId64 " floats, %.2f MB):\n", m->nparams, floats, (double)floats * 4 / 1048576.0);
  for (int i = 0; i < m->nparams; i++) {
    const DmcParam *p = &m->params[i];
    printf("  %-24s %-14s %10" PRId64 "  %-5s", p->name, rt_param_shape(p, c, sizeof c), p->size,
           p->is_table ? "table" : "");
    if (p->is_table) table_floats += p->size;
    if (p->lag_of >= 0) printf("  lagged copy of %s every %d steps", m->params[p->lag_of].name, p->lag_every);
    else if (p->init.name) printf("  init %s", rt_rec_format(&p->init, a, sizeof a));
    if (p->optimizer.name) printf("  optimizer %s", rt_rec_format(&p->optimizer, a, sizeof a));
    printf("\n");
  }
  printf("  (tables %" PRId64 " floats, dense %" PRId64 ")\n", table_floats, floats - table_floats);
  printf("\noutputs:\n");
  for (int i = 0; i < m->noutputs; i++) printf("  %-12s [%" PRId64 "]\n", m->outputs[i].name, m->outputs[i].size);
  if (rt_model_retrieves(m))
    printf("retrieval: %s against the rows of %s (the ids of %s)\n",
           m->outputs[m->retrieve_output].name, m->params[m->retrieve_table].name,
           m->features[m->retrieve_target].name);
  if (rt_model_heldout(m))
    printf("held-out rows: element %s of %s, from the input group of their %s\n",
           m->features[m->heldout_feature].columns[0], m->outputs[m->heldout_output].name, m->group_by);
  printf("workspace: %" PRId64 " floats at batch %d\n", m->workspace_floats(m->batch > 0 ? m->batch : 1),
         m->batch > 0 ? m->batch : 1);
}

static json_t *rec_json(const DmcRecord *r) {
  char buf[512];
  return r->name ? json_string(rt_rec_format(r, buf, sizeof buf)) : json_null();
}

static json_t *info_json(const DmcModel *m) {
  char sig[32];
  snprintf(sig, sizeof sig, "%016" PRIx64, m->signature);
  json_t *feats = json_array(), *params = json_array(), *outs = json_array();
  for (int i = 0; i < m->nfeatures; i++) {
    const DmcFeature *f = &m->features[i];
    json_t *cols = json_array();
    for (int k = 0; k < f->ncolumns && rt_feat_reads_columns(f); k++)
      json_array_append_new(cols, json_string(f->columns[k]));
    json_t *j = json_pack("{s:s, s:s, s:i, s:o, s:I, s:b, s:b}", "name", f->name, "kind",
                          rt_kind_name(f->kind), "len", f->len, "columns", cols, "vocab",
                          (json_int_t)f->vocab, "used", f->input >= 0, "next", f->next_row);
    if (f->value_column) json_object_set_new(j, "value_column", json_string(f->value_column));
    if (!rt_feat_reads_columns(f)) {
      json_t *src = json_array();
      for (int k = 0; k < f->nsources; k++)
        json_array_append_new(src, json_string(m->features[f->sources[k]].name));
      json_object_set_new(j, "sources", src);
    }
    if (f->kind == DMC_FEAT_FLOAT) {
      json_object_set_new(j, "normalize", json_boolean(f->normalize));
      json_object_set_new(j, "log", json_boolean(f->log1p));
      if (f->has_default) json_object_set_new(j, "default", json_real(f->default_value));
    }
    json_array_append_new(feats, j);
  }
  for (int i = 0; i < m->nparams; i++) {
    const DmcParam *p = &m->params[i];
    json_t *shape = json_array();
    for (int k = 0; k < p->rank; k++) json_array_append_new(shape, json_integer(p->shape[k]));
    json_t *j = json_pack("{s:s, s:o, s:I, s:b, s:o, s:o}", "name", p->name, "shape", shape, "size",
                          (json_int_t)p->size, "table", p->is_table, "init", rec_json(&p->init),
                          "optimizer", rec_json(&p->optimizer));
    if (p->lag_of >= 0) {
      json_object_set_new(j, "lag_of", json_string(m->params[p->lag_of].name));
      json_object_set_new(j, "lag_every", json_integer(p->lag_every));
    }
    json_array_append_new(params, j);
  }
  for (int i = 0; i < m->noutputs; i++)
    json_array_append_new(outs, json_pack("{s:s, s:I}", "name", m->outputs[i].name, "size",
                                          (json_int_t)m->outputs[i].size));
  json_t *retrieval = rt_model_retrieves(m)
                         ? json_pack("{s:s, s:s, s:s}", "output", m->outputs[m->retrieve_output].name,
                                     "table", m->params[m->retrieve_table].name, "target",
                                     m->features[m->retrieve_target].name)
                         : json_null();
  return json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:f, s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:o}", "model",
                   m->name, "signature", sig, "abi", m->abi_version, "batch", m->batch, "epochs",
                   m->epochs, "seed", m->seed, "l2", m->l2, "optimizer", rec_json(&m->optimizer),
                   "sparse_optimizer", rec_json(&m->sparse_optimizer), "features", feats,
                   "parameters", params, "outputs", outs, "params_size", (json_int_t)m->params_size,
                   "retrieval", retrieval, "group_by", m->group_by ? json_string(m->group_by) : json_null());
}

int rt_cmd_info(const DmcModel *m, const RtOpts *o) {
  if (!o->json) {
    info_text(m);
    return 0;
  }
  json_t *j = info_json(m);
  json_dumpf(j, stdout, JSON_INDENT(2));
  fputc('\n', stdout);
  json_decref(j);
  return 0;
}
