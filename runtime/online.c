/* online.c -- `PROG online`: learning from a stream of logged events as they
 * arrive, with the exploration of DRN (Zheng et al., WWW 2018, section 4.4).
 *
 * Events are rows of the model's data format, read in order from files or
 * standard input ("-") and encoded with the checkpoint's vocabularies and
 * statistics (an id unseen in training is out of vocabulary, as in eval).
 * A request is a run of consecutive events of one user (the --group column,
 * by default userId, uid, user_id or user; without one, a run of
 * --max-request events), at most --max-request events. Per request, in order:
 *
 *  1. score: the current network Q scores the request's events (output 0,
 *     one number per event). These scores come before any update that used
 *     the events, so they are a progressive validation: the AUC against the
 *     label (the click) and hit@1, whether Q's best event of a request with
 *     a choice (two events or more, one click or more) was clicked.
 *  2. minor update, by dueling bandit gradient descent (Yue and Joachims
 *     2009): an explored network Q~ with weights W~ = W + dW, where
 *     dW = alpha * u * W and u is uniform in [-1, 1] per element (the
 *     paper's alpha * rand(-1, 1) * W), scores the same events with the
 *     same sampled negatives. Only the weights that score this request are
 *     perturbed: every dense parameter and the table rows its events look
 *     up; lagged copies and running statistics never are. If Q~ ranks the
 *     request better (below), W <- W + eta * dW. Requests without both a
 *     click and a non-click cannot tell the networks apart and are skipped.
 *  3. the events join the replay memory (the last --memory events). A model
 *     reading next(F) (DRN's next state) needs each event's successor, the
 *     same next_by key's next event: an event is trained on only once that
 *     arrived (until then its next(F) are padding, as for a key's last row
 *     in `train`). Events of one key must come in next_order order.
 *  4. major update: every --major-every events, --major-steps steps of the
 *     model's own training step (its loss, optimizers, lagged copies; step.h,
 *     one thread) on batches of --batch events drawn uniformly, with
 *     replacement, from the trainable events in the replay memory.
 *
 * Which ranking is better, on logged data: the log shows one action per
 * row, so neither network's list can be shown to the user; both rank the
 * request's logged events, and
 *   --compare pairs (default): the network that orders more (click,
 *     non-click) pairs of the request correctly wins (equal: neither);
 *   --compare interleave: team-draft interleaving (Radlinski et al. 2008)
 *     of the two rankings; each logged click is credited to the network
 *     whose pick the event was, and more credited clicks win. (The paper
 *     merges the lists by probabilistic interleaving, Hofmann et al. 2011,
 *     and shows the merged list to the user.)
 *
 * Limits: the optimizer state starts fresh (checkpoints do not hold it);
 * the order check of next_order sees only events still in memory; the
 * exact AUC keeps 16 bytes per event. Everything random (negatives, the
 * perturbations, interleaving coins, major batches) draws from --seed, so a
 * run is reproducible.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "dataset.h"
#include "infer.h"
#include "keymap.h"
#include "metrics.h"
#include "model.h"
#include "modelckpt.h"
#include "optim.h"
#include "params.h"
#include "progress.h"
#include "step.h"

#define REPORT_EVERY 10000 /* events between progress lines */

typedef struct Online {
  const DmcModel *m;
  const RtOpts *o;
  RtEncoder *enc;
  int label;               /* the label feature: the click */
  /* replay memory: a ring of R events, event i in row i % R */
  RtData *mem;
  int64_t R;
  uint8_t *done;           /* [R] 1: trainable (its successor arrived, or none is needed) */
  double *order;           /* [R] next_order value of each event */
  int paired;              /* the model reads next(F) */
  RtKeyMap *last;          /* next_by key -> number of its latest event */
  int64_t events;
  /* the pending request */
  int64_t *req;            /* [max_req] memory rows */
  int nreq, max_req;
  int64_t req_key;
  /* the networks */
  float *w, *wx, *g, *ws, *loss;   /* W, W~ (explored), gradients, scoring workspace, per-row loss */
  float *sq, *sx, *y;              /* [max_req] scores by Q, by Q~; labels */
  int32_t *rq, *rx;                /* [max_req] rankings by Q, by Q~ */
  uint8_t *team;                   /* [max_req] interleaving: 0 not picked, 1 Q, 2 Q~ */
  RtBatch *b;
  RtOptim *opt;
  RtStepper *step;                 /* the training step (one thread) */
  int64_t *pool, *pick;            /* [R] trainable rows; [batch] a major batch */
  RtRng rng;
  uint64_t seed;
  /* settings */
  double alpha, eta;
  int interleave, batch, steps;
  int64_t every, since_major;
  /* results */
  RtMetrics *all, *window;
  int64_t requests, choices, hits, compared, wins, losses, majors, major_steps, major_rows;
  double hit_base, major_loss, t0;
  int64_t next_report;
} Online;

