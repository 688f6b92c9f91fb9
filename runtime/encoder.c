/* encoder.c -- the encoder's structure: which features are read, which
 * share a vocabulary or statistics, column binding, freezing, checkpoint
 * blobs and reports (see encoder.h). Row parsing is in encode.c.
 */
#include "encoder.h"

#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "model.h"

const char *const rt_bad_names[RT_BAD_COUNT] = {"", "not a number", "empty value",
                                               "list too long", "wrong field count",
                                               "field too long", "NaN or Inf"};

/* Same data columns read the same way: the same vocabulary or statistics. */
static int same_spec(const DmcFeature *a, const DmcFeature *b) {
  if (a->kind != b->kind || a->ncolumns != b->ncolumns || a->len != b->len ||
      a->sep != b->sep || a->kv != b->kv)
    return 0;
  if (a->kind == DMC_FEAT_FLOAT && (a->log1p != b->log1p || a->normalize != b->normalize))
    return 0;
  for (int i = 0; i < a->ncolumns; i++)
    if (strcmp(a->columns[i], b->columns[i])) return 0;
  return 1;
}

static int find_root(int *parent, int x) {
  while (parent[x] != x) x = parent[x] = parent[parent[x]];
  return x;
}

static void unite(int *parent, int a, int b) { /* the smaller index stays the root */
  a = find_root(parent, a);
  b = find_root(parent, b);
  if (a < b) parent[b] = a;
  else if (b < a) parent[a] = b;
}

static int has_vocab(const DmcFeature *f) {
  return f->kind == DMC_FEAT_ID || f->kind == DMC_FEAT_WEIGHTED;
}

static void mark_active(RtEncoder *e) {
  const DmcModel *m = e->m;
  for (int i = 0; i < m->nfeatures; i++) {
    const DmcFeature *f = &m->features[i];
    e->active[i] = f->input >= 0 || (f->kind == DMC_FEAT_WEIGHTED && f->weights_input >= 0) ||
                   i == e->label;
  }
  for (int i = 0; i < m->nfeatures; i++) {
    const DmcFeature *f = &m->features[i];
    if (!e->active[i]) continue;
    if (f->kind == DMC_FEAT_NEGATIVE) e->active[f->sources[0]] = 1;
  }
  for (int i = 0; i < m->nfeatures; i++) {
    const DmcFeature *f = &m->features[i];
    e->needcols[i] = e->active[i] && rt_feat_reads_columns(f);
    if (e->active[i] && f->kind == DMC_FEAT_CROSS)
      for (int s = 0; s < f->nsources; s++) e->needcols[f->sources[s]] = 1;
  }
}

/* Vocabulary groups: features united through DmcFeature.vocab_of (the
 * compiler's union of features sharing a table), and next(F) with F. The
 * leader of a group is its first active member. Owners: the first active
 * feature reading the same columns the same way (and, for ids, in the same
 * group) counts the statistics for all of them. */
