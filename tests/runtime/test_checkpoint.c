/* test_checkpoint.c -- safetensors round trip, the file layout, and each
 * damage the reader must catch with its message and HINT. */
#define _GNU_SOURCE /* memmem */
#include <CUnit/CUnit.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "test.h"

static float W[6] = {1, 2, 3, 4, 5, 6.5f};
static float B[4] = {-1, 0, 1e-30f, 3e30f};
static float S[1] = {42};
static const int64_t W_SHAPE[2] = {2, 3}, B_SHAPE[1] = {4}, E_SHAPE[2] = {0, 5};

/* A checkpoint with w [2,3], b [4], scalar s [], empty e [0,5] and metadata. */
static const char *write_sample(const char *name) {
  const char *path = tmp_path(name);
  RtError err = {""};
  RtCkptWriter *w = rt_ckpt_writer_new();
  CU_ASSERT_FATAL(w != NULL);
  CU_ASSERT(rt_ckpt_add(w, "w", W, 2, W_SHAPE, &err) == 0);
  CU_ASSERT(rt_ckpt_add(w, "b", B, 1, B_SHAPE, &err) == 0);
  CU_ASSERT(rt_ckpt_add(w, "s", S, 0, NULL, &err) == 0);
  CU_ASSERT(rt_ckpt_add(w, "e", NULL, 2, E_SHAPE, &err) == 0);
  CU_ASSERT(rt_ckpt_set_meta(w, "dmc.model", "din", &err) == 0);
  CU_ASSERT(rt_ckpt_set_meta(w, "dmc.signature", "abc123", &err) == 0);
  CU_ASSERT(rt_ckpt_set_blob(w, "blob0", "", 0, &err) == 0);
  CU_ASSERT(rt_ckpt_set_blob(w, "blob1", "\xff", 1, &err) == 0);
  CU_ASSERT(rt_ckpt_set_blob(w, "blob2", "\x00\x01", 2, &err) == 0);
  CU_ASSERT(rt_ckpt_set_blob(w, "blob5", "hello", 5, &err) == 0);
  CU_ASSERT(rt_ckpt_write(w, path, &err) == 0);
  CU_ASSERT_STRING_EQUAL(err.msg, "");
  rt_ckpt_writer_free(w);
  return path;
}

/* Opens path expecting failure; the message must start with path + ": " + want. */
static void expect_open_error(const char *path, const char *want) {
  RtError err = {""};
  char first[1200];
  RtCkpt *c = rt_ckpt_open(path, &err);
  CU_ASSERT_PTR_NULL(c);
  rt_ckpt_close(c);
  snprintf(first, sizeof first, "%s: %s", path, want);
  CU_ASSERT(starts_with(err.msg, first));
  CU_ASSERT(contains(err.msg, "\nHINT: "));
  if (!starts_with(err.msg, first)) fprintf(stderr, "\n  got: %s\n", err.msg);
}

static void test_round_trip(void) {
  const char *path = write_sample("rt.safetensors");
  RtError err;
  RtCkpt *c = rt_ckpt_open(path, &err);
  CU_ASSERT_FATAL(c != NULL);
  float w[6] = {0}, b[4] = {0}, s[1] = {0};
  CU_ASSERT(rt_ckpt_read(c, "w", w, 2, W_SHAPE, &err) == 0);
  CU_ASSERT(rt_ckpt_read(c, "b", b, 1, B_SHAPE, &err) == 0);
  CU_ASSERT(rt_ckpt_read(c, "s", s, 0, NULL, &err) == 0);
  CU_ASSERT(rt_ckpt_read(c, "e", NULL, 2, E_SHAPE, &err) == 0);
  CU_ASSERT(memcmp(w, W, sizeof W) == 0);
  CU_ASSERT(memcmp(b, B, sizeof B) == 0);
  CU_ASSERT_EQUAL(s[0], 42);
  CU_ASSERT_STRING_EQUAL(rt_ckpt_meta(c, "dmc.model"), "din");
  CU_ASSERT_STRING_EQUAL(rt_ckpt_meta(c, "dmc.format"), RT_CKPT_FORMAT);
  CU_ASSERT_STRING_EQUAL(rt_ckpt_meta(c, "blob5"), "aGVsbG8=");
  CU_ASSERT_PTR_NULL(rt_ckpt_meta(c, "absent"));
  CU_ASSERT(rt_ckpt_expect_meta(c, "dmc.signature", "abc123", &err) == 0);
  const char *blobs[] = {"blob0", "blob1", "blob2", "blob5"};
  const char *want[] = {"", "\xff", "\x00\x01", "hello"};
  size_t lens[] = {0, 1, 2, 5};
  for (int i = 0; i < 4; i++) {
    size_t n = 99;
    uint8_t *p = rt_ckpt_blob(c, blobs[i], &n, &err);
    CU_ASSERT_FATAL(p != NULL);
    CU_ASSERT_EQUAL(n, lens[i]);
    CU_ASSERT(memcmp(p, want[i], n) == 0);
    free(p);
  }
  rt_ckpt_close(c);
}

