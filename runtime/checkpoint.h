/* checkpoint.h -- safetensors checkpoints: writer and verifying reader.
 *
 * File layout (https://github.com/huggingface/safetensors): an 8-byte
 * little-endian header length N, N bytes of JSON header padded with spaces
 * to a multiple of 8, then the data section of raw little-endian tensors.
 * The header maps each tensor name to {"dtype","shape","data_offsets":[a,b]}
 * (offsets into the data section) and "__metadata__" to string key/values.
 * numpy/PyTorch's safetensors package can read what this writes.
 *
 * The writer stores F32 tensors only and adds three metadata keys itself:
 * "dmc.format" (RT_CKPT_FORMAT, raised whenever what dmc writes changes
 * meaning), "dmc.data_checksums" ("xxh3:" and one 16-hex-digit XXH3-64 per
 * tensor, in data order, comma-separated) and "dmc.checksum" ("xxh3:" and
 * 16 hex digits of XXH3-64 over the 8 length bytes and the whole padded
 * header, with these 16 digits read as zeros). So every byte of the file is
 * covered: the header by dmc.checksum, each tensor by its entry in the list
 * the header holds, and no data byte lies outside a tensor. Binary metadata
 * (vocabularies, normalisation statistics) is stored base64-encoded.
 *
 * Crash safety: the file is written unnamed (O_TMPFILE; a named temporary
 * "PATH.tmp.*" where the file system has none), fsynced, given a temporary
 * name, renamed over path, and the directory is fsynced. A crash (kill -9,
 * power loss) leaves the old checkpoint or the new one, never half of one;
 * at most a complete temporary file whose name does not end like path.
 *
 * The reader loads the whole file and checks everything before use: header
 * length, JSON, the header checksum, the format version, dtypes, shapes
 * against byte sizes, offsets in range, neither overlapping nor leaving
 * bytes uncovered, and each tensor's checksum (checksums when present:
 * files from other tools have none). Every error names the file and what
 * differs (the header, a tensor, a key) and ends with a `HINT:` line.
 * Limits: reading F32 only; the file must fit in memory; a little-endian
 * host.
 */
#ifndef RT_CHECKPOINT_H
#define RT_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "rterr.h"

#define RT_CKPT_FORMAT "2" /* 2: checksums cover the header; 1: the data only */
#define RT_CKPT_MAXDIM 8

typedef struct RtCkptWriter RtCkptWriter;
typedef struct RtCkpt RtCkpt;

RtCkptWriter *rt_ckpt_writer_new(void);
/* Adds an F32 tensor; data (shape[0]*...*shape[ndim-1] floats) is not
 * copied and must stay valid until rt_ckpt_write. */
int rt_ckpt_add(RtCkptWriter *w, const char *name, const float *data, int ndim,
                const int64_t *shape, RtError *err);
int rt_ckpt_set_meta(RtCkptWriter *w, const char *key, const char *value, RtError *err);
/* Stores n bytes under key, base64-encoded. */
int rt_ckpt_set_blob(RtCkptWriter *w, const char *key, const void *data, size_t n,
                     RtError *err);
/* Writes the file atomically: 0, or -1 and *err. */
int rt_ckpt_write(RtCkptWriter *w, const char *path, RtError *err);
void rt_ckpt_writer_free(RtCkptWriter *w);

/* Loads and verifies a checkpoint, or NULL and *err. */
RtCkpt *rt_ckpt_open(const char *path, RtError *err);
/* A metadata value, or NULL if the key is absent. */
const char *rt_ckpt_meta(const RtCkpt *c, const char *key);
/* 0 if metadata key equals want; else -1 and *err naming both values. */
int rt_ckpt_expect_meta(const RtCkpt *c, const char *key, const char *want, RtError *err);
/* The decoded bytes of a blob (malloc'd, caller frees; *n its length), or NULL and *err. */
uint8_t *rt_ckpt_blob(const RtCkpt *c, const char *key, size_t *n, RtError *err);
/* Copies tensor name into dst after checking it is F32 of exactly this shape. */
int rt_ckpt_read(const RtCkpt *c, const char *name, float *dst, int ndim,
                 const int64_t *shape, RtError *err);
void rt_ckpt_close(RtCkpt *c);

#endif
