/* pool.c -- see pool.h. One mutex and two condition variables: workers wait for
 * a new generation of work, the caller waits for the count of unfinished calls
 * to reach zero. A step's kernels take milliseconds; the wake-up's few
 * microseconds do not need spinning. */
#include "pool.h"

#include <pthread.h>
#include <stdlib.h>

int64_t rt_pool_min_work = (int64_t)1 << 16;

struct RtPool {
  int n;
  pthread_t *threads;
  pthread_mutex_t mu;
  pthread_cond_t work, done;
  unsigned long generation;
  int pending, quit;
  void (*fn)(void *, int);
  void *arg;
};

typedef struct {
  RtPool *p;
  int tid;
} Seat;

static void *worker(void *a) {
  Seat *seat = a;
  RtPool *p = seat->p;
  int tid = seat->tid;
  free(seat);
  unsigned long seen = 0;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (p->generation == seen && !p->quit) pthread_cond_wait(&p->work, &p->mu);
    if (p->quit) break;
    seen = p->generation;
    pthread_mutex_unlock(&p->mu);
    p->fn(p->arg, tid);
    pthread_mutex_lock(&p->mu);
    if (--p->pending == 0) pthread_cond_signal(&p->done);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

RtPool *rt_pool_new(int nthreads, RtError *err) {
  RtPool *p = calloc(1, sizeof *p);
  if (nthreads < 1) nthreads = 1;
  if (!p || !(p->threads = calloc((size_t)nthreads, sizeof *p->threads))) {
    free(p);
    rt_error(err, "out of memory for a pool of %d threads", nthreads);
    return NULL;
  }
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->work, NULL);
  pthread_cond_init(&p->done, NULL);
  p->n = 1;
  for (int t = 1; t < nthreads; t++) {
    Seat *seat = malloc(sizeof *seat);
    if (!seat) break;
    *seat = (Seat){p, t};
    if (pthread_create(&p->threads[t], NULL, worker, seat)) {
      free(seat);
      rt_pool_free(p);
      rt_error(err, "cannot start thread %d of %d", t + 1, nthreads);
      return NULL;
    }
    p->n++;
  }
  if (p->n < nthreads) {
    rt_pool_free(p);
    rt_error(err, "out of memory starting %d threads", nthreads);
    return NULL;
  }
  return p;
}

int rt_pool_size(const RtPool *p) { return p ? p->n : 1; }

void rt_pool_run(RtPool *p, void (*fn)(void *arg, int tid), void *arg) {
  if (p->n == 1) {
    fn(arg, 0);
    return;
  }
  pthread_mutex_lock(&p->mu);
  p->fn = fn;
  p->arg = arg;
  p->pending = p->n - 1;
  p->generation++;
  pthread_cond_broadcast(&p->work);
  pthread_mutex_unlock(&p->mu);
  fn(arg, 0);
  pthread_mutex_lock(&p->mu);
  while (p->pending > 0) pthread_cond_wait(&p->done, &p->mu);
  pthread_mutex_unlock(&p->mu);
}

void rt_pool_free(RtPool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  p->quit = 1;
  pthread_cond_broadcast(&p->work);
  pthread_mutex_unlock(&p->mu);
  for (int t = 1; t < p->n; t++) pthread_join(p->threads[t], NULL);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->work);
  pthread_cond_destroy(&p->done);
  free(p->threads);
  free(p);
}

void rt_pool_split(int64_t n, int parts, int t, int64_t *lo, int64_t *hi) {
  int64_t chunk = (n + parts - 1) / parts;
  chunk = (chunk + 15) / 16 * 16;
  *lo = t * chunk < n ? t * chunk : n;
  *hi = *lo + chunk < n ? *lo + chunk : n;
}
