// diag.c: diagnostics as compilers print them. A user error prints
//   file:line:col: error: message
//     12 |   x = foo(y)
//        |       ^~~
// and is counted; the driver keeps going to report several errors per run and
// exits 1 at the end. die() is for compiler bugs only.
#include "dmc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

static int nerrors;
static int max_errors = 20;
static bool suppressed;   // past max_errors, or a repeat: stay quiet, notes and hints included

// Notes that belong after an error's hints ("in call to ..."): printed when the
// next diagnostic starts, or by diag_flush().
#define MAX_DEFERRED 8
static struct {
  Loc loc;
  char text[256];
} deferred[MAX_DEFERRED];
static int ndeferred;

// Errors already reported, so that a mistake inside an unrolled loop or a def
// called many times is reported once.
#define MAX_SEEN 512
static char *seen[MAX_SEEN];
static int nseen;

int diag_error_count(void) { return nerrors; }

void diag_reset(void) {
  nerrors = 0, suppressed = false, ndeferred = 0;
  for (int i = 0; i < nseen; i++) free(seen[i]);
  nseen = 0;
}
void diag_set_max_errors(int n) { max_errors = n; }

static void print_source_line(Loc loc) {
  if (!loc.file || loc.line <= 0) return;
  const char *p = loc.file->text, *stop = p + loc.file->len;
  for (int l = 1; l < loc.line && p < stop; p++)
    if (*p == '\n') l++;
  const char *end = memchr(p, '\n', (size_t)(stop - p));
  int n = end ? (int)(end - p) : (int)(stop - p);
  fprintf(stderr, "%5d | ", loc.line);
  for (int i = 0; i < n; i++) {   // control bytes would garble the terminal: show them as '?'
    unsigned char ch = (unsigned char)p[i];
    fputc(ch == '\t' || ch >= 32 ? ch : '?', stderr);
  }
  fprintf(stderr, "\n      | ");
  for (int i = 1; i < loc.col && i <= n; i++) fputc(p[i - 1] == '\t' ? '\t' : ' ', stderr);
  fputc('^', stderr);
  for (int i = loc.col + 1; i < loc.end_col && i <= n; i++) fputc('~', stderr);
  fputc('\n', stderr);
}

static void vreport(Loc loc, const char *kind, const char *fmt, va_list ap) {
  if (loc.file)
    fprintf(stderr, "%s:%d:%d: %s: ", loc.file->name, loc.line, loc.col, kind);
  else
    fprintf(stderr, "dmc: %s: ", kind);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  print_source_line(loc);
}

void diag_flush(void) {
  for (int i = 0; i < ndeferred; i++) {
    if (!suppressed) diag_note(deferred[i].loc, "%s", deferred[i].text);
  }
  ndeferred = 0;
}

void diag_error(Loc loc, const char *fmt, ...) {
  diag_flush();
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  char key[600];
  snprintf(key, sizeof key, "%s:%d:%d:%s", loc.file ? loc.file->name : "", loc.line, loc.col, msg);
  for (int i = 0; i < nseen; i++)
    if (!strcmp(seen[i], key)) {   // the same error again (a loop, a def called twice)
      suppressed = true;
      return;
    }
  if (nseen < MAX_SEEN) seen[nseen++] = strdup(key);
  nerrors++;
  suppressed = nerrors > max_errors;
  if (suppressed) {
    if (nerrors == max_errors + 1) fprintf(stderr, "dmc: too many errors, stopping here\n");
    return;
  }
  if (loc.file) fprintf(stderr, "%s:%d:%d: error: %s\n", loc.file->name, loc.line, loc.col, msg);
  else fprintf(stderr, "dmc: error: %s\n", msg);
  print_source_line(loc);
}

void diag_note(Loc loc, const char *fmt, ...) {
  if (suppressed) return;
  va_list ap;
  va_start(ap, fmt);
  vreport(loc, "note", fmt, ap);
  va_end(ap);
}

void diag_defer_note(Loc loc, const char *fmt, ...) {
  if (suppressed || ndeferred == MAX_DEFERRED) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(deferred[ndeferred].text, sizeof deferred[ndeferred].text, fmt, ap);
  va_end(ap);
  deferred[ndeferred++].loc = loc;
}

void diag_hint(const char *fmt, ...) {
  if (suppressed) return;
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "      = hint: ");
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

void diag_plain(const char *fmt, ...) {
  diag_flush();
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "dmc: ");
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

_Noreturn void die_at(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "dmc: internal error at %s:%d: ", file, line);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n(this is a bug in dmc, not in your model)\n");
  va_end(ap);
  abort();
}

SrcFile *src_from_string(const char *name, const char *text) {
  SrcFile *f = arena_alloc(sizeof *f);
  f->name = arena_strdup(name);
  f->len = strlen(text);
  f->text = arena_strndup(text, f->len);
  return f;
}

SrcFile *src_load(const char *path) {
  FILE *fp = fopen(path, "rb");
  if (!fp) {
    diag_plain("cannot open '%s': %s", path, strerror(errno));
    return NULL;
  }
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  size_t n;
  while (buf && (n = fread(buf + len, 1, cap - len, fp)) > 0) {
    len += n;
    if (len == cap) buf = realloc(buf, cap *= 2);
  }
  fclose(fp);
  if (!buf) {
    fprintf(stderr, "dmc: out of memory\n");
    exit(2);
  }
  SrcFile *f = arena_alloc(sizeof *f);
  f->name = arena_strdup(path);
  f->text = arena_strndup(buf, len);
  f->len = len;
  free(buf);
  return f;
}
