// dmc_abi.h: the contract between a compiled model and the generic runtime.
//
// The compiler emits one `const DmcModel dmc_model` describing the model (its
// features and their column bindings, inputs, parameters, outputs, losses, the
// training configuration) and two entry points, forward and backward. The runtime
// (train/eval/predict/info/synth, data pipeline, optimizers, checkpoints) knows
// nothing about any model beyond this descriptor.
//
// Dimension legend: B rows in the batch (<= max_batch), E = per-example elements.
// Every buffer is row-major with the batch dimension first.
#ifndef DMC_ABI_H
#define DMC_ABI_H

#include <stddef.h>
#include <stdint.h>

#define DMC_ABI_VERSION 7   // 7: a pooled lookup may sum along each row (DmcKernel.axis 1);
                            // 6: a pooled lookup's GATHER step says so (val 1: kernels.h) and may
                            // weight its rows; 5: a scoring call may pass a fused kernel NULL
                            // stores (loss_last.c); 4: factored sparse gradients
                            // (DmcSparseGrad.vec_*); 3: forward with loss NULL scores only

typedef enum {
  DMC_FEAT_ID,        // ids through a vocabulary learned on the training pass
  DMC_FEAT_HASH,      // strings/ints hashed into buckets
  DMC_FEAT_FLOAT,     // numbers, optionally log1p'd and z-scored
  DMC_FEAT_WEIGHTED,  // id:value pairs: ids (vocabulary) and weights
  DMC_FEAT_CROSS,     // hash of the raw values of several single-valued features
  DMC_FEAT_NEGATIVE,  // ids sampled uniformly from 2..vocab-1 where the source is not padding
  DMC_FEAT_LABEL      // a float target
} DmcFeatureKind;

typedef struct {
  const char *name;
  DmcFeatureKind kind;
  int len;                     // list length; 0 for a single value
  int ncolumns;
  const char *const *columns;  // data columns read (one delimited column, or several)
  char sep;                    // delimiter inside one list column, 0 if several columns
  char kv;                     // weighted: separator between id and value (':')
  int64_t vocab;               // vocabulary size (id, weighted, negative) or buckets (hash, cross)
  int min_count;               // vocabulary: minimum count on the training pass
  int normalize, log1p, has_default;
  float default_value;
  int next_row;                // taken from the same user's next row (DescModel.next_by)
  int nsources;
  const int *sources;          // cross/negative: indices into DmcModel.features
  int vocab_of;                // ids: the feature whose vocabulary this one uses: itself, or the
                               // first of the features that look ids up in one shared table (their
                               // vocabulary is built over all their columns), or a negative's source
  int input;                   // index into DmcModel.inputs of its ids or values, -1 if unused
  int weights_input;           // weighted: index of its values input, -1 otherwise
  const char *value_column;    // weighted from IDCOL:VALCOL (group_by models): the value column,
                               // columns[0] the id column; each row of a group fills the next
                               // slot with one (id, value) pair. NULL otherwise
} DmcFeature;

typedef enum { DMC_I32, DMC_F32 } DmcDType;

typedef struct {
  const char *name;
  DmcDType dtype;
  int64_t size;                // per-example elements (E)
} DmcInput;

typedef struct {               // an optimizer or an initialiser, e.g. adam(lr=0.001)
  const char *name;            // NULL: not given (runtime default)
  int n;
  const char *const *keys;
  const double *values;
  const char *const *strings;  // checkpoint("file", "tensor") arguments, else NULL entries
} DmcRecord;

typedef struct {
  const char *name;
  int rank;
  int64_t shape[4];
  int64_t size;                // elements
  int64_t offset;              // in floats, within the one parameter block
  int is_table;                // embedding table: sparse row updates
  DmcRecord init;
  DmcRecord optimizer;         // per-parameter override, name NULL if none
  int lag_of;                  // a target copy: index of the parameter it copies, else -1
  int lag_every;               // copy every N training steps
  int is_stat;                 // running statistics (standardize): forward updates them while
                               // training; never given to an optimizer or to l2; saved
} DmcParam;

