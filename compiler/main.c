// main.c: the dmc driver. The whole pipeline is in compile() below, one call
// per stage: parse, sema, verify, dce, verify, then the requested output.
//
//   dmc FILE.model -o PROG                   compile to a program (train/eval/predict...)
//   dmc check FILE.model [--data FILE.csv]   check the model (and its columns)
//   dmc FILE.model --emit=ir|dot|c [-o OUT]  print the graph IR, a Graphviz drawing, or the C
//   dmc FILE.model --emit=llvm|obj [-o OUT]  the LLVM IR (emit_llvm.c), or its object file
//   dmc FILE.model --report                  parameters and FLOPs per example
#define _DEFAULT_SOURCE   // mkstemps, mkdtemp
#include "dmc.h"

#include <dirent.h>
#include <getopt.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DMC_VERSION "0.1.0"

static void usage(FILE *out) {
  fprintf(out,
          "usage: dmc FILE.model -o PROG\n"
          "       dmc check FILE.model [--data DATA.csv]\n"
          "       dmc FILE.model --emit=ir|dot|kernels|c|llvm|obj [-o OUT]\n"
          "       dmc FILE.model --report\n"
          "\n"
          "  -o PROG        compile a program that trains, evaluates and predicts the model\n"
          "  --portable     build PROG for any x86-64 (default: -march=native)\n"
          "  --cc CC        the C compiler for PROG (default: $CC, then cc); with llvm, the linker.\n"
          "                 Words split at blanks, no quotes or shell: --cc 'gcc -fsanitize=address'\n"
          "  --backend=B    llvm: build the program with LLVM in-process (host CPU) and link\n"
          "                 it with CC (the default when dmc has LLVM: it compiles twice as fast,\n"
          "                 and the programs are as fast, measured in BENCHMARKS.md); c: generate\n"
          "                 C and compile it with CC\n"
          "  --emit=c       the generated C (what -o compiles), with shapes in comments\n"
          "  --emit=llvm    the LLVM IR of the same program, before optimisation (opt/llc accept it)\n"
          "  --emit=obj     the object file --backend=llvm links (needs -o)\n"
          "  --emit=ir      the graph IR as text (deterministic, for diffs)\n"
          "  --emit=kernels the kernel calls the program makes, one per line (fused ones with their steps)\n"
          "  --no-fuse      one kernel per node, no views (to measure what fusion gains, or to debug)\n"
          "  --emit=dot     the model drawn for Graphviz: dmc m.model --emit=dot | dot -Tsvg > m.svg\n"
          "  --report       parameters and bytes per table and layer, FLOPs per example\n"
          "  --data FILE    (check) also check the column bindings against FILE's header\n"
          "  --stdlib DIR   where stdlib/*.model are (default: $DMC_STDLIB, then next to bin/)\n"
          "  --home DIR     where runtime/ and build/libdmcrt.a are (default: $DMC_HOME, then bin/..)\n"
          "  --libdir DIR   where libdmcrt.a (and runtime/kernels_portable.o) are, if not in the\n"
          "                 home's build/ (default: $DMC_LIBDIR): another build of the runtime\n"
          "  --max-errors N stop reporting after N errors (default 20)\n"
          "  -o OUT         write the output to OUT instead of stdout\n"
          "  -h, --help     this text;  --version  the version\n");
}

// The project's home (runtime/, build/, stdlib/): --home, $DMC_HOME, <exe>/.., ".".
static const char *find_home(const char *given) {
  if (given) return given;
  const char *env = getenv("DMC_HOME");
  if (env && *env) return env;
  static char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 32);
  if (n > 0) {
    buf[n] = 0;
    char *slash = strrchr(buf, '/');
    if (slash) {
      strcpy(slash, "/..");
      return buf;
    }
  }
  return ".";
}

// The runtime library's directory: --libdir, $DMC_LIBDIR, <home>/build.
static const char *find_libdir(const char *given, const char *home) {
  if (given) return given;
  const char *env = getenv("DMC_LIBDIR");
  if (env && *env) return env;
  return arena_printf("%s/build", home);
}

