// kernels.h: the semantics of every op of compiler/ops.def, as one kernel per
// op that a generated program calls with the node's constant description.
//
// The same source (kernels_impl.h) is compiled twice: in float for the runtime
// (kernels.c) and in double for the compiler's reference interpreter
// (compiler/interp.c), so "what an op means" is written once. The generated
// code's job is the plan (which buffer, which batch size), and it is checked
// against the interpreter; gradients are checked by finite differences.
//
// Fusion (compiler/fuse.c) turns a chain of elementwise nodes, optionally headed
// by the matmul that feeds it, into one DMC_OP_FUSED kernel: a short program of
// steps over its operands, run block by block while the values are in cache.
#ifndef DMC_KERNELS_H
#define DMC_KERNELS_H

#include <stdint.h>

#include "dmc_abi.h"

enum {
#define OP(name, text, arity, shape_rule, kind, grad) DMC_OP_##name,
#include "ops.def"
#undef OP
  DMC_OP__COUNT
};
#define DMC_OP_FUSED DMC_OP__COUNT   // a fused elementwise program: DmcKernel.step

#define DMC_KMAX_RANK 4
#define DMC_AXIS_ALL 99
#define DMC_KMAX_IN 12      // buffers of one kernel call besides its output (a fused one's operands and stores)
#define DMC_KMAX_STEPS 24   // steps of a fused program

// DMC_OP_GRU_GRAD's row for each step of a state of n (runtime/rnn_impl.h):
// [dzu dzr dzc] at 0, [dzu dzr dq] at DMC_GRU_DZQ, h_prev at DMC_GRU_HP, da at
// DMC_GRU_DA, each part from a multiple of 16 floats (zeros between), so that the
// GEMMs reading them in place (compiler/slice_views.c) find whole cache lines.
#define DMC_GRU_PART(v) (((v) + 15) / 16 * 16)
#define DMC_GRU_DZQ(n) DMC_GRU_PART(3 * (n))
#define DMC_GRU_HP(n) (DMC_GRU_DZQ(n) + DMC_GRU_PART(3 * (n)))
#define DMC_GRU_DA(n) (DMC_GRU_HP(n) + DMC_GRU_PART(n))
#define DMC_GRU_ROW(n) (DMC_GRU_DA(n) + 16)

// DMC_OP_AFM_POOL (runtime/afm_impl.h) keeps an example's e^T (k rows of f and up
// to 31 of padding), its scores, and a chunk of its pairs' products and attention
// layer (k and t rows of a chunk's C pairs and 16 of padding) in stack arrays:
// f <= DMC_AFM_MAX_F, f * k <= DMC_AFM_BUF and k, t <= DMC_AFM_MAX_KT, so that
// e^T fits twice DMC_AFM_BUF and a chunk (C >= 16) DMC_AFM_BUF.
#define DMC_AFM_BUF 8192
#define DMC_AFM_MAX_F 128
#define DMC_AFM_MAX_KT 256

typedef struct {
  int rank;
  int dim[DMC_KMAX_RANK];
  int batched;      // has the batch dimension in front
  int is_ids;       // int32 ids instead of reals
  int ld;           // 0: dense. Else the operand is a slice of a wider value's last axis,
                    // read in place: its rows (of dim[rank - 1]) lie ld floats apart, the
                    // batch's too. Only the operands compiler/slice_views.c places so read it.
} DmcKShape;

