/* feed.c -- training batches from memory or from the files, through a ring
 * of batch buffers, optionally filled by a background thread (see feed.h).
 *
 * The ring: slots 0..nslots-1, filled in order at `tail`, taken in order
 * at `head` by the caller. `ready` counts filled slots, the one the caller
 * holds included, so at most nslots - 1 batches are filled ahead and the
 * held one is never touched. A slot is a batch, the end of the epoch or an
 * error; nothing is filled after the last two (`pdone`). One mutex, two
 * condition variables.
 *
 * Who fills: one slot at a time (`filling`), in slot order, so fill() runs
 * strictly in sequence and draws from rng in the same order whichever
 * thread runs it. Normally the thread fills; when the caller finds the ring
 * empty and the thread is not in the middle of a fill (it is asleep, or
 * waiting for a CPU on a busy machine), the caller fills the next slot
 * itself instead of sleeping; it sleeps only while the thread is filling.
 * The thread, once the ring is full, sleeps until `wake` = nslots / 2 slots
 * are free and is signalled only then: one wake-up per `wake` batches.
 *
 * The shuffle buffer (streaming) holds `shuffle` live rows in an RtData of
 * shuffle + batch rows: a batch's rows leave the live set as they are drawn
 * and each is replaced at once by the next row of the files, while the
 * drawn rows wait in the spare rows until rt_batch_fill has copied them.
 */
#define _POSIX_C_SOURCE 200809L
#include "feed.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { SLOT_BATCH, SLOT_END, SLOT_ERROR };

struct RtFeed {
  RtEncoder *e;
  RtFeedOpts o;
  int nslots;
  RtBatch **ring;       /* [nslots] */
  int *kind;            /* [nslots] SLOT_* */
  RtError err;          /* the producer's error, published with a SLOT_ERROR */
  int64_t *rows;        /* [batch] rows of the batch being filled */

  /* in memory */
  int64_t *perm, pos;
  /* streaming */
  RtCsv *csv;
  RtData *buf;          /* shuffle + batch rows */
  int64_t *live, nlive; /* rows of buf in the shuffle buffer */
  int64_t *spare, nspare;
  int eof;
  uint64_t skipped;

  /* the epoch */
  int64_t delivered;
  int finished;         /* 0 running; 1 ended; -1 failed */
  int threaded;         /* the thread runs this epoch */
  pthread_t th;
  pthread_mutex_t mu;
  pthread_cond_t filled, room;
  int head, tail, ready, held, stop;
  int wake;             /* free slots the sleeping thread waits for */
  int pwait, cwait;     /* the thread / the caller sleeps */
  int filling;          /* a slot is being filled (by either) */
  int pdone;            /* the end or an error was published */
};

RtFeed *rt_feed_new(RtEncoder *e, const RtFeedOpts *o, RtError *err) {
  if (!o->data && rt_data_needs_next(e)) {
    rt_error(err, "this model pairs rows by next_by (%s, order %s), which needs the whole data set "
             "in memory: it cannot be streamed", e->m->next_by ? e->m->next_by : "?",
             e->m->next_order ? e->m->next_order : "?");
    return NULL;
  }
  if (!o->data && e->m->group_by) {
    rt_error(err, "this model gathers the rows of each %s into one example (group_by), which needs "
             "the whole data set in memory: it cannot be streamed", e->m->group_by);
    return NULL;
  }
  RtFeed *f = calloc(1, sizeof *f);
  if (!f) goto oom;
  f->e = e;
  f->o = *o;
  if (f->o.batch < 1) f->o.batch = 1;
  if (f->o.prefetch < 0) f->o.prefetch = 0;
  if (f->o.prefetch > 64) f->o.prefetch = 64;
  if (f->o.shuffle < 1) f->o.shuffle = 1;
  f->nslots = f->o.prefetch + 1;
  f->wake = f->nslots / 2 > 1 ? f->nslots / 2 : 1;
  f->finished = 1;
  if (pthread_mutex_init(&f->mu, NULL)) {
    free(f);
    goto oom;
  }
  pthread_cond_init(&f->filled, NULL);
  pthread_cond_init(&f->room, NULL);
  if (!(f->ring = calloc((size_t)f->nslots, sizeof *f->ring)) ||
      !(f->kind = calloc((size_t)f->nslots, sizeof *f->kind)) ||
      !(f->rows = malloc((size_t)f->o.batch * sizeof *f->rows)))
    goto fail;
  for (int s = 0; s < f->nslots; s++)
    if (!(f->ring[s] = rt_batch_new(e->m, f->o.batch))) goto fail;
  if (o->data) {
    if (!(f->perm = malloc((size_t)(o->data->n ? o->data->n : 1) * sizeof *f->perm))) goto fail;
  } else {
    int64_t rows = f->o.shuffle + f->o.batch;
    if (!(f->buf = rt_data_new_rows(e, rows)) ||
        !(f->live = malloc((size_t)f->o.shuffle * sizeof *f->live)) ||
        !(f->spare = malloc((size_t)rows * sizeof *f->spare)))
      goto fail;
  }
  return f;
fail:
  rt_feed_free(f);
oom:
  rt_error(err, "out of memory for the batch buffers (%d batches of %d rows%s)",
           o->prefetch + 1, o->batch, o->data ? "" : " and the shuffle buffer");
  return NULL;
}