static int build_groups(RtEncoder *e) {
  const DmcModel *m = e->m;
  int nf = m->nfeatures;
  int *parent = malloc(2 * ((size_t)nf + 1) * sizeof *parent);
  if (!parent) return -1;
  int *gid = parent + nf + 1; /* [nf] group of a root, -1 if none yet */
  for (int i = 0; i < nf; i++) parent[i] = i, gid[i] = -1;
  for (int i = 0; i < nf; i++) {
    const DmcFeature *f = &m->features[i];
    if (!e->active[i] || !has_vocab(f)) continue;
    if (f->vocab_of >= 0 && f->vocab_of < nf && has_vocab(&m->features[f->vocab_of]))
      unite(parent, i, f->vocab_of);
    for (int j = 0; j < i; j++)
      if (e->active[j] && m->features[j].next_row != f->next_row && same_spec(f, &m->features[j]))
        unite(parent, i, j);
  }
  for (int i = 0; i < nf; i++) {
    const DmcFeature *f = &m->features[i];
    e->owner[i] = i;
    e->group[i] = -1;
    if (!e->active[i] || !rt_feat_reads_columns(f)) continue;
    for (int j = 0; j < i && e->owner[i] == i; j++)
      if (e->active[j] && e->owner[j] == j && same_spec(f, &m->features[j]) &&
          (!has_vocab(f) || find_root(parent, i) == find_root(parent, j)))
        e->owner[i] = j;
    if (!has_vocab(f)) continue;
    int r = find_root(parent, i);
    if (gid[r] < 0) {
      RtVocabGroup *g = &e->groups[e->ngroups];
      gid[r] = e->ngroups++;
      g->leader = i;
      g->size = f->vocab;
      g->min_count = f->min_count;
    }
    RtVocabGroup *g = &e->groups[gid[r]];
    e->group[i] = gid[r];
    if (f->vocab < g->size) g->size = f->vocab;
    if (f->min_count > g->min_count) g->min_count = f->min_count;
  }
  free(parent);
  for (int g = 0; g < e->ngroups; g++)
    if (!(e->groups[g].v = rt_vocab_new((uint32_t)e->groups[g].size, (uint32_t)e->groups[g].min_count)))
      return -1;
  return 0;
}

RtEncoder *rt_enc_new(const DmcModel *m) {
  RtEncoder *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  int nf = e->nf = m->nfeatures;
  size_t n = (size_t)nf + 1, ncol = 1;
  for (int i = 0; i < nf; i++) ncol += (size_t)(m->features[i].ncolumns > 0 ? m->features[i].ncolumns : 0);
  e->m = m;
  e->hash_seed = RT_HASH_SEED;
  e->label = rt_model_label(m);
  e->active = calloc(n, 1);
  e->needcols = calloc(n, 1);
  e->owner = calloc(n, sizeof *e->owner);
  e->group = calloc(n, sizeof *e->group);
  e->groups = calloc(n, sizeof *e->groups);
  e->norm = calloc(n, sizeof *e->norm);
  e->colbase = calloc(n, sizeof *e->colbase);
  e->col = calloc(ncol, sizeof *e->col);
  e->raw = calloc(n, sizeof *e->raw);
  e->rawv = calloc(n, sizeof *e->rawv);
  e->empty = calloc(n, sizeof *e->empty);
  e->ids = calloc(n, sizeof *e->ids);
  e->vals = calloc(n, sizeof *e->vals);
  e->seen = calloc(n, sizeof *e->seen);
  if (!(e->notes = calloc(n, sizeof *e->notes))) goto fail;
  e->oov = calloc(n, sizeof *e->oov);
  e->valcol = calloc(n, sizeof *e->valcol);
  if (!e->active || !e->needcols || !e->owner || !e->group || !e->groups || !e->norm ||
      !e->colbase || !e->col || !e->raw || !e->rawv || !e->empty || !e->ids || !e->vals ||
      !e->seen || !e->oov || !e->valcol)
    goto fail;
  mark_active(e);
  if (build_groups(e)) goto fail;
  size_t base = 0;
  for (int i = 0; i < nf; i++) {
    const DmcFeature *f = &m->features[i];
    size_t w = (size_t)rt_feat_width(f);
    e->colbase[i] = (int)base;
    base += (size_t)(f->ncolumns > 0 ? f->ncolumns : 0);
    if (!(e->raw[i] = calloc(w, sizeof **e->raw)) || !(e->rawv[i] = calloc(w, sizeof **e->rawv)) ||
        !(e->empty[i] = calloc(w, 1)) || !(e->ids[i] = calloc(w, sizeof **e->ids)) ||
        !(e->vals[i] = calloc(w, sizeof **e->vals)))
      goto fail;
    if (e->active[i] && f->kind == DMC_FEAT_FLOAT && f->normalize) {
      if (e->owner[i] == i) {
        if (!(e->norm[i] = rt_norm_new((int)w))) goto fail;
      } else {
        e->norm[i] = e->norm[e->owner[i]];
      }
    }
  }
  return e;
fail:
  rt_enc_free(e);
  return NULL;
}

