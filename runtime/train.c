/* train.c -- `PROG train`: the training loop.
 *
 * Pass 1 over the training files builds vocabularies and statistics and
 * counts the rows. Then either pass 2 encodes them into memory, or, with
 * --stream or when the encoded rows would exceed --max-memory, nothing is
 * kept and every epoch reads the files again (feed.h); --valid is always
 * loaded into memory. Each epoch takes its batches from the feed (a fresh
 * permutation of the rows in memory, or the files through a shuffle
 * buffer; filled ahead by a background thread unless --prefetch 0); a
 * step is forward, check the loss is finite, zero the dense gradients,
 * backward, clip them (--clip), set the learning-rate multiplier of the
 * step (--lr-schedule, --warmup), optimizer step, refresh lagged copies.
 * A non-finite loss stops training with the step and the first parameter
 * holding a non-finite value; --check-numerics also checks every dense
 * gradient after backward and every parameter (tables, whose gradients are
 * sparse rows in the workspace, included) after the update, every step (a
 * pass over all parameters twice a step: slower, for finding where a run
 * goes wrong).
 * Nothing is allocated inside the loop.
 * After each epoch the validation set is scored; the epoch with the best
 * validation AUC (or the lowest validation loss when the label is not 0/1
 * or there is none; for a retrieval model the highest recall@k, k from -k,
 * default 50) is written to the checkpoint, and training stops after
 * --patience epochs without improvement. Without --valid, every epoch is
 * written. A group_by model's --valid file holds held-out rows, scored
 * from the training groups (heldout.h); the lowest RMSE is kept, and the
 * groups are saved with the checkpoint. --threads N shares every batch
 * among N threads (step.h: data parallel, gradients combined before the
 * update) and scores the validation set; the prefetch thread only reads and
 * encodes data.
 */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "dataset.h"
#include "feed.h"
#include "heldout.h"
#include "model.h"
#include "modelckpt.h"
#include "optim.h"
#include "params.h"
#include "progress.h"
#include "score.h"
#include "step.h"

typedef struct Trainer {
  const DmcModel *m;
  const RtOpts *o;
  RtEncoder *enc;
  RtData *train, *valid;   /* train: NULL when streaming */
  RtData *tally;           /* pass 1: rows, bad rows (no rows stored) */
  RtHeldout *heldout;      /* group_by models: --valid's held-out rows (valid is NULL) */
  int64_t rows;            /* training rows per epoch */
  int stream;
  RtFeed *feed;
  RtSched sched;
  float *w, *g, *loss, *scores;
  RtStepper *step;         /* forward and backward, shared among --threads */
  RtOptim *opt;
  RtScorer *scorer;
  json_t *epochs;           /* per-epoch results for --json */
  FILE *log;                /* epoch lines: stdout, or stderr with --json */
} Trainer;

static void trainer_free(Trainer *t) {
  rt_enc_free(t->enc);
  rt_data_free(t->train);
  rt_data_free(t->valid);
  rt_data_free(t->tally);
  rt_heldout_free(t->heldout);
  rt_feed_free(t->feed);
  free(t->w);
  free(t->g);
  rt_stepper_free(t->step);
  free(t->loss);
  free(t->scores);
  rt_optim_free(t->opt);
  rt_scorer_free(t->scorer);
  json_decref(t->epochs);
}

static int fail(Trainer *t, const RtError *err) {
  fprintf(stderr, "%s: error: %s\n", t->o->prog, err->msg);
  trainer_free(t);
  return 1;
}

/* The memory the encoded training rows may take: --max-memory, else half of
 * the physical memory or of the cgroup's limit, whichever is smaller. */
