/* save_loop.c -- the program tests/crash_save.sh kills while it saves checkpoints.
 *
 *   save_loop write PATH MB FIRST    saves versions FIRST, FIRST+1, ... of an MB-megabyte
 *                                    checkpoint to PATH forever (checkpoint.h's writer),
 *                                    printing "writing K" before and "saved K MS" after each
 *   save_loop once PATH MB FIRST     saves version FIRST once
 *   save_loop unsafe PATH MB FIRST   the same as write, but copies each version over PATH in place
 *                                    (open, truncate, write): what the test must catch;
 *                                    "copying K" before each copy
 *   save_loop verify PATH MB         loads PATH (every checksum checked) and checks each
 *                                    tensor holds exactly what version K wrote; prints K
 *
 * Version K's contents: 8 tensors, element i of tensor t = (i % 4093) + 7 * t + K, and
 * metadata "test.version" = K. Exit status of verify: 0 and K printed, or 1 and the
 * reader's error (or what differs) on stderr.
 */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"

#define NT 8 /* tensors per checkpoint */

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void fill(float *w, int64_t n, int t, long k) {
  for (int64_t i = 0; i < n; i++) w[i] = (float)(i % 4093 + 7 * t + k);
}

/* Version k into path with the crash-safe writer: 0, or -1 and *err. */
static int save(const char *path, float *w, int64_t n, long k, RtError *err) {
  RtCkptWriter *cw = rt_ckpt_writer_new();
  char name[16], ver[32];
  int r = cw ? 0 : rt_error(err, "out of memory");
  for (int t = 0; t < NT && !r; t++) {
    fill(w + t * n, n, t, k);
    snprintf(name, sizeof name, "t%d", t);
    r = rt_ckpt_add(cw, name, w + t * n, 1, &n, err);
  }
  snprintf(ver, sizeof ver, "%ld", k);
  r = r || rt_ckpt_set_meta(cw, "test.version", ver, err) || rt_ckpt_write(cw, path, err);
  rt_ckpt_writer_free(cw);
  return r ? -1 : 0;
}

/* The unsafe way: the same bytes copied over path in place, each MiB flushed to disk
 * and followed by a 3 ms pause, so the copy lasts at least 96 ms for 32 MB and the
 * test's kill, 0-40 ms after "copying K", lands inside it (where fsync is fast, a copy
 * from the page cache took only a few ms). */
static int save_in_place(const char *path, const char *staging, float *w, int64_t n, long k,
                         RtError *err) {
  if (save(staging, w, n, k, err)) return -1;
  printf("copying %ld\n", k);   /* the test kills during the copy (tests/crash_save.sh) */
  fflush(stdout);
  FILE *in = fopen(staging, "rb"), *out = fopen(path, "wb");
  static char buf[1 << 16];
  size_t got;
  for (size_t done = 0; in && out && (got = fread(buf, 1, sizeof buf, in)) > 0;)
    if (fwrite(buf, 1, got, out) == got && (done += got) % (1 << 20) == 0 && !fflush(out)) {
      fsync(fileno(out));
      nanosleep(&(struct timespec){0, 3000000}, NULL);
    }
  int r = in && out ? 0 : rt_error(err, "%s: cannot copy", path);
  if (in) fclose(in);
  if (out && fclose(out)) r = rt_error(err, "%s: cannot write", path);
  return r;
}

static int verify(const char *path, float *w, int64_t n) {
  RtError err;
  RtCkpt *c = rt_ckpt_open(path, &err);
  if (!c) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  const char *ver = rt_ckpt_meta(c, "test.version");
  long k = ver ? atol(ver) : -1;
  float *want = malloc((size_t)n * sizeof *want);
  int bad = !ver || !want;
  if (!ver) fprintf(stderr, "%s: no test.version metadata\n", path);
  for (int t = 0; t < NT && !bad; t++) {
    char name[16];
    snprintf(name, sizeof name, "t%d", t);
    fill(want, n, t, k);
    if (rt_ckpt_read(c, name, w, 1, &n, &err)) {
      fprintf(stderr, "%s\n", err.msg);
      bad = 1;
    } else if (memcmp(w, want, (size_t)n * sizeof *w)) {
      fprintf(stderr, "%s: tensor %s does not hold version %ld\n", path, name, k);
      bad = 1;
    }
  }
  free(want);
  rt_ckpt_close(c);
  if (!bad) printf("%ld\n", k);
  return bad;
}

int main(int argc, char **argv) {
  if (argc < 4 || (strcmp(argv[1], "verify") && argc < 5)) {
    fprintf(stderr, "usage: save_loop write|once|unsafe PATH MB FIRST | verify PATH MB\n");
    return 2;
  }
  const char *path = argv[2];
  int64_t n = (int64_t)(atof(argv[3]) * 1048576 / 4 / NT);
  float *w = malloc((size_t)(n > 0 ? n : 1) * NT * sizeof *w);
  if (!w || n <= 0) return fprintf(stderr, "save_loop: bad size or out of memory\n"), 2;
  if (!strcmp(argv[1], "verify")) return verify(path, w, n);
  int unsafe = !strcmp(argv[1], "unsafe"), once = !strcmp(argv[1], "once");
  char staging[4096];
  snprintf(staging, sizeof staging, "%s.staging", path);
  for (long k = atol(argv[4]);; k++) {
    RtError err;
    printf("writing %ld\n", k);
    fflush(stdout);
    double t0 = now_ms();
    if (unsafe ? save_in_place(path, staging, w, n, k, &err) : save(path, w, n, k, &err)) {
      fprintf(stderr, "%s\n", err.msg);
      return 1;
    }
    printf("saved %ld %.0f\n", k, now_ms() - t0);
    fflush(stdout);
    if (once) return 0;
  }
}
