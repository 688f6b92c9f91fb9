/* test_csv.c -- the CSV/TSV reader: quoting, line ends, BOM, gzip, several
 * files, and each error with its exact `file:line:` message. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "csv.h"
#include "test.h"

static const char *put(const char *name, const char *text) {
  const char *p = tmp_path(name);
  write_file(p, text, strlen(text));
  return p;
}

static const char *put_gz(const char *name, const char *text, size_t n) {
  const char *p = tmp_path(name);
  gzFile g = gzopen(p, "wb");
  CU_ASSERT_FATAL(g != NULL);
  CU_ASSERT(gzwrite(g, text, (unsigned)n) == (int)n);
  CU_ASSERT(gzclose(g) == Z_OK);
  return p;
}

static int field_is(const RtCsv *c, int col, const char *want) {
  RtSlice s = rt_csv_field(c, col);
  return s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

/* Opens one file, expecting success. */
static RtCsv *open1(const char *path, char delim) {
  RtError err = {""};
  RtCsv *c = rt_csv_open(&path, 1, delim, 0, &err);
  if (!c) fprintf(stderr, "\n  unexpected error: %s\n", err.msg);
  CU_ASSERT_FATAL(c != NULL);
  return c;
}

/* Reads path to the first error and checks its message. */
static void expect_error(const char *path, size_t max_field, const char *want) {
  RtError err = {""};
  RtCsv *c = rt_csv_open(&path, 1, ',', max_field, &err);
  int r = 0;
  while (c && (r = rt_csv_next(c, &err)) == 1) {}
  CU_ASSERT(c == NULL || r == -1);
  CU_ASSERT_STRING_EQUAL(err.msg, want);
  rt_csv_close(c);
}

static void test_basic(void) {
  const char *p = put("basic.csv", "user,item,label\n1,10,1\n2,,0\n\n3,30,1");
  RtError err;
  RtCsv *c = open1(p, ',');
  CU_ASSERT_EQUAL(rt_csv_ncols(c), 3);
  CU_ASSERT_STRING_EQUAL(rt_csv_colname(c, 1), "item");
  CU_ASSERT_EQUAL(rt_csv_find(c, "label"), 2);
  CU_ASSERT_EQUAL(rt_csv_find(c, "nope"), -1);
  CU_ASSERT_EQUAL(rt_csv_next(c, &err), 1);
  CU_ASSERT(field_is(c, 0, "1") && field_is(c, 1, "10") && field_is(c, 2, "1"));
  CU_ASSERT_EQUAL(rt_csv_line(c), 2);
  CU_ASSERT_STRING_EQUAL(rt_csv_path(c), p);
  CU_ASSERT_EQUAL(rt_csv_next(c, &err), 1);
  CU_ASSERT(field_is(c, 1, "") && field_is(c, 2, "0"));
  CU_ASSERT_EQUAL(rt_csv_next(c, &err), 1); /* the blank line 4 is skipped */
  CU_ASSERT(field_is(c, 0, "3") && field_is(c, 2, "1")); /* no final newline */
  CU_ASSERT_EQUAL(rt_csv_line(c), 5);
  CU_ASSERT_EQUAL(rt_csv_next(c, &err), 0);
  CU_ASSERT_EQUAL(rt_csv_next(c, &err), 0);
  rt_csv_close(c);
}

static void test_quoting(void) {
  const char *p = put("quote.csv",
                      "a,b\n"
                      "\"x,1\",\"say \"\"hi\"\"\"\n"
                      "\"two\nlines\",\"\"\n"
                      "plain,\"\"\"\"\n");
  RtError err;
  RtCsv *c = open1(p, ',');
  CU_ASSERT_EQUAL(rt_csv_next(c, &err), 1);
  CU_ASSERT(field_is(c, 0, "x,1"));
  CU_ASSERT(field_is(c, 1, "say \"hi\""));
  CU_ASSERT_EQUAL(rt_csv_next(c, &err), 1);
  CU_ASSERT(field_is(c, 0, "two\nlines"));
  CU_ASSERT(field_is(c, 1, ""));
  CU_ASSERT_EQUAL(rt_csv_line(c), 3);
  CU_ASSERT_EQUAL(rt_csv_next(c, &err), 1);
  CU_ASSERT(field_is(c, 0, "plain") && field_is(c, 1, "\""));
  CU_ASSERT_EQUAL(rt_csv_line(c), 5); /* the quoted newline counted */
  CU_ASSERT_EQUAL(rt_csv_next(c, &err), 0);
  rt_csv_close(c);
}

