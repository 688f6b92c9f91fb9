// kernels.h: the semantics of every op of compiler/ops.def, as one kernel per
// op that a generated program calls with the node's constant description.
//
// The same source (kernels_impl.h) is compiled twice: in float for the runtime
// (kernels.c) and in double for the compiler's reference interpreter
// (compiler/interp.c), so "what an op means" is written once. The generated
// code's job is the plan (which buffer, which batch size), and it is checked
// against the interpreter; gradients are checked by finite differences.
//
// Limits: kernels are generic over shapes (strided loops, no fusion, no
// register blocking); they favour being obviously right over being fast.
#ifndef DMC_KERNELS_H
#define DMC_KERNELS_H

#include <stdint.h>

enum {
#define OP(name, text, arity, shape_rule, kind, grad) DMC_OP_##name,
#include "ops.def"
#undef OP
  DMC_OP__COUNT
};

#define DMC_KMAX_RANK 4
#define DMC_AXIS_ALL 99

typedef struct {
  int rank;
  int dim[DMC_KMAX_RANK];
  int batched;      // has the batch dimension in front
  int is_ids;       // int32 ids instead of reals
} DmcKShape;

typedef struct DmcKernel {
  int op;           // DMC_OP_*
  DmcKShape out;
  int nin;
  DmcKShape in[4];
  int axis, start, len;
  double fval;
} DmcKernel;

// Runs one node for B examples. `in` holds each operand's buffer (real or
// int32 ids); `out` gets [B?, out shape]. training: dropout and batch statistics.
void dmc_kernel_f32(const DmcKernel *k, int B, float *out, const void *const *in, uint64_t seed, int training);
void dmc_kernel_f64(const DmcKernel *k, int B, double *out, const void *const *in, uint64_t seed, int training);

#endif