static double memory_budget(const RtOpts *o) {
  if (o->max_memory_mb > 0) return o->max_memory_mb * 1048576.0;
  long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
  double phys = pages > 0 && size > 0 ? (double)pages * (double)size : 4.0 * 1073741824.0;
  static const char *const limits[] = {"/sys/fs/cgroup/memory.max",
                                       "/sys/fs/cgroup/memory/memory.limit_in_bytes"};
  for (int i = 0; i < 2; i++) {
    FILE *f = fopen(limits[i], "r");
    unsigned long long v;
    if (!f) continue;
    if (fscanf(f, "%llu", &v) == 1 && v > 0 && (double)v < phys) phys = (double)v;
    fclose(f);
  }
  return phys / 2;
}

static int load_data(Trainer *t, RtError *err) {
  const RtOpts *o = t->o;
  RtLoadOpts lo = {o->skip_bad, 0, o->group};
  int paired = rt_data_needs_next(t->enc);
  if (o->stream && paired)
    return rt_error(err, "--stream: this model pairs each row with the same %s's next row "
                    "(next_by), which needs the whole training set in memory\nHINT: train "
                    "without --stream", t->m->next_by ? t->m->next_by : "key");
  int grouped = t->m->group_by != NULL;
  if (o->stream && grouped)
    return rt_error(err, "--stream: this model gathers the rows of each %s into one example "
                    "(group_by), which needs the whole training set in memory\nHINT: train "
                    "without --stream", t->m->group_by);
  if (!(t->tally = rt_data_count_rows(t->enc, o->files, o->nfiles, &lo, err))) return -1;
  if (!o->quiet) rt_enc_report_vocab(t->enc, stderr);
  double need = (double)t->tally->n * (double)rt_data_row_bytes(t->enc), budget = memory_budget(o);
  t->stream = o->stream;
  if (!o->stream && need > budget) {
    if (paired || grouped) {
      fprintf(stderr, "%s: the encoded training rows need about %.3g MB, more than the %.3g MB "
              "budget, but %s needs them in memory: loading them anyway\n",
              o->files[0], need / 1048576, budget / 1048576, paired ? "next_by pairing" : "group_by");
    } else {
      t->stream = 1;
      fprintf(stderr, "%s: the encoded training rows need about %.3g MB, more than the %.3g MB "
              "budget (--max-memory): streaming them\n", o->files[0], need / 1048576,
              budget / 1048576);
    }
  }
  rt_enc_reset_counts(t->enc);
  if (t->stream) {
    t->rows = t->tally->n;
    rt_data_report_bad(t->tally, o->files[0], stderr);
  } else {
    if (!(t->train = rt_data_load(t->enc, o->files, o->nfiles, &lo, err))) return -1;
    t->rows = t->train->n;
    rt_enc_report_oov(t->enc, o->files[0], stderr);
    rt_data_report_bad(t->train, o->files[0], stderr);
  }
  if (!t->rows)
    return rt_error(err, "%s: no rows to train on%s", o->files[0],
                    o->skip_bad ? " (every row was skipped)" : "");
  if (o->valid && rt_model_heldout(t->m)) {
    rt_enc_reset_counts(t->enc);
    if (!(t->heldout = rt_heldout_load(t->enc, &o->valid, 1, &lo, t->train, err))) return -1;
    rt_enc_report_oov(t->enc, o->valid, stderr);
    rt_data_report_bad(t->heldout->tally, o->valid, stderr);
    rt_heldout_report(t->heldout, o->valid, stderr);
  } else if (o->valid) {
    rt_enc_reset_counts(t->enc);
    if (!(t->valid = rt_data_load(t->enc, &o->valid, 1, &lo, err))) return -1;
    rt_enc_report_oov(t->enc, o->valid, stderr);
    rt_data_report_bad(t->valid, o->valid, stderr);
  }
  return 0;
}

