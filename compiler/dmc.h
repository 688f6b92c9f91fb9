// dmc.h: the compiler's one header, a section per source file (as chibicc does).
//
// Pipeline (compiler/main.c shows it in one function):
//   source -> lexer.l/parser.y -> AST (Node) -> sema.c evaluates the AST at compile
//   time, inlining defs and unrolling loops, and builds the graph IR (Graph of IrNode)
//   with every shape checked -> verify.c -> printers (ir text, dot, report).
#ifndef DMC_H
#define DMC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

//
// arena.c: bump allocation for everything the compiler builds; freed whole at exit.
//
void *arena_alloc(size_t n);   // zeroed
char *arena_strdup(const char *s);
char *arena_strndup(const char *s, size_t n);
char *arena_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void arena_free_all(void);

// A growable array of pointers, arena-backed.
typedef struct {
  void **items;
  int len, cap;
} Vec;
void vec_push(Vec *v, void *item);

//
// diag.c: located diagnostics (user errors) and compiler bugs.
//
typedef struct {
  const char *name;      // path as given
  const char *text;      // whole file, NUL-terminated
  size_t len;
} SrcFile;

typedef struct {
  SrcFile *file;
  int line, col;         // 1-based; col counts bytes
  int end_col;           // exclusive end on the same line (0: one caret)
} Loc;

