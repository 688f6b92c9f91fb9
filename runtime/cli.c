/* cli.c -- the command line of a compiled model: `PROG COMMAND [options]`.
 *
 * One getopt_long table per subcommand, strict number parsing, `--help` on
 * every subcommand, usage errors with exit status 2. The descriptor is
 * checked once here, before any command runs. Defaults that come from the
 * model (epochs, batch, seed, optimizers) are resolved by the commands.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "feed.h"
#include "kernels.h"
#include "model.h"
#include "optim.h"
#include "retrieve.h"

json_t *rt_json_num(double x) { return isfinite(x) ? json_real(x) : json_null(); }

static const char *prog = "model";

static void usage(FILE *f, const DmcModel *m) {
  fprintf(f,
          "usage: %s COMMAND [options]        (model %s)\n"
          "\n"
          "commands:\n"
          "  train FILE...    train on CSV/TSV files (.gz too), write the best epoch to %s.ckpt\n"
          "  eval FILE...     AUC, logloss and GAUC (or RMSE; recall@k when the model retrieves)\n"
          "                   of a checkpoint on labelled data\n"
          "  predict FILE...  one score per input row on stdout\n"
          "  retrieve FILE... the top-k items of every row (models trained with sampled_softmax)\n"
          "  info             the model: features, parameters, outputs\n"
          "  synth N          N rows of synthetic data in this model's schema\n"
          "  bench            latency and throughput of this program on random inputs\n"
          "  online EVENTS... learn from a stream of events with exploration (DRN's dueling\n"
          "                   bandit gradient descent) and periodic training steps\n"
          "\n"
          "`%s COMMAND --help` lists the options of a command.\n",
          prog, m->name, prog, prog);
}

static const char *const help_train =
    "usage: %s train FILE... [options]\n"
    "Trains on FILE... (the same header in each; CSV/TSV as the model says, gzip accepted).\n"
    "  --valid FILE      validation data: AUC/logloss/GAUC per epoch, keeps the best epoch\n"
    "                    (models trained with sampled_softmax: recall@k of the retrieved items)\n"
    "  -k, --top-k K     sampled_softmax models: the k of the validation recall@k (default %d)\n"
    "  --epochs N        passes over the data (default %d)\n"
    "  --batch N         examples per step (default %d)\n"
    "  --lr X            learning rate of the model's optimizers (dense and sparse)\n"
    "  --seed N          random seed: initial weights, shuffling, sampling (default %d)\n"
    "  --patience N      stop after N epochs without a better validation result (default 2,\n"
    "                    0: never stop early)\n"
    "  --threads N       threads: each trains on its share of every batch (data parallel,\n"
    "                    gradients combined before the update) and scores the validation\n"
    "                    set (default: CPUs, at most 8). A run is reproducible for a given\n"
    "                    N; batch statistics (Dice) and dropout masks are per share\n"
    "  --group COL       GAUC groups (default: userId, uid, user_id or user if present)\n"
    "  -o, --output CKPT the checkpoint to write (default %s.ckpt)\n"
    "  --skip-bad        skip rows with bad values (counted per reason) instead of stopping\n"
    "  --json            print the results as one JSON object on stdout\n"
    "  -q, --quiet       no progress or vocabulary lines\n"
    "  -h, --help        this text\n"
    "data larger than memory:\n"
    "  --stream          read the files again every epoch, encoding on the fly, through a\n"
    "                    shuffle buffer instead of a full shuffle (not for next_by models)\n"
    "  --max-memory MB   stream by itself when the encoded training rows would take more\n"
    "                    (default: half the physical memory, or of the cgroup limit)\n"
    "  --shuffle-buffer N  rows in the shuffle buffer when streaming (default %d): each\n"
    "                    batch row is drawn at random among the N rows it holds\n"
    "  --prefetch N      batches a background thread prepares ahead (default %d, 0: none;\n"
    "                    the results are the same either way)\n"
    "learning rate and gradients (every optimizer's lr, dense and sparse, is multiplied):\n"
    "  --lr-schedule S   constant (default), linear or cosine (decay to --lr-min by the\n"
    "                    end of the run), step (halve every --lr-step epochs)\n"
    "  --warmup STEPS    linear warm-up from 0 over the first STEPS steps\n"
    "  --lr-min F        final lr of linear/cosine, as a fraction of each lr (default 0)\n"
    "  --lr-step E       epochs between halvings of `step` (default 1)\n"
    "  --clip X          scale the dense gradients so their global L2 norm is at most X\n"
    "                    (embedding tables are not clipped)\n"
    "  --check-numerics  check every dense gradient after backward and every parameter\n"
    "                    (tables too) after the update, at every step, and stop at the\n"
    "                    first that is not finite (the loss is always checked)\n";

static const char *const help_eval =
    "usage: %s eval FILE... [options]\n"
    "Scores labelled data with a checkpoint: AUC, logloss, GAUC and the mean loss\n"
    "(RMSE instead when the label is not 0/1). A model trained with sampled_softmax\n"
    "reports instead recall@k and recall@10, the fractions of rows whose true item (its\n"
    "target) is among the k (10) items `retrieve` finds, and the mean sampled-softmax loss.\n"
    "  -c, --checkpoint CKPT  the checkpoint (default %s.ckpt)\n"
    "  -k, --top-k K     retrieval models: the k of recall@k (default %d)\n"
    "  --group COL       GAUC groups (default: userId, uid, user_id or user if present)\n"
    "  --batch N         rows per forward pass (default %d)\n"
    "  --threads N       threads (default: CPUs, at most 8)\n"
    "  --seed N          seed of sampled negatives, if the model has any (default %d)\n"
    "  --skip-bad        skip rows with bad values instead of stopping\n"
    "  --json            print the results as one JSON object\n"
    "  -h, --help        this text\n"
    "group_by models (I-AutoRec) score held-out rows: each row's value (its rating) is\n"
    "predicted from its key's input group (the item's known ratings), and RMSE and MAE\n"
    "are reported; unseen items and users get the input mean.\n"
    "  --input FILE      the input groups (default: the training groups the checkpoint holds)\n";

static const char *const help_predict =
    "usage: %s predict FILE... [options]\n"
    "Prints output '%s' for every row, one line per row (\"%%.6g\"; the elements of a\n"
    "vector output separated by spaces). The label column may be absent.\n"
    "  -c, --checkpoint CKPT  the checkpoint (default %s.ckpt)\n"
    "  --batch N         rows per forward pass (default %d)\n"
    "  --threads N       threads (default: CPUs, at most 8)\n"
    "  --seed N          seed of sampled negatives, if the model has any (default %d)\n"
    "  --skip-bad        skip rows with bad values (then rows and lines differ)\n"
    "  -h, --help        this text\n"
    "group_by models print the predicted value of every row, from its key's input group:\n"
    "  --input FILE      the input groups (default: the training groups the checkpoint holds)\n";

static const char *const help_retrieve =
    "usage: %s retrieve FILE... [options]\n"
    "For a model trained with sampled_softmax: for every row, scores the user vector\n"
    "(output '%s') against every item (the rows of table '%s' for the ids of\n"
    "'%s' kept in the vocabulary) and prints one line per row: the ids of the k\n"
    "best items, highest dot product first, separated by spaces. The column of the\n"
    "true item may be absent.\n"
    "  -c, --checkpoint CKPT  the checkpoint (default %s.ckpt)\n"
    "  -k, --top-k K     items per row (default %d)\n"
    "  --batch N         rows per forward pass (default %d)\n"
    "  --threads N       threads (default: CPUs, at most 8)\n"
    "  --seed N          seed of sampled negatives, if the model has any (default %d)\n"
    "  --skip-bad        skip rows with bad values (then rows and lines differ)\n"
    "  --json            one JSON object: per row its items and their scores\n"
    "  -q, --quiet       no timing line on stderr\n"
    "  -h, --help        this text\n";

static const char *const help_info =
    "usage: %s info [--json]\n"
    "Prints the model's name, signature, training defaults, features (kind, columns,\n"
    "vocabulary), parameters (shape, size, initialiser, optimizer), outputs, and what\n"
    "`retrieve` scores when the model retrieves (sampled_softmax).\n"
    "  --json            as one JSON object\n"
    "  -h, --help        this text\n";

static const char *const help_bench =
    "usage: %s bench [options]\n"
    "Times this program on random inputs in the model's shapes (no data file): forward\n"
    "latency at batch 1 (p50, p99), inference rows/s at batch 1024 (in the forward calls\n"
    "predict makes of such a batch), both computing the outputs alone, as predict and a\n"
    "server do, and training rows/s (forward, backward, optimizer step) at the training\n"
    "batch.\n"
    "  --batch N         the training batch (default %d)\n"
    "  --threads N       threads of the batch-1 latency (they share each call's large\n"
    "                    GEMMs), of the batch-1024 inference (each scores its share of\n"
    "                    the rows, as eval does) and of training (each its share of every\n"
    "                    batch, as train does) (default 1)\n"
    "  --zipf S          ids drawn from Zipf(S) over each vocabulary, rank r as id 2 + r\n"
    "                    (default 0: uniform)\n"
    "  --time T          seconds of each measurement (default 2; training 1.5 T); the\n"
    "                    latency also takes at least 1000 T calls\n"
    "  --seed N          seed of the weights and inputs (default %d)\n"
    "  --json            print the results as one JSON object\n"
    "  --profile         then each phase again on one thread with every kernel call timed:\n"
    "                    the kernels that take the most time, with their op and shape\n"
    "  -h, --help        this text\n";

static const char *const help_online =
    "usage: %s online EVENTS... [options]\n"
    "Reads logged events (rows of the training data's format, in time order; '-' is\n"
    "standard input) and learns as they come, starting from a trained checkpoint. A\n"
    "request is a run of consecutive events of one user (--group). Each request is scored\n"
    "by the current network first (the progressive AUC and hit@1 it reports), then an\n"
    "explored network with weights W + alpha * rand(-1, 1) * W scores it too, and if its\n"
    "ranking of the request's events agrees better with the logged clicks the weights\n"
    "move towards it (DRN's minor update, dueling bandit gradient descent). Every\n"
    "--major-every events, training steps on batches from the last --memory events\n"
    "(the major update). Needs a 0/1 label and a first output of one score per row.\n"
    "  -c, --checkpoint CKPT  the starting checkpoint (default %s.ckpt)\n"
    "  -o, --output CKPT the checkpoint to write at the end (default: none)\n"
    "  --alpha A         exploration: the size of the perturbation (default %g, 0: none)\n"
    "  --eta E           the step towards a winning explorer (default %g)\n"
    "  --compare HOW     pairs (default): the network ordering more (click, non-click) pairs\n"
    "                    rightly wins; interleave: team-draft interleaving, clicks credited\n"
    "                    to the network whose pick the event was\n"
    "  --max-request N   events per request at most (default %d)\n"
    "  --memory N        events kept for major updates (default %d)\n"
    "  --major-every N   events between major updates (default %d)\n"
    "  --major-steps S   training steps per major update (default: major-every / batch,\n"
    "                    0: none)\n"
    "  --batch N         events per training step (default %d)\n"
    "  --lr X            learning rate of the model's optimizers\n"
    "  --group COL       the user column of requests (default: userId, uid, user_id or user)\n"
    "  --seed N          seed of negatives, perturbations and batches (default %d)\n"
    "  --skip-bad        skip rows with bad values instead of stopping\n"
    "  --json            print the summary as one JSON object\n"
    "  -q, --quiet       no progress lines, no out-of-vocabulary report\n"
    "  -h, --help        this text\n";

static const char *const help_synth =
    "usage: %s synth N [options]\n"
    "Writes N rows of synthetic data with this model's columns and delimiter, drawn from a\n"
    "hidden random teacher (per-id weights, linear float weights, one interaction), so a\n"
    "trained model can reach an AUC well above 0.5. The teacher depends on the model\n"
    "only: different --seed values give a training and a test set of one problem.\n"
    "  --seed S          seed of the rows (default %d)\n"
    "  --teacher-seed S  seed of the teacher (default: from the model's signature)\n"
    "  --zipf S          skew of the id columns: Zipf(S) over each vocabulary (default 1.1)\n"
    "  -o, --output FILE write to FILE (default stdout)\n"
    "  -h, --help        this text\n";

enum { O_VALID = 256, O_EPOCHS, O_BATCH, O_LR, O_SEED, O_THREADS, O_PATIENCE, O_GROUP,
       O_SKIP, O_JSON, O_TEACHER, O_STREAM, O_MAXMEM, O_SHUFFLE, O_PREFETCH, O_SCHED, O_WARMUP,
       O_LRMIN, O_LRSTEP, O_CLIP, O_INPUT, O_ZIPF, O_TIME, O_NUMERICS, O_ALPHA, O_ETA, O_COMPARE,
       O_MEMORY, O_MAJOR_EVERY, O_MAJOR_STEPS, O_MAX_REQUEST, O_PROFILE };

static int bad_usage(const char *cmd, const char *fmt, const char *a, const char *b) {
  fprintf(stderr, "%s %s: ", prog, cmd);
  fprintf(stderr, fmt, a, b);
  fprintf(stderr, "\n(%s %s --help lists the options)\n", prog, cmd);
  return 2;
}

/* Whether the space-separated word list holds word. */
static int allows(const char *list, const char *word) {
  size_t n = strlen(word);
  for (const char *p = list; *p;) {
    size_t k = strcspn(p, " ");
    if (k == n && !strncmp(p, word, n)) return 1;
    p += k;
    p += *p == ' ';
  }
  return 0;
}