static void online_free(Online *s) {
  rt_enc_free(s->enc);
  rt_data_free(s->mem);
  rt_keymap_free(s->last);
  rt_batch_free(s->b);
  rt_optim_free(s->opt);
  rt_stepper_free(s->step);
  rt_metrics_free(s->all);
  rt_metrics_free(s->window);
  void *blocks[] = {s->done, s->order, s->req, s->w, s->wx, s->g, s->ws, s->loss, s->sq, s->sx,
                    s->y, s->rq, s->rx, s->team, s->pool, s->pick};
  for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++) free(blocks[i]);
}

/* Whether model m has what online needs; -1 and *err saying what it lacks. */
static int check_model(const DmcModel *m, RtError *err) {
  if (rt_model_heldout(m))
    return rt_error(err, "model %s gathers rows into examples (group_by): online needs one score "
                    "per event", m->name);
  if (rt_model_label(m) < 0)
    return rt_error(err, "online learns from feedback, and model %s declares no label (the click)",
                    m->name);
  if (m->noutputs < 1 || m->outputs[0].size != 1)
    return rt_error(err, "online ranks a request's events by one score each, and output '%s' of "
                    "model %s has %lld values per row\nHINT: online is for models whose first "
                    "output scores an event (a click model, DRN's Q)", m->outputs[0].name, m->name,
                    (long long)m->outputs[0].size);
  return 0;
}

static int setup(Online *s, RtError *err) {
  const DmcModel *m = s->m;
  const RtOnlineOpts *oo = &s->o->online;
  s->label = rt_model_label(m);
  s->alpha = oo->alpha_set ? oo->alpha : RT_ONLINE_ALPHA;
  s->eta = oo->eta_set ? oo->eta : RT_ONLINE_ETA;
  s->interleave = oo->interleave;
  s->R = oo->memory > 0 ? oo->memory : RT_ONLINE_MEMORY;
  s->max_req = oo->max_request > 0 ? oo->max_request : RT_ONLINE_MAX_REQUEST;
  s->every = oo->major_every > 0 ? oo->major_every : RT_ONLINE_MAJOR_EVERY;
  s->batch = s->o->batch > 0 ? s->o->batch : m->batch > 0 ? m->batch : 256;
  s->steps = oo->steps_set ? oo->major_steps : (int)((s->every + s->batch - 1) / s->batch);
  s->seed = s->o->seed_set ? s->o->seed : (uint64_t)m->seed;
  s->next_report = REPORT_EVERY;
  rt_rng_seed(&s->rng, s->seed);
  if (s->R < s->max_req)
    return rt_error(err, "--memory %lld cannot hold a request of --max-request %d events",
                    (long long)s->R, s->max_req);
  int maxb = s->batch > s->max_req ? s->batch : s->max_req;
  size_t np = (size_t)(m->params_size ? m->params_size : 1), R = (size_t)s->R;
  size_t ws = (size_t)m->workspace_floats(rt_infer_rows(m, s->max_req)), q = (size_t)s->max_req;
  s->w = rt_floats_new((int64_t)np);
  s->wx = rt_floats_new((int64_t)np);
  s->g = rt_floats_new((int64_t)np);
  s->ws = rt_floats_new((int64_t)ws);
  s->loss = calloc((size_t)maxb, sizeof *s->loss);
  s->done = calloc(R, 1);
  s->order = calloc(R, sizeof *s->order);
  s->pool = calloc(R, sizeof *s->pool);
  s->pick = calloc((size_t)s->batch, sizeof *s->pick);
  s->req = calloc(q, sizeof *s->req);
  s->sq = calloc(q, sizeof *s->sq);
  s->sx = calloc(q, sizeof *s->sx);
  s->y = calloc(q, sizeof *s->y);
  s->rq = calloc(q, sizeof *s->rq);
  s->rx = calloc(q, sizeof *s->rx);
  s->team = calloc(q, 1);
  s->all = rt_metrics_new();
  s->window = rt_metrics_new();
  s->last = rt_keymap_new();
  if (!s->w || !s->wx || !s->g || !s->ws || !s->loss || !s->done || !s->order || !s->pool ||
      !s->pick || !s->req || !s->sq || !s->sx || !s->y || !s->rq || !s->rx || !s->team ||
      !s->all || !s->window || !s->last)
    return rt_error(err, "out of memory (%zu parameters, %zu events of memory)", np, R);
  if (rt_model_load(m, s->w, s->enc, NULL, s->o->checkpoint, err)) return -1;
  memcpy(s->wx, s->w, np * sizeof *s->w);
  s->paired = rt_data_needs_next(s->enc);
  if (!(s->mem = rt_data_new_rows(s->enc, s->R)) || !(s->b = rt_batch_new(m, maxb)))
    return rt_error(err, "out of memory for %zu events of memory", R);
  if (!(s->opt = rt_optim_new(m, s->o->lr, s->batch, err)) ||
      !(s->step = rt_stepper_new(m, 1, s->batch, err)))
    return -1;
  return 0;
}

