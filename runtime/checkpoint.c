/* checkpoint.c -- safetensors writer and verifying reader (see checkpoint.h).
 *
 * The writer builds the JSON header with jansson as tensors are added (the
 * "__metadata__" object first; jansson keeps insertion order), remembers the
 * data pointers, and on rt_ckpt_write hashes each tensor, completes the
 * metadata, hashes the header text and patches the digits in, and streams
 * header and data to a temporary file. The reader
 * keeps the parsed header (tensor names and metadata values point into it)
 * and the file bytes until rt_ckpt_close.
 */
#define _GNU_SOURCE /* O_TMPFILE, linkat; fsync, mkstemp, fchmod */
#include "checkpoint.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "checkpoint.c stores host floats as little-endian: add byte swaps first"
#endif

#define MAX_HEADER (100u << 20) /* the safetensors package's own limit */
/* where the header checksum's 16 digits start, and what they are read as when hashing */
#define SUM_KEY "\"dmc.checksum\":\"xxh3:"
#define SUM_ZERO "0000000000000000"
#define HINT_DAMAGED "HINT: the file is damaged or is not a checkpoint; restore " \
  "it from a copy, or train again to write a new one"
#define HINT_OTHER "HINT: this checkpoint was written for another model (or " \
  "another version of this .model); train again, or use the program that wrote it"

/* ---- shared helpers ---- */

static const char B64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const uint8_t *p, size_t n) {
  char *s = malloc(4 * ((n + 2) / 3) + 1);
  if (!s) return NULL;
  size_t i = 0, j = 0;
  for (; i + 2 < n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    s[j++] = B64[v >> 18];
    s[j++] = B64[v >> 12 & 63];
    s[j++] = B64[v >> 6 & 63];
    s[j++] = B64[v & 63];
  }
  if (i < n) {
    uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
    s[j++] = B64[v >> 18];
    s[j++] = B64[v >> 12 & 63];
    s[j++] = i + 1 < n ? B64[v >> 6 & 63] : '=';
    s[j++] = '=';
  }
  s[j] = '\0';
  return s;
}

static int b64_digit(int ch) {
  const char *q = ch ? strchr(B64, ch) : NULL;
  return q ? (int)(q - B64) : -1;
}

/* Decoded bytes (malloc'd) or NULL if s is not padded base64. */
static uint8_t *b64_decode(const char *s, size_t *n) {
  size_t len = strlen(s);
  if (len % 4) return NULL;
  size_t pad = len && s[len - 1] == '=' ? 1 + (s[len - 2] == '=') : 0;
  size_t out = len / 4 * 3 - pad, j = 0;
  uint8_t *p = malloc(out ? out : 1);
  if (!p) return NULL;
  for (size_t i = 0; i < len; i += 4) {
    uint32_t v = 0;
    for (size_t k = 0; k < 4; k++) {
      int d = i + 4 == len && k >= 4 - pad ? 0 : b64_digit(s[i + k]);
      if (d < 0) {
        free(p);
        return NULL;
      }
      v = v << 6 | (uint32_t)d;
    }
    for (int k = 0; k < 3 && j < out; k++) p[j++] = (uint8_t)(v >> (16 - 8 * k));
  }
  *n = out;
  return p;
}

/* Number of elements, or -1 for a negative or overflowing shape. */
static int numel(int ndim, const int64_t *shape, uint64_t *out) {
  uint64_t n = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0) return -1;
    if (shape[i] && n > (UINT64_MAX >> 4) / (uint64_t)shape[i]) return -1;
    n *= (uint64_t)shape[i];
  }
  *out = n;
  return 0;
}

/* "[10,5]" into buf. */
static const char *shape_str(char *buf, size_t cap, int ndim, const int64_t *shape) {
  size_t k = (size_t)snprintf(buf, cap, "[");
  for (int i = 0; i < ndim && k < cap; i++)
    k += (size_t)snprintf(buf + k, cap - k, "%s%" PRId64, i ? "," : "", shape[i]);
  if (k < cap) snprintf(buf + k, cap - k, "]");
  return buf;
}

/* ---- writer ---- */

typedef struct Piece {
  const float *data;
  size_t bytes;
} Piece;