static void test_crlf_bom(void) {
  const char *p = put("crlf.csv", "\xEF\xBB\xBFid,name\r\n1,foo\r\n2,\"q,r\"\r\n\r\n3,\r\n");
  RtError err;
  RtCsv *c = open1(p, ',');
  CU_ASSERT_STRING_EQUAL(rt_csv_colname(c, 0), "id");
  CU_ASSERT_STRING_EQUAL(rt_csv_colname(c, 1), "name");
  CU_ASSERT_EQUAL(rt_csv_next(c, &err), 1);
  CU_ASSERT(field_is(c, 1, "foo"));
  CU_ASSERT_EQUAL(rt_csv_next(c, &err), 1);
  CU_ASSERT(field_is(c, 1, "q,r"));
  CU_ASSERT_EQUAL(rt_csv_next(c, &err), 1);
  CU_ASSERT(field_is(c, 0, "3") && field_is(c, 1, ""));
  CU_ASSERT_EQUAL(rt_csv_line(c), 5);
  CU_ASSERT_EQUAL(rt_csv_next(c, &err), 0);
  rt_csv_close(c);
}

static void test_tsv(void) {
  const char *p = put("t.tsv", "a\tb\n1,2\t\"x\ty\"\n3\t4\r");
  RtError err;
  RtCsv *c = open1(p, '\t');
  CU_ASSERT_EQUAL(rt_csv_next(c, &err), 1);
  CU_ASSERT(field_is(c, 0, "1,2") && field_is(c, 1, "x\ty"));
  CU_ASSERT_EQUAL(rt_csv_next(c, &err), 1);
  CU_ASSERT(field_is(c, 1, "4")); /* a CR before the end of the file is a line end too */
  CU_ASSERT_EQUAL(rt_csv_next(c, &err), 0);
  rt_csv_close(c);
}

static void test_gzip_and_several_files(void) {
  const char *text = "u,v\n3,4\n5,6\n";
  char a[512], b[512];
  snprintf(a, sizeof a, "%s", put("first.csv", "u,v\n1,2\n"));
  snprintf(b, sizeof b, "%s", put_gz("second.csv.gz", text, strlen(text)));
  const char *paths[] = {a, b};
  RtError err;
  RtCsv *c = rt_csv_open(paths, 2, ',', 0, &err);
  CU_ASSERT_FATAL(c != NULL);
  CU_ASSERT_EQUAL(rt_csv_next(c, &err), 1);
  CU_ASSERT(field_is(c, 0, "1"));
  CU_ASSERT_STRING_EQUAL(rt_csv_path(c), a);
  CU_ASSERT_EQUAL(rt_csv_next(c, &err), 1);
  CU_ASSERT(field_is(c, 0, "3") && field_is(c, 1, "4"));
  CU_ASSERT_STRING_EQUAL(rt_csv_path(c), b);
  CU_ASSERT_EQUAL(rt_csv_line(c), 2);
  CU_ASSERT_EQUAL(rt_csv_next(c, &err), 1);
  CU_ASSERT(field_is(c, 1, "6"));
  CU_ASSERT_EQUAL(rt_csv_line(c), 3);
  CU_ASSERT_EQUAL(rt_csv_next(c, &err), 0);
  rt_csv_close(c);
}

/* Many rows and one long field cross the 64 KiB input and 4 KiB record buffers. */
static void test_large(void) {
  size_t cap = 2 << 20, n = 0;
  char *text = malloc(cap);
  CU_ASSERT_FATAL(text != NULL);
  n += (size_t)sprintf(text, "k,v\n");
  for (int i = 0; i < 50000; i++) n += (size_t)sprintf(text + n, "%d,\"%d\"\n", i, 2 * i);
  n += (size_t)sprintf(text + n, "long,");
  memset(text + n, 'x', 10000);
  n += 10000;
  text[n++] = '\n';
  const char *p = put_gz("large.csv.gz", text, n);
  free(text);
  RtError err;
  RtCsv *c = open1(p, ',');
  long rows = 0, sum = 0;
  while (rt_csv_next(c, &err) == 1) {
    RtSlice v = rt_csv_field(c, 1);
    if (v.len == 10000) break;
    char num[32];
    CU_ASSERT_FATAL(v.len < sizeof num);
    memcpy(num, v.ptr, v.len);
    num[v.len] = '\0';
    sum += strtol(num, NULL, 10);
    rows++;
  }
  CU_ASSERT_EQUAL(rows, 50000);
  CU_ASSERT_EQUAL(sum, 2L * (49999L * 50000L / 2));
  CU_ASSERT_EQUAL(rt_csv_line(c), 50002);
  CU_ASSERT_EQUAL(rt_csv_next(c, &err), 0);
  rt_csv_close(c);
}

