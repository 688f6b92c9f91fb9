// fuse.h: what compiler/fuse.c decides about the lowered kernel list, read by
// plan.c and both backends. Separate from dmc.h because it needs the runtime's
// kernel description (runtime/kernels.h).
#ifndef DMC_FUSE_H
#define DMC_FUSE_H

#include "dmc.h"
#include "kernels.h"

// A fused kernel: the program a root node runs in place of itself and the
// nodes it absorbed (member[i] computes step i; the last member is the root).
// The call's buffer array is in[0..nin) then the stored members' buffers.
struct Fused {
  int nin, nstore;
  IrNode *in[DMC_KMAX_IN];      // operands, then stored members
  int nstep;
  IrNode *member[DMC_KMAX_STEPS];
  DmcStep step[DMC_KMAX_STEPS];
};

// The operands a kernel call reads: a fused root's inputs, else the node's own.
int kernel_operands(const Lowered *l, IrNode *n, IrNode *const **ops);
// The buffers a kernel call writes besides its output: a fused root's stored members.
int kernel_stores(const Lowered *l, IrNode *n, IrNode *const **st);
// Argument k of kernel i of v is a store that a call which only scores (DmcCtx.loss
// NULL) leaves out: only the losses or the backward pass read it (loss_last.c). The
// backends pass it as ctx->loss ? buffer : NULL; a fused kernel skips a NULL store.
bool store_for_training(const Lowered *l, const Vec *v, int i, int k);
// Every buffer the call passes in its array: the operands, then the stores.
int kernel_args(const Lowered *l, IrNode *n, IrNode *const **args);
// The kernel description of a lowered node (fused or not).
void lowered_describe(const Lowered *l, IrNode *n, DmcKernel *k);
// The node whose buffer a view (a reshape sharing its operand's) reads; else n.
IrNode *view_root(const Lowered *l, IrNode *n);
// slices.c: the outermost concat whose buffer n is written in (n if none), where
// n starts in an example of it, and whether a concat's operand is already in its
// slice (its kernel does not copy it: the call passes NULL).
IrNode *concat_home(const Lowered *l, IrNode *n);
int64_t concat_offset(const Lowered *l, IrNode *n);
bool in_slice(const Lowered *l, IrNode *concat, IrNode *operand);
// The values the runtime reads after the kernels (outputs, the loss, gradients,
// table-row gradients), by view root: written densely, in a buffer of their own.
bool *runtime_read(const Lowered *l);
// The rows of n's slice when it is strided within an example (DmcKernel.orow, orstride; 0, 0: one run).
void concat_rows(const Lowered *l, IrNode *n, int *orow, int *orstride);

#endif