void rt_enc_free(RtEncoder *e) {
  if (!e) return;
  for (int i = 0; i < e->nf; i++) {
    if (e->norm && e->owner && e->owner[i] == i) rt_norm_free(e->norm[i]);
    if (e->raw) free(e->raw[i]);
    if (e->rawv) free(e->rawv[i]);
    if (e->empty) free(e->empty[i]);
    if (e->ids) free(e->ids[i]);
    if (e->vals) free(e->vals[i]);
  }
  for (int g = 0; e->groups && g < e->ngroups; g++) rt_vocab_free(e->groups[g].v);
  free(e->active);
  free(e->needcols);
  free(e->owner);
  free(e->group);
  free(e->groups);
  free(e->norm);
  free(e->colbase);
  free(e->col);
  free(e->raw);
  free(e->rawv);
  free(e->empty);
  free(e->ids);
  free(e->vals);
  free(e->seen);
  free(e->notes);
  free(e->oov);
  free(e->valcol);
  free(e);
}

/* "HINT: the header has: a, b, c" (cut after about 600 bytes). */
static void header_hint(const RtCsv *csv, char *buf, size_t cap) {
  size_t k = (size_t)snprintf(buf, cap, "HINT: the header has: ");
  for (int i = 0; i < rt_csv_ncols(csv) && k + 8 < cap; i++)
    k += (size_t)snprintf(buf + k, cap - k, "%s%s", i ? ", " : "", rt_csv_colname(csv, i));
}

static int missing(const RtCsv *csv, const char *path, const char *col, const char *what,
                   RtError *err) {
  char hint[700];
  header_hint(csv, hint, sizeof hint);
  return rt_error(err, "%s: no column '%s' (%s)\n%s", path, col, what, hint);
}

int rt_enc_bind(RtEncoder *e, RtCsv *csv, const char *path, int flags,
                const char *group_name, RtError *err) {
  const DmcModel *m = e->m;
  char what[160];
  rt_csv_tolerate(csv); /* rt_enc_parse reports a row's wrong field count or long field */
  e->path = path;
  e->has_label = 0;
  for (int i = 0; i < m->nfeatures; i++) {
    const DmcFeature *f = &m->features[i];
    for (int k = 0; k < f->ncolumns && rt_feat_reads_columns(f); k++) {
      int c = e->needcols[i] ? rt_csv_find(csv, f->columns[k]) : -1;
      e->col[e->colbase[i] + k] = c;
      if (c >= 0 || !e->needcols[i]) continue;
      if (f->kind == DMC_FEAT_LABEL && (flags & RT_BIND_LABEL_OPTIONAL)) continue;
      if (i == m->retrieve_target && (flags & RT_BIND_TARGET_OPTIONAL)) continue;
      snprintf(what, sizeof what, "%s %s", f->kind == DMC_FEAT_LABEL ? "label" : "feature", f->name);
      return missing(csv, path, f->columns[k], what, err);
    }
  }
  e->has_label = e->label >= 0 && e->col[e->colbase[e->label]] >= 0;
  for (int i = 0; i < m->nfeatures; i++) { /* pair sources: the value column */
    const DmcFeature *f = &m->features[i];
    e->valcol[i] = f->value_column && e->needcols[i] ? rt_csv_find(csv, f->value_column) : -1;
    if (e->valcol[i] >= 0 || !f->value_column || !e->needcols[i]) continue;
    if (i == m->heldout_feature && (flags & RT_BIND_LABEL_OPTIONAL)) continue;
    snprintf(what, sizeof what, "values of feature %s", f->name);
    return missing(csv, path, f->value_column, what, err);
  }
  e->key_col = -1;
  if (m->group_by && (e->key_col = rt_csv_find(csv, m->group_by)) < 0)
    return missing(csv, path, m->group_by, "group_by", err);
  e->group_col = -1;
  if (group_name) {
    if ((e->group_col = rt_csv_find(csv, group_name)) < 0)
      return missing(csv, path, group_name, "--group", err);
  } else {
    static const char *const users[] = {"userId", "uid", "user_id", "user"};
    for (size_t i = 0; i < 4 && e->group_col < 0; i++) e->group_col = rt_csv_find(csv, users[i]);
  }
  e->by_col = e->order_col = -1;
  for (int i = 0; i < m->nfeatures; i++) {
    if (!e->active[i] || !m->features[i].next_row) continue;
    if ((e->by_col = rt_csv_find(csv, m->next_by)) < 0)
      return missing(csv, path, m->next_by, "next_by", err);
    if ((e->order_col = rt_csv_find(csv, m->next_order)) < 0)
      return missing(csv, path, m->next_order, "next_by order", err);
    break;
  }
  return 0;
}