struct RtCkptWriter {
  json_t *hdr;   /* the header object */
  json_t *meta;  /* hdr["__metadata__"] */
  Piece *piece;  /* data, in data_offsets order */
  int n, cap;
  uint64_t size; /* bytes of data so far */
};

RtCkptWriter *rt_ckpt_writer_new(void) {
  RtCkptWriter *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->hdr = json_object();
  w->meta = json_object();
  if (!w->hdr || !w->meta || json_object_set(w->hdr, "__metadata__", w->meta)) {
    rt_ckpt_writer_free(w);
    return NULL;
  }
  return w;
}

int rt_ckpt_add(RtCkptWriter *w, const char *name, const float *data, int ndim,
                const int64_t *shape, RtError *err) {
  uint64_t n;
  if (!strcmp(name, "__metadata__") || json_object_get(w->hdr, name))
    return rt_error(err, "checkpoint: tensor name '%s' is reserved or used twice", name);
  if (ndim < 0 || ndim > RT_CKPT_MAXDIM || numel(ndim, shape, &n))
    return rt_error(err, "checkpoint: tensor '%s' has a bad shape", name);
  assert(data || n == 0);
  if (w->n == w->cap) {
    int cap = w->cap ? 2 * w->cap : 16;
    Piece *p = realloc(w->piece, (size_t)cap * sizeof *p);
    if (!p) return rt_error(err, "checkpoint: out of memory");
    w->piece = p;
    w->cap = cap;
  }
  json_t *sh = json_array();
  for (int i = 0; sh && i < ndim; i++) json_array_append_new(sh, json_integer(shape[i]));
  json_t *t = json_pack("{s:s, s:o, s:[I,I]}", "dtype", "F32", "shape", sh,
                        "data_offsets", (json_int_t)w->size,
                        (json_int_t)(w->size + 4 * n));
  if (!t || json_object_set_new(w->hdr, name, t))
    return rt_error(err, "checkpoint: cannot add tensor '%s' (not UTF-8, or out of memory)",
                    name);
  Piece p = {data, (size_t)(4 * n)};
  w->piece[w->n++] = p;
  w->size += 4 * n;
  return 0;
}

int rt_ckpt_set_meta(RtCkptWriter *w, const char *key, const char *value, RtError *err) {
  if (!strcmp(key, "dmc.format") || !strcmp(key, "dmc.checksum") ||
      !strcmp(key, "dmc.data_checksums"))
    return rt_error(err, "checkpoint: metadata '%s' is set by the writer itself", key);
  if (json_object_set_new(w->meta, key, json_string(value)))
    return rt_error(err, "checkpoint: cannot set metadata '%s' (not UTF-8, or out of memory)",
                    key);
  return 0;
}

int rt_ckpt_set_blob(RtCkptWriter *w, const char *key, const void *data, size_t n,
                     RtError *err) {
  char *s = b64_encode(data, n);
  if (!s) return rt_error(err, "checkpoint: out of memory");
  int r = rt_ckpt_set_meta(w, key, s, err);
  free(s);
  return r;
}

static int write_all(int fd, const void *p, size_t n) {
  const char *q = p;
  while (n) {
    ssize_t k = write(fd, q, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) {
      if (k == 0) errno = EIO;
      return -1;
    }
    q += k;
    n -= (size_t)k;
  }
  return 0;
}

/* Flushes the directory holding path, so the rename itself is durable: 0 or -1 (errno). */
static int sync_dir(const char *path) {
  const char *slash = strrchr(path, '/');
  char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
  int fd = dir ? open(dir, O_RDONLY | O_DIRECTORY) : -1, r = fd < 0 ? -1 : fsync(fd);
  if (fd >= 0) close(fd);
  free(dir);
  return r;
}

/* "xxh3:" and one 16-digit XXH3-64 per tensor, in data order (malloc'd). */
static char *tensor_sums(const RtCkptWriter *w) {
  char *s = malloc(6 + 17 * (size_t)w->n), *p = s;
  if (!s) return NULL;
  p += sprintf(p, "xxh3:");
  for (int i = 0; i < w->n; i++)
    p += sprintf(p, "%s%016" PRIx64, i ? "," : "",
                 (uint64_t)XXH3_64bits(w->piece[i].bytes ? w->piece[i].data : NULL,
                                       w->piece[i].bytes));
  return s;
}

