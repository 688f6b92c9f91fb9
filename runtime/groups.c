/* groups.c -- input groups in a checkpoint blob (see groups.h). Little-endian
 * host only, as the checkpoint format is.
 */
#include "groups.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define GROUPS_VERSION 1

typedef struct Bytes { /* a growing output buffer */
  uint8_t *p;
  size_t n, cap;
  int oom;
} Bytes;

static void put(Bytes *b, const void *x, size_t n) {
  if (b->oom || !n) return;
  if (b->n + n > b->cap) {
    size_t cap = 2 * b->cap > b->n + n ? 2 * b->cap : b->n + n + 4096;
    uint8_t *p = realloc(b->p, cap);
    if (!p) {
      b->oom = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, x, n);
  b->n += n;
}

static void put_u32(Bytes *b, uint32_t x) { put(b, &x, sizeof x); }

/* 1 ids, 2 values, 3 both, 0 neither: what d holds of feature i. */
static uint32_t holds(const RtData *d, int i) {
  return (d->ids[i] ? 1u : 0u) | (d->vals[i] ? 2u : 0u);
}

int rt_groups_save(const RtEncoder *e, const RtData *d, RtCkptWriter *w, RtError *err) {
  static int told; /* the note on too large groups, once per run */
  const DmcModel *m = e->m;
  Bytes b = {0};
  uint64_t n = (uint64_t)d->n;
  put(&b, "DMCG", 4);
  put_u32(&b, GROUPS_VERSION);
  put_u32(&b, (uint32_t)m->nfeatures);
  put(&b, &n, sizeof n);
  put(&b, d->key, (size_t)n * sizeof *d->key);
  put(&b, d->gathered, (size_t)n * sizeof *d->gathered);
  for (int i = 0; i < m->nfeatures && b.n <= RT_GROUPS_MAX_BYTES; i++) {
    uint32_t what = holds(d, i);
    size_t wd = (size_t)rt_feat_width(&m->features[i]);
    if (!what) continue;
    put_u32(&b, (uint32_t)i);
    put_u32(&b, what);
    if (!m->features[i].value_column) {
      if (d->ids[i]) put(&b, d->ids[i], (size_t)n * wd * sizeof(int32_t));
      if (d->vals[i]) put(&b, d->vals[i], (size_t)n * wd * sizeof(float));
      continue;
    }
    for (uint64_t g = 0; g < n; g++) {
      size_t k = (size_t)d->gathered[g];
      if (d->ids[i]) put(&b, d->ids[i] + g * wd, k * sizeof(int32_t));
      if (d->vals[i]) put(&b, d->vals[i] + g * wd, k * sizeof(float));
    }
  }
  int r = 0;
  if (b.oom) {
    r = rt_error(err, "out of memory saving the input groups");
  } else if (b.n > RT_GROUPS_MAX_BYTES) {
    if (!told++)
      fprintf(stderr, "note: the %llu input groups (over %u MB) are too large to travel in the checkpoint: "
              "eval and predict will need --input\n", (unsigned long long)n, RT_GROUPS_MAX_BYTES >> 20);
  } else {
    r = rt_ckpt_set_blob(w, RT_GROUPS_KEY, b.p, b.n, err);
  }
  free(b.p);
  return r;
}

typedef struct Reader {
  const uint8_t *p;
  size_t n, at;
} Reader;

static int get(Reader *r, void *dst, size_t n) {
  if (n > r->n - r->at) return -1;
  memcpy(dst, r->p + r->at, n);
  r->at += n;
  return 0;
}

/* Checks n ids of feature f: each in [0, vocab). */
static int ids_fit(const DmcFeature *f, const int32_t *ids, size_t n) {
  for (size_t k = 0; k < n; k++)
    if (ids[k] < 0 || ids[k] >= f->vocab) return 0;
  return 1;
}

static int read_groups(const RtEncoder *e, Reader *rd, RtData **out, const char *why_prefix, RtError *err) {
  const DmcModel *m = e->m;
  char magic[4];
  uint32_t version, nf;
  uint64_t n;
  if (get(rd, magic, 4) || memcmp(magic, "DMCG", 4) || get(rd, &version, 4) || get(rd, &nf, 4) ||
      get(rd, &n, 8))
    return rt_error(err, "%s: not a groups blob", why_prefix);
  if (version != GROUPS_VERSION)
    return rt_error(err, "%s: version %u, this program reads %d", why_prefix, version, GROUPS_VERSION);
  if (nf != (uint32_t)m->nfeatures)
    return rt_error(err, "%s: written for %u features, the model has %d", why_prefix, nf, m->nfeatures);
  if (n < 1 || n > (rd->n - rd->at) / 12)
    return rt_error(err, "%s: %llu groups do not fit its %zu bytes", why_prefix, (unsigned long long)n, rd->n);
  RtData *d = rt_data_new_rows(e, (int64_t)n);
  if (!d) return rt_error(err, "out of memory for %llu input groups", (unsigned long long)n);
  *out = d;
  free(d->group); /* input groups have no GAUC groups */
  d->group = NULL;
  int room = 1 << 30;
  for (int i = 0; i < m->nfeatures; i++) {
    size_t wd = (size_t)rt_feat_width(&m->features[i]);
    if (m->features[i].value_column && e->active[i] && (int)wd < room) room = (int)wd;
    if (d->ids[i]) memset(d->ids[i], 0, (size_t)n * wd * sizeof(int32_t));
    if (d->vals[i]) memset(d->vals[i], 0, (size_t)n * wd * sizeof(float));
  }
  if (get(rd, d->key, (size_t)n * 8) || get(rd, d->gathered, (size_t)n * 4))
    return rt_error(err, "%s: cut short in the keys", why_prefix);
  for (uint64_t g = 0; g < n; g++)
    if (d->gathered[g] < 1 || d->gathered[g] > room)
      return rt_error(err, "%s: group %llu has %d rows, the model holds 1 to %d", why_prefix,
                      (unsigned long long)g, d->gathered[g], room);
  for (int i = 0; i < m->nfeatures; i++) {
    const DmcFeature *f = &m->features[i];
    uint32_t what = holds(d, i), index, got;
    size_t wd = (size_t)rt_feat_width(f);
    if (!what) continue;
    if (get(rd, &index, 4) || get(rd, &got, 4) || index != (uint32_t)i || got != what)
      return rt_error(err, "%s: feature %s is not where this model has it", why_prefix, f->name);
    for (uint64_t g = 0; g < (f->value_column ? n : 1); g++) {
      size_t at = f->value_column ? g * wd : 0;
      size_t k = f->value_column ? (size_t)d->gathered[g] : (size_t)n * wd;
      if ((d->ids[i] && get(rd, d->ids[i] + at, k * sizeof(int32_t))) ||
          (d->vals[i] && get(rd, d->vals[i] + at, k * sizeof(float))))
        return rt_error(err, "%s: cut short in feature %s", why_prefix, f->name);
      if (d->ids[i] && !ids_fit(f, d->ids[i] + at, k))
        return rt_error(err, "%s: feature %s holds an id outside its %lld", why_prefix, f->name,
                        (long long)f->vocab);
    }
  }
  if (rd->at != rd->n) return rt_error(err, "%s: %zu bytes left over", why_prefix, rd->n - rd->at);
  return 0;
}

RtData *rt_groups_load(const RtEncoder *e, const RtCkpt *c, RtError *err) {
  if (!rt_ckpt_meta(c, RT_GROUPS_KEY)) {
    rt_error(err, "the checkpoint holds no input groups (metadata '%s')\n"
             "HINT: give them with --input FILE (the training file, or newer ratings)", RT_GROUPS_KEY);
    return NULL;
  }
  size_t n;
  uint8_t *buf = rt_ckpt_blob(c, RT_GROUPS_KEY, &n, err);
  if (!buf) return NULL;
  Reader rd = {buf, n, 0};
  RtData *d = NULL;
  int r = read_groups(e, &rd, &d, "metadata '" RT_GROUPS_KEY "'", err);
  free(buf);
  if (r) {
    if (!strstr(err->msg, "out of memory"))
      snprintf(err->msg + strlen(err->msg), RT_ERR_MAX - strlen(err->msg),
               "\nHINT: the checkpoint is damaged; train again, or give the groups with --input FILE");
    rt_data_free(d);
    return NULL;
  }
  return d;
}