/* The bytes on disk: 8-byte header length, aligned header, data in order. */
static void test_layout_and_temp_files(void) {
  const char *path = write_sample("layout.safetensors");
  write_sample("layout.safetensors"); /* rename over an existing file */
  size_t n;
  char *f = read_whole(path, &n);
  uint64_t hlen = 0;
  for (int i = 0; i < 8; i++) hlen |= (uint64_t)(uint8_t)f[i] << (8 * i);
  CU_ASSERT_EQUAL(hlen % 8, 0);
  CU_ASSERT_EQUAL(n, 8 + hlen + sizeof W + sizeof B + sizeof S);
  CU_ASSERT(starts_with(f + 8, "{\"__metadata__\":{"));
  CU_ASSERT(contains(f + 8, "\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}"));
  CU_ASSERT(contains(f + 8, "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[40,44]}"));
  CU_ASSERT(memcmp(f + 8 + hlen, W, sizeof W) == 0);
  free(f);
  DIR *d = opendir(tmp_path(""));
  struct dirent *e;
  int temps = 0;
  while (d && (e = readdir(d))) temps += strstr(e->d_name, ".tmp.") != NULL;
  closedir(d);
  CU_ASSERT_EQUAL(temps, 0);
}

static void test_truncated(void) {
  const char *path = write_sample("trunc.safetensors");
  size_t n;
  char *f = read_whole(path, &n);
  write_file(path, f, n - 4);
  expect_open_error(path, "tensor 's': data_offsets [40,44] go past the end of the data "
                          "(40 bytes): the file is truncated");
  write_file(path, f, 100);
  expect_open_error(path, "the header length");
  RtError err;
  CU_ASSERT_PTR_NULL(rt_ckpt_open(path, &err));
  CU_ASSERT(contains(err.msg, "runs past the end of the file (100 bytes)"));
  write_file(path, f, 5);
  expect_open_error(path, "the file is 5 bytes, too short for a checkpoint");
  free(f);
  expect_open_error(tmp_path("missing.safetensors"), "cannot open: No such file");
}

/* Replaces the first occurrence of from (in the first n bytes of f) by to, same length. */
static void patch(char *f, size_t n, const char *from, const char *to) {
  char *at = memmem(f, n, from, strlen(from));
  CU_ASSERT_FATAL(at != NULL && strlen(from) == strlen(to));
  memcpy(at, to, strlen(to));
}

/* A flipped byte anywhere is caught, by the checksum of the part it is in. */
static void test_flipped_byte(void) {
  const char *path = write_sample("flip.safetensors");
  size_t n;
  char *f = read_whole(path, &n), *orig = malloc(n);
  memcpy(orig, f, n);
  f[n - 3] ^= 0x10; /* inside s's data */
  write_file(path, f, n);
  expect_open_error(path, "tensor 's' is damaged: its data (bytes 40..44 of the data section) "
                          "hashes to xxh3:");
  memcpy(f, orig, n);
  f[8 + 30] ^= 0x01; /* inside the header */
  write_file(path, f, n);
  expect_open_error(path, "the header is damaged: it hashes to xxh3:");
  /* the same number of elements: only the header checksum sees the change */
  memcpy(f, orig, n);
  patch(f, n, "\"shape\":[2,3]", "\"shape\":[3,2]");
  write_file(path, f, n);
  expect_open_error(path, "the header is damaged: it hashes to xxh3:");
  memcpy(f, orig, n);
  patch(f, n, "\"dmc.model\":\"din\"", "\"dmc.model\":\"dio\"");
  write_file(path, f, n);
  expect_open_error(path, "the header is damaged");
  for (size_t i = 0; i < n; i++) { /* every byte of the file, one at a time: never accepted */
    memcpy(f, orig, n);
    f[i] ^= 0x04;
    write_file(path, f, n);
    RtError err;
    RtCkpt *c = rt_ckpt_open(path, &err);
    CU_ASSERT_PTR_NULL(c);
    if (c) fprintf(stderr, "\n  byte %zu flipped: accepted\n", i);
    rt_ckpt_close(c);
  }
  memcpy(f, orig, n);
  f[8] = '['; /* the header's opening brace */
  write_file(path, f, n);
  expect_open_error(path, "the header is not valid JSON");
  free(f);
  free(orig);
}