typedef struct {               // rows of a table touched by one lookup: the table's gradient
  int param;                   // the table (index into params)
  int ids_input;               // the ids that were looked up (index into inputs)
  int64_t ids_per_example;     // lookups per example
  int64_t dim;                 // row width
  int64_t grad_fixed, grad_per_row;   // where backward leaves d(loss)/d(row) [B, ids_per_example, dim]:
                                      // workspace + grad_fixed + grad_per_row * batch (see dmc_ws_at)
  int64_t vec_fixed, vec_per_row;     // 0, 0: as above. Else factored: row k of example b is
                                      // coef[b, k] * vec[b], coef [B, ids_per_example] where the
                                      // rows would be, vec [B, dim] at vec_fixed + vec_per_row * batch
} DmcSparseGrad;

typedef struct {
  const char *name;
  int64_t size;                // per-example elements
  int64_t fixed, per_row;      // [B, size] at workspace + fixed + per_row * batch (see dmc_ws_at)
} DmcOutput;

typedef struct {
  int batch;                   // rows in this batch, 1..max_batch
  int training;                // 1: dropout active, batch statistics used and the running ones moved;
                               // 2: the same but the running ones left alone (a data-parallel share, step.h)
  uint64_t seed;               // randomness of this step (dropout)
  const void *const *inputs;   // [ninputs] each [B, E]: int32_t ids or float values
  float *params;               // the parameter block (forward reads; running statistics may update)
  float *grads;                // dense gradients, same layout as params (backward writes each; tables untouched)
  float *workspace;            // workspace_floats(max_batch) floats
  float *loss;                 // [B] per-example sum of the losses (forward writes); NULL in
                               // inference: only the outputs are computed, not the losses nor
                               // what only they read (training needs it)
  uint64_t params_version;     // a number that names this state of the parameter block
                               // (runtime/infer.h: rt_infer_version); 0: unknown. With the same
                               // block and number as the workspace's last inference forward, the
                               // values of the parameters alone are not computed again
} DmcCtx;

typedef struct {
  int abi_version;
  const char *name;
  uint64_t signature;          // hash of the model's structure: a checkpoint must match it
  char delimiter;              // ',' or '\t'
  const char *next_by, *next_order;
  int nfeatures;
  const DmcFeature *features;
  int ninputs;
  const DmcInput *inputs;
  int nparams;
  const DmcParam *params;
  int64_t params_size;         // floats in the parameter block
  int noutputs;
  const DmcOutput *outputs;
  int nsparse;
  const DmcSparseGrad *sparse;
  DmcRecord optimizer, sparse_optimizer;
  int batch, epochs, seed;
  double l2;
  int64_t (*workspace_floats)(int max_batch);
  void (*forward)(const DmcCtx *ctx);
  void (*backward)(const DmcCtx *ctx);   // after forward on the same ctx: d(mean loss)/d(params)
  // retrieval (sampled_softmax models): the output holding the user vector, the table
  // whose rows are the items, the feature naming the true item; -1 when the model has none
  int retrieve_output, retrieve_table, retrieve_target;
  // group_by models (I-AutoRec): the rows sharing this column form one example (NULL: one
  // row, one example). heldout_output is the output that predicts a value for every id of
  // heldout_feature (a value_column feature; masked_mse's prediction): held-out (key, id,
  // value) rows are scored on it from the key's input group. -1 when the model has none
  const char *group_by;
  int heldout_output, heldout_feature;
} DmcModel;

extern const DmcModel dmc_model;

// Workspace buffers are laid out for the batch at hand: a buffer's place is
// fixed + per_row * batch floats from the start of the workspace.
static inline float *dmc_ws_at(const DmcCtx *ctx, int64_t fixed, int64_t per_row) {
  return ctx->workspace + fixed + per_row * ctx->batch;
}

// Row k (of batch * ids_per_example) of lookup s's gradient after backward: in the
// workspace, or for a factored one its product, written to tmp[dim].
static inline const float *dmc_sparse_row(const DmcCtx *ctx, const DmcSparseGrad *s, int64_t k, float *tmp) {
  const float *g = dmc_ws_at(ctx, s->grad_fixed, s->grad_per_row);
  if (!s->vec_per_row) return g + k * s->dim;
  const float *v = dmc_ws_at(ctx, s->vec_fixed, s->vec_per_row) + k / s->ids_per_example * s->dim;
  for (int64_t d = 0; d < s->dim; d++) tmp[d] = g[k] * v[d];
  return tmp;
}

#endif