/* Output 0 of the batch's first n rows under weights w into out[n]. */
static void score(Online *s, float *w, int n, float *out) {
  DmcCtx ctx = {.batch = n, .training = 0, .seed = s->seed, .inputs = (const void *const *)s->b->buf,
                .params = w, .grads = s->g, .workspace = s->ws, .loss = NULL};   // the output alone
  rt_infer(s->m, &ctx, 0, out);
}

/* W~ = W + alpha * u * W on the dense parameters and on the table rows the
 * batch's n rows look up (u from a generator per request, and per table row,
 * so a row looked up twice gets one perturbation). */
static void perturb(Online *s, int n) {
  const DmcModel *m = s->m;
  uint64_t base = s->seed ^ 0x9e3779b97f4a7c15ULL * (uint64_t)(s->compared + 1);
  RtRng r;
  rt_rng_seed(&r, base);
  for (int i = 0; i < m->nparams; i++) {
    const DmcParam *p = &m->params[i];
    if (p->is_table || !rt_param_trained(p)) continue;
    for (int64_t k = p->offset; k < p->offset + p->size; k++)
      s->wx[k] = s->w[k] * (float)(1 + s->alpha * (2 * rt_rng_uniform(&r) - 1));
  }
  for (int t = 0; t < m->nsparse; t++) {
    const DmcSparseGrad *sg = &m->sparse[t];
    const DmcParam *p = &m->params[sg->param];
    if (!rt_param_trained(p)) continue;
    const int32_t *ids = s->b->buf[sg->ids_input];
    for (int64_t j = 0; j < (int64_t)n * sg->ids_per_example; j++) {
      rt_rng_seed(&r, base ^ 0xbf58476d1ce4e5b9ULL * (uint64_t)(sg->param + 1) ^
                          0x94d049bb133111ebULL * (uint64_t)(ids[j] + 1));
      for (int64_t k = p->offset + ids[j] * sg->dim, end = k + sg->dim; k < end; k++)
        s->wx[k] = s->w[k] * (float)(1 + s->alpha * (2 * rt_rng_uniform(&r) - 1));
    }
  }
}

/* (click, non-click) pairs that scores sc orders rightly; a tie counts one half. */
static double pairs_right(const float *sc, const float *y, int n) {
  double right = 0;
  for (int i = 0; i < n; i++)
    for (int j = 0; y[i] > 0.5f && j < n; j++)
      if (y[j] < 0.5f) right += sc[i] > sc[j] ? 1 : sc[i] == sc[j] ? 0.5 : 0;
  return right;
}

/* The events by score, best first, ties by position (insertion sort: n is small). */
static void rank(const float *sc, int n, int32_t *out) {
  for (int i = 0; i < n; i++) {
    int j = i;
    for (; j > 0 && sc[out[j - 1]] < sc[i]; j--) out[j] = out[j - 1];
    out[j] = i;
  }
}

