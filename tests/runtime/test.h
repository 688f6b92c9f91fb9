/* test.h -- shared helpers of the runtime's CUnit tests (tests/runtime/).
 *
 * main.c runs every suite; each test_*.c file registers one suite with its
 * add_*_tests function. Tests put files in one temporary directory that
 * main.c creates with mkdtemp and removes, with its contents, at the end.
 */
#ifndef TEST_H
#define TEST_H

#include <stddef.h>

/* A path name inside the temporary directory (one of 8 rotating buffers). */
const char *tmp_path(const char *name);
/* Writes n bytes to path; fails the current test if it cannot. */
void write_file(const char *path, const void *data, size_t n);
/* Reads a whole file into a malloc'd buffer (NUL-terminated); *n its size. */
char *read_whole(const char *path, size_t *n);

/* A string that starts with prefix (the error's first line, say). */
int starts_with(const char *s, const char *prefix);
int contains(const char *s, const char *part);

void add_csv_tests(void);
void add_hash_tests(void);
void add_vocab_tests(void);
void add_normalize_tests(void);
void add_metrics_tests(void);
void add_checkpoint_tests(void);
void add_optim_tests(void);   /* optimizers, initialisers */
void add_encoder_tests(void); /* data pipeline, on the fixture model and small descriptors */
void add_feed_tests(void);    /* training batches: shuffle buffer, prefetch thread */
void add_cli_tests(void);     /* the fixture program end to end */
void add_retrieve_tests(void);/* top-k retrieval, recall; the retrieval fixture end to end */
void add_groups_tests(void);  /* group_by: gathering rows, held-out rows, groups in checkpoints */
void add_step_tests(void);    /* threads: the pool, the data-parallel training step */
void add_infer_tests(void);   /* inference in calls over consecutive rows */
void add_kernel_tests(void);  /* the float kernels: polynomial exp, GEMM tiles */

#endif