// One step of a fused program. Slots 0..nin-1 are the kernel's operands (each
// broadcast to the output's shape), slot nin+i the result of step i; the last
// step is the output. Ops: the elementwise ones (b unused when unary), CONST
// (val), and MATMUL or MATMUL_NT, only as step 0 (the head): operand a @ operand b
// (b read transposed for MATMUL_NT) written to the output first, the rest of the
// program then runs on it row block by row block.
// A step whose value is also read elsewhere is stored: `store` > 0 is the index in
// the call's buffer array (after the nin operands) of where it goes, in the
// shape the program runs in: the output's, except under a tail sum. A last SUM
// step is a tail sum: the program runs in its operand's shape (the output's with
// DmcKernel.len steps inserted at .axis) and adds each value into the output,
// skipping the steps whose mask (operand b, when b != a) is 0.
// A GATHER step reads rows of a table (operand a, [V, D]) by ids (operand b, an
// example's [t] contiguous): element i of the batch in the program's shape [t, D]
// is row ids[i / D]'s element i % D (an id outside the table reads row 0). The
// program {GATHER, SUM|MEAN [mask]} is instead a pooled lookup (dmc_pooled_lookup).
typedef struct {
  int op, a, b, store;
  double val;
} DmcStep;

// A bag of table rows summed straight into the output (compiler/fuse.c): step 0
// GATHER table ids, val 1 (a tail sum's program may also start with a GATHER, val 0:
// rows recomputed into its blocks), [a MUL of it by operand b,] last a SUM or MEAN of
// it, masked by operand b (-1: none). DmcKernel.axis 0: the rows summed, each times
// its weight (b [L, 1]); 1: each row summed, times b (an example's [D]): one dot
// product a row (runtime/kernels_impl.h: pooled_lookup).
static inline int dmc_pooled_lookup(const DmcStep *st, int nstep) {
  return nstep >= 2 && st[0].op == DMC_OP_GATHER && st[0].val == 1;
}

typedef struct DmcKernel {
  int op;           // DMC_OP_*, or DMC_OP_FUSED
  DmcKShape out;
  int nin;
  DmcKShape in[DMC_KMAX_IN];
  int axis, start, len;
  double fval;
  int nstep;        // DMC_OP_FUSED: the program
  const DmcStep *step;
  int ostride;      // floats from one example's output to the next; 0: numel(out), dense.
                    // Set when the output is a slice of a concat's buffer (compiler/slices.c)
  int orow, orstride;   // a slice strided within an example: its rows of orow floats lie
                        // orstride apart (0: one contiguous run); only the ops slices.c
                        // places so (elementwise programs, gather, expand) read these
} DmcKernel;

// Runs one node for B examples. `in` holds each operand's buffer (real or
// int32 ids); `out` gets [B?, out shape]. training: dropout and batch statistics.
void dmc_kernel_f32(const DmcKernel *k, int B, float *out, const void *const *in, uint64_t seed, int training);
// When set (PROG bench --profile, runtime/kprofile.c), dmc_kernel_f32 times every
// call and reports it here; NULL (the default) costs one test per call.
extern void (*dmc_kernel_timer)(const DmcKernel *k, int B, double seconds);
// The threads of one request: when set for the calling thread, matmul kernels
// split each GEMM with a large weight into `parts` column ranges and have
// run(ctx, fn, arg) call fn(arg, 0..parts-1) concurrently, returning when all
// are done (runtime/share.c gives them a pool's threads).
typedef struct {
  int parts;
  void (*run)(void *ctx, void (*fn)(void *arg, int part), void *arg);
  void *ctx;
} DmcKernelShare;
extern _Thread_local const DmcKernelShare *dmc_kernel_share;
// A program's prepared values (compiler/prepare.c: its forward kernels of the
// parameters alone) are computed again only when dmc_params_stale(ctx) says so: in
// training, when ctx->params_version is 0 (unknown), or when the workspace's stamp
// (its first DMC_STAMP_FLOATS floats) names other parameters or another version.
// It stamps the workspace with ctx's parameters and version (in training, with none).
#define DMC_STAMP_FLOATS 16
int dmc_params_stale(const DmcCtx *ctx);
// Sets the calling thread's flush-to-zero and denormals-are-zero modes (x86): each
// program does it first thing (runtime/cli.c), before it starts any thread.
void dmc_flush_denormals(void);
void dmc_kernel_f64(const DmcKernel *k, int B, double *out, const void *const *in, uint64_t seed, int training);

#endif