/* Team-draft interleaving of the rankings by Q and Q~: the team with fewer
 * picks (a coin when even) takes its best event not yet taken; +1 when the
 * clicks credited to Q~'s picks outnumber Q's, -1 when fewer, 0 when equal. */
static int team_draft(Online *s, int n) {
  rank(s->sq, n, s->rq);
  rank(s->sx, n, s->rx);
  memset(s->team, 0, (size_t)n);
  int nq = 0, nx = 0, iq = 0, ix = 0;
  double cq = 0, cx = 0;
  while (nq + nx < n) {
    int x = nx < nq || (nx == nq && (rt_rng_next(&s->rng) & 1));
    const int32_t *list = x ? s->rx : s->rq;
    int *at = x ? &ix : &iq;
    while (s->team[list[*at]]) ++*at;
    int e = list[*at];
    s->team[e] = (uint8_t)(x ? 2 : 1);
    *(x ? &nx : &nq) += 1;
    *(x ? &cx : &cq) += s->y[e];
  }
  return (cx > cq) - (cx < cq);
}

/* The minor update of a request with a click and a non-click in the batch. */
static void explore(Online *s, int n) {
  size_t np = (size_t)s->m->params_size;
  perturb(s, n);
  score(s, s->wx, n, s->sx);
  int v;
  if (s->interleave) {
    v = team_draft(s, n);
  } else {
    double q = pairs_right(s->sq, s->y, n), x = pairs_right(s->sx, s->y, n);
    v = (x > q) - (x < q);
  }
  s->compared++;
  s->wins += v > 0;
  s->losses += v < 0;
  if (v > 0)
    for (size_t i = 0; i < np; i++) s->w[i] += (float)s->eta * (s->wx[i] - s->w[i]);
  memcpy(s->wx, s->w, np * sizeof *s->wx);
}

/* One major update: s->steps training steps on batches drawn from the
 * trainable events in memory. 0, or -1 and *err when the loss is not finite. */
static int major(Online *s, RtError *err) {
  const DmcModel *m = s->m;
  int64_t have = s->events < s->R ? s->events : s->R, np = 0;
  for (int64_t r = 0; r < have; r++)
    if (s->done[r]) s->pool[np++] = r;
  if (!np) return 0;
  int bsz = np < s->batch ? (int)np : s->batch;
  s->majors++;
  for (int step = 0; step < s->steps; step++) {
    for (int j = 0; j < bsz; j++) s->pick[j] = s->pool[rt_rng_below(&s->rng, (uint64_t)np)];
    rt_batch_fill(s->b, s->enc, s->mem, s->pick, bsz, &s->rng);
    const RtGradPart *parts;
    int nparts;
    rt_stepper_run(s->step, (const void *const *)s->b->buf, bsz,
                   s->seed * 0x9e3779b97f4a7c15ULL + (uint64_t)s->opt->step, s->w, s->g, s->loss,
                   &parts, &nparts);
    double sum = 0;
    for (int j = 0; j < bsz; j++) sum += s->loss[j];
    if (!isfinite(sum))
      return rt_error(err, "major update %lld (after %lld events): the loss is %g\nHINT: lower the "
                      "learning rate (--lr)", (long long)s->majors, (long long)s->events, sum);
    rt_optim_step_parts(s->opt, s->w, s->g, parts, nparts);
    rt_params_lag(m, s->w, s->opt->step);
    s->major_loss += sum;
    s->major_rows += bsz;
    s->major_steps++;
  }
  memcpy(s->wx, s->w, (size_t)m->params_size * sizeof *s->w);
  return 0;
}

/* A progress line; its AUC is the last lines' events' (the whole run's is sorted once, at the end). */
static void progress_line(Online *s) {
  fprintf(stderr, "online: %lld events  %lld requests  auc of the last %zu %.4f  hit@1 %.4f  "
          "explorer won %lld of %lld  major updates %lld  %.1fs\n", (long long)s->events,
          (long long)s->requests, rt_metrics_count(s->window), rt_metrics_auc(s->window),
          s->choices ? (double)s->hits / (double)s->choices : NAN, (long long)s->wins,
          (long long)s->compared, (long long)s->majors, rt_now() - s->t0);
  rt_metrics_reset(s->window);
}

