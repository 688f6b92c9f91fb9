/* rterr.c -- formatting of RtError messages (see rterr.h). */
#include "rterr.h"

#include <stdarg.h>
#include <stdio.h>

int rt_error(RtError *e, const char *fmt, ...) {
  if (e) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
  }
  return -1;
}
