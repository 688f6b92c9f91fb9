/* step.h -- forward and backward of one training batch, shared by rows among a
 * pool's threads (data parallel). Each thread runs the whole model on its share
 * with its own workspace and gradient block and a mean loss over its rows; the
 * dense gradients are then combined weighted by rows (so they are the batch's
 * mean gradient), each thread summing its range of every parameter
 * (rt_pool_split) just before it updates that range, and the table rows are
 * combined likewise from the shares (rt_optim_step_parts, on the same threads:
 * rt_optim_use_pool). With one thread this is exactly the serial step.
 *
 * What threads change, and why it is the usual choice: batch statistics
 * (standardize, so Dice) are each share's, and only the first share moves the
 * running statistics (as data-parallel batch norm without synchronisation);
 * dropout draws each share's masks from its own stream. So a run is
 * deterministic for a given thread count, and differs (within noise) between
 * counts. Parameters are read by every thread and written only by the
 * optimizer, after the shares, each element by one thread: no races and no
 * locks. */
#ifndef RT_STEP_H
#define RT_STEP_H

#include <stdint.h>

#include "dmc_abi.h"
#include "optim.h"
#include "pool.h"
#include "rterr.h"

typedef struct RtStepper RtStepper;

RtStepper *rt_stepper_new(const DmcModel *m, int nthreads, int max_batch, RtError *err);
/* Forward and backward of `batch` rows (inputs as RtBatch lays them out) with
 * parameters w: per-example losses into loss[batch], and the shares for the
 * optimizer in *parts (*nparts of them, valid until the next run). The first
 * share's dense gradient is in g (zeroed first); with several shares, the
 * others' are in their own blocks, and rt_optim_step_parts sums them as it
 * updates. */
void rt_stepper_run(RtStepper *s, const void *const *inputs, int batch, uint64_t seed, float *w, float *g,
                    float *loss, const RtGradPart **parts, int *nparts);
/* The batch's mean dense gradient into g, for a caller that reads it before
 * the update (clipping, --check-numerics); marks the run's parts combined. */
void rt_stepper_combine(RtStepper *s);
int rt_stepper_threads(const RtStepper *s);
/* The stepper's threads, for the optimizer's step (rt_optim_use_pool). */
RtPool *rt_stepper_pool(RtStepper *s);
void rt_stepper_free(RtStepper *s);

#endif