/* The header's checksum: XXH3-64 of the 8 length bytes and the padded header text with the
 * 16 digits of its own value (at sum, inside hdr) read as zeros. */
static uint64_t header_sum(const uint8_t head[8], const char *hdr, size_t len, size_t padded,
                           const char *sum) {
  static const char spaces[8] = "        ";
  XXH3_state_t st;
  XXH3_64bits_reset(&st);
  XXH3_64bits_update(&st, head, 8);
  XXH3_64bits_update(&st, hdr, (size_t)(sum - hdr));
  XXH3_64bits_update(&st, SUM_ZERO, 16);
  XXH3_64bits_update(&st, sum + 16, len - (size_t)(sum + 16 - hdr));
  XXH3_64bits_update(&st, spaces, padded - len);
  return (uint64_t)XXH3_64bits_digest(&st);
}

/* Opens a file for the new checkpoint beside path: unnamed (O_TMPFILE) where the file
 * system allows, so a crash while writing leaves nothing behind; else a named temporary
 * file "path.tmp.XXXXXX" (into *tmp). */
static int open_temp(const char *path, char *tmp, int *named) {
  *named = 0;
#ifdef O_TMPFILE
  if (access("/proc/self/fd", F_OK)) goto fallback; /* name_temp links through /proc */
  const char *slash = strrchr(path, '/');
  char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
  int fd = dir ? open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644) : -1;
  free(dir);
  if (fd >= 0) return fd;
  if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) return -1;
fallback:
#endif
  *named = 1;
  return mkstemp(tmp);
}

/* Gives the written unnamed file fd a new name "path.tmp.PID.N" (into tmp), to be renamed
 * over the checkpoint: 0, or -1 and errno. */
static int name_temp(int fd, const char *path, char *tmp, size_t cap) {
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  for (int n = 0; n < 1000; n++) {
    snprintf(tmp, cap, "%s.tmp.%ld.%d", path, (long)getpid(), n);
    if (!linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW)) return 0;
    if (errno != EEXIST) return -1;
  }
  return -1;
}

int rt_ckpt_write(RtCkptWriter *w, const char *path, RtError *err) {
  char *sums = tensor_sums(w);
  int ok = sums != NULL;
  json_object_set_new(w->meta, "dmc.format", json_string(RT_CKPT_FORMAT));
  json_object_set_new(w->meta, "dmc.data_checksums", json_string(ok ? sums : ""));
  json_object_set_new(w->meta, "dmc.checksum", json_string("xxh3:" SUM_ZERO));
  free(sums);
  char *js = json_dumps(w->hdr, JSON_COMPACT);
  size_t tmplen = strlen(path) + 48;
  char *tmp = malloc(tmplen), *sum = js ? strstr(js, SUM_KEY) : NULL;
  if (!ok || !js || !tmp || !sum) {
    free(js);
    free(tmp);
    return rt_error(err, "%s: out of memory", path);
  }
  sum += strlen(SUM_KEY);
  snprintf(tmp, tmplen, "%s.tmp.XXXXXX", path);
  size_t len = strlen(js), padded = (len + 7) & ~(size_t)7;
  uint8_t head[8];
  for (int i = 0; i < 8; i++) head[i] = (uint8_t)((uint64_t)padded >> (8 * i));
  char digits[17];
  snprintf(digits, sizeof digits, "%016" PRIx64, header_sum(head, js, len, padded, sum));
  memcpy(sum, digits, 16);

  /* write and flush the file, give it its name (rename is atomic), flush the directory */
  int named, fd = open_temp(path, tmp, &named), e = fd < 0 ? errno : 0;
  if (!e && (fchmod(fd, 0644) || write_all(fd, head, 8) || write_all(fd, js, len) ||
             write_all(fd, "        ", padded - len)))
    e = errno;
  for (int i = 0; !e && i < w->n; i++)
    if (w->piece[i].bytes && write_all(fd, w->piece[i].data, w->piece[i].bytes)) e = errno;
  if (!e && fsync(fd)) e = errno;
  if (!e && !named) {
    if (name_temp(fd, path, tmp, tmplen)) e = errno;
    else named = 1;
  }
  if (fd >= 0 && close(fd) && !e) e = errno;
  if (!e && rename(tmp, path)) e = errno;
  if (!e && sync_dir(path)) e = errno;
  int r = 0;
  if (e) {
    r = rt_error(err, "%s: cannot write the checkpoint: %s", path, strerror(e));
    if (fd >= 0 && named) unlink(tmp);
  }
  free(js);
  free(tmp);
  return r;
}