void rt_feed_free(RtFeed *f) {
  if (!f) return;
  rt_feed_stop(f);
  for (int s = 0; f->ring && s < f->nslots; s++) rt_batch_free(f->ring[s]);
  free(f->ring);
  free(f->kind);
  free(f->rows);
  free(f->perm);
  rt_data_free(f->buf);
  free(f->live);
  free(f->spare);
  pthread_cond_destroy(&f->filled);
  pthread_cond_destroy(&f->room);
  pthread_mutex_destroy(&f->mu);
  free(f);
}

/* ---- the producer: one batch at a time ---- */

/* The next good row of the files into row q of the shuffle buffer: 1, 0 at
 * the end of the files, -1 and *err. */
static int read_row(RtFeed *f, int64_t q, RtError *err) {
  RtError bad;
  for (;;) {
    int r = rt_csv_next(f->csv, err);
    if (r <= 0) return r;
    RtBad why = rt_enc_parse(f->e, f->csv, &bad);
    if (why == RT_BAD_NONE) break;
    if (!f->o.load.skip_bad) {
      *err = bad;
      return -1;
    }
    f->skipped++;
  }
  rt_enc_encode(f->e);
  rt_data_put(f->buf, f->e, q);
  return 1;
}

static int fill_stream(RtFeed *f, RtBatch *b, RtError *err) {
  int k = 0;
  while (k < f->o.batch) {
    while (!f->eof && f->nlive < f->o.shuffle) {
      int64_t q = f->spare[f->nspare - 1];
      int r = read_row(f, q, err);
      if (r < 0) return -1;
      if (r == 0) {
        f->eof = 1;
        break;
      }
      f->nspare--;
      f->live[f->nlive++] = q;
    }
    if (!f->nlive) break;
    int64_t i = (int64_t)rt_rng_below(f->o.rng, (uint64_t)f->nlive);
    f->rows[k++] = f->live[i];
    f->live[i] = f->live[--f->nlive];
  }
  if (!k) return 0;
  rt_batch_fill(b, f->e, f->buf, f->rows, k, f->o.rng);
  for (int j = 0; j < k; j++) f->spare[f->nspare++] = f->rows[j];
  return 1;
}

/* Fills b with the epoch's next batch: 1, 0 at the end, -1 and *err. */
static int fill(RtFeed *f, RtBatch *b, RtError *err) {
  if (!f->o.data) return fill_stream(f, b, err);
  int64_t n = f->o.data->n;
  if (f->pos >= n) return 0;
  int k = (int)(n - f->pos < f->o.batch ? n - f->pos : f->o.batch);
  rt_batch_fill(b, f->e, f->o.data, f->perm + f->pos, k, f->o.rng);
  f->pos += k;
  return 1;
}

/* With mu held: claims the slot at tail for filling, or -1 if none may be filled now. */
static int claim(RtFeed *f) {
  if (f->filling || f->pdone || f->stop || f->ready == f->nslots) return -1;
  f->filling = 1;
  return f->tail;
}

