/* csv.h -- streaming CSV/TSV reader.
 *
 * Reads one or more files (plain or gzip, told apart by zlib from the gzip
 * magic bytes) as one stream of rows. Each file starts with a header row;
 * the first file's header names the columns and every later file must have
 * the same header. Fields follow RFC 4180: a field may be quoted, a quoted
 * field may hold the delimiter, newlines and "" for one quote; CRLF line
 * ends and a UTF-8 byte order mark at the start of a file are accepted.
 *
 * Fields are returned as (pointer, length) slices into one reusable record
 * buffer: no allocation per field or row once the buffer has grown to the
 * longest row. A slice is valid until the next rt_csv_next call and is not
 * NUL-terminated.
 *
 * Errors are "file:line: column NAME: what is wrong" ("field N" in a header
 * or past its last column). A row whose field count differs from the
 * header's, or holding a field longer than max_field bytes, is an error;
 * after rt_csv_tolerate such rows are returned like any other (the long
 * field cut) and rt_csv_fault says what is wrong with them, so the caller
 * can skip and count them. After any other error the reader can only be
 * closed.
 *
 * Limits: blank lines are skipped (so a one-column file cannot hold an empty
 * value on a line of its own); a quote inside an unquoted field is taken
 * literally; an unclosed quote runs to the end of the file (an error). One
 * reader is used by one thread.
 */
#ifndef RT_CSV_H
#define RT_CSV_H

#include <stddef.h>

#include "rterr.h"

#define RT_CSV_MAX_FIELD (1u << 20) /* default limit on one field, bytes */

typedef struct RtSlice {
  const char *ptr; /* not NUL-terminated */
  size_t len;
} RtSlice;

typedef struct RtCsv RtCsv;

/* Opens paths[0..npaths-1] as one stream and reads the first header.
 * delim is ',' or '\t' (any byte but a quote or a line end works);
 * max_field 0 means RT_CSV_MAX_FIELD. NULL and *err filled on error. */
RtCsv *rt_csv_open(const char *const *paths, int npaths, char delim,
                   size_t max_field, RtError *err);

/* Reads the next row: 1 on a row, 0 at the end of the last file,
 * -1 with *err = "file:line: what is wrong". */
int rt_csv_next(RtCsv *c, RtError *err);

/* Rows with a wrong field count or an over-long field are returned by
 * rt_csv_next from now on (the header has been read: it is never tolerated). */
void rt_csv_tolerate(RtCsv *c);
enum { RT_CSV_WHOLE, RT_CSV_FIELDS, RT_CSV_LONG };
/* What is wrong with the current row: RT_CSV_WHOLE (nothing), or
 * RT_CSV_FIELDS / RT_CSV_LONG with *err = "file:line: column NAME: ...". */
int rt_csv_fault(const RtCsv *c, RtError *err);
/* Fields in the current row (rt_csv_ncols unless it has a fault). */
int rt_csv_nfields(const RtCsv *c);

int rt_csv_ncols(const RtCsv *c);
const char *rt_csv_colname(const RtCsv *c, int col);
/* Column index of a header name, or -1. */
int rt_csv_find(const RtCsv *c, const char *name);
/* Field col (0 <= col < ncols) of the current row. */
RtSlice rt_csv_field(const RtCsv *c, int col);
/* File and line where the current row starts. */
const char *rt_csv_path(const RtCsv *c);
long rt_csv_line(const RtCsv *c);

void rt_csv_close(RtCsv *c);

#endif
