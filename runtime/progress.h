/* progress.h -- progress of a long loop on stderr.
 *
 * On a terminal: one line redrawn at most ten times a second, with a bar,
 * rows done, the running loss, rows per second and the time left; cleared
 * when done. Otherwise (a log file, a pipe): a plain line every `period`
 * seconds (10 by default), so logs stay readable.
 */
#ifndef RT_PROGRESS_H
#define RT_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

typedef struct RtProgress {
  FILE *out;
  int tty, enabled;
  char label[64];
  int64_t total;
  double t0, last, period;
} RtProgress;

/* Monotonic seconds. */
double rt_now(void);
void rt_progress_start(RtProgress *p, const char *label, int64_t total, int enabled);
void rt_progress_update(RtProgress *p, int64_t done, double loss);
void rt_progress_end(RtProgress *p);

#endif
