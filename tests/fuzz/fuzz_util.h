/* fuzz_util.h -- what the runtime harnesses (fuzz_data.c, fuzz_ckpt.c) share.
 *
 * The runtime reads files by path (gzopen, open), so each input is written to
 * a memfd and read back through /proc/self/fd/N: no disk, one file per
 * process, rewritten for every input. Files the runtime writes itself
 * (rt_model_save: a temporary file, fsync, rename) go to a private directory
 * in /dev/shm (else /tmp), removed at exit.
 *
 * FUZZ_CHECK(cond, ...) is the harnesses' oracle beyond the sanitizers: a
 * documented guarantee of the runtime that does not hold prints why and
 * aborts, which libFuzzer reports as a crash with the input saved.
 */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#define _GNU_SOURCE /* memfd_create, mkdtemp */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define FUZZ_CHECK(cond, ...)                                            \
  do {                                                                   \
    if (!(cond)) {                                                       \
      fprintf(stderr, "fuzz: check failed at %s:%d: %s: ", __FILE__,     \
              __LINE__, #cond);                                          \
      fprintf(stderr, __VA_ARGS__);                                      \
      fputc('\n', stderr);                                               \
      abort();                                                           \
    }                                                                    \
  } while (0)

#define FUZZ_NINPUTS 2
static int fuzz_memfd[FUZZ_NINPUTS];
static char fuzz_input_path[FUZZ_NINPUTS][64];
static char fuzz_tmpdir[256];
static char fuzz_out_path[300];

static void fuzz_cleanup(void) {
  if (!fuzz_tmpdir[0]) return;
  unlink(fuzz_out_path); /* rt_model_save's temporaries are renamed or removed by it */
  rmdir(fuzz_tmpdir);
}

/* Creates the input memfd and the output directory; exits on failure. */
static void fuzz_files_init(const char *what) {
  for (int i = 0; i < FUZZ_NINPUTS; i++) {
    if ((fuzz_memfd[i] = memfd_create(what, 0)) < 0) {
      perror("fuzz: memfd_create");
      exit(1);
    }
    snprintf(fuzz_input_path[i], sizeof fuzz_input_path[i], "/proc/self/fd/%d", fuzz_memfd[i]);
  }
  const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(fuzz_tmpdir, sizeof fuzz_tmpdir, "%s/dmc-fuzz-XXXXXX", base);
  if (!mkdtemp(fuzz_tmpdir)) {
    perror("fuzz: mkdtemp");
    exit(1);
  }
  snprintf(fuzz_out_path, sizeof fuzz_out_path, "%s/out.ckpt", fuzz_tmpdir);
  atexit(fuzz_cleanup);
}

/* Input file i (< FUZZ_NINPUTS) holds exactly these bytes; returns its path. */
static const char *fuzz_write_input(int i, const uint8_t *data, size_t size) {
  if (ftruncate(fuzz_memfd[i], 0)) abort();
  size_t done = 0;
  while (done < size) {
    ssize_t k = pwrite(fuzz_memfd[i], data + done, size - done, (off_t)done);
    if (k <= 0) abort();
    done += (size_t)k;
  }
  return fuzz_input_path[i];
}

#endif
