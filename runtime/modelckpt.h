/* modelckpt.h -- a trained model as a safetensors checkpoint.
 *
 * Saved: every parameter as an F32 tensor named DmcParam.name with its
 * shape (lagged copies included); metadata dmc.model (name), dmc.signature
 * (16 hex digits), dmc.abi, dmc.epoch, dmc.metric and dmc.metric_value
 * (the validation result that chose this epoch, if any; also dmc.valid_auc
 * when that is an AUC), and the encoder's
 * vocabularies, statistics and hash seed (encoder.h); for a group_by
 * model the input groups given in RtCkptInfo.inputs (groups.h: its
 * training rows, from which eval and predict score held-out rows).
 * Optimizer state is not saved: a reloaded model evaluates and predicts,
 * it does not resume.
 *
 * Loading verifies the file (checkpoint.h), then that it was written for
 * this model: on a different name or signature the error lists the first
 * parameters whose shapes differ or that are missing, and gives a HINT.
 */
#ifndef RT_MODELCKPT_H
#define RT_MODELCKPT_H

#include "dmc_abi.h"
#include "encoder.h"
#include "rterr.h"

typedef struct RtCkptInfo {
  int epoch;              /* -1 if unknown */
  char metric[32];        /* "auc", "loss", "recall@K" (retrieval models) or "" */
  double metric_value;
  const struct RtData *inputs; /* saving a group_by model: its input groups, or NULL */
} RtCkptInfo;

int rt_model_save(const DmcModel *m, const float *w, const RtEncoder *e, const RtCkptInfo *info,
                  const char *path, RtError *err);
/* Fills w and the encoder from path; info may be NULL. */
int rt_model_load(const DmcModel *m, float *w, RtEncoder *e, RtCkptInfo *info, const char *path,
                  RtError *err);
/* The input groups a group_by model's checkpoint holds (after rt_model_load
 * filled e), or NULL and *err. */
struct RtData *rt_model_load_inputs(const RtEncoder *e, const char *path, RtError *err);

#endif