static int setup(Trainer *t, int batch, int nepochs, uint64_t seed, RtRng *rng, RtError *err) {
  const DmcModel *m = t->m;
  const RtOpts *o = t->o;
  size_t np = (size_t)(m->params_size ? m->params_size : 1);
  t->w = rt_floats_new((int64_t)np);
  t->g = rt_floats_new((int64_t)np);
  t->loss = calloc((size_t)batch, sizeof *t->loss);
  if (!t->w || !t->g || !t->loss)
    return rt_error(err, "out of memory (%zu parameters)", np);
  if (!(t->step = rt_stepper_new(m, o->threads, batch, err))) return -1;
  RtFeedOpts fo = {.batch = batch, .prefetch = o->prefetch_set ? o->prefetch : RT_FEED_PREFETCH,
                   .rng = rng, .data = t->train, .paths = o->files, .npaths = o->nfiles,
                   .load = {o->skip_bad, 0, o->group},
                   .shuffle = o->shuffle_buffer > 0 ? o->shuffle_buffer : RT_FEED_SHUFFLE};
  if (!(t->feed = rt_feed_new(t->enc, &fo, err))) return -1;
  t->sched = (RtSched){.kind = (RtSchedKind)o->lr_schedule, .warmup = o->warmup,
                       .total = (int64_t)nepochs * ((t->rows + batch - 1) / batch),
                       .min = o->lr_min, .every = o->lr_step > 0 ? o->lr_step : 1};
  if (rt_params_init(m, t->w, seed, err)) return -1;
  if (!(t->opt = rt_optim_new(m, o->lr, batch, err)) || rt_optim_use_pool(t->opt, rt_stepper_pool(t->step), err))
    return -1;
  if (t->valid || t->heldout) {
    int output = rt_model_retrieves(m) ? m->retrieve_output : 0;
    size_t ns = t->heldout ? (size_t)(t->heldout->n ? t->heldout->n : 1)
                           : (size_t)(t->valid->n ? t->valid->n : 1) * (size_t)m->outputs[output].size;
    if (!(t->scorer = rt_scorer_new(m, t->enc, batch, t->o->threads, err))) return -1;
    rt_scorer_set_output(t->scorer, output);
    if (!(t->scores = malloc(ns * sizeof *t->scores))) return rt_error(err, "out of memory");
  }
  return 0;
}

/* "element 7", or "element 7 = [1, 3]" for a tensor of rank 2 or more. */
static void element_str(char *buf, size_t cap, const DmcParam *p, int64_t el) {
  size_t k = (size_t)snprintf(buf, cap, "element %lld", (long long)el);
  if (p->rank < 2 || k >= cap) return;
  int64_t idx[8], rest = el;
  for (int d = p->rank - 1; d >= 0 && d < 8; d--) {
    idx[d] = p->shape[d] > 0 ? rest % p->shape[d] : 0;
    rest = p->shape[d] > 0 ? rest / p->shape[d] : 0;
  }
  for (int d = 0; d < p->rank && d < 8 && k < cap; d++)
    k += (size_t)snprintf(buf + k, cap - k, "%s%lld", d ? ", " : " = [", (long long)idx[d]);
  if (k < cap) snprintf(buf + k, cap - k, "]");
}

/* The NaN/Inf report: the step, the first non-finite parameter (or, with grads, the first
 * parameter whose gradient is not finite). what: the loss, or what went non-finite. */
static int diverged(Trainer *t, int64_t step, int epoch, const char *what, const float *grads,
                    RtError *err) {
  int64_t el;
  int p = rt_params_nonfinite(t->m, t->w, &el);
  const char *holder = "parameter";
  if (p < 0 && grads && (p = rt_params_nonfinite(t->m, grads, &el)) >= 0)
    holder = "the gradient of parameter";
  char where[400], elem[160];
  if (p >= 0) {
    element_str(elem, sizeof elem, &t->m->params[p], el);
    snprintf(where, sizeof where, "%s '%s' holds a non-finite value (%s)", holder,
             t->m->params[p].name, elem);
  } else {
    snprintf(where, sizeof where, "every parameter is finite: this batch overflowed");
  }
  return rt_error(err, "step %lld (epoch %d): %s; %s\nHINT: lower the learning rate "
                  "(--lr), or look for extreme values in the data (normalize, log)",
                  (long long)step, epoch, what, where);
}

