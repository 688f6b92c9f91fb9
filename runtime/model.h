/* model.h -- reading the compiled model's descriptor (dmc_abi.h).
 *
 * Helpers every runtime module shares: the number of elements a feature
 * contributes per example, options of a DmcRecord looked up by key or by
 * position, printable names and shapes, and rt_model_check, which verifies
 * the descriptor's internal consistency once at start-up so the rest of
 * the runtime can index inputs, parameters and workspace without checks.
 * A descriptor that fails the check is a compiler bug, not a user error.
 */
#ifndef RT_MODEL_H
#define RT_MODEL_H

#include <stddef.h>

#include "dmc_abi.h"
#include "rterr.h"

const char *rt_kind_name(DmcFeatureKind k);
/* Elements per example of a feature's input: max(len, 1). */
int rt_feat_width(const DmcFeature *f);
/* A parameter an optimizer updates: not a lagged copy, not running statistics. */
int rt_param_trained(const DmcParam *p);
/* Whether the feature reads its own data columns (not cross or negative). */
int rt_feat_reads_columns(const DmcFeature *f);

/* A record's value for key, else its positional argument pos (an entry
 * without a key name), else def. pos -1: by key only. */
double rt_rec_num(const DmcRecord *r, const char *key, int pos, double def);
int rt_rec_has(const DmcRecord *r, const char *key, int pos);
/* A string argument (checkpoint("file", "tensor")), or NULL. */
const char *rt_rec_str(const DmcRecord *r, const char *key, int pos);
/* -1 and *err if the record has a key not in keys (NULL-terminated). */
int rt_rec_check_keys(const DmcRecord *r, const char *const *keys, const char *what,
                      RtError *err);
/* "adam(lr=0.001, beta1=0.9)" into buf; "-" for a record without a name. */
const char *rt_rec_format(const DmcRecord *r, char *buf, size_t cap);
/* "[1000, 16]" into buf. */
const char *rt_param_shape(const DmcParam *p, char *buf, size_t cap);

/* Whether the model retrieves (sampled_softmax: DmcModel.retrieve_*). */
int rt_model_retrieves(const DmcModel *m);
/* Whether the model scores held-out rows (group_by: DmcModel.heldout_*, heldout.h). */
int rt_model_heldout(const DmcModel *m);
/* The first DMC_FEAT_LABEL feature, or -1. */
int rt_model_label(const DmcModel *m);
/* Checks the descriptor: 0, or -1 and *err naming what is inconsistent. */
int rt_model_check(const DmcModel *m, RtError *err);

#endif