void rt_ckpt_writer_free(RtCkptWriter *w) {
  if (!w) return;
  json_decref(w->meta);
  json_decref(w->hdr);
  free(w->piece);
  free(w);
}

/* ---- reader ---- */

typedef struct Tensor {
  const char *name, *dtype; /* point into the parsed header */
  int ndim;
  int64_t shape[RT_CKPT_MAXDIM];
  uint64_t begin, end;      /* data_offsets */
} Tensor;

struct RtCkpt {
  char *path;
  uint8_t *buf;        /* the whole file */
  size_t size;
  const uint8_t *data; /* data section: buf + 8 + header length */
  size_t datalen;
  json_t *hdr;
  json_t *meta;        /* hdr["__metadata__"], or NULL */
  Tensor *t;           /* sorted by begin */
  size_t nt;
};

static int dtype_size(const char *d) {
  static const struct { const char *name; int size; } tab[] = {
      {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"F8_E4M3", 1}, {"F8_E5M2", 1},
      {"I64", 8}, {"I32", 4}, {"I16", 2}, {"I8", 1},   {"U64", 8},     {"U32", 4},
      {"U16", 2}, {"U8", 1},  {"BOOL", 1}};
  for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
    if (!strcmp(d, tab[i].name)) return tab[i].size;
  return 0;
}

static int read_file(RtCkpt *c, RtError *err) {
  int fd = open(c->path, O_RDONLY);
  struct stat sb;
  if (fd < 0 || fstat(fd, &sb)) {
    int e = errno;
    if (fd >= 0) close(fd);
    return rt_error(err, "%s: cannot open: %s\nHINT: train first, or give the "
                    "checkpoint's path", c->path, strerror(e));
  }
  c->size = (size_t)sb.st_size;
  c->buf = malloc(c->size ? c->size : 1);
  size_t got = 0;
  while (c->buf && got < c->size) {
    ssize_t k = read(fd, c->buf + got, c->size - got);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    got += (size_t)k;
  }
  int e = errno;
  close(fd);
  if (!c->buf) return rt_error(err, "%s: out of memory (%zu bytes)", c->path, c->size);
  if (got < c->size) return rt_error(err, "%s: read error: %s", c->path, strerror(e));
  return 0;
}

static int parse_tensor(RtCkpt *c, const char *name, json_t *v, Tensor *t, RtError *err) {
  json_t *dt = json_object_get(v, "dtype"), *sh = json_object_get(v, "shape");
  json_t *off = json_object_get(v, "data_offsets");
  t->name = name;
  if (!json_is_string(dt) || !dtype_size(json_string_value(dt)))
    return rt_error(err, "%s: tensor '%s' has no dtype or an unknown one\n" HINT_DAMAGED,
                    c->path, name);
  t->dtype = json_string_value(dt);
  if (!json_is_array(sh) || json_array_size(sh) > RT_CKPT_MAXDIM)
    return rt_error(err, "%s: tensor '%s': shape is not a list of at most %d sizes\n"
                    HINT_DAMAGED, c->path, name, RT_CKPT_MAXDIM);
  t->ndim = (int)json_array_size(sh);
  for (int i = 0; i < t->ndim; i++) {
    json_t *d = json_array_get(sh, (size_t)i);
    t->shape[i] = json_is_integer(d) ? json_integer_value(d) : -1;
  }
  uint64_t n;
  if (numel(t->ndim, t->shape, &n))
    return rt_error(err, "%s: tensor '%s': shape is not a list of sizes >= 0\n"
                    HINT_DAMAGED, c->path, name);
  json_t *a = json_array_get(off, 0), *b = json_array_get(off, 1);
  if (json_array_size(off) != 2 || !json_is_integer(a) || !json_is_integer(b) ||
      json_integer_value(a) < 0 || json_integer_value(b) < json_integer_value(a))
    return rt_error(err, "%s: tensor '%s': data_offsets is not [begin, end]\n"
                    HINT_DAMAGED, c->path, name);
  t->begin = (uint64_t)json_integer_value(a);
  t->end = (uint64_t)json_integer_value(b);
  if (t->end > c->datalen)
    return rt_error(err, "%s: tensor '%s': data_offsets [%" PRIu64 ",%" PRIu64 "] go past "
                    "the end of the data (%zu bytes): the file is truncated\n" HINT_DAMAGED,
                    c->path, name, t->begin, t->end, c->datalen);
  uint64_t want = n * (uint64_t)dtype_size(t->dtype);
  if (t->end - t->begin != want) {
    char s[128];
    return rt_error(err, "%s: tensor '%s' holds %" PRIu64 " bytes but %s %s needs %"
                    PRIu64 "\n" HINT_DAMAGED, c->path, name, t->end - t->begin, t->dtype,
                    shape_str(s, sizeof s, t->ndim, t->shape), want);
  }
  return 0;
}