/* --check-numerics, after a step's backward (grads) and after its update: -1 and *err at
 * the first non-finite gradient or parameter. */
static int check_numerics(Trainer *t, int64_t step, int epoch, int after_update, RtError *err) {
  int64_t el;
  if (!after_update && rt_params_nonfinite(t->m, t->g, &el) >= 0)
    return diverged(t, step, epoch, "a gradient is not finite (--check-numerics)", t->g, err);
  if (after_update && rt_params_nonfinite(t->m, t->w, &el) >= 0)
    return diverged(t, step, epoch, "the update went non-finite (--check-numerics)", NULL, err);
  return 0;
}

/* One pass over the training rows: the mean loss, or NAN and *err. */
static double run_epoch(Trainer *t, int epoch, int nepochs, uint64_t seed, int64_t *clipped,
                        RtError *err) {
  const DmcModel *m = t->m;
  const RtOpts *o = t->o;
  double total = 0;
  int64_t done = 0;
  char label[64];
  RtProgress pr;
  const RtBatch *bt;
  int r;
  snprintf(label, sizeof label, "epoch %d/%d", epoch, nepochs);
  if (rt_feed_start(t->feed, err)) return NAN;
  rt_progress_start(&pr, label, t->rows, !o->quiet);
  *clipped = 0;
  while ((r = rt_feed_next(t->feed, &bt, err)) == 1) {
    int b = bt->n;
    const RtGradPart *parts;
    int nparts;
    rt_stepper_run(t->step, (const void *const *)bt->buf, b, seed * 0x9e3779b97f4a7c15ULL + (uint64_t)t->opt->step,
                   t->w, t->g, t->loss, &parts, &nparts);
    double sum = 0;
    for (int j = 0; j < b; j++) sum += t->loss[j];
    int64_t step = t->opt->step + 1;
    if (!isfinite(sum)) {
      char what[64];
      snprintf(what, sizeof what, "the loss is %g", sum);
      diverged(t, step, epoch, what, NULL, err);
      r = -1;
      break;
    }
    total += sum;
    if (o->check_numerics || o->clip > 0) rt_stepper_combine(t->step);   // they read the gradient
    if (o->check_numerics && check_numerics(t, step, epoch, 0, err)) {
      r = -1;
      break;
    }
    if (o->clip > 0 && rt_grads_clip(m, t->g, o->clip) > o->clip) ++*clipped;
    t->opt->lr_mult = rt_sched_mult(&t->sched, step, epoch);
    rt_optim_step_parts(t->opt, t->w, t->g, parts, nparts);
    if (o->check_numerics && check_numerics(t, step, epoch, 1, err)) {
      r = -1;
      break;
    }
    rt_params_lag(m, t->w, t->opt->step);
    done += b;
    rt_progress_update(&pr, done, total / (double)done);
  }
  rt_feed_stop(t->feed);
  rt_progress_end(&pr);
  if (r < 0) return NAN;
  if (!done) {
    rt_error(err, "%s: no rows to train on in epoch %d (did the file change?)", o->files[0], epoch);
    return NAN;
  }
  int64_t el; /* the last step's update is not seen by a forward pass: check it once */
  if (rt_params_nonfinite(m, t->w, &el) >= 0) {
    diverged(t, t->opt->step, epoch, "the update went non-finite", NULL, err);
    return NAN;
  }
  return total / (double)done;
}

