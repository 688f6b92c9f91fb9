// diag.c: diagnostics as compilers print them. A user error prints
//   file:line:col: error: message
//     12 |   x = foo(y)
//        |       ^~~
// and is counted; the driver keeps going to report several errors per run and
// exits 1 at the end. die() is for compiler bugs only.
#include "dmc.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

static int nerrors;
static int max_errors = 20;
static bool suppressed;   // past max_errors: stay quiet, notes and hints included

int diag_error_count(void) { return nerrors; }
void diag_reset(void) { nerrors = 0, suppressed = false; }
void diag_set_max_errors(int n) { max_errors = n; }

static void print_source_line(Loc loc) {
  if (!loc.file || loc.line <= 0) return;
  const char *p = loc.file->text;
  for (int l = 1; l < loc.line && *p; p++)
    if (*p == '\n') l++;
  const char *end = strchr(p, '\n');
  int n = end ? (int)(end - p) : (int)strlen(p);
  fprintf(stderr, "%5d | %.*s\n      | ", loc.line, n, p);
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

void diag_error(Loc loc, const char *fmt, ...) {
  nerrors++;
  suppressed = nerrors > max_errors;
  if (suppressed) {
    if (nerrors == max_errors + 1) fprintf(stderr, "dmc: too many errors, stopping here\n");
    return;
  }
  va_list ap;
  va_start(ap, fmt);
  vreport(loc, "error", fmt, ap);
  va_end(ap);
}

void diag_note(Loc loc, const char *fmt, ...) {
  if (suppressed) return;
  va_list ap;
  va_start(ap, fmt);
  vreport(loc, "note", fmt, ap);
  va_end(ap);
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
  if (memchr(buf, '\0', len)) {
    free(buf);
    diag_plain("'%s' is not a text file (it contains a NUL byte)", path);
    return NULL;
  }
  SrcFile *f = arena_alloc(sizeof *f);
  f->name = arena_strdup(path);
  f->text = arena_strndup(buf, len);
  f->len = len;
  free(buf);
  return f;
}
