// columns.c: `dmc check --data FILE` reads the header line of a CSV/TSV file
// and checks that every column the model binds is there, naming each missing
// column at the feature that wants it, with the closest header name as a hint.
// Only the header is read; the data rows are the generated program's business.
#include "dmc.h"

#include <errno.h>
#include <sys/types.h>
#include <stdlib.h>
#include <string.h>

static int edit_distance(const char *a, const char *b) {
  int la = (int)strlen(a), lb = (int)strlen(b);
  if (la > 64 || lb > 64) return 99;
  int d[65][65];
  for (int i = 0; i <= la; i++) d[i][0] = i;
  for (int j = 0; j <= lb; j++) d[0][j] = j;
  for (int i = 1; i <= la; i++)
    for (int j = 1; j <= lb; j++) {
      int cost = a[i - 1] != b[j - 1];
      int m = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < m) m = d[i][j - 1] + 1;
      if (d[i - 1][j - 1] + cost < m) m = d[i - 1][j - 1] + cost;
      d[i][j] = m;
    }
  return d[la][lb];
}

// Splits a header line on `delim`, honouring double quotes.
static void split_header(char *line, char delim, Vec *out) {
  char *p = line;
  for (;;) {
    char *field;
    if (*p == '"') {
      field = ++p;
      char *w = p;
      while (*p && !(*p == '"' && p[1] != '"')) {
        if (*p == '"') p++;
        *w++ = *p++;
      }
      if (*p == '"') p++;
      char *end = w;
      while (*p && *p != delim) p++;
      *end = 0;
    } else {
      field = p;
      while (*p && *p != delim) p++;
    }
    bool last = *p == 0;
    *p = 0;
    vec_push(out, field);
    if (last) break;
    p++;
  }
}

static bool has_column(Vec *header, const char *name) {
  for (int i = 0; i < header->len; i++)
    if (!strcmp(header->items[i], name)) return true;
  return false;
}

static void missing(Vec *header, const char *col, Loc loc, const char *what, const char *path) {
  diag_error(loc, "column '%s' of %s is not in the header of %s", col, what, path);
  const char *best = NULL;
  int bd = 4;
  for (int i = 0; i < header->len; i++) {
    int d = edit_distance(col, header->items[i]);
    if (d < bd) bd = d, best = header->items[i];
  }
  if (best) diag_hint("did you mean '%s'?", best);
}

int check_columns(Graph *g, const char *path) {
  FILE *fp = fopen(path, "rb");
  if (!fp) {
    diag_plain("cannot open '%s': %s", path, strerror(errno));
    return 1;
  }
  char *line = NULL;
  size_t cap = 0;
  ssize_t n = getline(&line, &cap, fp);
  fclose(fp);
  if (n <= 0) {
    free(line);
    diag_plain("%s: the file is empty; a header line is expected", path);
    return 1;
  }
  if (n >= 2 && (unsigned char)line[0] == 0x1f && (unsigned char)line[1] == 0x8b) {
    free(line);
    diag_plain("%s: gzip files are read by the generated program; give `dmc check --data` the plain header", path);
    return 1;
  }
  while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
  char *start = line;
  if (n >= 3 && !memcmp(start, "\xEF\xBB\xBF", 3)) start += 3;   // UTF-8 BOM
  Vec header = {0};
  split_header(start, g->delimiter, &header);
  if (header.len == 1 && strchr(start, g->delimiter == ',' ? '\t' : ','))
    diag_plain("%s: the header has one column; is the file %s? (the model says `data %s`)", path,
               g->delimiter == ',' ? "tab-separated" : "comma-separated", g->format);
  int before = diag_error_count();
  for (int i = 0; i < g->features.len; i++) {
    Feature *f = g->features.items[i];
    if (f->next_row) continue;
    for (int k = 0; k < f->columns.len; k++)
      if (!has_column(&header, f->columns.items[k]))
        missing(&header, f->columns.items[k], f->loc,
                arena_printf("%s '%s'", f->kind == FK_LABEL ? "label" : "feature", f->name), path);
  }
  for (int i = 0; i < g->features.len; i++) {
    Feature *f = g->features.items[i];
    if (f->value_column && !has_column(&header, f->value_column))
      missing(&header, f->value_column, f->loc, arena_printf("feature '%s'", f->name), path);
  }
  Loc none = {0};
  if (g->group_by && !has_column(&header, g->group_by)) missing(&header, g->group_by, none, "group_by", path);
  if (g->next_by && !has_column(&header, g->next_by)) missing(&header, g->next_by, none, "next_by", path);
  if (g->next_order && !has_column(&header, g->next_order)) missing(&header, g->next_order, none, "order", path);
  free(line);
  return diag_error_count() > before;
}
