/* kprofile.c -- see kprofile.h. Kernels are told apart by their descriptor's
 * address (one constant per kernel call of the generated code). */
#include "kprofile.h"

#include <stdlib.h>
#include <string.h>

#include "kernels.h"

enum { SLOTS = 8192 };

typedef struct {
  const DmcKernel *k;
  double secs;
  long calls;
} Entry;

static Entry table[SLOTS];
static int used;

static void record(const DmcKernel *k, int B, double secs) {
  (void)B;
  size_t h = ((size_t)k >> 4) & (SLOTS - 1);
  for (int probe = 0; probe < SLOTS; probe++, h = (h + 1) & (SLOTS - 1)) {
    if (table[h].k == k || (!table[h].k && used < SLOTS - 1)) {
      if (!table[h].k) table[h].k = k, used++;
      table[h].secs += secs;
      table[h].calls++;
      return;
    }
  }
}

static const char *op_name(int op) {
  static const char *const names[] = {
#define OP(name, text, arity, shape_rule, kind, grad) text,
#include "ops.def"
#undef OP
  };
  return op >= 0 && op < DMC_OP__COUNT ? names[op] : op == DMC_OP_FUSED ? "fused" : "?";
}

static int by_time(const void *a, const void *b) {
  double x = ((const Entry *)a)->secs, y = ((const Entry *)b)->secs;
  return x < y ? 1 : x > y ? -1 : 0;
}

void rt_kprofile_begin(void) {
  memset(table, 0, sizeof table);
  used = 0;
  dmc_kernel_timer = record;
}

void rt_kprofile_end(FILE *f, const char *title, int top) {
  dmc_kernel_timer = NULL;
  Entry *e = malloc(sizeof(Entry) * (size_t)(used ? used : 1));
  int n = 0;
  double total = 0;
  for (int i = 0; i < SLOTS; i++)
    if (table[i].k) e[n++] = table[i], total += table[i].secs;
  if (!e) return;
  qsort(e, (size_t)n, sizeof *e, by_time);
  fprintf(f, "  %s: %d kernels, %.3f s in kernels\n", title, n, total);
  for (int i = 0; i < n && i < top; i++) {
    const DmcKernel *k = e[i].k;
    char what[160] = "", shape[48] = "";
    if (k->op == DMC_OP_FUSED) {
      size_t at = (size_t)snprintf(what, sizeof what, "fused[");
      for (int s = 0; s < k->nstep && at < sizeof what; s++)
        at += (size_t)snprintf(what + at, sizeof what - at, "%s%s", s ? " " : "", op_name(k->step[s].op));
      if (at < sizeof what) snprintf(what + at, sizeof what - at, "]");
    } else {
      snprintf(what, sizeof what, "%s", op_name(k->op));
    }
    size_t at = (size_t)snprintf(shape, sizeof shape, "[%s", k->out.batched ? "B" : "");
    for (int d = 0; d < k->out.rank && at < sizeof shape; d++)
      at += (size_t)snprintf(shape + at, sizeof shape - at, "%s%d", d || k->out.batched ? "," : "", k->out.dim[d]);
    if (at < sizeof shape) snprintf(shape + at, sizeof shape - at, "]");
    fprintf(f, "    %5.1f%%  %8.3f ms/call  %7ld calls  %-44s %s\n", total > 0 ? 100 * e[i].secs / total : 0,
            1e3 * e[i].secs / (double)e[i].calls, e[i].calls, what, shape);
  }
  free(e);
}
