/* progress.c -- the terminal progress bar and periodic log lines (see progress.h). */
#include "progress.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

double rt_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void rt_progress_start(RtProgress *p, const char *label, int64_t total, int enabled) {
  memset(p, 0, sizeof *p);
  p->out = stderr;
  p->tty = isatty(fileno(stderr));
  p->enabled = enabled;
  snprintf(p->label, sizeof p->label, "%s", label);
  p->total = total;
  p->t0 = p->last = rt_now();
  p->period = p->tty ? 0.1 : 10.0;
}

static void human(char *buf, size_t cap, double x) {
  if (x >= 1e6) snprintf(buf, cap, "%.1fM", x / 1e6);
  else if (x >= 1e3) snprintf(buf, cap, "%.1fk", x / 1e3);
  else snprintf(buf, cap, "%.0f", x);
}

void rt_progress_update(RtProgress *p, int64_t done, double loss) {
  double now = rt_now();
  if (!p->enabled || now - p->last < p->period) return;
  p->last = now;
  double el = now - p->t0, rate = el > 0 ? (double)done / el : 0;
  char r[32];
  human(r, sizeof r, rate);
  if (p->tty) {
    char bar[31];
    int fill = p->total ? (int)(30 * done / p->total) : 0;
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    double left = rate > 0 ? (double)(p->total - done) / rate : 0;
    fprintf(p->out, "\r\033[K%s [%s] %3d%% %lld/%lld loss %.4f %s rows/s ETA %.0fs", p->label, bar,
            p->total ? (int)(100 * done / p->total) : 0, (long long)done, (long long)p->total,
            loss, r, left);
  } else {
    fprintf(p->out, "%s: %lld/%lld rows, loss %.4f, %s rows/s\n", p->label, (long long)done,
            (long long)p->total, loss, r);
  }
  fflush(p->out);
}

void rt_progress_end(RtProgress *p) {
  if (p->enabled && p->tty && p->last > p->t0) {
    fprintf(p->out, "\r\033[K");
    fflush(p->out);
  }
}