/* A decimal integer in [lo, hi], or -1 after printing a usage error. */
static int num_int(const char *cmd, const char *opt, const char *arg, long long lo, long long hi,
                   long long *out) {
  char *end;
  errno = 0;
  long long v = strtoll(arg, &end, 10);
  if (!*arg || *end || errno || v < lo || v > hi) {
    char range[64];
    snprintf(range, sizeof range, "an integer in [%lld, %lld]", lo, hi);
    fprintf(stderr, "%s %s: %s: '%s' is not %s\n", prog, cmd, opt, arg, range);
    return -1;
  }
  *out = v;
  return 0;
}

static int default_threads(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > 8 ? 8 : (int)n;
}

/* A finite number in [lo, hi] (excluding lo when open), or -1 after a usage error. */
static int num_real(const char *cmd, const char *opt, const char *arg, double lo, int open,
                    double hi, double *out) {
  char *end;
  double x = strtod(arg, &end);
  if (!*arg || *end || !isfinite(x) || x < lo || (open && x == lo) || x > hi) {
    fprintf(stderr, "%s %s: %s: '%s' is not a number in %s%g, %g]\n", prog, cmd, opt, arg,
            open ? "(" : "[", lo, hi);
    return -1;
  }
  *out = x;
  return 0;
}

/* Parses argv (argv[0] is the command) into o: 0, 1 after --help, 2 on a usage error. */
static int parse(const DmcModel *m, const char *cmd, int argc, char **argv, RtOpts *o) {
  static const struct option opts[] = {
      {"valid", required_argument, 0, O_VALID},    {"epochs", required_argument, 0, O_EPOCHS},
      {"batch", required_argument, 0, O_BATCH},    {"lr", required_argument, 0, O_LR},
      {"seed", required_argument, 0, O_SEED},      {"threads", required_argument, 0, O_THREADS},
      {"patience", required_argument, 0, O_PATIENCE}, {"group", required_argument, 0, O_GROUP},
      {"output", required_argument, 0, 'o'},       {"checkpoint", required_argument, 0, 'c'},
      {"skip-bad", no_argument, 0, O_SKIP},        {"json", no_argument, 0, O_JSON},
      {"teacher-seed", required_argument, 0, O_TEACHER}, {"quiet", no_argument, 0, 'q'},
      {"stream", no_argument, 0, O_STREAM},        {"max-memory", required_argument, 0, O_MAXMEM},
      {"shuffle-buffer", required_argument, 0, O_SHUFFLE},
      {"prefetch", required_argument, 0, O_PREFETCH},
      {"lr-schedule", required_argument, 0, O_SCHED}, {"warmup", required_argument, 0, O_WARMUP},
      {"lr-min", required_argument, 0, O_LRMIN},   {"lr-step", required_argument, 0, O_LRSTEP},
      {"clip", required_argument, 0, O_CLIP},      {"top-k", required_argument, 0, 'k'},
      {"zipf", required_argument, 0, O_ZIPF},      {"time", required_argument, 0, O_TIME},
      {"check-numerics", no_argument, 0, O_NUMERICS}, {"profile", no_argument, 0, O_PROFILE},
      {"input", required_argument, 0, O_INPUT},
      {"alpha", required_argument, 0, O_ALPHA},    {"eta", required_argument, 0, O_ETA},
      {"compare", required_argument, 0, O_COMPARE}, {"memory", required_argument, 0, O_MEMORY},
      {"major-every", required_argument, 0, O_MAJOR_EVERY},
      {"major-steps", required_argument, 0, O_MAJOR_STEPS},
      {"max-request", required_argument, 0, O_MAX_REQUEST},
      {"help", no_argument, 0, 'h'},               {0, 0, 0, 0}};
  /* which options each command takes */
  static const struct { const char *cmd, *allowed; } table[] = {
      {"train", "valid epochs batch lr seed threads patience group output skip-bad json quiet help "
                "stream max-memory shuffle-buffer prefetch lr-schedule warmup lr-min lr-step clip "
                "top-k check-numerics"},
      {"eval", "checkpoint group batch threads seed skip-bad json help top-k input"},
      {"predict", "checkpoint batch threads seed skip-bad help input"},
      {"retrieve", "checkpoint top-k batch threads seed skip-bad json quiet help"},
      {"info", "json help"},
      {"synth", "seed teacher-seed zipf output help"},
      {"bench", "batch threads zipf time seed lr json help profile"},
      {"online", "checkpoint output batch lr seed group skip-bad json quiet help alpha eta compare "
                 "memory major-every major-steps max-request"}};
  const char *allowed = NULL;
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (!strcmp(cmd, table[i].cmd)) allowed = table[i].allowed;
  long long v;
  int c, idx;
#ifdef __GLIBC__
  optind = 0; /* full reinitialisation, so rt_main can run more than once in a process */
#else
  optind = 1;
#endif
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":o:c:k:qh", opts, &idx)) != -1) {
    const char *name = NULL;
    for (const struct option *p = opts; p->name; p++)
      if (p->val == c) name = p->name;
    if (c == '?') return bad_usage(cmd, "unknown option '%s'%s", argv[optind - 1], "");
    if (c == ':') return bad_usage(cmd, "option '%s' needs a value%s", argv[optind - 1], "");
    if (!name || !allows(allowed, name)) {
      char opt[64];
      snprintf(opt, sizeof opt, "--%s", name ? name : "?");
      return bad_usage(cmd, "option '%s' does not apply to this command%s", opt, "");
    }
    switch (c) {
    case 'h': {
      const char *pn = prog;
      if (!strcmp(cmd, "train"))
        printf(help_train, pn, RT_RETRIEVE_K, m->epochs, m->batch, m->seed, pn, RT_FEED_SHUFFLE,
               RT_FEED_PREFETCH);
      else if (!strcmp(cmd, "eval")) printf(help_eval, pn, pn, RT_RETRIEVE_K, m->batch, m->seed);
      else if (!strcmp(cmd, "predict")) printf(help_predict, pn, m->outputs[0].name, pn, m->batch, m->seed);
      else if (!strcmp(cmd, "retrieve")) {
        int r = rt_model_retrieves(m);
        printf(help_retrieve, pn, r ? m->outputs[m->retrieve_output].name : "-",
               r ? m->params[m->retrieve_table].name : "-",
               r ? m->features[m->retrieve_target].name : "-", pn, RT_RETRIEVE_K, m->batch, m->seed);
        if (!r) printf("(model %s was not trained with sampled_softmax: it cannot retrieve)\n", m->name);
      }
      else if (!strcmp(cmd, "info")) printf(help_info, pn);
      else if (!strcmp(cmd, "bench")) printf(help_bench, pn, m->batch, m->seed);
      else if (!strcmp(cmd, "online"))
        printf(help_online, pn, pn, RT_ONLINE_ALPHA, RT_ONLINE_ETA, RT_ONLINE_MAX_REQUEST,
               RT_ONLINE_MEMORY, RT_ONLINE_MAJOR_EVERY, m->batch, m->seed);
      else printf(help_synth, pn, m->seed);
      return 1;
    }
    case O_VALID: o->valid = optarg; break;
    case O_INPUT: o->input = optarg; break;
    case O_EPOCHS:
      if (num_int(cmd, "--epochs", optarg, 1, 1000000, &v)) return 2;
      o->epochs = (int)v;
      break;
    case O_BATCH:
      if (num_int(cmd, "--batch", optarg, 1, 1 << 20, &v)) return 2;
      o->batch = (int)v;
      break;
    case O_THREADS:
      if (num_int(cmd, "--threads", optarg, 1, 64, &v)) return 2;
      o->threads = (int)v;
      o->threads_set = 1;
      break;
    case O_ZIPF:
      if (num_real(cmd, "--zipf", optarg, 0, 0, 10, &o->zipf)) return 2;
      o->zipf_set = 1;
      break;
    case O_PROFILE: o->profile = 1; break;
    case O_TIME:
      if (num_real(cmd, "--time", optarg, 0, 1, 3600, &o->seconds)) return 2;
      break;
    case O_PATIENCE:
      if (num_int(cmd, "--patience", optarg, 0, 1000000, &v)) return 2;
      o->patience = (int)v;
      break;
    case O_SEED:
    case O_TEACHER:
      if (num_int(cmd, c == O_SEED ? "--seed" : "--teacher-seed", optarg, 0, INT64_MAX, &v)) return 2;
      if (c == O_SEED) o->seed = (uint64_t)v, o->seed_set = 1;
      else o->teacher_seed = (uint64_t)v, o->teacher_set = 1;
      break;
    case O_LR: {
      char *end;
      double x = strtod(optarg, &end);
      if (!*optarg || *end || !(x > 0) || !isfinite(x))
        return bad_usage(cmd, "--lr: '%s' is not a positive number%s", optarg, "");
      o->lr = x;
      break;
    }
    case O_STREAM: o->stream = 1; break;
    case O_MAXMEM:
      if (num_real(cmd, "--max-memory", optarg, 0, 1, 1e12, &o->max_memory_mb)) return 2;
      break;
    case O_SHUFFLE:
      if (num_int(cmd, "--shuffle-buffer", optarg, 1, 1LL << 32, &v)) return 2;
      o->shuffle_buffer = v;
      break;
    case O_PREFETCH:
      if (num_int(cmd, "--prefetch", optarg, 0, 64, &v)) return 2;
      o->prefetch = (int)v;
      o->prefetch_set = 1;
      break;
    case O_SCHED: {
      RtSchedKind k;
      if (rt_sched_parse(optarg, &k))
        return bad_usage(cmd, "--lr-schedule: '%s' is not one of constant, linear, cosine, step%s",
                         optarg, "");
      o->lr_schedule = (int)k;
      break;
    }
    case O_WARMUP:
      if (num_int(cmd, "--warmup", optarg, 0, INT64_MAX, &v)) return 2;
      o->warmup = v;
      break;
    case O_LRMIN:
      if (num_real(cmd, "--lr-min", optarg, 0, 0, 1, &o->lr_min)) return 2;
      break;
    case O_LRSTEP:
      if (num_int(cmd, "--lr-step", optarg, 1, 1000000, &v)) return 2;
      o->lr_step = (int)v;
      break;
    case O_CLIP:
      if (num_real(cmd, "--clip", optarg, 0, 1, 1e30, &o->clip)) return 2;
      break;
    case 'k':
      if (num_int(cmd, "-k", optarg, 1, 100000, &v)) return 2;
      o->k = (int)v;
      break;
    case O_GROUP: o->group = optarg; break;
    case 'o':
      if (!strcmp(cmd, "synth") || !strcmp(cmd, "online")) o->out = optarg;
      else o->checkpoint = optarg;
      break;
    case 'c': o->checkpoint = optarg; break;
    case O_SKIP: o->skip_bad = 1; break;
    case O_NUMERICS: o->check_numerics = 1; break;
    case O_ALPHA:
      if (num_real(cmd, "--alpha", optarg, 0, 0, 1, &o->online.alpha)) return 2;
      o->online.alpha_set = 1;
      break;
    case O_ETA:
      if (num_real(cmd, "--eta", optarg, 0, 1, 1, &o->online.eta)) return 2;
      o->online.eta_set = 1;
      break;
    case O_COMPARE:
      if (strcmp(optarg, "pairs") && strcmp(optarg, "interleave"))
        return bad_usage(cmd, "--compare: '%s' is not pairs or interleave%s", optarg, "");
      o->online.interleave = !strcmp(optarg, "interleave");
      break;
    case O_MEMORY:
    case O_MAJOR_EVERY:
      if (num_int(cmd, c == O_MEMORY ? "--memory" : "--major-every", optarg, 1, 1LL << 32, &v)) return 2;
      *(c == O_MEMORY ? &o->online.memory : &o->online.major_every) = v;
      break;
    case O_MAJOR_STEPS:
      if (num_int(cmd, "--major-steps", optarg, 0, 1000000, &v)) return 2;
      o->online.major_steps = (int)v;
      o->online.steps_set = 1;
      break;
    case O_MAX_REQUEST:
      if (num_int(cmd, "--max-request", optarg, 1, 100000, &v)) return 2;
      o->online.max_request = (int)v;
      break;
    case O_JSON: o->json = 1; break;
    case 'q': o->quiet = 1; break;
    }
  }
  if (o->input && !rt_model_heldout(m))
    return bad_usage(cmd, "--input gives the input groups of a group_by model (I-AutoRec); model %s "
                     "has none%s", m->name, "");
  o->files = (const char *const *)argv + optind;
  o->nfiles = argc - optind;
  if ((!strcmp(cmd, "info") || !strcmp(cmd, "bench")) && o->nfiles)
    return bad_usage(cmd, "unexpected argument '%s'%s", o->files[0], "");
  if (!strcmp(cmd, "synth")) {
    if (o->nfiles != 1) return bad_usage(cmd, "give the number of rows: synth N%s%s", "", "");
    if (num_int(cmd, "N", o->files[0], 0, INT64_MAX, &v)) return 2;
    o->nrows = v;
    o->nfiles = 0;
  } else if (strcmp(cmd, "info") && strcmp(cmd, "bench") && !o->nfiles) {
    return bad_usage(cmd, "give at least one data file%s%s", "", "");
  }
  return 0;
}

