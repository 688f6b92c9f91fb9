/* csv.c -- streaming CSV/TSV reader (see csv.h for what it accepts).
 *
 * Bytes come from zlib's gzread, which reads gzip files and passes other
 * files through unchanged. A small state machine copies each record's
 * fields, unescaped, back to back into c->rec and records (start, length)
 * pairs in c->off; slices point into c->rec once the record is complete.
 * c->line counts every newline read, including those inside quotes, so a
 * row is reported at the line where it starts.
 */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "csv.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

enum { ST_START, ST_PLAIN, ST_QUOTED, ST_QUOTE_END };

struct RtCsv {
  char **paths; /* copies of the caller's paths */
  int npaths;
  int ifile;    /* file being read; npaths when all are done */
  gzFile gz;    /* NULL once the last file is done */
  char delim;
  size_t max_field;

  unsigned char in[1 << 16]; /* input bytes in[inpos..inlen) */
  size_t inpos, inlen;
  long line;    /* line number of the next input byte */

  char *rec;    /* current record: fields back to back */
  size_t reclen, reccap;
  size_t *off;  /* off[2i], off[2i+1]: start and length of field i */
  int nf, fcap;
  long recline; /* line where the current record starts */

  char **names; /* column names, from the first file's header */
  char *namebuf;
  int ncols;

  int tolerant; /* rt_csv_tolerate: rows with faults are returned, not errors */
  int overlong; /* field of the current record cut at max_field bytes, or -1 */
};

static const char *cur_path(const RtCsv *c) {
  return c->paths[c->ifile < c->npaths ? c->ifile : c->npaths - 1];
}

/* "column NAME" for field i of a data row, "field I" in a header or past the header. */
static const char *col_str(const RtCsv *c, int i, char *buf, size_t cap) {
  if (c->names && i < c->ncols) snprintf(buf, cap, "column %s", c->names[i]);
  else snprintf(buf, cap, "field %d", i + 1);
  return buf;
}

/* Refills the input buffer: the next byte, -1 at end of file, -2 on error. */
static int refill(RtCsv *c, RtError *err) {
  int n = gzread(c->gz, c->in, sizeof c->in);
  int code = Z_OK;
  const char *msg = gzerror(c->gz, &code);
  if (n < 0 || (code != Z_OK && code != Z_BUF_ERROR)) {
    rt_error(err, "%s:%ld: read error: %s", cur_path(c), c->line,
             code == Z_ERRNO ? strerror(errno) : msg);
    return -2;
  }
  if (n == 0) {
    if (code == Z_BUF_ERROR) {
      rt_error(err, "%s:%ld: gzip data ends early (truncated file?)",
               cur_path(c), c->line);
      return -2;
    }
    return -1;
  }
  c->inpos = 1;
  c->inlen = (size_t)n;
  return c->in[0];
}

static inline int getbyte(RtCsv *c, RtError *err) {
  if (c->inpos < c->inlen) return c->in[c->inpos++];
  return refill(c, err);
}

static int append(RtCsv *c, size_t fstart, int ch, RtError *err) {
  if (c->reclen - fstart >= c->max_field) {
    char col[300];
    if (c->tolerant && c->names) { /* cut here, the row is reported whole */
      if (c->overlong < 0) c->overlong = c->nf;
      return 0;
    }
    return rt_error(err, "%s:%ld: %s: longer than %zu bytes", cur_path(c), c->recline,
                    col_str(c, c->nf, col, sizeof col), c->max_field);
  }
  if (c->reclen == c->reccap) {
    size_t cap = 2 * c->reccap;
    char *p = realloc(c->rec, cap);
    if (!p) return rt_error(err, "%s: out of memory", cur_path(c));
    c->rec = p;
    c->reccap = cap;
  }
  c->rec[c->reclen++] = (char)ch;
  return 0;
}

static int end_field(RtCsv *c, size_t fstart, RtError *err) {
  if (c->nf == c->fcap) {
    int cap = c->fcap ? 2 * c->fcap : 64;
    size_t *p = realloc(c->off, 2 * (size_t)cap * sizeof *p);
    if (!p) return rt_error(err, "%s: out of memory", cur_path(c));
    c->off = p;
    c->fcap = cap;
  }
  c->off[2 * c->nf] = fstart;
  c->off[2 * c->nf + 1] = c->reclen - fstart;
  c->nf++;
  return 0;
}

/* Reads one record into rec/off: 1 on a record, 0 at end of file, -1 on
 * error. Blank lines are skipped. */
