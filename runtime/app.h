/* app.h -- the program's subcommands, as the command line fills them.
 *
 * cli.c parses argv into one RtOpts and calls a command; each command
 * returns the process exit status: 0 done, 1 a user-facing error (bad data,
 * a missing file, a damaged or foreign checkpoint, a diverged run), 2 a
 * usage error. Results go to stdout (one JSON object with --json), progress
 * and diagnostics to stderr.
 */
#ifndef RT_APP_H
#define RT_APP_H

#include <stdint.h>

#include "dmc_abi.h"

/* online's settings (online.c); 0 or unset: the default below. */
#define RT_ONLINE_ALPHA 0.1        /* exploration: W~ = W + alpha * rand(-1, 1) * W */
#define RT_ONLINE_ETA 0.05         /* a winning explorer moves W by eta * (W~ - W) */
#define RT_ONLINE_MEMORY 10000     /* events kept for major updates */
#define RT_ONLINE_MAJOR_EVERY 1000 /* events between major updates */
#define RT_ONLINE_MAX_REQUEST 50   /* events per request at most */
typedef struct RtOnlineOpts {
  double alpha, eta;
  int alpha_set, eta_set;
  int interleave;            /* --compare interleave (else pairs) */
  int64_t memory, major_every;
  int major_steps, steps_set;/* --major-steps (0: no major updates); default major_every / batch */
  int max_request;
} RtOnlineOpts;

typedef struct RtOpts {
  const char *prog;          /* basename of argv[0] */
  const char *const *files;  /* positional data files */
  int nfiles;
  const char *valid;         /* train --valid */
  const char *input;         /* eval/predict --input: a group_by model's input groups */
  const char *checkpoint;    /* train -o, eval/predict --checkpoint; default PROG.ckpt */
  const char *group;         /* --group COL for GAUC */
  const char *out;           /* synth -o; online -o: the checkpoint to write */
  int epochs, batch, threads, patience;
  double lr;                 /* > 0: overrides the model's optimizers' lr */
  uint64_t seed;
  int seed_set;
  uint64_t teacher_seed;     /* synth --teacher-seed */
  int teacher_set;
  int64_t nrows;             /* synth N */
  double zipf;               /* synth, bench --zipf: skew of the ids drawn */
  int zipf_set, threads_set;
  double seconds;            /* bench --time: seconds per measurement; 0: 2 */
  int profile;               /* bench --profile: kernel by kernel, after the measurements */
  int json, skip_bad, quiet;
  int k;                     /* retrieve -k, and the k of recall@k (eval, train); 0: RT_RETRIEVE_K */
  /* train: data pipeline (feed.h) */
  int stream;                /* --stream: read the files every epoch */
  double max_memory_mb;      /* --max-memory: stream when the encoded data is larger; 0: default */
  int64_t shuffle_buffer;    /* --shuffle-buffer rows when streaming; 0: RT_FEED_SHUFFLE */
  int prefetch, prefetch_set;/* --prefetch batches read ahead by a thread (0: none) */
  /* train: learning-rate schedule and clipping (optim.h, params.h) */
  int lr_schedule;           /* RtSchedKind; 0 constant */
  int64_t warmup;            /* --warmup steps */
  double lr_min;             /* --lr-min: final multiplier of linear and cosine */
  int lr_step;               /* --lr-step epochs between halvings; 0: 1 */
  double clip;               /* --clip: max L2 norm of the dense gradients; 0: none */
  int check_numerics;        /* --check-numerics: every gradient and parameter, every step */
  RtOnlineOpts online;       /* online (online.c) */
} RtOpts;

int rt_cmd_train(const DmcModel *m, const RtOpts *o);
int rt_cmd_eval(const DmcModel *m, const RtOpts *o);
int rt_cmd_predict(const DmcModel *m, const RtOpts *o);
int rt_cmd_retrieve(const DmcModel *m, const RtOpts *o);
int rt_cmd_info(const DmcModel *m, const RtOpts *o);
int rt_cmd_synth(const DmcModel *m, const RtOpts *o);
int rt_cmd_bench(const DmcModel *m, const RtOpts *o);
int rt_cmd_online(const DmcModel *m, const RtOpts *o);

/* The whole program: `PROG COMMAND [options]`. main.c calls it with dmc_model. */
int rt_main(const DmcModel *m, int argc, char **argv);

/* jansson's json_real refuses NaN: a number, or null when not finite. */
struct json_t;
struct json_t *rt_json_num(double x);

#endif