int rt_main(const DmcModel *m, int argc, char **argv) {
  static char ckpt[4096];
  dmc_flush_denormals();   /* before any thread: they inherit it */
  const char *slash = argc > 0 ? strrchr(argv[0], '/') : NULL;
  prog = argc > 0 ? (slash ? slash + 1 : argv[0]) : m->name;
  RtError err = {""};
  if (rt_model_check(m, &err)) {
    fprintf(stderr, "%s: error: %s\n", prog, err.msg);
    return 1;
  }
  if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
    usage(argc < 2 ? stderr : stdout, m);
    return argc < 2 ? 2 : 0;
  }
  const char *cmd = argv[1];
  static const struct { const char *name; int (*run)(const DmcModel *, const RtOpts *); } cmds[] = {
      {"train", rt_cmd_train}, {"eval", rt_cmd_eval}, {"predict", rt_cmd_predict},
      {"retrieve", rt_cmd_retrieve}, {"info", rt_cmd_info}, {"synth", rt_cmd_synth},
      {"bench", rt_cmd_bench}, {"online", rt_cmd_online}};
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
    if (strcmp(cmd, cmds[i].name)) continue;
    RtOpts o = {.prog = prog, .patience = 2, .threads = default_threads()};
    int r = parse(m, cmd, argc - 1, argv + 1, &o);
    if (r) return r == 1 ? 0 : r;
    if (!o.checkpoint) {
      snprintf(ckpt, sizeof ckpt, "%s.ckpt", prog);
      o.checkpoint = ckpt;
    }
    return cmds[i].run(m, &o);
  }
  fprintf(stderr, "%s: unknown command '%s'\n", prog, cmd);
  usage(stderr, m);
  return 2;
}
