/* pool.c -- see pool.h. A round is n parts, fn(arg, 0..n-1), claimed one at a
 * time by whichever thread comes first: the caller takes part and returns when
 * every part is done, so it never waits for a thread that has not woken up
 * (on a busy machine it may run every part itself). One atomic word holds the
 * round's number and its next unclaimed part: a claim is a compare-and-swap
 * that fails once the round is over, so a thread that wakes late cannot touch
 * the caller's arguments of a finished round.
 * Waiting: by default workers sleep on a condition variable between rounds (a
 * wake-up costs a few microseconds; a training step's kernels take
 * milliseconds). A pool that shares one request's kernels (rt_pool_spin) gets
 * rounds microseconds apart, so its workers and its caller spin first. */
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

int64_t rt_pool_min_work = (int64_t)1 << 16;

struct RtPool {
  int n;
  pthread_t *threads;
  pthread_mutex_t mu;
  pthread_cond_t work, done;
  _Atomic uint64_t round;   /* the round's number << 32 | its next unclaimed part */
  atomic_int finished, quit;
  int sleepers;             /* workers in cond_wait (under mu) */
  _Atomic int64_t spin_ns;  /* how long a worker or the caller spins before sleeping */
  void (*fn)(void *, int);
  void *arg;
};

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/* The next part of round `number`, or -1 when it has none left (or is over). */
static int claim(RtPool *p, uint32_t number) {
  uint64_t r = atomic_load_explicit(&p->round, memory_order_acquire);
  while ((uint32_t)(r >> 32) == number && (int)(uint32_t)r < p->n)
    if (atomic_compare_exchange_weak_explicit(&p->round, &r, r + 1, memory_order_acq_rel, memory_order_acquire))
      return (int)(uint32_t)r;
  return -1;
}

static void run_parts(RtPool *p, uint32_t number) {
  for (int part; (part = claim(p, number)) >= 0;) {
    p->fn(p->arg, part);
    if (atomic_fetch_add_explicit(&p->finished, 1, memory_order_acq_rel) + 1 == p->n) {
      pthread_mutex_lock(&p->mu);   /* the caller may be asleep on `done` */
      pthread_cond_signal(&p->done);
      pthread_mutex_unlock(&p->mu);
    }
  }
}

static uint32_t round_number(RtPool *p) { return (uint32_t)(atomic_load_explicit(&p->round, memory_order_acquire) >> 32); }

static void *worker(void *a) {
  RtPool *p = a;
  uint32_t seen = 0;
  for (;;) {
    int64_t spin = atomic_load_explicit(&p->spin_ns, memory_order_relaxed), end = spin > 0 ? now_ns() + spin : 0;
    for (unsigned i = 1; round_number(p) == seen && !atomic_load(&p->quit) && end; i++) {
      cpu_relax();
      if (i % 256 == 0 && now_ns() > end) break;
    }
    pthread_mutex_lock(&p->mu);
    while (round_number(p) == seen && !atomic_load(&p->quit)) {
      p->sleepers++;
      pthread_cond_wait(&p->work, &p->mu);
      p->sleepers--;
    }
    pthread_mutex_unlock(&p->mu);
    if (atomic_load(&p->quit)) break;
    seen = round_number(p);
    run_parts(p, seen);
  }
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
    if (pthread_create(&p->threads[t], NULL, worker, p)) {
      rt_pool_free(p);
      rt_error(err, "cannot start thread %d of %d", t + 1, nthreads);
      return NULL;
    }
    p->n++;
  }
  return p;
}

int rt_pool_size(const RtPool *p) { return p ? p->n : 1; }

void rt_pool_spin(RtPool *p, int64_t microseconds) {
  if (p) atomic_store_explicit(&p->spin_ns, microseconds * 1000, memory_order_relaxed);
}

void rt_pool_run(RtPool *p, void (*fn)(void *arg, int tid), void *arg) {
  if (p->n == 1) {
    fn(arg, 0);
    return;
  }
  p->fn = fn;
  p->arg = arg;
  atomic_store_explicit(&p->finished, 0, memory_order_relaxed);
  uint32_t number = round_number(p) + 1;
  pthread_mutex_lock(&p->mu);   /* published under mu, so a worker cannot miss it and sleep */
  atomic_store_explicit(&p->round, (uint64_t)number << 32, memory_order_release);
  if (p->sleepers) pthread_cond_broadcast(&p->work);
  pthread_mutex_unlock(&p->mu);
  run_parts(p, number);
  int64_t spin = atomic_load_explicit(&p->spin_ns, memory_order_relaxed), end = spin > 0 ? now_ns() + spin : 0;
  for (unsigned i = 1; atomic_load_explicit(&p->finished, memory_order_acquire) < p->n && end; i++) {
    cpu_relax();
    if (i % 256 == 0 && now_ns() > end) break;
  }
  if (atomic_load_explicit(&p->finished, memory_order_acquire) < p->n) {
    pthread_mutex_lock(&p->mu);
    while (atomic_load(&p->finished) < p->n) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
  }
}

void rt_pool_free(RtPool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  atomic_store(&p->quit, 1);
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