/* With mu held: fills the claimed slot s (mu released meanwhile) and publishes it. */
static void fill_slot(RtFeed *f, int s) {
  pthread_mutex_unlock(&f->mu);
  int r = fill(f, f->ring[s], &f->err);
  pthread_mutex_lock(&f->mu);
  f->kind[s] = r > 0 ? SLOT_BATCH : r == 0 ? SLOT_END : SLOT_ERROR;
  f->tail = (s + 1) % f->nslots;
  f->ready++;
  f->filling = 0;
  f->pdone = r <= 0;
  if (f->cwait) pthread_cond_signal(&f->filled);
  if (f->pwait && (f->pdone || f->nslots - f->ready >= f->wake)) pthread_cond_signal(&f->room);
}

static void *producer(void *arg) {
  RtFeed *f = arg;
  pthread_mutex_lock(&f->mu);
  while (!f->stop && !f->pdone) {
    int s = claim(f);
    if (s >= 0) {
      fill_slot(f, s);
      continue;
    }
    f->pwait = 1;
    while (!f->stop && !f->pdone && (f->filling || f->nslots - f->ready < f->wake))
      pthread_cond_wait(&f->room, &f->mu);
    f->pwait = 0;
  }
  pthread_mutex_unlock(&f->mu);
  return NULL;
}

/* ---- the epoch ---- */

int rt_feed_start(RtFeed *f, RtError *err) {
  rt_feed_stop(f);
  f->delivered = 0;
  f->skipped = 0;
  if (f->o.data) {
    rt_shuffle(f->perm, f->o.data->n, f->o.rng);
    f->pos = 0;
  } else {
    f->csv = rt_csv_open(f->o.paths, f->o.npaths, f->e->m->delimiter, 0, err);
    if (!f->csv) return -1;
    if (rt_enc_bind(f->e, f->csv, f->o.paths[0], 0, f->o.load.group, err)) {
      rt_csv_close(f->csv);
      f->csv = NULL;
      return -1;
    }
    f->eof = 0;
    f->nlive = 0;
    f->nspare = f->o.shuffle + f->o.batch;
    for (int64_t i = 0; i < f->nspare; i++) f->spare[i] = f->nspare - 1 - i; /* row 0 first */
  }
  f->finished = 0;
  f->head = f->tail = f->ready = f->held = f->stop = 0;
  f->pwait = f->cwait = f->pdone = f->filling = 0;
  f->threaded = f->o.prefetch > 0 && !pthread_create(&f->th, NULL, producer, f);
  return 0; /* a thread that cannot start: the batches are filled by rt_feed_next */
}

int rt_feed_next(RtFeed *f, const RtBatch **out, RtError *err) {
  if (f->finished) {
    if (f->finished < 0) *err = f->err;
    return f->finished > 0 ? 0 : -1;
  }
  int kind, s;
  if (!f->threaded) {
    s = 0;
    int r = fill(f, f->ring[0], &f->err);
    kind = r > 0 ? SLOT_BATCH : r == 0 ? SLOT_END : SLOT_ERROR;
  } else {
    pthread_mutex_lock(&f->mu);
    if (f->held) { /* the caller is done with the batch it held */
      f->head = (f->head + 1) % f->nslots;
      f->ready--;
      f->held = 0;
      if (f->pwait && !f->filling && f->nslots - f->ready >= f->wake) pthread_cond_signal(&f->room);
    }
    while (!f->ready) {
      int c = claim(f); /* the thread is not filling: fill it here rather than wait */
      if (c >= 0) {
        fill_slot(f, c);
        continue;
      }
      f->cwait = 1;
      pthread_cond_wait(&f->filled, &f->mu);
      f->cwait = 0;
    }
    s = f->head;
    kind = f->kind[s];
    f->held = 1;
    pthread_mutex_unlock(&f->mu);
  }
  if (kind != SLOT_BATCH) {
    f->finished = kind == SLOT_END ? 1 : -1;
    if (f->finished < 0) *err = f->err;
    return f->finished > 0 ? 0 : -1;
  }
  *out = f->ring[s];
  f->delivered += f->ring[s]->n;
  return 1;
}

void rt_feed_stop(RtFeed *f) {
  if (f->threaded) {
    pthread_mutex_lock(&f->mu);
    f->stop = 1;
    pthread_cond_signal(&f->room);
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->th, NULL);
    f->threaded = 0;
  }
  if (f->csv) {
    rt_csv_close(f->csv);
    f->csv = NULL;
  }
  if (!f->finished) f->finished = 1;
}

int64_t rt_feed_rows(const RtFeed *f) { return f->delivered; }

uint64_t rt_feed_skipped(const RtFeed *f) { return f->skipped; }