static void test_field_count(void) {
  char want[600];
  const char *p = put("count.csv", "a,b\n1,2\n1,2,3\n");
  snprintf(want, sizeof want, "%s:3: field 3: not in the header: the row has 3 fields, the header 2", p);
  expect_error(p, 0, want);
  p = put("count2.csv", "a,b\n\"multi\nline\"\n");
  snprintf(want, sizeof want, "%s:2: column b: missing: the row has 1 fields, the header 2", p);
  expect_error(p, 0, want);
}

static void test_unterminated_quote(void) {
  char want[600];
  const char *p = put("unterm.csv", "a,b\n1,2\n3,\"open\n\n");
  snprintf(want, sizeof want,
           "%s:3: column b: the quote is not closed before the end of the file", p);
  expect_error(p, 0, want);
  p = put("unterm_head.csv", "a,\"b\n1,2\n");
  snprintf(want, sizeof want,
           "%s:1: field 2: the quote is not closed before the end of the file", p);
  expect_error(p, 0, want);
}

static void test_after_quote(void) {
  char want[600];
  const char *p = put("after.csv", "a,b\n\"x\"y,2\n");
  snprintf(want, sizeof want,
           "%s:2: column a: unexpected character 'y' after the closing quote", p);
  expect_error(p, 0, want);
}

static void test_field_limit(void) {
  char want[600];
  const char *p = put("limit.csv", "a,b\n12345678,1\n123456789,1\n");
  snprintf(want, sizeof want, "%s:3: column a: longer than 8 bytes", p);
  expect_error(p, 8, want);
}

/* rt_csv_tolerate: rows with a wrong field count or a field over the limit (here the
 * default, 1 MB) come back with their fault; the rows after them are read as usual. */
static void test_tolerated_faults(void) {
  size_t big = RT_CSV_MAX_FIELD + 10, n = 0;
  char *text = malloc(big + 200);
  n += (size_t)sprintf(text, "a,b,c\n1,2,3\n4,5\n6,7,8,9\n\"");
  memset(text + n, 'x', big);
  n += big;
  n += (size_t)sprintf(text + n, "\",y,z\n10,11,12\n");
  const char *p = tmp_path("faults.csv");
  write_file(p, text, n);
  free(text);
  RtError err = {""};
  char want[600];
  RtCsv *c = open1(p, ',');
  rt_csv_tolerate(c);
  CU_ASSERT_EQUAL(rt_csv_next(c, &err), 1);
  CU_ASSERT_EQUAL(rt_csv_fault(c, &err), RT_CSV_WHOLE);
  CU_ASSERT_EQUAL(rt_csv_next(c, &err), 1);
  CU_ASSERT_EQUAL(rt_csv_nfields(c), 2);
  CU_ASSERT_EQUAL(rt_csv_fault(c, &err), RT_CSV_FIELDS);
  snprintf(want, sizeof want, "%s:3: column c: missing: the row has 2 fields, the header 3", p);
  CU_ASSERT_STRING_EQUAL(err.msg, want);
  CU_ASSERT_EQUAL(rt_csv_next(c, &err), 1);
  CU_ASSERT_EQUAL(rt_csv_fault(c, &err), RT_CSV_FIELDS);
  snprintf(want, sizeof want, "%s:4: field 4: not in the header: the row has 4 fields, the header 3", p);
  CU_ASSERT_STRING_EQUAL(err.msg, want);
  CU_ASSERT_EQUAL(rt_csv_next(c, &err), 1);
  CU_ASSERT_EQUAL(rt_csv_fault(c, &err), RT_CSV_LONG);
  snprintf(want, sizeof want, "%s:5: column a: longer than %u bytes", p, RT_CSV_MAX_FIELD);
  CU_ASSERT_STRING_EQUAL(err.msg, want);
  CU_ASSERT_EQUAL(rt_csv_field(c, 0).len, RT_CSV_MAX_FIELD);
  CU_ASSERT(field_is(c, 1, "y") && field_is(c, 2, "z"));
  CU_ASSERT_EQUAL(rt_csv_next(c, &err), 1);
  CU_ASSERT_EQUAL(rt_csv_fault(c, &err), RT_CSV_WHOLE);
  CU_ASSERT(field_is(c, 0, "10") && field_is(c, 2, "12"));
  CU_ASSERT_EQUAL(rt_csv_line(c), 6);
  CU_ASSERT_EQUAL(rt_csv_next(c, &err), 0);
  rt_csv_close(c);
  /* the same file without rt_csv_tolerate stops at line 3 */
  snprintf(want, sizeof want, "%s:3: column c: missing: the row has 2 fields, the header 3", p);
  expect_error(p, 0, want);
}

static void test_empty_file(void) {
  char want[600];
  const char *p = put("empty.csv", "");
  snprintf(want, sizeof want, "%s:1: empty file, expected a header row", p);
  expect_error(p, 0, want);
  p = put("bom_only.csv", "\xEF\xBB\xBF\n\n");
  snprintf(want, sizeof want, "%s:1: empty file, expected a header row", p);
  expect_error(p, 0, want);
}