static void print_metrics(FILE *f, const RtEvalResult *r) {
  if (r->has_recall) {
    fprintf(f, "  valid recall@%d %.4f", r->recall.k, r->recall.recall);
    if (r->recall.k != 10) fprintf(f, " recall@10 %.4f", r->recall.recall10);
  } else if (r->has_label && r->binary) {
    fprintf(f, "  valid auc %.4f", r->auc);
    if (r->has_logloss) fprintf(f, " logloss %.4f", r->logloss);
    if (r->has_gauc) fprintf(f, " gauc %.4f", r->gauc);
    if (r->has_logloss) return;
  } else if (r->has_label) {
    fprintf(f, "  valid rmse %.4f", r->rmse);
  } else {
    fprintf(f, "  valid");
  }
  fprintf(f, " loss %.4f", r->loss);
}

static json_t *epoch_json(int epoch, double loss, double rate, double secs, double lr_mult,
                          int64_t clipped, const RtOpts *o, const RtEvalResult *r) {
  json_t *j = json_pack("{s:i, s:o, s:o, s:o, s:o}", "epoch", epoch, "train_loss", rt_json_num(loss),
                        "samples_per_s", rt_json_num(rate), "seconds", rt_json_num(secs),
                        "lr_mult", rt_json_num(lr_mult));
  if (o->clip > 0) json_object_set_new(j, "clipped_steps", json_integer((json_int_t)clipped));
  if (r) {
    json_object_set_new(j, "valid_loss", rt_json_num(r->loss));
    if (r->has_recall) {
      json_object_set_new(j, "valid_recall_at_k", rt_json_num(r->recall.recall));
      json_object_set_new(j, "valid_recall_at_10", rt_json_num(r->recall.recall10));
    } else if (r->has_label && r->binary) {
      json_object_set_new(j, "valid_auc", rt_json_num(r->auc));
      if (r->has_logloss) json_object_set_new(j, "valid_logloss", rt_json_num(r->logloss));
      if (r->has_gauc) json_object_set_new(j, "valid_gauc", rt_json_num(r->gauc));
    } else if (r->has_label) {
      json_object_set_new(j, "valid_rmse", rt_json_num(r->rmse));
    }
  }
  return j;
}