static int by_begin(const void *x, const void *y) {
  const Tensor *a = x, *b = y;
  if (a->begin != b->begin) return a->begin < b->begin ? -1 : 1;
  return (a->end > b->end) - (a->end < b->end);
}

static int parse_header(RtCkpt *c, RtError *err) {
  if (c->size < 8)
    return rt_error(err, "%s: the file is %zu bytes, too short for a checkpoint\n"
                    HINT_DAMAGED, c->path, c->size);
  uint64_t hlen = 0;
  for (int i = 0; i < 8; i++) hlen |= (uint64_t)c->buf[i] << (8 * i);
  if (hlen > c->size - 8)
    return rt_error(err, "%s: the header length (%" PRIu64 " bytes) runs past the end "
                    "of the file (%zu bytes): the file is truncated or not safetensors\n"
                    HINT_DAMAGED, c->path, hlen, c->size);
  if (hlen > MAX_HEADER)
    return rt_error(err, "%s: the header length (%" PRIu64 " bytes) is over the limit of "
                    "%u\n" HINT_DAMAGED, c->path, hlen, MAX_HEADER);
  c->data = c->buf + 8 + hlen;
  c->datalen = c->size - 8 - (size_t)hlen;
  json_error_t je;
  c->hdr = json_loadb((const char *)c->buf + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &je);
  if (!c->hdr)
    return rt_error(err, "%s: the header is not valid JSON: %s (header byte %d)\n"
                    HINT_DAMAGED, c->path, je.text, je.position);
  if (!json_is_object(c->hdr))
    return rt_error(err, "%s: the header is not a JSON object\n" HINT_DAMAGED, c->path);
  json_t *meta = json_object_get(c->hdr, "__metadata__");
  if (meta) {
    const char *k;
    json_t *s;
    if (!json_is_object(meta))
      return rt_error(err, "%s: __metadata__ is not an object\n" HINT_DAMAGED, c->path);
    json_object_foreach(meta, k, s) {
      if (!json_is_string(s))
        return rt_error(err, "%s: metadata '%s' is not a string\n" HINT_DAMAGED, c->path, k);
    }
    c->meta = meta;
  }
  return 0;
}

/* Every tensor's entry, then that no two overlap. */
static int parse_tensors(RtCkpt *c, RtError *err) {
  if (!(c->t = calloc(json_object_size(c->hdr) + 1, sizeof *c->t)))
    return rt_error(err, "%s: out of memory", c->path);
  const char *key;
  json_t *v;
  json_object_foreach(c->hdr, key, v) {
    if (strcmp(key, "__metadata__") && parse_tensor(c, key, v, &c->t[c->nt++], err)) return -1;
  }
  qsort(c->t, c->nt, sizeof *c->t, by_begin);
  const Tensor *last = NULL; /* the tensor reaching furthest so far */
  for (size_t i = 0; i < c->nt; i++) {
    const Tensor *t = &c->t[i];
    if (last && t->begin < last->end && t->begin < t->end)
      return rt_error(err, "%s: tensors '%s' and '%s' overlap in the data section\n"
                      HINT_DAMAGED, c->path, last->name, t->name);
    if (!last || t->end > last->end) last = t;
  }
  return 0;
}

