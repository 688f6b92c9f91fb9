/* params.h -- the parameter block: initialisers, lagged copies, checks.
 *
 * All parameters live in one float block of m->params_size (DmcParam.offset
 * in floats); gradients use a second block of the same layout. Initialisers
 * (DmcParam.init): zeros(), ones(), const(value), normal(std, mean),
 * uniform(a) = U(-a, a), xavier() (Glorot uniform, fan_in and fan_out the
 * last two dims; a rank-1 shape uses its size for both), and
 * checkpoint(file, tensor), which copies a tensor of the same shape from
 * another safetensors file. Without an initialiser a table gets
 * normal(0.01), a matrix xavier(), a vector or scalar zeros() (Glorot on a
 * bias would be noise). Each parameter draws from its own generator seeded
 * by (seed, name), so adding a parameter leaves the others unchanged.
 * Lagged copies (lag_of >= 0) start equal to their source.
 */
#ifndef RT_PARAMS_H
#define RT_PARAMS_H

#include <stdint.h>

#include "dmc_abi.h"
#include "rterr.h"

/* A zeroed block of n floats (at least one) at a 64-byte boundary, NULL when out
 * of memory; free() frees it. For the parameter, gradient and workspace blocks:
 * the compiler places every parameter and workspace value at a multiple of 16
 * floats in them, so a GEMM's vector loads of a weight row do not straddle cache
 * lines (a load across two lines costs two). */
float *rt_floats_new(int64_t n);
/* bytes (not zeroed) at a 64-byte boundary, NULL when out of memory; free() frees
 * it. From RT_HUGE_MIN bytes on, at a 2 MiB boundary and advised into transparent
 * huge pages (Linux's default is to give them only where asked): lookups and sparse
 * updates touch rows of tables at random, and with 4 KiB pages nearly each one
 * missed the TLB (26 tables of 100,000 x 16 floats span 166 MB, 40,000 pages). */
#define RT_HUGE_PAGE ((size_t)2 << 20)
#define RT_HUGE_MIN ((size_t)4 << 20)
void *rt_big_alloc(size_t bytes);
int rt_params_init(const DmcModel *m, float *w, uint64_t seed, RtError *err);
/* Copies every lagged parameter from its source where step % lag_every == 0. */
void rt_params_lag(const DmcModel *m, float *w, int64_t step);
/* Gradient clipping (train --clip): the L2 norm of the dense gradients
 * (every parameter but tables, lagged copies and running statistics, all
 * taken together) and, when it is above max_norm > 0, every one of them
 * scaled by max_norm / norm. Tables are not clipped: their row gradients
 * live in the workspace and are summed per row by the optimizer (optim.h).
 * Returns the norm before clipping. */
double rt_grads_clip(const DmcModel *m, float *g, double max_norm);
/* The first parameter holding a NaN or infinity: its index (and element),
 * or -1 if all are finite. */
int rt_params_nonfinite(const DmcModel *m, const float *w, int64_t *elem);

#endif