static void test_wrong_shape_and_name(void) {
  const char *path = write_sample("shape.safetensors");
  RtError err;
  RtCkpt *c = rt_ckpt_open(path, &err);
  CU_ASSERT_FATAL(c != NULL);
  float w[6];
  char want[1200];
  int64_t t[2] = {3, 2}, flat[1] = {6};
  CU_ASSERT(rt_ckpt_read(c, "w", w, 2, t, &err) == -1);
  snprintf(want, sizeof want, "%s: tensor 'w' has shape [2,3], this program expects [3,2]\n"
           "HINT: ", path);
  CU_ASSERT(starts_with(err.msg, want));
  CU_ASSERT(rt_ckpt_read(c, "w", w, 1, flat, &err) == -1);
  CU_ASSERT(contains(err.msg, "tensor 'w' has shape [2,3], this program expects [6]"));
  CU_ASSERT(rt_ckpt_read(c, "nope", w, 1, flat, &err) == -1);
  snprintf(want, sizeof want, "%s: no tensor 'nope' in this checkpoint\nHINT: ", path);
  CU_ASSERT(starts_with(err.msg, want));
  CU_ASSERT(rt_ckpt_expect_meta(c, "dmc.signature", "xyz", &err) == -1);
  snprintf(want, sizeof want, "%s: metadata 'dmc.signature' is 'abc123', this program "
           "expects 'xyz'\nHINT: ", path);
  CU_ASSERT(starts_with(err.msg, want));
  CU_ASSERT(rt_ckpt_expect_meta(c, "dmc.vocab", "x", &err) == -1);
  CU_ASSERT(contains(err.msg, "metadata 'dmc.vocab' is missing"));
  size_t n;
  CU_ASSERT_PTR_NULL(rt_ckpt_blob(c, "dmc.model", &n, &err)); /* "din" is not base64 */
  CU_ASSERT(contains(err.msg, "metadata 'dmc.model' is not valid base64"));
  rt_ckpt_close(c);
}

/* A hand-made safetensors file: header text padded to 8 bytes, then data. */
static const char *craft(const char *name, const char *header, size_t datalen) {
  static uint8_t buf[4096];
  size_t len = strlen(header), padded = (len + 7) & ~(size_t)7;
  for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(padded >> (8 * i));
  memcpy(buf + 8, header, len);
  memset(buf + 8 + len, ' ', padded - len);
  memset(buf + 8 + padded, 0, datalen);
  const char *path = tmp_path(name);
  write_file(path, buf, 8 + padded + datalen);
  return path;
}