/* Data bytes belonging to no tensor (the safetensors layout has none): an error. */
static int check_coverage(RtCkpt *c, RtError *err) {
  uint64_t reach = 0; /* c->t is sorted by begin and does not overlap */
  for (size_t i = 0; i < c->nt; i++) {
    if (c->t[i].begin > reach)
      return rt_error(err, "%s: bytes %" PRIu64 "..%" PRIu64 " of the data section belong to "
                      "no tensor\n" HINT_DAMAGED, c->path, reach, c->t[i].begin);
    if (c->t[i].end > reach) reach = c->t[i].end;
  }
  if (reach < c->datalen)
    return rt_error(err, "%s: the data section has %" PRIu64 " bytes after the last tensor: "
                    "the file was extended or damaged\n" HINT_DAMAGED, c->path,
                    (uint64_t)c->datalen - reach);
  return 0;
}

/* 1 if the header's dmc.checksum (value sum) matches its bytes, 0 if not, -1 and *err if
 * its digits cannot be found exactly once in the header text. *got: the hash. */
static int header_ok(const RtCkpt *c, const char *sum, uint64_t *got, RtError *err) {
  const char *hdr = (const char *)c->buf + 8, *end = (const char *)c->data, *at = NULL;
  size_t klen = strlen(SUM_KEY);
  int n = 0;
  for (const char *p = hdr; (p = memmem(p, (size_t)(end - p), SUM_KEY, klen)); p += klen, n++)
    at = p + klen;
  size_t len = (size_t)(end - hdr);
  if (n != 1 || strlen(sum) != 21 || strncmp(sum, "xxh3:", 5) || (size_t)(end - at) < 17 ||
      at[16] != '"')
    return rt_error(err, "%s: the header checksum is not \"xxh3:\" and 16 hex digits, once in "
                    "the header\n" HINT_DAMAGED, c->path);
  *got = header_sum(c->buf, hdr, len, len, at);
  char want[17];
  snprintf(want, sizeof want, "%016" PRIx64, *got);
  return !strcmp(want, sum + 5);
}

/* The header's checksum, then the format version. */
static int check_header(RtCkpt *c, RtError *err) {
  const char *fmt = rt_ckpt_meta(c, "dmc.format"), *sum = rt_ckpt_meta(c, "dmc.checksum");
  uint64_t got = 0;
  if (!sum && rt_ckpt_meta(c, "dmc.data_checksums"))
    return rt_error(err, "%s: metadata 'dmc.checksum' is missing (the header has "
                    "dmc.data_checksums)\n" HINT_DAMAGED, c->path);
  int ok = sum ? header_ok(c, sum, &got, err) : 1;
  if (ok < 0) return -1;
  if (fmt && strcmp(fmt, RT_CKPT_FORMAT))
    return rt_error(err, "%s: checkpoint format %s, this program reads format %s%s\n"
                    "HINT: it was written by another version of dmc; train again with "
                    "this program", c->path, fmt, RT_CKPT_FORMAT,
                    sum && !ok ? " (or the header is damaged)" : "");
  if (!ok)
    return rt_error(err, "%s: the header is damaged: it hashes to xxh3:%016" PRIx64 ", its "
                    "checksum says %s (tensor names, shapes, offsets or metadata differ from "
                    "what was written)\n" HINT_DAMAGED, c->path, got, sum);
  return 0;
}

