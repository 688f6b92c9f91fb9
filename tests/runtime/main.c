/* main.c -- runs the runtime's CUnit suites; exits 1 if any assertion fails. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <CUnit/Basic.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

static char tmpdir[256];

const char *tmp_path(const char *name) {
  static char buf[8][512];
  static int next;
  char *p = buf[next++ % 8];
  snprintf(p, sizeof buf[0], "%s/%s", tmpdir, name);
  return p;
}

void write_file(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  CU_ASSERT_FATAL(f != NULL);
  CU_ASSERT(fwrite(data, 1, n, f) == n);
  CU_ASSERT(fclose(f) == 0);
}

char *read_whole(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  CU_ASSERT_FATAL(f != NULL);
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  rewind(f);
  char *p = malloc((size_t)len + 1);
  CU_ASSERT_FATAL(p != NULL);
  CU_ASSERT((long)fread(p, 1, (size_t)len, f) == len);
  fclose(f);
  p[len] = '\0';
  *n = (size_t)len;
  return p;
}

int starts_with(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

int contains(const char *s, const char *part) { return strstr(s, part) != NULL; }

static void remove_tmpdir(void) {
  DIR *d = opendir(tmpdir);
  struct dirent *e;
  while (d && (e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    unlink(tmp_path(e->d_name));
  }
  if (d) closedir(d);
  rmdir(tmpdir);
}

int main(void) {
  const char *base = getenv("TMPDIR");
  snprintf(tmpdir, sizeof tmpdir, "%s/dmcrt.XXXXXX", base && *base ? base : "/tmp");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 2;
  }
  if (CU_initialize_registry() != CUE_SUCCESS) return 2;
  add_csv_tests();
  add_hash_tests();
  add_vocab_tests();
  add_normalize_tests();
  add_metrics_tests();
  add_checkpoint_tests();
  add_optim_tests();
  add_encoder_tests();
  add_feed_tests();
  add_cli_tests();
  add_retrieve_tests();
  add_groups_tests();
  add_step_tests();
  add_infer_tests();
  add_kernel_tests();
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  unsigned failures = CU_get_number_of_failures();
  unsigned tests_failed = CU_get_number_of_tests_failed(), tests_run = CU_get_number_of_tests_run();
  CU_cleanup_registry();
  remove_tmpdir();
  printf("\ntest_runtime: %u of %u test(s) failed, %u failed assertion(s)\n", tests_failed, tests_run, failures);
  return failures ? 1 : 0;
}
