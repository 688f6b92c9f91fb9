/* pool.h -- a persistent pool of threads that run one function once per thread
 * index, the caller taking part, and return when all are done, so a training
 * step or a request can be shared without creating threads each time. A pool of
 * one thread runs the function inline. */
#ifndef RT_POOL_H
#define RT_POOL_H

#include <stdint.h>

#include "rterr.h"

typedef struct RtPool RtPool;

RtPool *rt_pool_new(int nthreads, RtError *err);
int rt_pool_size(const RtPool *p);
/* fn(arg, tid) for tid 0..size-1, each once, on whichever thread claims it first
 * (the caller too, so it may run several tids in turn when the others are slow to
 * wake); returns when every call has. */
void rt_pool_run(RtPool *p, void (*fn)(void *arg, int tid), void *arg);
void rt_pool_free(RtPool *p);
/* Workers and the caller spin this long for the next round (or for the workers
 * to finish) before sleeping: for a pool whose rounds come microseconds apart
 * (the kernels of one request, share.h; a training step's rounds, step.c).
 * 0, the default: sleep at once. */
void rt_pool_spin(RtPool *p, int64_t microseconds);
/* The spin of those pools: a futex wake costs tens of microseconds, a small
 * model's whole training step (ex:fm, 256 rows) about 160. Measured on a quiet
 * machine at 2 threads: ex:fm 1.3M -> 2.25M rows/s, ex:mlr 1.0M -> 1.6M, the
 * large models unchanged. Like OpenMP's spin-wait, it keeps the pool's cores busy
 * while a job runs; on a machine with more runnable threads than cores it costs
 * their share (ex:fm 1.2M -> 0.7-1.3M at load 3). */
enum { RT_POOL_SPIN_US = 200 };
/* Thread t's part [*lo, *hi) of n array elements shared among `parts`
 * threads: contiguous, and cut at multiples of 16 elements, so threads that
 * write neighbouring parts of a float array do not write one cache line. */
void rt_pool_split(int64_t n, int parts, int t, int64_t *lo, int64_t *hi);
/* Floats of work below which a round on the pool costs more than it saves: waking
 * the threads and waiting for them takes tens of microseconds (measured: with the
 * gradient combine and the optimizer on the pool, small models such as LR and FM
 * trained at 2 threads half as fast as with them on the caller). 65536; tests set
 * 0 to run the pool paths on small models. */
extern int64_t rt_pool_min_work;

#endif