/* Each tensor's bytes against dmc.data_checksums (the header checksum covers that list). */
static int check_data(RtCkpt *c, RtError *err) {
  const char *sums = rt_ckpt_meta(c, "dmc.data_checksums");
  if (!sums) {
    if (!rt_ckpt_meta(c, "dmc.checksum")) return 0; /* files of other tools have none */
    return rt_error(err, "%s: metadata 'dmc.data_checksums' is missing\n" HINT_DAMAGED, c->path);
  }
  size_t len = strlen(sums);
  if (strncmp(sums, "xxh3:", 5) || len != 5 + (c->nt ? 17 * c->nt - 1 : 0))
    return rt_error(err, "%s: metadata 'dmc.data_checksums' does not hold one \"xxh3\" checksum "
                    "for each of the %zu tensors\n" HINT_DAMAGED, c->path, c->nt);
  for (size_t i = 0; i < c->nt; i++) {
    const Tensor *t = &c->t[i];
    const char *want = sums + 5 + 17 * i;
    char got[17];
    snprintf(got, sizeof got, "%016" PRIx64,
             (uint64_t)XXH3_64bits(t->end > t->begin ? c->data + t->begin : NULL,
                                   (size_t)(t->end - t->begin)));
    if (strncmp(got, want, 16))
      return rt_error(err, "%s: tensor '%s' is damaged: its data (bytes %" PRIu64 "..%" PRIu64
                      " of the data section) hashes to xxh3:%s, the header says xxh3:%.16s\n"
                      HINT_DAMAGED, c->path, t->name, t->begin, t->end, got, want);
  }
  return 0;
}

RtCkpt *rt_ckpt_open(const char *path, RtError *err) {
  RtCkpt *c = calloc(1, sizeof *c);
  if (!c || !(c->path = strdup(path))) {
    free(c);
    rt_error(err, "%s: out of memory", path);
    return NULL;
  }
  if (read_file(c, err) || parse_header(c, err) || check_header(c, err) ||
      parse_tensors(c, err) || check_coverage(c, err) || check_data(c, err)) {
    rt_ckpt_close(c);
    return NULL;
  }
  return c;
}

const char *rt_ckpt_meta(const RtCkpt *c, const char *key) {
  return c->meta ? json_string_value(json_object_get(c->meta, key)) : NULL;
}

int rt_ckpt_expect_meta(const RtCkpt *c, const char *key, const char *want, RtError *err) {
  const char *v = rt_ckpt_meta(c, key);
  if (!v)
    return rt_error(err, "%s: metadata '%s' is missing, this program expects '%s'\n"
                    HINT_OTHER, c->path, key, want);
  if (strcmp(v, want))
    return rt_error(err, "%s: metadata '%s' is '%s', this program expects '%s'\n"
                    HINT_OTHER, c->path, key, v, want);
  return 0;
}

uint8_t *rt_ckpt_blob(const RtCkpt *c, const char *key, size_t *n, RtError *err) {
  const char *v = rt_ckpt_meta(c, key);
  if (!v) {
    rt_error(err, "%s: metadata '%s' is missing\n" HINT_OTHER, c->path, key);
    return NULL;
  }
  uint8_t *p = b64_decode(v, n);
  if (!p) rt_error(err, "%s: metadata '%s' is not valid base64\n" HINT_DAMAGED, c->path, key);
  return p;
}

int rt_ckpt_read(const RtCkpt *c, const char *name, float *dst, int ndim,
                 const int64_t *shape, RtError *err) {
  const Tensor *t = NULL;
  for (size_t i = 0; i < c->nt && !t; i++)
    if (!strcmp(c->t[i].name, name)) t = &c->t[i];
  if (!t)
    return rt_error(err, "%s: no tensor '%s' in this checkpoint\n" HINT_OTHER, c->path, name);
  if (strcmp(t->dtype, "F32"))
    return rt_error(err, "%s: tensor '%s' has dtype %s, this program expects F32\n"
                    HINT_OTHER, c->path, name, t->dtype);
  if (t->ndim != ndim || (ndim && memcmp(t->shape, shape, (size_t)ndim * sizeof *shape))) {
    char have[128], want[128];
    return rt_error(err, "%s: tensor '%s' has shape %s, this program expects %s\n"
                    HINT_OTHER, c->path, name, shape_str(have, sizeof have, t->ndim, t->shape),
                    shape_str(want, sizeof want, ndim, shape));
  }
  if (t->end > t->begin) memcpy(dst, c->data + t->begin, (size_t)(t->end - t->begin));
  return 0;
}

void rt_ckpt_close(RtCkpt *c) {
  if (!c) return;
  json_decref(c->hdr);
  free(c->t);
  free(c->buf);
  free(c->path);
  free(c);
}