static void test_missing_file(void) {
  char want[600];
  const char *p = tmp_path("does_not_exist.csv");
  snprintf(want, sizeof want, "%s: cannot open: No such file or directory", p);
  expect_error(p, 0, want);
}

static void test_header_mismatch(void) {
  char a[512], b[512], want[1200];
  snprintf(a, sizeof a, "%s", put("h1.csv", "user,item\n1,2\n"));
  snprintf(b, sizeof b, "%s", put("h2.csv", "user,movie\n3,4\n"));
  const char *paths[] = {a, b};
  RtError err;
  RtCsv *c = rt_csv_open(paths, 2, ',', 0, &err);
  CU_ASSERT_FATAL(c != NULL);
  CU_ASSERT_EQUAL(rt_csv_next(c, &err), 1);
  CU_ASSERT_EQUAL(rt_csv_next(c, &err), -1);
  snprintf(want, sizeof want,
           "%s:1: header differs from %s: column 2 is 'movie' here, 'item' there", b, a);
  CU_ASSERT_STRING_EQUAL(err.msg, want);
  rt_csv_close(c);

  snprintf(b, sizeof b, "%s", put("h3.csv", "user\n3\n"));
  c = rt_csv_open(paths, 2, ',', 0, &err);
  CU_ASSERT_FATAL(c != NULL);
  CU_ASSERT_EQUAL(rt_csv_next(c, &err), 1);
  CU_ASSERT_EQUAL(rt_csv_next(c, &err), -1);
  snprintf(want, sizeof want, "%s:1: header has 1 columns but %s has 2", b, a);
  CU_ASSERT_STRING_EQUAL(err.msg, want);
  rt_csv_close(c);

  snprintf(b, sizeof b, "%s", put("h4.csv", ""));
  c = rt_csv_open(paths, 2, ',', 0, &err);
  CU_ASSERT_FATAL(c != NULL);
  CU_ASSERT_EQUAL(rt_csv_next(c, &err), 1);
  CU_ASSERT_EQUAL(rt_csv_next(c, &err), -1);
  snprintf(want, sizeof want, "%s:1: empty file, expected a header row", b);
  CU_ASSERT_STRING_EQUAL(err.msg, want);
  rt_csv_close(c);
}

static void test_duplicate_column(void) {
  char want[600];
  const char *p = put("dup.csv", "a,b,a\n1,2,3\n");
  snprintf(want, sizeof want, "%s:1: column 'a' appears twice in the header", p);
  expect_error(p, 0, want);
}

static void test_truncated_gzip(void) {
  const char *text = "a,b\n1,2\n3,4\n5,6\n";
  const char *p = put_gz("trunc.csv.gz", text, strlen(text));
  size_t n;
  char *bytes = read_whole(p, &n);
  write_file(p, bytes, n - 6); /* cut into the gzip trailer */
  free(bytes);
  RtError err = {""};
  RtCsv *c = rt_csv_open(&p, 1, ',', 0, &err);
  int r = 0;
  while (c && (r = rt_csv_next(c, &err)) == 1) {}
  CU_ASSERT_EQUAL(r, -1);
  CU_ASSERT(starts_with(err.msg, p));
  CU_ASSERT(contains(err.msg, "gzip data ends early"));
  rt_csv_close(c);
}

void add_csv_tests(void) {
  CU_pSuite s = CU_add_suite("csv", NULL, NULL);
  CU_add_test(s, "header, fields, blank lines, line numbers", test_basic);
  CU_add_test(s, "RFC 4180 quoting", test_quoting);
  CU_add_test(s, "CRLF and UTF-8 BOM", test_crlf_bom);
  CU_add_test(s, "tab delimiter", test_tsv);
  CU_add_test(s, "gzip and several files", test_gzip_and_several_files);
  CU_add_test(s, "large input crosses buffers", test_large);
  CU_add_test(s, "error: wrong field count", test_field_count);
  CU_add_test(s, "error: unterminated quote", test_unterminated_quote);
  CU_add_test(s, "error: text after closing quote", test_after_quote);
  CU_add_test(s, "error: field over limit", test_field_limit);
  CU_add_test(s, "tolerated faults: field count, 1 MB field", test_tolerated_faults);
  CU_add_test(s, "error: empty file", test_empty_file);
  CU_add_test(s, "error: missing file", test_missing_file);
  CU_add_test(s, "error: header differs between files", test_header_mismatch);
  CU_add_test(s, "error: duplicate column", test_duplicate_column);
  CU_add_test(s, "error: truncated gzip", test_truncated_gzip);
}