int rt_cmd_train(const DmcModel *m, const RtOpts *o) {
  Trainer t = {.m = m, .o = o, .log = o->json ? stderr : stdout};
  RtError err = {""};
  int nepochs = o->epochs > 0 ? o->epochs : m->epochs > 0 ? m->epochs : 1;
  int batch = o->batch > 0 ? o->batch : m->batch > 0 ? m->batch : 256;
  uint64_t seed = o->seed_set ? o->seed : (uint64_t)m->seed;
  RtRng rng;
  rt_rng_seed(&rng, seed);
  if (!(t.enc = rt_enc_new(m))) return fprintf(stderr, "%s: error: out of memory\n", o->prog), 1;
  if (load_data(&t, &err) || setup(&t, batch, nepochs, seed, &rng, &err)) return fail(&t, &err);
  t.epochs = json_array();
  int scheduled = o->lr_schedule != RT_SCHED_CONSTANT || o->warmup > 0;

  int best_epoch = -1, bad_epochs = 0, stopped = 0;
  double best = NAN;
  const char *metric = "";
  char recall_at[32];
  int k = o->k > 0 ? o->k : RT_RETRIEVE_K;
  snprintf(recall_at, sizeof recall_at, "recall@%d", k);
  for (int epoch = 1; epoch <= nepochs; epoch++) {
    double t0 = rt_now();
    int64_t clipped;
    if (t.stream) rt_enc_reset_counts(t.enc);
    double loss = run_epoch(&t, epoch, nepochs, seed, &clipped, &err);
    if (isnan(loss)) return fail(&t, &err);
    double secs = rt_now() - t0, rate = (double)rt_feed_rows(t.feed) / (secs > 0 ? secs : 1e-9);
    if (t.stream && epoch == 1) rt_enc_report_oov(t.enc, o->files[0], stderr);
    RtEvalResult r;
    double value = NAN;
    int better = 1;
    if (t.heldout) {
      if (rt_heldout_eval(t.heldout, t.scorer, t.train, t.w, seed, t.scores, &r, &err)) return fail(&t, &err);
      metric = "rmse";
      value = r.rmse;
      better = best_epoch < 0 || (isfinite(value) && (!isfinite(best) || value < best));
    } else if (t.valid) {
      double lsum;
      if (rt_scorer_run(t.scorer, t.valid, t.w, seed, t.scores, &lsum, &err)) return fail(&t, &err);
      rt_eval_metrics(m, t.enc, t.valid, t.scores, lsum, &r);
      if (rt_model_retrieves(m) &&
          rt_eval_recall(m, t.enc, t.valid, t.w, t.scores, k, o->threads, &r, &err))
        return fail(&t, &err);
      int use_auc = r.has_label && r.binary, higher = use_auc || r.has_recall;
      metric = r.has_recall ? recall_at : use_auc ? "auc" : "loss";
      value = r.has_recall ? r.recall.recall : use_auc ? r.auc : r.loss;
      better = best_epoch < 0 || (isfinite(value) && (!isfinite(best) || (higher ? value > best : value < best)));
    }
    fprintf(t.log, "epoch %d/%d  train loss %.4f", epoch, nepochs, loss);
    if (t.valid || t.heldout) print_metrics(t.log, &r);
    if (scheduled) fprintf(t.log, "  lr x%.3g", t.opt->lr_mult);
    fprintf(t.log, "  %.0f rows/s  %.2fs%s\n", rate, secs, better && (t.valid || t.heldout) ? "  *" : "");
    fflush(t.log);
    json_array_append_new(t.epochs, epoch_json(epoch, loss, rate, secs, t.opt->lr_mult, clipped, o,
                                               t.valid || t.heldout ? &r : NULL));
    if (better) {
      RtCkptInfo info = {epoch, "", value, m->group_by ? t.train : NULL};
      snprintf(info.metric, sizeof info.metric, "%s", metric);
      if (rt_model_save(m, t.w, t.enc, &info, o->checkpoint, &err)) return fail(&t, &err);
      best_epoch = epoch;
      best = value;
      bad_epochs = 0;
    } else if (o->patience > 0 && ++bad_epochs >= o->patience && epoch < nepochs) {
      fprintf(t.log, "early stop: no better validation %s for %d epochs\n", metric, o->patience);
      stopped = 1;
      break;
    }
  }
  fprintf(t.log, "saved %s: epoch %d", o->checkpoint, best_epoch);
  if (t.valid || t.heldout) fprintf(t.log, ", valid %s %.4f", metric, best);
  fprintf(t.log, "\n");
  if (o->json) {
    json_t *j = json_pack("{s:s, s:s, s:I, s:I, s:O, s:i, s:b}", "model", m->name, "checkpoint",
                          o->checkpoint, "rows", (json_int_t)t.rows, "valid_rows",
                          (json_int_t)(t.valid ? t.valid->n : t.heldout ? t.heldout->n : 0), "epochs", t.epochs,
                          "best_epoch", best_epoch, "stopped_early", stopped);
    if (t.valid || t.heldout) {
      if (rt_model_retrieves(m)) json_object_set_new(j, "k", json_integer(k));
      json_object_set_new(j, "metric", json_string(metric));
      json_object_set_new(j, "best", rt_json_num(best));
    }
    json_object_set_new(j, "skipped_rows", json_integer((json_int_t)rt_data_report_bad(
                                               t.train ? t.train : t.tally, "", NULL)));
    json_object_set_new(j, "stream", json_boolean(t.stream));
    if (t.stream)
      json_object_set_new(j, "shuffle_buffer", json_integer((json_int_t)(
                                 o->shuffle_buffer > 0 ? o->shuffle_buffer : RT_FEED_SHUFFLE)));
    json_object_set_new(j, "lr_schedule", json_string(rt_sched_name((RtSchedKind)o->lr_schedule)));
    json_dumpf(j, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
    json_decref(j);
  }
  trainer_free(&t);
  return 0;
}