int rt_enc_count(RtEncoder *e, RtError *err) {
  const DmcModel *m = e->m;
  for (int i = 0; i < m->nfeatures; i++) {
    if (!e->active[i] || e->owner[i] != i) continue;
    int w = rt_feat_width(&m->features[i]);
    if (e->group[i] >= 0) {
      RtVocab *v = e->groups[e->group[i]].v;
      for (int k = 0; k < w; k++)
        if (!e->empty[i][k] && rt_vocab_count(v, e->raw[i][k]))
          return rt_error(err, "out of memory counting the vocabulary of %s", m->features[i].name);
    }
    if (e->norm[i])
      for (int k = 0; k < w; k++) rt_norm_add(e->norm[i], k, e->rawv[i][k]);
  }
  return 0;
}

int rt_enc_freeze(RtEncoder *e, RtError *err) {
  for (int g = 0; g < e->ngroups; g++)
    if (rt_vocab_freeze(e->groups[g].v))
      return rt_error(err, "out of memory building the vocabulary of %s",
                      e->m->features[e->groups[g].leader].name);
  e->frozen = 1;
  return 0;
}

/* ---- checkpoint blobs ---- */

static void blob_key(char *buf, size_t cap, const char *kind, const char *name) {
  snprintf(buf, cap, "dmc.%s.%s", kind, name);
}

int rt_enc_save(const RtEncoder *e, RtCkptWriter *w, RtError *err) {
  char key[300], seed[32];
  snprintf(seed, sizeof seed, "%llu", (unsigned long long)e->hash_seed);
  if (rt_ckpt_set_meta(w, "dmc.hash_seed", seed, err)) return -1;
  for (int g = 0; g < e->ngroups; g++) {
    size_t n = rt_vocab_save(e->groups[g].v, NULL, 0);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) return rt_error(err, "out of memory saving a vocabulary");
    rt_vocab_save(e->groups[g].v, buf, n);
    blob_key(key, sizeof key, "vocab", e->m->features[e->groups[g].leader].name);
    int r = rt_ckpt_set_blob(w, key, buf, n, err);
    free(buf);
    if (r) return -1;
  }
  for (int i = 0; i < e->nf; i++) {
    if (!e->norm[i] || e->owner[i] != i) continue;
    size_t n = rt_norm_save(e->norm[i], NULL, 0);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) return rt_error(err, "out of memory saving statistics");
    rt_norm_save(e->norm[i], buf, n);
    blob_key(key, sizeof key, "norm", e->m->features[i].name);
    int r = rt_ckpt_set_blob(w, key, buf, n, err);
    free(buf);
    if (r) return -1;
  }
  return 0;
}

