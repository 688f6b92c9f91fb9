/* normalize.h -- z-score statistics of float columns.
 *
 * On the training pass rt_norm_add feeds each value of each normalised
 * column to Welford's running mean/variance; rt_norm_apply then returns
 * (x - mean) / std with the population standard deviation. A column whose
 * std is below 1e-6 (constant, or never seen) is only centred, never
 * divided by ~0. NaN and infinite values are not counted. The statistics
 * are saved to and loaded from a byte blob for the checkpoint, so serving
 * normalises exactly as training did. Adding is for one thread; applying
 * is read-only.
 */
#ifndef RT_NORMALIZE_H
#define RT_NORMALIZE_H

#include <stddef.h>
#include <stdint.h>

#include "rterr.h"

typedef struct RtNorm RtNorm;

/* Statistics for ncols >= 1 columns; NULL if out of memory. */
RtNorm *rt_norm_new(int ncols);
int rt_norm_ncols(const RtNorm *z);
void rt_norm_add(RtNorm *z, int col, double x);
uint64_t rt_norm_n(const RtNorm *z, int col);
double rt_norm_mean(const RtNorm *z, int col);
double rt_norm_std(const RtNorm *z, int col);
/* (x - mean) / std for column col. */
float rt_norm_apply(const RtNorm *z, int col, double x);
/* Writes the statistics to buf if cap is large enough; returns the bytes needed. */
size_t rt_norm_save(const RtNorm *z, uint8_t *buf, size_t cap);
/* Statistics from rt_norm_save's bytes, or NULL and *err. */
RtNorm *rt_norm_load(const uint8_t *buf, size_t n, RtError *err);
void rt_norm_free(RtNorm *z);

#endif