/* Scores, explores and remembers the pending request; a major update when due. */
static int request(Online *s, RtError *err) {
  int n = s->nreq, clicks = 0;
  s->nreq = 0;
  rt_batch_fill(s->b, s->enc, s->mem, s->req, n, &s->rng);
  score(s, s->w, n, s->sq);
  for (int j = 0; j < n; j++) {
    s->y[j] = s->mem->vals[s->label][s->req[j]];
    clicks += s->y[j] > 0.5f;
    if (!isfinite(s->sq[j]))
      return rt_error(err, "event %lld: the network's score is %g", (long long)(s->events - n + j + 1),
                      s->sq[j]);
    if (rt_metrics_add(s->all, s->sq[j], s->y[j], 0) || rt_metrics_add(s->window, s->sq[j], s->y[j], 0))
      return rt_error(err, "out of memory for %lld scores", (long long)s->events);
  }
  s->requests++;
  if (n >= 2 && clicks) {
    int best = 0;
    for (int j = 1; j < n; j++) best = s->sq[j] > s->sq[best] ? j : best;
    s->choices++;
    s->hits += s->y[best] > 0.5f;
    s->hit_base += (double)clicks / n;
  }
  if (s->alpha > 0 && clicks && clicks < n) explore(s, n);
  s->since_major += n;
  if (s->steps > 0 && s->since_major >= s->every) {
    s->since_major = 0;
    if (major(s, err)) return -1;
  }
  if (s->events >= s->next_report) {
    if (!s->o->quiet) progress_line(s);
    s->next_report += REPORT_EVERY;
  }
  return 0;
}

/* next_by pairing as events come: the key's previous event, if still in
 * memory, takes this event's next(F) features and becomes trainable. */
static int pair(Online *s, const RtEncoder *e, const RtCsv *csv, RtError *err) {
  int64_t prev = rt_keymap_get(s->last, e->row_by);
  if (prev >= 0 && prev > s->events - s->R) {
    int64_t r = prev % s->R;
    if (e->row_order < s->order[r])
      return rt_error(err, "%s:%ld: column %s: %.17g is earlier than the previous event of this %s "
                      "(%.17g): online reads each %s's events in %s order\nHINT: sort the events by "
                      "%s", rt_csv_path(csv), rt_csv_line(csv), s->m->next_order, e->row_order,
                      s->m->next_by, s->order[r], s->m->next_by, s->m->next_order, s->m->next_order);
    for (int i = 0; i < e->nf; i++) {
      size_t w = (size_t)rt_feat_width(&e->m->features[i]);
      if (!e->active[i] || !e->m->features[i].next_row) continue;
      if (s->mem->ids[i]) memcpy(s->mem->ids[i] + (size_t)r * w, e->ids[i], w * sizeof(int32_t));
      if (s->mem->vals[i]) memcpy(s->mem->vals[i] + (size_t)r * w, e->vals[i], w * sizeof(float));
    }
    s->done[r] = 1;
  }
  if (rt_keymap_put(s->last, e->row_by, s->events)) return rt_error(err, "out of memory");
  return 0;
}

/* rt_data_scan's callback: one event. */
static int take_event(void *ctx, const RtEncoder *e, const RtCsv *csv, RtError *err) {
  Online *s = ctx;
  if (!s->events && e->group_col < 0 && !s->o->quiet)
    fprintf(stderr, "%s online: %s has no user column (--group): a request is %d consecutive "
            "events\n", s->o->prog, rt_csv_path(csv), s->max_req);
  float y = e->vals[s->label][0];
  if (y != 0.0f && y != 1.0f) {
    rt_error(err, "%s:%ld: column %s: online needs a 0/1 label (the click), got %g", rt_csv_path(csv),
             rt_csv_line(csv), s->m->features[s->label].columns[0], y);
    return RT_BAD_NUMBER;
  }
  if (s->nreq && (s->nreq == s->max_req || e->row_group != s->req_key) && request(s, err)) return -1;
  if (s->paired && pair(s, e, csv, err)) return -1;
  int64_t r = s->events % s->R;
  rt_data_put(s->mem, e, r);
  s->order[r] = e->row_order;
  s->done[r] = !s->paired;
  if (s->paired) rt_data_clear_next(s->mem, e, r);
  s->req[s->nreq++] = r;
  s->req_key = e->row_group;
  s->events++;
  return 0;
}