static int parse_record(RtCsv *c, RtError *err) {
  for (;;) {
    int st = ST_START, any = 0, quoted = 0;
    size_t fstart = 0;
    long qline = 0;
    c->reclen = 0;
    c->nf = 0;
    c->overlong = -1;
    c->recline = c->line;
    for (;;) {
      int ch = getbyte(c, err);
      if (ch == -2) return -1;
      if (ch == -1) {
        if (!any) return 0;
        char col[300];
        if (st == ST_QUOTED)
          return rt_error(err, "%s:%ld: %s: the quote is not closed before the end of "
                          "the file", cur_path(c), qline, col_str(c, c->nf, col, sizeof col));
        break;
      }
      any = 1;
      if (st == ST_START) {
        quoted = ch == '"';
        if (quoted) {
          st = ST_QUOTED;
          qline = c->line;
          continue;
        }
        st = ST_PLAIN;
      }
      if (st == ST_PLAIN) {
        if (ch == c->delim) {
          if (end_field(c, fstart, err)) return -1;
          fstart = c->reclen;
          st = ST_START;
        } else if (ch == '\n') {
          c->line++;
          break;
        } else if (append(c, fstart, ch, err)) {
          return -1;
        }
      } else if (st == ST_QUOTED) {
        if (ch == '"') {
          st = ST_QUOTE_END;
        } else {
          if (ch == '\n') c->line++;
          if (append(c, fstart, ch, err)) return -1;
        }
      } else { /* ST_QUOTE_END: just after a quote inside a quoted field */
        if (ch == '"') {
          if (append(c, fstart, ch, err)) return -1;
          st = ST_QUOTED;
        } else if (ch == c->delim) {
          if (end_field(c, fstart, err)) return -1;
          fstart = c->reclen;
          st = ST_START;
        } else if (ch == '\n') {
          c->line++;
          break;
        } else if (ch != '\r') {
          char col[300];
          return rt_error(err, "%s:%ld: %s: unexpected character '%c' after the "
                          "closing quote", cur_path(c), c->line,
                          col_str(c, c->nf, col, sizeof col), ch);
        }
      }
    }
    if (st == ST_PLAIN && c->reclen > fstart && c->rec[c->reclen - 1] == '\r')
      c->reclen--; /* CRLF */
    if (c->nf == 0 && c->reclen == 0 && !quoted) continue; /* blank line */
    if (end_field(c, fstart, err)) return -1;
    return 1;
  }
}

/* Opens paths[ifile], skips a byte order mark and reads its header: the
 * column names for the first file, a comparison for the others. */
static int open_file(RtCsv *c, RtError *err) {
  const char *path = c->paths[c->ifile];
  c->gz = gzopen(path, "rb");
  if (!c->gz) return rt_error(err, "%s: cannot open: %s", path, strerror(errno));
  gzbuffer(c->gz, 1 << 17);
  c->inpos = c->inlen = 0;
  c->line = 1;
  int ch = getbyte(c, err);
  if (ch == -2) return -1;
  if (ch >= 0) c->inpos--; /* refill left the byte at in[0] */
  if (c->inlen - c->inpos >= 3 && memcmp(c->in + c->inpos, "\xEF\xBB\xBF", 3) == 0)
    c->inpos += 3;

  int r = parse_record(c, err);
  if (r < 0) return -1;
  if (r == 0) return rt_error(err, "%s:1: empty file, expected a header row", path);
  if (c->ifile == 0) {
    c->ncols = c->nf;
    c->names = malloc((size_t)c->nf * sizeof *c->names);
    c->namebuf = malloc(c->reclen + (size_t)c->nf);
    if (!c->names || !c->namebuf) return rt_error(err, "%s: out of memory", path);
    char *p = c->namebuf;
    for (int i = 0; i < c->nf; i++) {
      RtSlice s = rt_csv_field(c, i);
      memcpy(p, s.ptr, s.len);
      p[s.len] = '\0';
      c->names[i] = p;
      p += s.len + 1;
      for (int j = 0; j < i; j++)
        if (strcmp(c->names[j], c->names[i]) == 0)
          return rt_error(err, "%s:%ld: column '%s' appears twice in the header",
                          path, c->recline, c->names[i]);
    }
    return 0;
  }
  if (c->nf != c->ncols)
    return rt_error(err, "%s:%ld: header has %d columns but %s has %d", path,
                    c->recline, c->nf, c->paths[0], c->ncols);
  for (int i = 0; i < c->nf; i++) {
    RtSlice s = rt_csv_field(c, i);
    if (strlen(c->names[i]) != s.len || memcmp(c->names[i], s.ptr, s.len) != 0)
      return rt_error(err, "%s:%ld: header differs from %s: column %d is '%.*s' "
                      "here, '%s' there", path, c->recline, c->paths[0], i + 1,
                      (int)s.len, s.ptr, c->names[i]);
  }
  return 0;
}