static void test_crafted_headers(void) {
  const char *p = craft("overlap.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12);
  expect_open_error(p, "tensors 'a' and 'b' overlap in the data section");
  p = craft("size.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,12]}}", 12);
  expect_open_error(p, "tensor 'a' holds 12 bytes but F32 [2] needs 8");
  p = craft("dtype.st", "{\"a\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
  expect_open_error(p, "tensor 'a' has no dtype or an unknown one");
  p = craft("negshape.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8);
  expect_open_error(p, "tensor 'a': shape is not a list of sizes >= 0");
  p = craft("offs.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8);
  expect_open_error(p, "tensor 'a': data_offsets is not [begin, end]");
  p = craft("meta.st", "{\"__metadata__\":{\"k\":1}}", 0);
  expect_open_error(p, "metadata 'k' is not a string");
  p = craft("dupkey.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
            "\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4);
  expect_open_error(p, "the header is not valid JSON: duplicate object key");
  p = craft("format.st", "{\"__metadata__\":{\"dmc.format\":\"99\"}}", 0);
  expect_open_error(p, "checkpoint format 99, this program reads format 2\nHINT: ");
  p = craft("gap.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
            "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12);
  expect_open_error(p, "bytes 4..8 of the data section belong to no tensor");
  p = craft("tail.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8);
  expect_open_error(p, "the data section has 4 bytes after the last tensor");
  p = craft("sums.st", "{\"__metadata__\":{\"dmc.data_checksums\":\"xxh3:0000000000000000\"},"
            "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
            "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8);
  expect_open_error(p, "metadata 'dmc.checksum' is missing (the header has dmc.data_checksums)");

  /* From another tool: no checksum, an F64 tensor it may hold but we cannot read. */
  p = craft("foreign.st", "{\"d\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]},"
            "\"f\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16);
  RtError err;
  RtCkpt *c = rt_ckpt_open(p, &err);
  CU_ASSERT_FATAL(c != NULL);
  float f[2] = {1, 1};
  int64_t two[1] = {2}, one[1] = {1};
  CU_ASSERT(rt_ckpt_read(c, "f", f, 1, two, &err) == 0);
  CU_ASSERT(f[0] == 0 && f[1] == 0);
  CU_ASSERT(rt_ckpt_read(c, "d", f, 1, one, &err) == -1);
  CU_ASSERT(contains(err.msg, "tensor 'd' has dtype F64, this program expects F32\nHINT: "));
  rt_ckpt_close(c);
}

/* A file of the previous format (checksum of the data only) is refused by its version. */
static void test_old_format(void) {
  const char *p = craft("v1.st", "{\"__metadata__\":{\"dmc.format\":\"1\",\"dmc.checksum\":"
                        "\"xxh3:2d06800538d394c2\"},\"a\":{\"dtype\":\"F32\",\"shape\":[1],"
                        "\"data_offsets\":[0,4]}}", 4);
  expect_open_error(p, "checkpoint format 1, this program reads format 2 (or the header is "
                       "damaged)\nHINT: it was written by another version of dmc");
}

static void test_writer_errors(void) {
  RtError err;
  RtCkptWriter *w = rt_ckpt_writer_new();
  int64_t shape[1] = {1}, neg[1] = {-1};
  CU_ASSERT(rt_ckpt_add(w, "x", S, 1, shape, &err) == 0);
  CU_ASSERT(rt_ckpt_add(w, "x", S, 1, shape, &err) == -1);
  CU_ASSERT_STRING_EQUAL(err.msg, "checkpoint: tensor name 'x' is reserved or used twice");
  CU_ASSERT(rt_ckpt_add(w, "__metadata__", S, 1, shape, &err) == -1);
  CU_ASSERT(rt_ckpt_add(w, "y", S, 1, neg, &err) == -1);
  CU_ASSERT_STRING_EQUAL(err.msg, "checkpoint: tensor 'y' has a bad shape");
  CU_ASSERT(rt_ckpt_set_meta(w, "dmc.checksum", "x", &err) == -1);
  CU_ASSERT(rt_ckpt_set_meta(w, "dmc.data_checksums", "x", &err) == -1);
  CU_ASSERT(rt_ckpt_set_meta(w, "bad", "\xff\xfe", &err) == -1); /* not UTF-8 */
  const char *path = tmp_path("no_such_dir/x.safetensors");
  CU_ASSERT(rt_ckpt_write(w, path, &err) == -1);
  char want[1200];
  snprintf(want, sizeof want, "%s: cannot write the checkpoint: No such file or directory", path);
  CU_ASSERT_STRING_EQUAL(err.msg, want);
  rt_ckpt_writer_free(w);
}

void add_checkpoint_tests(void) {
  CU_pSuite s = CU_add_suite("checkpoint", NULL, NULL);
  CU_add_test(s, "round trip: tensors, metadata, blobs", test_round_trip);
  CU_add_test(s, "file layout, no temp file left", test_layout_and_temp_files);
  CU_add_test(s, "truncated file", test_truncated);
  CU_add_test(s, "flipped byte: header and tensor checksums, JSON", test_flipped_byte);
  CU_add_test(s, "a checkpoint of the previous format", test_old_format);
  CU_add_test(s, "wrong shape, name, metadata", test_wrong_shape_and_name);
  CU_add_test(s, "hand-made bad headers, foreign file", test_crafted_headers);
  CU_add_test(s, "writer errors", test_writer_errors);
}