// The stdlib directory: --stdlib, $DMC_STDLIB, <home>/stdlib.
static const char *find_stdlib(const char *given, const char *home) {
  if (given) return given;
  const char *env = getenv("DMC_STDLIB");
  if (env && *env) return env;
  return arena_printf("%s/stdlib", home);
}

static int has_suffix(const struct dirent *e) {
  size_t n = strlen(e->d_name);
  return n > 6 && !strcmp(e->d_name + n - 6, ".model");
}

// Parses every stdlib/*.model in name order into one statement list.
static Node *load_stdlib(const char *dir) {
  struct dirent **list;
  int n = scandir(dir, &list, has_suffix, alphasort);
  if (n < 0) {
    diag_plain("cannot read the standard library in '%s' (set DMC_STDLIB or --stdlib)", dir);
    return NULL;
  }
  Node *all = NULL;
  for (int i = 0; i < n; i++) {
    SrcFile *f = src_load(arena_printf("%s/%s", dir, list[i]->d_name));
    if (f) all = ast_append(all, parse_file(f));
    free(list[i]);
  }
  free(list);
  return all;
}

typedef struct {
  const char *input, *output, *emit, *data, *stdlib, *home, *cc, *libdir;
  bool check, report, emit_c, program, portable;
  bool llvm, emit_llvm, emit_obj;   // --backend=llvm; --emit=llvm; --emit=obj
  bool emit_kernels, no_fuse;       // --emit=kernels; --no-fuse
} Options;

static int write_c(Options *o, Lowered *l) {
  if (o->emit_obj) return llvm_emit_object(l, o->input, o->portable, o->output);
  FILE *out = o->output ? fopen(o->output, "w") : stdout;
  if (!out) {
    diag_plain("cannot write '%s'", o->output);
    return 1;
  }
  if (o->emit_llvm) {
    if (llvm_emit_ir(l, o->input, out)) {
      if (out != stdout) fclose(out);
      return 1;
    }
  } else if (o->emit_kernels) {
    kernels_print(l, out);
  } else {
    cgen_emit(l, o->input, out);
  }
  if (out != stdout && fclose(out)) {
    diag_plain("cannot write '%s'", o->output);
    return 1;
  }
  return 0;
}