RtCsv *rt_csv_open(const char *const *paths, int npaths, char delim,
                   size_t max_field, RtError *err) {
  if (npaths < 1) {
    rt_error(err, "no input files");
    return NULL;
  }
  if (delim == '"' || delim == '\n' || delim == '\r') {
    rt_error(err, "%s: a quote or a line end cannot be the delimiter", paths[0]);
    return NULL;
  }
  RtCsv *c = calloc(1, sizeof *c);
  if (!c || !(c->paths = calloc((size_t)npaths, sizeof *c->paths))) {
    free(c);
    rt_error(err, "%s: out of memory", paths[0]);
    return NULL;
  }
  c->npaths = npaths;
  c->delim = delim;
  c->max_field = max_field ? max_field : RT_CSV_MAX_FIELD;
  c->reccap = 4096;
  if (!(c->rec = malloc(c->reccap))) {
    rt_error(err, "%s: out of memory", paths[0]);
    rt_csv_close(c);
    return NULL;
  }
  for (int i = 0; i < npaths; i++) {
    if (!(c->paths[i] = strdup(paths[i]))) {
      rt_error(err, "%s: out of memory", paths[i]);
      rt_csv_close(c);
      return NULL;
    }
  }
  if (open_file(c, err)) {
    rt_csv_close(c);
    return NULL;
  }
  return c;
}

int rt_csv_fault(const RtCsv *c, RtError *err) {
  char col[300];
  if (c->overlong >= 0) {
    rt_error(err, "%s:%ld: %s: longer than %zu bytes", cur_path(c), c->recline,
             col_str(c, c->overlong, col, sizeof col), c->max_field);
    return RT_CSV_LONG;
  }
  if (c->nf == c->ncols) return RT_CSV_WHOLE;
  if (c->nf < c->ncols)
    rt_error(err, "%s:%ld: %s: missing: the row has %d fields, the header %d", cur_path(c),
             c->recline, col_str(c, c->nf, col, sizeof col), c->nf, c->ncols);
  else
    rt_error(err, "%s:%ld: %s: not in the header: the row has %d fields, the header %d",
             cur_path(c), c->recline, col_str(c, c->ncols, col, sizeof col), c->nf, c->ncols);
  return RT_CSV_FIELDS;
}

void rt_csv_tolerate(RtCsv *c) { c->tolerant = 1; }

int rt_csv_nfields(const RtCsv *c) { return c->nf; }

int rt_csv_next(RtCsv *c, RtError *err) {
  while (c->gz) {
    int r = parse_record(c, err);
    if (r < 0) return -1;
    if (r == 1) return c->tolerant || rt_csv_fault(c, err) == RT_CSV_WHOLE ? 1 : -1;
    gzclose(c->gz);
    c->gz = NULL;
    if (++c->ifile == c->npaths) break;
    if (open_file(c, err)) return -1;
  }
  return 0;
}

int rt_csv_ncols(const RtCsv *c) { return c->ncols; }

const char *rt_csv_colname(const RtCsv *c, int col) {
  assert(col >= 0 && col < c->ncols);
  return c->names[col];
}

int rt_csv_find(const RtCsv *c, const char *name) {
  for (int i = 0; i < c->ncols; i++)
    if (strcmp(c->names[i], name) == 0) return i;
  return -1;
}

RtSlice rt_csv_field(const RtCsv *c, int col) {
  assert(col >= 0 && col < c->nf);
  RtSlice s = {c->rec + c->off[2 * col], c->off[2 * col + 1]};
  return s;
}

const char *rt_csv_path(const RtCsv *c) { return cur_path(c); }

long rt_csv_line(const RtCsv *c) { return c->recline; }

void rt_csv_close(RtCsv *c) {
  if (!c) return;
  if (c->gz) gzclose(c->gz);
  for (int i = 0; c->paths && i < c->npaths; i++) free(c->paths[i]);
  free(c->paths);
  free(c->rec);
  free(c->off);
  free(c->names);
  free(c->namebuf);
  free(c);
}
