/* kprofile.h -- where a program's time goes, kernel by kernel (PROG bench
 * --profile): while a profile runs, every kernel call is timed (kernels.h:
 * dmc_kernel_timer) and summed per kernel; the report lists the kernels that
 * took the most, with their op (a fused kernel: its steps) and output shape.
 * One profile at a time, from one thread. */
#ifndef RT_KPROFILE_H
#define RT_KPROFILE_H

#include <stdio.h>

void rt_kprofile_begin(void);
/* Stops timing and prints the `top` costliest kernels under `title`. */
void rt_kprofile_end(FILE *f, const char *title, int top);

#endif
