/* infer.h -- the forward pass of inference over a batch, in chunks of rows.
 *
 * Inference scores each row on its own (standardize uses its running averages,
 * dropout is off), so a batch can run as several forward calls over consecutive
 * rows. A model whose intermediate values per example are large (DIN's and
 * DIEN's attention, AFM's pairs, xDeepFM's CIN: 80-500 KB) runs faster that way
 * (1.2-1.9x at batch 1024, docs/ARCHITECTURE.md): a call over 1024 rows writes
 * 80-500 MB of workspace that later kernels read back, a call over 128-200 rows
 * a fraction of it. A call stays within RT_INFER_BYTES of
 * per-row workspace, but takes at least RT_INFER_MIN_ROWS rows (its GEMMs need
 * rows to reach their speed), and a batch's calls are of equal size.
 * Small models (LR, FM: a few KB per example) run a batch in one call.
 *
 * Chunk c > 0 runs with seed ctx->seed ^ a hash of c, so a model that draws
 * (sampled_softmax's negatives) does not draw the same values for its chunks.
 */
#ifndef RT_INFER_H
#define RT_INFER_H

#include "dmc_abi.h"

#define RT_INFER_BYTES ((int64_t)16 << 20)
#define RT_INFER_MIN_ROWS 128
#define RT_INFER_MAX_INPUTS 256   /* a model with more runs a batch in one call */

/* A number no other call returns, for DmcCtx.params_version: name with it a state
 * of the parameters that stays as it is while the number is in use (a scoring
 * run, a benchmark phase), so their values of the parameters alone are computed
 * once per workspace (compiler/prepare.c) rather than once per forward call. */
uint64_t rt_infer_version(void);

/* The most rows a forward call of rt_infer takes for batches of up to max_batch
 * rows: size the workspace with m->workspace_floats(rt_infer_rows(m, max_batch)). */
int rt_infer_rows(const DmcModel *m, int max_batch);

/* ctx->batch rows (training 0): ctx->loss[0..batch) when ctx->loss is not NULL
 * (NULL: the outputs alone, the losses not computed) and, when out is not NULL,
 * output `output` of every row into out[batch * size]. ctx->workspace holds
 * rt_infer_rows(m, ctx->batch) rows or more. The parameters do not change during
 * the call: with ctx->params_version 0, its calls share a fresh one. */
void rt_infer(const DmcModel *m, const DmcCtx *ctx, int output, float *out);

/* m->forward(ctx), the rows its table lookups will read first asked for all at
 * once when there are at most RT_PREFETCH_ROWS of them (a request of a few rows):
 * each is likely a miss to memory, and the gather kernels, one table after the
 * other, would otherwise wait for them nearly in turn. */
#define RT_PREFETCH_ROWS 256
void rt_forward_scoring(const DmcModel *m, const DmcCtx *ctx);

#endif
