/* groups.h -- the input groups of a group_by model, as checkpoint data.
 *
 * A group_by model (I-AutoRec) scores held-out rows from input groups
 * (heldout.h): an item's known ratings. The groups of its training rows
 * travel in its checkpoint, as its vocabularies do, so `eval` and `predict`
 * score held-out rows without the training file (`--input FILE` gives
 * other groups instead).
 *
 * Blob "dmc.groups", little-endian: "DMCG", u32 version 1, u32 nfeatures,
 * u64 n; i64 key[n]; i32 gathered[n]; then for each feature whose encoded
 * values the data holds, in feature order: u32 index, u32 what (1 ids,
 * 2 values, 3 both); a pair source (IDCOL:VALCOL) stores for each group
 * its gathered slots (i32 ids, then f32 values), any other feature its
 * [n, width] i32 ids and/or f32 values. Loading checks every size, the
 * features against the model's, and every id against its feature's
 * vocabulary or buckets, so a damaged blob is an error, never an index out
 * of a table.
 *
 * Limit: blobs travel base64-encoded in the checkpoint's header, which
 * safetensors caps at 100 MB: groups of more than RT_GROUPS_MAX_BYTES are
 * not saved (rt_groups_save says so on stderr) and then eval and predict
 * need --input.
 */
#ifndef RT_GROUPS_H
#define RT_GROUPS_H

#include "checkpoint.h"
#include "dataset.h"

#define RT_GROUPS_KEY "dmc.groups"
#define RT_GROUPS_MAX_BYTES (64u << 20)

/* Adds d's groups to the checkpoint being written (or, when too large, says
 * so on stderr and adds nothing): 0, or -1 and *err. */
int rt_groups_save(const RtEncoder *e, const RtData *d, RtCkptWriter *w, RtError *err);
/* The groups a checkpoint holds, for encoder e (frozen, of the same model);
 * NULL and *err when absent or damaged. */
RtData *rt_groups_load(const RtEncoder *e, const RtCkpt *c, RtError *err);

#endif