void diag_error(Loc loc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void diag_note(Loc loc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void diag_hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void diag_defer_note(Loc loc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));   // after the hints
void diag_flush(void);   // prints deferred notes
void diag_plain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int diag_error_count(void);
void diag_reset(void);            // tests: forget counted errors
void diag_set_max_errors(int n);
// A compiler bug, not the user's fault: prints where and aborts.
#define die(...) die_at(__FILE__, __LINE__, __VA_ARGS__)
_Noreturn void die_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

SrcFile *src_load(const char *path);   // NULL (and a message) if unreadable
SrcFile *src_from_string(const char *name, const char *text);

//
// ast.c: syntax tree built by the parser's actions and nothing else.
//
typedef enum {
  // expressions
  ND_NUM, ND_STR, ND_IDENT, ND_CALL, ND_LIST, ND_BINOP, ND_UNOP, ND_INDEX,
  ND_ARG,        // call argument: name (NULL if positional), a = value
  // statements
  ND_MODEL, ND_DATA, ND_FEATURE, ND_LABEL, ND_TABLE, ND_PARAMDECL, ND_DEF,
  ND_ASSIGN, ND_OUTPUT, ND_LOSS, ND_TRAIN, ND_FOR, ND_IF, ND_RETURN,
  // parts of statements
  ND_OPTION,     // name [a = value]
  ND_COLUMN,     // a column name (str); b set for a numbered range "x1..x5"
  ND_DEFPARAM,   // name, shape (list of ND_IDENT/ND_NUM dims or NULL), a = default
} NodeKind;

typedef struct Node Node;
struct Node {
  NodeKind kind;
  Loc loc;
  const char *name;   // identifier, callee, operator spelling, option or statement name
  const char *str;    // string literal, feature kind, column name
  double num;
  bool is_int;
  bool has_shape;     // ND_DEFPARAM with [dims]; ND_DEF with -> [shape]
  Node *a, *b, *c;    // children, by kind (see parser.y)
  Node *list;         // first of a list (args, elements, statements, options)
  Node *list2;        // second list (feature source columns, def shape)
  Node *next;         // sibling in a list
};

Node *ast_new(NodeKind kind, Loc loc);
Node *ast_append(Node *list, Node *item);   // returns the list head
int ast_count(Node *list);
const char *ast_kind_name(NodeKind k);

//
// parse.c: reads one file into a statement list. NULL file -> message printed.
//
Node *parse_file(SrcFile *f);

//
// ops.def / ir.c: the graph IR. Every op is one row of ops.def.
//
#define MAX_RANK 4
#define AXIS_ALL 99      // reduce over every non-batch axis
#define MAX_IN 6         // operands of one node (augru_scan_grad has 6)

typedef enum { DT_F32, DT_I32 } DType;

typedef struct {
  int rank;
  int dim[MAX_RANK];   // the batch dimension is implicit and not stored
} Shape;

typedef enum {
#define OP(name, text, arity, shape_rule, kind, grad) OP_##name,
#include "ops.def"
#undef OP
  OP__COUNT
} Op;

typedef enum { OK_LEAF, OK_ELEMWISE, OK_REDUCE, OK_MATMUL, OK_GATHER, OK_MOVE, OK_LOSS } OpKind;

typedef struct IrNode IrNode;
struct IrNode {
  int id;
  Op op;
  DType dt;
  Shape shape;
  bool batched;          // has the implicit batch dimension
  IrNode *in[MAX_IN];
  int nin;
  int axis;              // reductions, concat, softmax, slice, expand
  int start, len;        // slice; expand count in len
  double fval;           // constants, rates
  const char *name;      // params, inputs, outputs
  const void *ref;       // Feature* for inputs, Param* for params
  Loc loc;               // the source that created it
  const char *scope;     // the layer call that created it ("mlp_0/dense_1"), or ""
  bool live;             // reached from an output or a loss (dce.c)
  bool is_grad;          // part of the backward pass (autodiff.c)
  int slot;              // lower.c: where its value lives
};

typedef struct Graph Graph;

typedef struct {
  const char *name;
  Op op;                 // unused for rows, kept for printing
  int arity;             // -1: variadic
  OpKind kind;
} OpInfo;
extern const OpInfo op_info[OP__COUNT];

char *shape_str(Shape s);                 // "[5,10]"
bool shape_eq(Shape a, Shape b);
int shape_numel(Shape s);
int64_t shape_numel64(Shape s);
#define MAX_NUMEL (1 << 30)   // elements of one tensor (per example) or one parameter

// Node construction: computes the result shape with the op's rule. On a shape
// error returns NULL and sets *err to a message (the caller locates it).
IrNode *ir_add(Graph *g, Op op, IrNode **in, int nin, const IrNode *attrs, Loc loc, const char **err);
IrNode *ir_leaf(Graph *g, Op op, DType dt, Shape s, bool batched, const char *name, const void *ref, Loc loc);
IrNode *ir_const(Graph *g, double v, Loc loc);

//
// Model-level declarations collected by sema, owned by the graph.
//
typedef enum { FK_ID, FK_HASH, FK_FLOAT, FK_WEIGHTED, FK_CROSS, FK_NEGATIVE, FK_LABEL } FeatureKind;

typedef struct Feature Feature;
struct Feature {
  const char *name;
  FeatureKind kind;
  int len;                  // list length; 0 for a scalar feature
  bool is_list;
  Vec columns;              // const char* column names
  const char *sep;          // delimiter inside one list column, NULL if several columns
  const char *kv;           // weighted: separator between id and value
  const char *value_column; // weighted from IDCOL:VALCOL: one pair per row of a group
  int64_t vocab;            // id/weighted: vocabulary size; hash/cross: buckets
  int min_count;
  bool normalize, log1p, next_row;
  double dflt;
  bool has_default;
  Vec sources;              // Feature* for cross and negative
  Loc loc;
  IrNode *node;             // ids (i32) or values (f32)
  IrNode *weights;          // weighted lists: the values
  IrNode *mask;             // list features: [len] of 0/1
  Feature *vocab_of;        // union-find: features sharing a table share one vocabulary
};

typedef struct {            // a config record such as adam(lr=0.001) or normal(0.01)
  const char *name;
  int n;
  const char *keys[8];      // NULL for positional
  double vals[8];
  const char *svals[8];     // string arguments (checkpoint file names)
  Loc loc;
} Record;

typedef struct Param Param;
struct Param {
  const char *name;         // hierarchical: "mlp_0/dense_1/w"
  Shape shape;
  bool is_table;            // embedding table: row-sparse updates
  Record *init;
  Record *optimizer;        // per-table override, or NULL
  IrNode *node;
  Loc loc;
  bool lagged;              // a target-network copy
  Feature *vocab_owner;     // the features looked up in it share this one's vocabulary
  bool is_stat;             // running statistics: updated by forward, never trained
  int lag_every;
  const char *lag_of;       // the parameter it copies
};

typedef struct {
  const char *name;
  IrNode *node;
  Loc loc;
} Output;

struct Graph {
  const char *model_name;
  const char *format;       // "csv" or "tsv"
  char delimiter;
  const char *next_by, *next_order;   // DRN: pair each row with the user's next one
  const char *group_by;     // AutoRec: the rows sharing this column form one example
  IrNode *heldout_pred;     // group_by models: masked_mse's prediction over a pair-source
  Feature *heldout_target;  // feature (IDCOL:VALCOL), which held-out (key, id, value) rows score
  Vec nodes;                // IrNode*, in creation (topological) order
  Vec features;             // Feature* (labels included, kind FK_LABEL)
  Vec params;               // Param*
  Vec outputs;              // Output*
  Vec losses;               // Output* (per-example loss terms, summed)
  Record *optimizer, *sparse_optimizer;
  int batch, epochs, seed;
  double l2;
  int ndropout;             // dropout layers so far: each one's mask has its own stream
  // filled by autodiff.c
  IrNode *retrieve_user;    // sampled_softmax: the user vector, the item table, the target
  Param *retrieve_table;
  Feature *retrieve_target;
  IrNode *total_loss;       // per-example sum of the losses
  uint64_t signature;       // ir_build_training: of the model as written, before any rewrite
  Vec grads;                // per param (same order): its dense gradient node, or NULL
  Vec sparse;               // SparseGrad*: table gradients as looked-up rows
};

typedef struct {            // d(loss)/d(rows of a table) for one lookup of ids
  Param *param;
  IrNode *ids;              // an INPUT node
  IrNode *rows;             // [.., dim] gradient of the looked-up rows (batched), or NULL when
  IrNode *coef, *vec;       // factored (cse.c: ir_factor_sparse_rows): rows = coef [L, 1] * vec [dim]
} SparseGrad;

// The values the runtime reads for a table's gradient: its rows, or their two factors.
static inline int sparse_grad_nodes(const SparseGrad *s, IrNode **out) {
  if (s->rows) return out[0] = s->rows, 1;
  return out[0] = s->coef, out[1] = s->vec, 2;
}

Graph *ir_graph_new(void);

//
// dce.c: keeps the nodes that reach an output or a loss, renumbered in order.
//
void ir_dce(Graph *g);
// dce.c: by node id, whether an output needs it (what a scoring call computes, the
// losses' own part not: DRN's target networks); arena memory
bool *ir_scoring_nodes(Graph *g);
void ir_cse(Graph *g);   // cse.c: identical pure nodes merged (then run ir_dce)
void ir_fold_transposes(Graph *g);      // cse.c: matmul(a, transpose(x)) is matmul_nt(a, x), .. (then ir_dce)
void ir_sums_to_scalars(Graph *g);      // cse.c: sum_to [B, n] -> [B] is a sum over all axes
void ir_unit_moves_as_reshapes(Graph *g);   // cse.c: a sum over one value, an expand to as many: reshapes
void ir_forward_broadcasts(Graph *g);   // cse.c: elementwise nodes read expand()'s operand (then ir_dce)
void ir_factor_sparse_rows(Graph *g);   // cse.c: rows = coef * vec kept as the two factors (then ir_dce)
// cse.c: repl[id] (ids below n) replaces that node: x's replacement, or x; and
// every graph-level reference (outputs, losses, features, gradients) redirected
IrNode *ir_kept(IrNode **repl, int n, IrNode *x);
void ir_redirect(Graph *g, IrNode **repl, int n);
int *ir_readers(Graph *g);   // cse.c: by node id, the nodes and outputs that read it (free it)
// cse.c: nodes appended by ir_add while node i (of the first n) was visited, from
// added_from[i] on, move just before node i; the graph is renumbered
void ir_place_appended(Graph *g, int n, const int *added_from);
// cse.c: one pass of rewrites: rw sees each node of g in order, its inputs already
// the rewritten ones (readers: each node's readers before the pass), and returns
// the node that replaces it, built with ir_add, or NULL to keep it. The nodes a
// rewrite adds take the replaced node's scope and go right before it; every
// reference to a replaced node is redirected.
typedef IrNode *(*IrRewrite)(Graph *g, IrNode *x, const int *readers);
void ir_rewrite(Graph *g, IrRewrite rw);
void ir_split_concat_matmuls(Graph *g);   // split_matmul.c: matmul(concat) as per-part matmuls, when it gains
void ir_merge_concat_matmuls(Graph *g);   // merge_matmul.c: concat(x W1 + b1, x W2 + b2) as one dense layer

//
// autodiff.c: reverse mode. Appends gradient nodes to the same graph; a
// missing rule is a compiler bug reported by op name.
//
void ad_build(Graph *g);
// lower.c: the graph a program trains, from sema's: DCE, the model's signature,
// the matmul merges and splits (fuse), gradients (ad_build), DCE, verification
void ir_build_training(Graph *g, bool fuse);

//
// interp.c: the reference interpreter, in double precision: the oracle that
// gradients (finite differences) and generated code are checked against.
//
typedef struct Interp Interp;
Interp *interp_new(Graph *g, int batch);
void *interp_buffer(Interp *it, IrNode *n);   // int32_t* for ids, double* otherwise
void interp_run(Interp *it, bool training);   // every node in order (forward, then backward)
void interp_free(Interp *it);
struct DmcKernel;
void kernel_describe(const IrNode *n, struct DmcKernel *k);   // the node as a kernel call

//
// lower.c: the graph as a list of kernel calls with every buffer placed: the one
// lowered form that both backends print. Workspace buffers are placed at
// fixed + per_row * B floats (B: the batch at hand), shared by liveness (plan.c).
//
// BUF_GRAD: a parameter's gradient, computed straight into the gradient block the
// runtime passes (ctx->grads), not in the workspace and copied there (plan.c).
typedef enum { BUF_INPUT, BUF_PARAM, BUF_WORK, BUF_GRAD } BufKind;
typedef struct {
  BufKind kind;
  int64_t index;            // input number, or float offset in the parameter (or gradient) block
  int64_t fixed, per_row;   // workspace place
} Buf;

typedef struct Fused Fused;   // fuse.h
typedef struct {
  Graph *g;
  Buf *buf;                 // by node id
  Vec forward, backward;    // IrNode* to run, in order (a fused kernel's root stands for it)
  Fused **fused;            // by node id: the fused kernel a root runs (fuse.c), or NULL
  bool *view;               // by node id: a reshape that reads its operand's buffer, or a slice
                            // of its last axis read in place (slice_views.c)
  IrNode **into;            // by node id: the concat whose slice it is written in (slices.c), or NULL
  int64_t *into_at;         // by node id: where that slice starts in an example of the concat
  Vec inputs;               // IrNode* (INPUT nodes, in input order)
  int64_t ws_fixed, ws_per_row;
  int64_t params_size;
  int64_t *param_offset;    // by param index
  uint64_t signature;
  int nprep;                // the first nprep forward kernels: values of the parameters alone (prepare.c)
  bool *kept;               // by node id: a prepared value read after them (kept between calls), or NULL
  int nscore;               // the first nscore forward kernels: those the outputs need (loss_last.c)
  bool *score_reads;        // by node id: a buffer a call that only scores reads (loss_last.c), or NULL
} Lowered;

Lowered *lower_graph(Graph *g, bool fuse);   // fuse: fuse.c's views and fused kernels
void kernels_print(Lowered *l, FILE *out);   // fuse.c: --emit=kernels
void fuse_kernels(Lowered *l, bool fuse);   // fuse.c: views and fused elementwise kernels (or none)
void place_slices(Lowered *l);   // slices.c: producers written into their concat's buffer
void place_slice_views(Lowered *l);   // slice_views.c: slices that GEMMs read in place, not copied
void plan_memory(Lowered *l);   // plan.c: workspace places by liveness
void order_prepared(Lowered *l);   // prepare.c: the kernels of parameters alone first (l->nprep)
void order_loss_last(Lowered *l);  // loss_last.c: the kernels only the losses read last (l->nscore)
uint64_t ir_signature(Graph *g);

//
// emit_c.c: the lowered model as a C file against runtime/dmc_abi.h.
//
void cgen_emit(Lowered *l, const char *source_name, FILE *out);
bool cgen_check_supported(Graph *g);   // reports ops code generation lacks
void cgen_retrieval(Graph *g, int *output, int *table, int *target);   // descriptor indices, or -1
void cgen_heldout(Graph *g, int *output, int *feature);   // descriptor indices, or -1

//
// emit_llvm.c: the same lowered model as an LLVM module (LLVM C API), the same
// calls and the same descriptor as emit_c.c. llvm_emit_ir prints the verified
// module before optimisation (`--emit=llvm`); llvm_emit_object optimises it at
// O3 for the host CPU (portable: generic x86-64) and writes a PIC object file.
// Both return 0, or 1 after a message (a dmc built without LLVM has stubs).
//
int llvm_emit_ir(Lowered *l, const char *source_name, FILE *out);
int llvm_emit_object(Lowered *l, const char *source_name, bool portable, const char *path);
bool llvm_available(void);   // built with LLVM: --backend=llvm is the default

//
// verify.c: structural invariants of a graph; a failure is a compiler bug.
//
void ir_verify(Graph *g);

//
// sema.c: evaluates a checked program into a graph. Errors go through diag.
//
Graph *sema_build(Node *prog, Node *stdlib);

//
// print.c: deterministic text of the graph; dot.c: Graphviz; report.c: costs.
//
void ir_print(Graph *g, FILE *out);
void ir_print_dot(Graph *g, FILE *out);
void ir_report(Graph *g, FILE *out);
void ir_report_training(Graph *g, FILE *out);
double ir_node_flops(IrNode *n);

//
// columns.c: `dmc check --data FILE` checks column bindings against a header.
//
int check_columns(Graph *g, const char *data_path);

#endif
