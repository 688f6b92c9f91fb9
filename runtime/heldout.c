/* heldout.c -- held-out rows of group_by models: reading, matching with the
 * input groups, scoring, RMSE (see heldout.h).
 */
#include "heldout.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "keymap.h"
#include "model.h"

void rt_heldout_free(RtHeldout *h) {
  if (!h) return;
  free(h->key);
  free(h->group);
  free(h->id);
  free(h->value);
  rt_data_free(h->tally);
  free(h->order);
  free(h->needed);
  free(h->chunk);
  free(h);
}

static int take_heldout(void *ctx, const RtEncoder *e, const RtCsv *csv, RtError *err) {
  RtHeldout *h = ctx;
  (void)csv;
  if (h->n == h->cap) {
    int64_t cap = h->cap ? 2 * h->cap : 1024;
    int64_t *key = realloc(h->key, (size_t)cap * sizeof *key);
    if (key) h->key = key;
    int32_t *id = realloc(h->id, (size_t)cap * sizeof *id);
    if (id) h->id = id;
    float *value = realloc(h->value, (size_t)cap * sizeof *value);
    if (value) h->value = value;
    if (!key || !id || !value) return rt_error(err, "out of memory after %lld held-out rows", (long long)h->n);
    h->cap = cap;
  }
  int f = h->m->heldout_feature;
  h->key[h->n] = e->row_key;
  h->id[h->n] = e->ids[f][0];
  h->value[h->n] = e->vals[f][0];
  h->n++;
  return 0;
}

/* The mean, min and max of the held-out feature's values in the inputs. */
static int input_values(RtHeldout *h, const RtData *in, RtError *err) {
  int f = h->m->heldout_feature;
  size_t w = (size_t)rt_feat_width(&h->m->features[f]);
  double sum = 0;
  int64_t count = 0;
  h->lo = INFINITY;
  h->hi = -INFINITY;
  for (int64_t g = 0; g < in->n; g++)
    for (int32_t k = 0; k < in->gathered[g]; k++) {
      size_t at = (size_t)g * w + (size_t)k;
      if (!in->ids[f][at]) continue; /* a row with an empty id */
      double v = in->vals[f][at];
      sum += v;
      count++;
      h->lo = v < h->lo ? v : h->lo;
      h->hi = v > h->hi ? v : h->hi;
    }
  if (!count)
    return rt_error(err, "the input groups hold no (%s, %s) pair of feature %s: nothing to predict from",
                    h->m->features[f].columns[0], h->m->features[f].value_column, h->m->features[f].name);
  h->fallback = sum / (double)count;
  return 0;
}

/* Each row's input group; the rows that have an output element, ordered by group (a
 * counting sort: stable, so file order within a group); the distinct groups they need. */
static int match(RtHeldout *h, const RtData *in, RtError *err) {
  RtKeyMap *map = rt_keymap_new();
  size_t n1 = (size_t)(h->n ? h->n : 1);
  int64_t *start = calloc((size_t)in->n + 1, sizeof *start);
  h->group = malloc(n1 * sizeof *h->group);
  h->order = malloc(n1 * sizeof *h->order);
  h->needed = malloc(n1 * sizeof *h->needed);
  int r = !map || !start || !h->group || !h->order || !h->needed;
  for (int64_t g = 0; g < in->n && !r; g++) r = rt_keymap_put(map, in->key[g], g);
  if (r) {
    rt_keymap_free(map);
    free(start);
    return rt_error(err, "out of memory matching %lld held-out rows", (long long)h->n);
  }
  for (int64_t i = 0; i < h->n; i++) {
    int64_t g = h->group[i] = rt_keymap_get(map, h->key[i]);
    if (g >= 0 && h->id[i] >= 2) start[g + 1]++, h->nordered++;
    else h->defaulted++;
  }
  rt_keymap_free(map);
  for (int64_t g = 0; g < in->n; g++) {
    if (start[g + 1]) h->needed[h->nneeded++] = g;
    start[g + 1] += start[g];
  }
  for (int64_t i = 0; i < h->n; i++)
    if (h->group[i] >= 0 && h->id[i] >= 2) h->order[start[h->group[i]]++] = i;
  free(start);
  return 0;
}