static void print_summary(const Online *s, double auc, uint64_t skipped) {
  const RtOpts *o = s->o;
  double hit = s->choices ? (double)s->hits / (double)s->choices : NAN;
  double base = s->choices ? s->hit_base / (double)s->choices : NAN;
  double mloss = s->major_rows ? s->major_loss / (double)s->major_rows : NAN;
  const char *how = s->interleave ? "interleave" : "pairs";
  if (o->json) {
    json_t *j = json_pack("{s:s, s:I, s:I, s:I, s:o, s:o, s:I, s:o}", "model", s->m->name, "events",
                          (json_int_t)s->events, "skipped_rows", (json_int_t)skipped, "requests",
                          (json_int_t)s->requests, "auc", rt_json_num(auc), "hit_at_1", rt_json_num(hit),
                          "hit_requests", (json_int_t)s->choices, "hit_random", rt_json_num(base));
    json_object_set_new(j, "explore", json_pack("{s:o, s:o, s:s, s:I, s:I, s:I, s:I}", "alpha",
                                                rt_json_num(s->alpha), "eta", rt_json_num(s->eta),
                                                "compare", how, "compared", (json_int_t)s->compared,
                                                "wins", (json_int_t)s->wins, "losses",
                                                (json_int_t)s->losses, "ties",
                                                (json_int_t)(s->compared - s->wins - s->losses)));
    json_object_set_new(j, "major", json_pack("{s:I, s:I, s:i, s:I, s:o}", "updates",
                                              (json_int_t)s->majors, "steps",
                                              (json_int_t)s->major_steps, "batch", s->batch,
                                              "every", (json_int_t)s->every, "loss",
                                              rt_json_num(mloss)));
    json_object_set_new(j, "checkpoint", o->out ? json_string(o->out) : json_null());
    json_dumpf(j, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
    json_decref(j);
    return;
  }
  printf("events           %lld in %lld requests\n", (long long)s->events, (long long)s->requests);
  printf("progressive auc  %.4f  (each event scored before any update that used it)\n", auc);
  printf("hit@1            %.4f  of %lld requests with a choice (a random pick: %.4f)\n", hit,
         (long long)s->choices, base);
  printf("explored         won %lld, lost %lld, tied %lld of %lld compared requests (alpha %g, "
         "eta %g, %s)\n", (long long)s->wins, (long long)s->losses,
         (long long)(s->compared - s->wins - s->losses), (long long)s->compared, s->alpha, s->eta, how);
  printf("major updates    %lld: %lld steps of up to %d events, every %lld events; mean loss %.4f\n",
         (long long)s->majors, (long long)s->major_steps, s->batch, (long long)s->every, mloss);
  if (o->out) printf("saved            %s\n", o->out);
}

int rt_cmd_online(const DmcModel *m, const RtOpts *o) {
  Online s = {.m = m, .o = o};
  RtError err = {""};
  RtData tally = {.m = m};
  int status = 1;
  const char **paths = calloc((size_t)o->nfiles, sizeof *paths);
  if (check_model(m, &err)) goto done;
  if (!paths || !(s.enc = rt_enc_new(m))) {
    rt_error(&err, "out of memory");
    goto done;
  }
  if (setup(&s, &err)) goto done;
  for (int i = 0; i < o->nfiles; i++) paths[i] = strcmp(o->files[i], "-") ? o->files[i] : "/dev/stdin";
  RtLoadOpts lo = {o->skip_bad, 0, o->group};
  s.t0 = rt_now();
  if (rt_data_scan(s.enc, paths, o->nfiles, &lo, &tally, take_event, &s, &err)) goto done;
  if (s.nreq && request(&s, &err)) goto done;
  if (!o->quiet && s.events % REPORT_EVERY) progress_line(&s);
  if (!o->quiet) rt_enc_report_oov(s.enc, paths[0], stderr);
  uint64_t skipped = rt_data_report_bad(&tally, paths[0], stderr);
  if (o->out) {
    RtCkptInfo info = {.epoch = -1};
    if (rt_model_save(m, s.w, s.enc, &info, o->out, &err)) goto done;
  }
  print_summary(&s, rt_metrics_auc(s.all), skipped);
  status = 0;
done:
  if (status) fprintf(stderr, "%s: error: %s\n", o->prog, err.msg);
  free(paths);
  online_free(&s);
  return status;
}
