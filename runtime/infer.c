/* infer.c -- see infer.h. */
#include "infer.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

uint64_t rt_infer_version(void) {
  static atomic_uint_fast64_t last;
  return (uint64_t)atomic_fetch_add(&last, 1) + 1;
}

/* The most rows a forward call takes. */
static int64_t call_rows(const DmcModel *m) {
  if (m->ninputs > RT_INFER_MAX_INPUTS) return INT32_MAX;
  int64_t per_row = 4 * (m->workspace_floats(2) - m->workspace_floats(1));
  int64_t rows = per_row > 0 ? RT_INFER_BYTES / per_row : INT32_MAX;
  return rows < RT_INFER_MIN_ROWS ? RT_INFER_MIN_ROWS : rows;
}

int rt_infer_rows(const DmcModel *m, int max_batch) {
  int64_t cap = call_rows(m);
  return max_batch < cap ? max_batch : (int)cap;
}

void rt_forward_scoring(const DmcModel *m, const DmcCtx *ctx) {
  int64_t rows = 0;
  for (int s = 0; s < m->nsparse; s++) rows += m->sparse[s].ids_per_example * ctx->batch;
  for (int s = 0; s < m->nsparse && rows <= RT_PREFETCH_ROWS; s++) {
    const DmcSparseGrad *sg = &m->sparse[s];
    const DmcParam *p = &m->params[sg->param];
    const int32_t *ids = ctx->inputs[sg->ids_input];
    for (int64_t i = 0; i < sg->ids_per_example * ctx->batch; i++)
      if (ids[i] >= 0 && ids[i] < p->shape[0]) __builtin_prefetch(ctx->params + p->offset + ids[i] * sg->dim);
  }
  m->forward(ctx);
}

void rt_infer(const DmcModel *m, const DmcCtx *ctx, int output, float *out) {
  int64_t cap = call_rows(m), calls = (ctx->batch + cap - 1) / cap;   /* calls of equal size, at most cap rows */
  const DmcOutput *o = out ? &m->outputs[output] : NULL;
  const void *in[RT_INFER_MAX_INPUTS];
  uint64_t version = ctx->params_version || calls == 1 ? ctx->params_version : rt_infer_version();
  for (int64_t c = 0; c < calls; c++) {
    int first = (int)(ctx->batch * c / calls), n = (int)(ctx->batch * (c + 1) / calls) - first;
    DmcCtx cc = *ctx;
    cc.params_version = version;
    if (calls > 1) {
      for (int i = 0; i < m->ninputs; i++)   /* every input is 4-byte elements, [B, size] */
        in[i] = (const char *)ctx->inputs[i] + (size_t)first * (size_t)m->inputs[i].size * 4;
      cc.batch = n, cc.inputs = in, cc.loss = ctx->loss ? ctx->loss + first : NULL;
      if (c) cc.seed = ctx->seed ^ (uint64_t)c * 0x9e3779b97f4a7c15ULL;
    }
    rt_forward_scoring(m, &cc);
    if (o)
      memcpy(out + (size_t)first * (size_t)o->size, dmc_ws_at(&cc, o->fixed, o->per_row),
             (size_t)n * (size_t)o->size * sizeof(float));
  }
}
