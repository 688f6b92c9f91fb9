/* share.c -- see share.h: kernels.c splits the GEMMs (kernels.h
 * dmc_kernel_share), the pool runs the parts. */
#include "share.h"

#include <stddef.h>

#include "kernels.h"

static void run_on_pool(void *pool, void (*fn)(void *arg, int part), void *arg) { rt_pool_run(pool, fn, arg); }

static _Thread_local DmcKernelShare share;

void rt_share_begin(RtPool *p) {
  share = (DmcKernelShare){rt_pool_size(p), run_on_pool, p};
  dmc_kernel_share = p && share.parts > 1 ? &share : NULL;
}