// Runs argv, returns its exit status (or 127 if it could not start).
static int run(char *const argv[]) {
  pid_t pid = fork();
  if (pid < 0) return 127;
  if (pid == 0) {
    execvp(argv[0], argv);
    _exit(127);
  }
  int st;
  if (waitpid(pid, &st, 0) < 0) return 127;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

// Pushes the words of the C compiler command: "gcc -fsanitize=address" is the program gcc
// and one flag. Split at blanks, without quotes or a shell (as make splits $(CC)); false
// when there is no word.
static bool push_cc(Vec *argv, const char *cc) {
  bool any = false;
  for (const char *p = cc;;) {
    p += strspn(p, " \t");
    size_t n = strcspn(p, " \t");
    if (!n) return any;
    vec_push(argv, arena_strndup(p, n));
    any = true;
    p += n;
  }
}

// The end of a link command: the portable kernels (if any) before the runtime
// library, so they are the ones linked; the runtime's libraries; the output.
static void link_tail(Vec *argv, const char *kernels, const char *lib, const char *output) {
  if (kernels) vec_push(argv, (void *)kernels);
  const char *tail[] = {lib, "-lxxhash", "-lz", "-ljansson", "-lm", "-lpthread", "-o", output};
  for (size_t i = 0; i < sizeof tail / sizeof *tail; i++) vec_push(argv, (void *)tail[i]);
  vec_push(argv, NULL);
}

// Writes the C to a temporary file and compiles it with the runtime library.
static int build_program(Options *o, Lowered *l) {
  const char *home = find_home(o->home), *libdir = find_libdir(o->libdir, home);
  const char *lib = arena_printf("%s/libdmcrt.a", libdir);
  if (access(lib, R_OK)) {
    diag_plain("the runtime library '%s' is missing; run `make` in %s (or set DMC_HOME, or DMC_LIBDIR "
               "to the directory that holds libdmcrt.a)", lib, home);
    return 1;
  }
  const char *cc = o->cc ? o->cc : getenv("CC") && *getenv("CC") ? getenv("CC") : "cc";
  Vec argv = {0};
  if (!push_cc(&argv, cc)) {
    diag_plain("the C compiler (--cc or $CC) is empty");
    return 1;
  }
  // the runtime's kernels are built for this CPU; a portable program links their portable build first
  const char *kernels = o->portable ? arena_printf("%s/runtime/kernels_portable.o", libdir) : NULL;
  if (o->portable && access(kernels, R_OK)) {
    diag_plain("'%s' is missing; run `make` in %s", kernels, home);
    return 1;
  }
  if (o->llvm) {   // LLVM writes the object in-process; cc only links it
    char opath[] = "/tmp/dmc-XXXXXX.o";
    int ofd = mkstemps(opath, 2);
    if (ofd < 0) {
      diag_plain("cannot create a temporary file in /tmp");
      return 1;
    }
    close(ofd);
    int rc = llvm_emit_object(l, o->input, o->portable, opath);
    vec_push(&argv, opath);
    link_tail(&argv, kernels, lib, o->output);
    if (!rc && (rc = run((char *const *)argv.items))) diag_plain("linking the program with '%s' failed (exit %d)", cc, rc);
    unlink(opath);
    return rc ? 1 : 0;
  }
  // The C goes in a directory of its own: its #include "kernels.h" is looked up first
  // beside it, so a stray /tmp/kernels.h (an older ABI) would be compiled in silently.
  char dir[] = "/tmp/dmc-XXXXXX";
  if (!mkdtemp(dir)) {
    diag_plain("cannot create a temporary directory in /tmp");
    return 1;
  }
  const char *cpath = arena_printf("%s/model.c", dir);
  FILE *out = fopen(cpath, "w");
  if (!out) {
    diag_plain("cannot create '%s'", cpath);
    rmdir(dir);
    return 1;
  }
  cgen_emit(l, o->input, out);
  if (fclose(out)) {
    diag_plain("cannot write '%s'", cpath);
    unlink(cpath);
    rmdir(dir);
    return 1;
  }
  const char *head[] = {"-std=c11", "-O3", o->portable ? "-mtune=generic" : "-march=native", "-w", "-iquote",
                        arena_printf("%s/runtime", home), "-iquote", arena_printf("%s/compiler", home), cpath};
  for (size_t i = 0; i < sizeof head / sizeof *head; i++) vec_push(&argv, (void *)head[i]);
  link_tail(&argv, kernels, lib, o->output);
  int rc = run((char *const *)argv.items);
  unlink(cpath);
  rmdir(dir);
  if (rc) {
    diag_plain("compiling the generated program with '%s' failed (exit %d)", cc, rc);
    return 1;
  }
  return 0;
}

static int compile(Options *o) {
  Node *lib = load_stdlib(find_stdlib(o->stdlib, find_home(o->home)));
  if (diag_error_count()) {
    diag_plain("the standard library has errors (above)");
    return 1;
  }
  SrcFile *src = src_load(o->input);
  if (!src) return 1;
  Node *prog = parse_file(src);
  if (diag_error_count()) return 1;
  Graph *g = sema_build(prog, lib);
  if (diag_error_count()) return 1;
  ir_verify(g);
  ir_dce(g);
  ir_verify(g);
  if (o->data && check_columns(g, o->data)) return 1;
  if (o->emit_c || o->emit_llvm || o->emit_obj || o->emit_kernels || o->program) {
    if (!cgen_check_supported(g)) return 1;
    ir_build_training(g, !o->no_fuse);
    Lowered *l = lower_graph(g, !o->no_fuse);
    return o->program ? build_program(o, l) : write_c(o, l);
  }

  FILE *out = stdout;
  if (o->output && (o->emit || o->report)) {
    out = fopen(o->output, "w");
    if (!out) {
      diag_plain("cannot write '%s'", o->output);
      return 1;
    }
  }
  if (o->emit && !strcmp(o->emit, "ir")) ir_print(g, out);
  else if (o->emit && !strcmp(o->emit, "dot")) ir_print_dot(g, out);
  if (o->report) {
    ir_report(g, out);
    ir_build_training(g, false);   // the last use of g: it now holds the gradients
    ir_report_training(g, out);
  }
  if (o->check && !o->emit && !o->report)
    printf("%s: ok (model %s: %d features, %d parameter tensors, %d graph nodes)\n", o->input, g->model_name,
           g->features.len, g->params.len, g->nodes.len);
  if (out != stdout && fclose(out)) {
    diag_plain("cannot write '%s'", o->output);
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  Options o = {0};
  o.llvm = llvm_available();   // the default backend, by measurement (BENCHMARKS.md)
  static const struct option longopts[] = {
      {"emit", required_argument, 0, 'e'},   {"report", no_argument, 0, 'r'},
      {"data", required_argument, 0, 'd'},   {"stdlib", required_argument, 0, 's'},
      {"max-errors", required_argument, 0, 'm'}, {"help", no_argument, 0, 'h'},
      {"version", no_argument, 0, 'V'},      {"home", required_argument, 0, 'H'},
      {"portable", no_argument, 0, 'p'},     {"cc", required_argument, 0, 'c'},
      {"libdir", required_argument, 0, 'L'},
      {"backend", required_argument, 0, 'b'}, {"no-fuse", no_argument, 0, 'F'},
      {0, 0, 0, 0},
  };
  int argi = 1;
  if (argc > 1 && !strcmp(argv[1], "check")) {
    o.check = true;
    argi = 2;
  }
  optind = argi;
  int ch;
  while ((ch = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
    switch (ch) {
    case 'e':
      if (strcmp(optarg, "ir") && strcmp(optarg, "dot") && strcmp(optarg, "c") && strcmp(optarg, "llvm") &&
          strcmp(optarg, "obj") && strcmp(optarg, "kernels")) {
        fprintf(stderr, "dmc: --emit takes ir, dot, kernels, c, llvm or obj\n");
        return 2;
      }
      if (!strcmp(optarg, "c")) o.emit_c = true;
      else if (!strcmp(optarg, "kernels")) o.emit_kernels = true;
      else if (!strcmp(optarg, "llvm")) o.emit_llvm = true;
      else if (!strcmp(optarg, "obj")) o.emit_obj = true;
      else o.emit = optarg;
      break;
    case 'b':
      if (strcmp(optarg, "c") && strcmp(optarg, "llvm")) {
        fprintf(stderr, "dmc: --backend takes c or llvm\n");
        return 2;
      }
      o.llvm = !strcmp(optarg, "llvm");
      break;
    case 'H': o.home = optarg; break;
    case 'L': o.libdir = optarg; break;
    case 'p': o.portable = true; break;
    case 'F': o.no_fuse = true; break;
    case 'c': o.cc = optarg; break;
    case 'r': o.report = true; break;
    case 'd': o.data = optarg; break;
    case 's': o.stdlib = optarg; break;
    case 'm': diag_set_max_errors(atoi(optarg) > 0 ? atoi(optarg) : 1); break;
    case 'o': o.output = optarg; break;
    case 'h': usage(stdout); return 0;
    case 'V': printf("dmc %s\n", DMC_VERSION); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind != argc - 1) {
    usage(stderr);
    return 2;
  }
  o.input = argv[optind];
  if (o.data && !o.check) {
    fprintf(stderr, "dmc: --data goes with `dmc check`\n");
    return 2;
  }
  if (o.emit_obj && !o.output) {
    fprintf(stderr, "dmc: --emit=obj needs -o FILE.o\n");
    return 2;
  }
  if (!o.check && !o.emit && !o.report && !o.emit_c && !o.emit_llvm && !o.emit_obj && !o.emit_kernels) {
    if (!o.output) {
      fprintf(stderr, "dmc: say what to make: -o PROG, --emit=ir|dot|c|llvm|obj, --report, or `dmc check`\n");
      return 2;
    }
    o.program = true;
  }
  int rc = compile(&o);
  diag_flush();
  if (rc && diag_error_count())
    fprintf(stderr, "%d error%s\n", diag_error_count(), diag_error_count() == 1 ? "" : "s");
  diag_reset();
  arena_free_all();
  return rc;
}