int rt_enc_load(RtEncoder *e, const RtCkpt *c, RtError *err) {
  char key[300];
  const char *seed = rt_ckpt_meta(c, "dmc.hash_seed");
  if (seed) e->hash_seed = strtoull(seed, NULL, 10);
  for (int g = 0; g < e->ngroups; g++) {
    const char *name = e->m->features[e->groups[g].leader].name;
    size_t n;
    blob_key(key, sizeof key, "vocab", name);
    uint8_t *buf = rt_ckpt_blob(c, key, &n, err);
    if (!buf) return -1;
    RtVocab *v = rt_vocab_load(buf, n, err);
    free(buf);
    if (!v) return -1;
    int64_t want = e->m->features[e->groups[g].leader].vocab;
    if (rt_vocab_len(v) > want) {   /* its indices would not fit the model's tables */
      uint32_t got = rt_vocab_len(v);
      rt_vocab_free(v);
      return rt_error(err, "%s: the vocabulary of feature %s uses %u indices, the model has %lld\n"
                      "HINT: this checkpoint was written for another model; train again", key, name, got,
                      (long long)want);
    }
    rt_vocab_free(e->groups[g].v);
    e->groups[g].v = v;
  }
  for (int i = 0; i < e->nf; i++) {
    if (!e->norm[i] || e->owner[i] != i) continue;
    size_t n;
    blob_key(key, sizeof key, "norm", e->m->features[i].name);
    uint8_t *buf = rt_ckpt_blob(c, key, &n, err);
    if (!buf) return -1;
    RtNorm *z = rt_norm_load(buf, n, err);
    free(buf);
    if (!z) return -1;
    if (rt_norm_ncols(z) != rt_feat_width(&e->m->features[i])) {
      rt_norm_free(z);
      return rt_error(err, "%s: statistics of feature %s have %d columns, the model has %d",
                      key, e->m->features[i].name, rt_norm_ncols(z), rt_feat_width(&e->m->features[i]));
    }
    rt_norm_free(e->norm[i]);
    for (int j = 0; j < e->nf; j++)
      if (j != i && e->owner[j] == i && e->norm[j]) e->norm[j] = z;
    e->norm[i] = z;
  }
  e->frozen = 1;
  return 0;
}

/* ---- reports ---- */

void rt_enc_reset_counts(RtEncoder *e) {
  memset(e->seen, 0, (size_t)e->nf * sizeof *e->seen);
  memset(e->oov, 0, (size_t)e->nf * sizeof *e->oov);
  memset(e->notes, 0, (size_t)e->nf * sizeof *e->notes);
}

void rt_enc_report_oov(const RtEncoder *e, const char *what, FILE *out) {
  for (int i = 0; i < e->nf; i++) {
    const DmcFeature *f = &e->m->features[i];
    const RtEncNotes *n = &e->notes[i];
    if (n->big)
      fprintf(out, "%s: feature %s: %llu ids beyond 64 bits, taken as out of vocabulary\n", what,
              f->name, (unsigned long long)n->big);
    if (n->blank)
      fprintf(out, "%s: feature %s: %llu rows with an empty value (%s)\n", what, f->name,
              (unsigned long long)n->blank, f->kind == DMC_FEAT_FLOAT ? "the default" : "padding");
    if (n->cut)
      fprintf(out, "%s: feature %s: %llu rows with a list longer than %d items (up to %lld): the "
              "first %d kept (first at %s)\n", what, f->name, (unsigned long long)n->cut,
              rt_feat_width(f), (long long)n->cut_len, rt_feat_width(f), n->cut_at);
    if (!e->oov[i]) continue;
    const RtVocabGroup *g = &e->groups[e->group[i]];
    fprintf(out, "%s: feature %s: %llu of %llu ids (%.2f%%) out of vocabulary (%u of %lld "
            "indices in use)\n", what, f->name, (unsigned long long)e->oov[i],
            (unsigned long long)e->seen[i], 100.0 * (double)e->oov[i] / (double)e->seen[i],
            rt_vocab_len(g->v), (long long)g->size);
  }
}

void rt_enc_report_vocab(const RtEncoder *e, FILE *out) {
  for (int g = 0; g < e->ngroups; g++) {
    const RtVocabGroup *v = &e->groups[g];
    fprintf(out, "vocabulary %s:", e->m->features[v->leader].name);
    for (int i = 0; i < e->nf; i++)
      if (e->group[i] == g && i != v->leader) fprintf(out, " +%s", e->m->features[i].name);
    fprintf(out, " %u ids kept, vocab %lld\n", rt_vocab_len(v->v) - 2, (long long)v->size);
  }
}
