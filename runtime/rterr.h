/* rterr.h -- the error value every runtime module returns.
 *
 * A runtime function that can fail for a reason the user must see (bad data,
 * a damaged checkpoint, a missing file) returns -1 (or NULL) and fills an
 * RtError with one readable message, usually `file:line: what is wrong`,
 * sometimes followed by a second line `HINT: what to do`. The caller prints
 * it and decides whether to stop. Messages longer than the buffer are cut.
 * Runtime bugs are assert()s, not RtErrors.
 */
#ifndef RT_RTERR_H
#define RT_RTERR_H

#define RT_ERR_MAX 1024

typedef struct RtError {
  char msg[RT_ERR_MAX];
} RtError;

#if defined(__GNUC__)
#define RT_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define RT_PRINTF(f, a)
#endif

/* Formats the message into *e (e may be NULL) and returns -1. */
int rt_error(RtError *e, const char *fmt, ...) RT_PRINTF(2, 3);

#endif