RtHeldout *rt_heldout_load(RtEncoder *e, const char *const *paths, int npaths, const RtLoadOpts *o,
                           const RtData *inputs, RtError *err) {
  RtHeldout *h = calloc(1, sizeof *h);
  if (!h || !(h->tally = calloc(1, sizeof *h->tally))) {
    free(h);
    rt_error(err, "out of memory");
    return NULL;
  }
  h->m = e->m;
  h->tally->m = e->m;
  if (rt_data_scan(e, paths, npaths, o, h->tally, take_heldout, h, err) ||
      input_values(h, inputs, err) || match(h, inputs, err)) {
    rt_heldout_free(h);
    return NULL;
  }
  h->has_value = e->valcol[e->m->heldout_feature] >= 0;
  free(h->key);
  h->key = NULL;
  return h;
}

void rt_heldout_report(const RtHeldout *h, const char *what, FILE *out) {
  if (!h->defaulted) return;
  fprintf(out, "%s: %lld of %lld held-out rows have no input group for their %s or an id of %s out of "
          "the vocabulary: predicted as the input mean %.4f\n", what, (long long)h->defaulted, (long long)h->n,
          h->m->group_by, h->m->features[h->m->heldout_feature].name, h->fallback);
}

static float clip(const RtHeldout *h, float x) {
  return x < h->lo ? (float)h->lo : x > h->hi ? (float)h->hi : x;
}

int rt_heldout_eval(RtHeldout *h, RtScorer *s, const RtData *inputs, const float *w,
                    uint64_t seed, float *pred, RtEvalResult *r, RtError *err) {
  const DmcModel *m = h->m;
  int64_t size = m->outputs[m->heldout_output].size;
  int64_t per = RT_HELDOUT_CHUNK / size > 1 ? RT_HELDOUT_CHUNK / size : 1;
  if (per > h->nneeded) per = h->nneeded;
  if (!h->chunk && per && !(h->chunk = malloc((size_t)(per * size) * sizeof *h->chunk)))
    return rt_error(err, "out of memory for the scores of %lld groups", (long long)per);
  for (int64_t i = 0; i < h->n; i++) pred[i] = (float)h->fallback;
  rt_scorer_set_output(s, m->heldout_output);
  double loss = 0;
  int64_t next = 0; /* the next row of h->order */
  for (int64_t c = 0; c < h->nneeded; c += per) {
    int64_t nc = h->nneeded - c < per ? h->nneeded - c : per, j = 0;
    double lsum;
    if (rt_scorer_run_rows(s, inputs, h->needed + c, nc, w, seed, h->chunk, &lsum, err)) return -1;
    loss += lsum;
    for (; next < h->nordered && h->group[h->order[next]] <= h->needed[c + nc - 1]; next++) {
      int64_t i = h->order[next];
      while (h->needed[c + j] != h->group[i]) j++;
      pred[i] = clip(h, h->chunk[j * size + h->id[i]]);
    }
  }
  memset(r, 0, sizeof *r);
  r->rows = h->n;
  r->has_heldout = 1;
  r->has_label = h->has_value;
  r->loss = h->nneeded ? loss / (double)h->nneeded : NAN;
  r->auc = r->logloss = r->gauc = r->rmse = r->mae = NAN;
  r->recall.recall = r->recall.recall10 = NAN;
  r->fallback = h->fallback;
  r->defaulted = h->defaulted;
  if (h->has_value && h->n) {
    double sq = 0, ab = 0;
    for (int64_t i = 0; i < h->n; i++) {
      double d = (double)pred[i] - h->value[i];
      sq += d * d;
      ab += fabs(d);
    }
    r->rmse = sqrt(sq / (double)h->n);
    r->mae = ab / (double)h->n;
  }
  return 0;
}
