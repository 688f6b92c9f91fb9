// emit_llvm.c: the lowered model as an LLVM module, built through the LLVM C API
// (`dmc --backend=llvm`, `dmc --emit=llvm`). It is the same program as emit_c.c
// prints, value for value: a DmcKernel constant per node, dmc_forward/dmc_backward
// calling dmc_kernel_f32 with the same buffer pointers (inputs, params + offset,
// workspace + fixed + per_row * B), the memcpys of the loss and the dense
// gradients, dmc_workspace_floats, and `const DmcModel dmc_model` with every
// nested array and string. So the runtime links either object unchanged, and a
// checkpoint trained with one backend loads in the other (same signature, same
// descriptor; tests/llvm_backend.sh diffs the two descriptors and results).
//
// The ABI structs are mirrored as LLVM struct types; build_types() checks every
// size and field offset against runtime/dmc_abi.h and runtime/kernels.h as this
// compiler sees them, so a change there that is not mirrored here is a dmc bug
// reported at once, not a silently wrong program.
//
// The module is verified and written as a PIC object in-process for the host CPU
// (--portable: generic x86-64), with no optimisation: the kernels do the work.
// Built only when llvm.mk finds llvm-config (DMC_HAVE_LLVM); otherwise the entry
// points say that this dmc has no LLVM backend.
#include "dmc.h"

#include <string.h>

#ifndef DMC_HAVE_LLVM

bool llvm_available(void) { return false; }

int llvm_emit_ir(Lowered *l, const char *source_name, FILE *out) {
  (void)l, (void)source_name, (void)out;
  diag_plain("this dmc was built without LLVM (llvm-config was not found): use --backend=c");
  return 1;
}

int llvm_emit_object(Lowered *l, const char *source_name, bool portable, const char *path) {
  (void)l, (void)source_name, (void)portable, (void)path;
  diag_plain("this dmc was built without LLVM (llvm-config was not found): use --backend=c");
  return 1;
}

#else

bool llvm_available(void) { return true; }

#include <stddef.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/Core.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include "dmc_abi.h"
#include "kernels.h"
#include "fuse.h"

typedef struct {
  Lowered *l;
  LLVMContextRef cx;
  LLVMModuleRef m;
  LLVMBuilderRef b;
  LLVMTargetDataRef td;
  LLVMTypeRef i8, i32, i64, f32, f64, vd, ptr, fptr, pptr;   // i8*, float*, i8**
  LLVMTypeRef kshape, step, kernel, feature, input, record, param, sparse, output, ctx, model;
  LLVMTypeRef kernel_fn, entry_fn, ws_fn, stale_fn;
  LLVMValueRef kernel_f32;          // declared: runtime/kernels.c
  LLVMValueRef *kconst;             // by node id: @kN
  // within the function being built
  LLVMValueRef ctx_arg, B, B64, W, in_array, in0;   // in0: &in[0], what `in` decays to
  LLVMValueRef seed, training, params, grads;
  LLVMValueRef *input_ptr;          // by input number: ctx->inputs[i], read on entry
} Gen;

// ---- types: runtime/dmc_abi.h and runtime/kernels.h, field for field --------

static LLVMTypeRef named_struct(Gen *g, const char *name, LLVMTypeRef *fields, unsigned n) {
  LLVMTypeRef t = LLVMStructCreateNamed(g->cx, name);
  LLVMStructSetBody(t, fields, n, 0);
  return t;
}

// Dies unless the LLVM type has the C type's size and the listed offsets.
static void check_layout(Gen *g, LLVMTypeRef t, const char *name, size_t size, const size_t *offsets, unsigned n) {
  if (LLVMCountStructElementTypes(t) != n) die("LLVM %s has %u fields, dmc_abi.h %u", name, LLVMCountStructElementTypes(t), n);
  if (LLVMABISizeOfType(g->td, t) != size)
    die("LLVM %s is %llu bytes, the C struct %zu", name, LLVMABISizeOfType(g->td, t), size);
  for (unsigned i = 0; i < n; i++)
    if (LLVMOffsetOfElement(g->td, t, i) != offsets[i])
      die("LLVM %s field %u is at %llu, in C at %zu", name, i, LLVMOffsetOfElement(g->td, t, i), offsets[i]);
}
#define CHECK(T, ...)                                                                                          \
  do {                                                                                                       \
    const size_t offs_[] = {__VA_ARGS__};                                                                    \
    check_layout(g, g->T, #T, sizeof(DMC_CTYPE_##T), offs_, (unsigned)(sizeof offs_ / sizeof offs_[0]));     \
  } while (0)
#define DMC_CTYPE_kshape DmcKShape
#define DMC_CTYPE_step DmcStep
#define DMC_CTYPE_kernel DmcKernel
#define DMC_CTYPE_feature DmcFeature
#define DMC_CTYPE_input DmcInput
#define DMC_CTYPE_record DmcRecord
#define DMC_CTYPE_param DmcParam
#define DMC_CTYPE_sparse DmcSparseGrad
#define DMC_CTYPE_output DmcOutput
#define DMC_CTYPE_ctx DmcCtx
#define DMC_CTYPE_model DmcModel

static void build_types(Gen *g) {
  g->i8 = LLVMInt8TypeInContext(g->cx);
  g->i32 = LLVMInt32TypeInContext(g->cx);
  g->i64 = LLVMInt64TypeInContext(g->cx);
  g->f32 = LLVMFloatTypeInContext(g->cx);
  g->f64 = LLVMDoubleTypeInContext(g->cx);
  g->vd = LLVMVoidTypeInContext(g->cx);
  g->ptr = LLVMPointerType(g->i8, 0);
  g->fptr = LLVMPointerType(g->f32, 0);
  g->pptr = LLVMPointerType(g->ptr, 0);
  LLVMTypeRef i32 = g->i32, i64 = g->i64, p = g->ptr, i8 = g->i8;

  g->kshape = named_struct(g, "DmcKShape", (LLVMTypeRef[]){i32, LLVMArrayType(i32, DMC_KMAX_RANK), i32, i32, i32}, 5);
  g->step = named_struct(g, "DmcStep", (LLVMTypeRef[]){i32, i32, i32, i32, g->f64}, 5);
  g->kernel = named_struct(g, "DmcKernel",
                           (LLVMTypeRef[]){i32, g->kshape, i32, LLVMArrayType(g->kshape, DMC_KMAX_IN), i32, i32, i32,
                                           g->f64, i32, LLVMPointerType(g->step, 0), i32, i32, i32},
                           13);
  g->feature = named_struct(g, "DmcFeature",
                            (LLVMTypeRef[]){p, i32, i32, i32, p, i8, i8, i64, i32, i32, i32, i32, g->f32, i32, i32, p,
                                            i32, i32, i32, p},
                            20);
  g->input = named_struct(g, "DmcInput", (LLVMTypeRef[]){p, i32, i64}, 3);
  g->record = named_struct(g, "DmcRecord", (LLVMTypeRef[]){p, i32, p, p, p}, 5);
  g->param = named_struct(
      g, "DmcParam", (LLVMTypeRef[]){p, i32, LLVMArrayType(i64, 4), i64, i64, i32, g->record, g->record, i32, i32, i32}, 11);
  g->sparse = named_struct(g, "DmcSparseGrad", (LLVMTypeRef[]){i32, i32, i64, i64, i64, i64, i64, i64}, 8);
  g->output = named_struct(g, "DmcOutput", (LLVMTypeRef[]){p, i64, i64, i64}, 4);
  g->ctx = named_struct(g, "DmcCtx", (LLVMTypeRef[]){i32, i32, i64, g->pptr, g->fptr, g->fptr, g->fptr, g->fptr, i64}, 9);
  g->model = named_struct(g, "DmcModel",
                          (LLVMTypeRef[]){i32, p, i64, i8, p, p, i32, p, i32, p, i32, p, i64, i32, p, i32, p, g->record,
                                          g->record, i32, i32, i32, g->f64, p, p, p, i32, i32, i32, p, i32, i32},
                          32);

  CHECK(kshape, offsetof(DmcKShape, rank), offsetof(DmcKShape, dim), offsetof(DmcKShape, batched),
        offsetof(DmcKShape, is_ids), offsetof(DmcKShape, ld));
  CHECK(kernel, offsetof(DmcKernel, op), offsetof(DmcKernel, out), offsetof(DmcKernel, nin), offsetof(DmcKernel, in),
        offsetof(DmcKernel, axis), offsetof(DmcKernel, start), offsetof(DmcKernel, len), offsetof(DmcKernel, fval),
        offsetof(DmcKernel, nstep), offsetof(DmcKernel, step), offsetof(DmcKernel, ostride), offsetof(DmcKernel, orow),
        offsetof(DmcKernel, orstride));
  CHECK(step, offsetof(DmcStep, op), offsetof(DmcStep, a), offsetof(DmcStep, b), offsetof(DmcStep, store),
        offsetof(DmcStep, val));
  CHECK(feature, offsetof(DmcFeature, name), offsetof(DmcFeature, kind), offsetof(DmcFeature, len),
        offsetof(DmcFeature, ncolumns), offsetof(DmcFeature, columns), offsetof(DmcFeature, sep),
        offsetof(DmcFeature, kv), offsetof(DmcFeature, vocab), offsetof(DmcFeature, min_count),
        offsetof(DmcFeature, normalize), offsetof(DmcFeature, log1p), offsetof(DmcFeature, has_default),
        offsetof(DmcFeature, default_value), offsetof(DmcFeature, next_row), offsetof(DmcFeature, nsources),
        offsetof(DmcFeature, sources), offsetof(DmcFeature, vocab_of), offsetof(DmcFeature, input),
        offsetof(DmcFeature, weights_input), offsetof(DmcFeature, value_column));
  CHECK(input, offsetof(DmcInput, name), offsetof(DmcInput, dtype), offsetof(DmcInput, size));
  CHECK(record, offsetof(DmcRecord, name), offsetof(DmcRecord, n), offsetof(DmcRecord, keys),
        offsetof(DmcRecord, values), offsetof(DmcRecord, strings));
  CHECK(param, offsetof(DmcParam, name), offsetof(DmcParam, rank), offsetof(DmcParam, shape), offsetof(DmcParam, size),
        offsetof(DmcParam, offset), offsetof(DmcParam, is_table), offsetof(DmcParam, init),
        offsetof(DmcParam, optimizer), offsetof(DmcParam, lag_of), offsetof(DmcParam, lag_every),
        offsetof(DmcParam, is_stat));
  CHECK(sparse, offsetof(DmcSparseGrad, param), offsetof(DmcSparseGrad, ids_input),
        offsetof(DmcSparseGrad, ids_per_example), offsetof(DmcSparseGrad, dim), offsetof(DmcSparseGrad, grad_fixed),
        offsetof(DmcSparseGrad, grad_per_row), offsetof(DmcSparseGrad, vec_fixed), offsetof(DmcSparseGrad, vec_per_row));
  CHECK(output, offsetof(DmcOutput, name), offsetof(DmcOutput, size), offsetof(DmcOutput, fixed),
        offsetof(DmcOutput, per_row));
  CHECK(ctx, offsetof(DmcCtx, batch), offsetof(DmcCtx, training), offsetof(DmcCtx, seed), offsetof(DmcCtx, inputs),
        offsetof(DmcCtx, params), offsetof(DmcCtx, grads), offsetof(DmcCtx, workspace), offsetof(DmcCtx, loss),
        offsetof(DmcCtx, params_version));
  CHECK(model, offsetof(DmcModel, abi_version), offsetof(DmcModel, name), offsetof(DmcModel, signature),
        offsetof(DmcModel, delimiter), offsetof(DmcModel, next_by), offsetof(DmcModel, next_order),
        offsetof(DmcModel, nfeatures), offsetof(DmcModel, features), offsetof(DmcModel, ninputs),
        offsetof(DmcModel, inputs), offsetof(DmcModel, nparams), offsetof(DmcModel, params),
        offsetof(DmcModel, params_size), offsetof(DmcModel, noutputs), offsetof(DmcModel, outputs),
        offsetof(DmcModel, nsparse), offsetof(DmcModel, sparse), offsetof(DmcModel, optimizer),
        offsetof(DmcModel, sparse_optimizer), offsetof(DmcModel, batch), offsetof(DmcModel, epochs),
        offsetof(DmcModel, seed), offsetof(DmcModel, l2), offsetof(DmcModel, workspace_floats),
        offsetof(DmcModel, forward), offsetof(DmcModel, backward), offsetof(DmcModel, retrieve_output),
        offsetof(DmcModel, retrieve_table), offsetof(DmcModel, retrieve_target), offsetof(DmcModel, group_by),
        offsetof(DmcModel, heldout_output), offsetof(DmcModel, heldout_feature));

  // void dmc_kernel_f32(const DmcKernel *k, int B, float *out, const void *const *in, uint64_t seed, int training)
  g->kernel_fn = LLVMFunctionType(
      g->vd, (LLVMTypeRef[]){LLVMPointerType(g->kernel, 0), i32, g->fptr, g->pptr, i64, i32}, 6, 0);
  g->entry_fn = LLVMFunctionType(g->vd, (LLVMTypeRef[]){LLVMPointerType(g->ctx, 0)}, 1, 0);
  g->stale_fn = LLVMFunctionType(i32, (LLVMTypeRef[]){LLVMPointerType(g->ctx, 0)}, 1, 0);   // dmc_params_stale
  g->ws_fn = LLVMFunctionType(i64, (LLVMTypeRef[]){i32}, 1, 0);
}

// ---- constants --------------------------------------------------------------

static LLVMValueRef ci32(Gen *g, long long v) { return LLVMConstInt(g->i32, (unsigned long long)v, 1); }
static LLVMValueRef ci64(Gen *g, long long v) { return LLVMConstInt(g->i64, (unsigned long long)v, 1); }
static LLVMValueRef ci8(Gen *g, char c) { return LLVMConstInt(g->i8, (unsigned char)c, 0); }
static LLVMValueRef cnull(Gen *g) { return LLVMConstNull(g->ptr); }

// An internal constant global (static const in C); returns it as i8*.
static LLVMValueRef global_const(Gen *g, const char *name, LLVMValueRef init) {
  LLVMValueRef v = LLVMAddGlobal(g->m, LLVMTypeOf(init), name);
  LLVMSetInitializer(v, init);
  LLVMSetGlobalConstant(v, 1);
  LLVMSetLinkage(v, LLVMInternalLinkage);
  LLVMSetAlignment(v, LLVMABIAlignmentOfType(g->td, LLVMTypeOf(init)));
  return LLVMConstPointerCast(v, g->ptr);
}

// A C string literal: NULL stays a null pointer.
static LLVMValueRef cstr(Gen *g, const char *s) {
  if (!s) return cnull(g);
  LLVMValueRef init = LLVMConstStringInContext(g->cx, s, (unsigned)strlen(s), 0);
  LLVMValueRef v = LLVMAddGlobal(g->m, LLVMTypeOf(init), ".str");
  LLVMSetInitializer(v, init);
  LLVMSetGlobalConstant(v, 1);
  LLVMSetLinkage(v, LLVMPrivateLinkage);
  LLVMSetUnnamedAddress(v, LLVMGlobalUnnamedAddr);
  LLVMSetAlignment(v, 1);
  return LLVMConstPointerCast(v, g->ptr);
}

// A constant array of max(n, 1) elements (C: `T name[n ? n : 1]`, the padding zeroed).
static LLVMValueRef carray(Gen *g, const char *name, LLVMTypeRef elem, LLVMValueRef *vals, int n) {
  LLVMValueRef zero = LLVMConstNull(elem);
  LLVMValueRef init = LLVMConstArray(elem, n ? vals : &zero, n ? (unsigned)n : 1);
  return global_const(g, name, init);
}

static LLVMValueRef kshape(Gen *g, const DmcKShape *s) {
  LLVMValueRef dims[DMC_KMAX_RANK];
  for (int i = 0; i < DMC_KMAX_RANK; i++) dims[i] = ci32(g, s->dim[i]);
  LLVMValueRef f[] = {ci32(g, s->rank), LLVMConstArray(g->i32, dims, DMC_KMAX_RANK), ci32(g, s->batched),
                      ci32(g, s->is_ids), ci32(g, s->ld)};
  return LLVMConstNamedStruct(g->kshape, f, 5);
}

// A fused kernel's program: @kN.steps, a constant DmcStep array (else null).
static LLVMValueRef steps_const(Gen *g, int id, const DmcKernel *k) {
  if (!k->nstep) return LLVMConstNull(LLVMPointerType(g->step, 0));
  LLVMValueRef st[DMC_KMAX_STEPS];
  for (int s = 0; s < k->nstep; s++) {
    LLVMValueRef f[] = {ci32(g, k->step[s].op), ci32(g, k->step[s].a), ci32(g, k->step[s].b),
                        ci32(g, k->step[s].store), LLVMConstReal(g->f64, k->step[s].val)};
    st[s] = LLVMConstNamedStruct(g->step, f, 5);
  }
  LLVMTypeRef t = LLVMArrayType(g->step, (unsigned)k->nstep);
  LLVMValueRef gv = LLVMAddGlobal(g->m, t, arena_printf("k%d.steps", id));
  LLVMSetInitializer(gv, LLVMConstArray(g->step, st, (unsigned)k->nstep));
  LLVMSetGlobalConstant(gv, 1);
  LLVMSetLinkage(gv, LLVMInternalLinkage);
  LLVMValueRef zero = ci64(g, 0);
  return LLVMConstInBoundsGEP2(t, gv, (LLVMValueRef[]){zero, zero}, 2);
}

static void build_kernels(Gen *g) {
  Lowered *l = g->l;
  g->kconst = arena_alloc(sizeof(LLVMValueRef) * (size_t)(l->g->nodes.len + 1));
  for (int pass = 0; pass < 2; pass++) {
    Vec *v = pass ? &l->backward : &l->forward;
    for (int i = 0; i < v->len; i++) {
      IrNode *n = v->items[i];
      DmcKernel k;
      lowered_describe(l, n, &k);
      LLVMValueRef in[DMC_KMAX_IN];
      for (int j = 0; j < DMC_KMAX_IN; j++) in[j] = kshape(g, &k.in[j]);
      LLVMValueRef f[] = {ci32(g, k.op),    kshape(g, &k.out),  ci32(g, k.nin), LLVMConstArray(g->kshape, in, DMC_KMAX_IN),
                          ci32(g, k.axis),  ci32(g, k.start),   ci32(g, k.len), LLVMConstReal(g->f64, k.fval),
                          ci32(g, k.nstep), steps_const(g, n->id, &k), ci32(g, k.ostride),
                          ci32(g, k.orow), ci32(g, k.orstride)};
      LLVMValueRef init = LLVMConstNamedStruct(g->kernel, f, 13);
      LLVMValueRef gv = LLVMAddGlobal(g->m, g->kernel, arena_printf("k%d", n->id));
      LLVMSetInitializer(gv, init);
      LLVMSetGlobalConstant(gv, 1);
      LLVMSetLinkage(gv, LLVMInternalLinkage);
      LLVMSetAlignment(gv, LLVMABIAlignmentOfType(g->td, g->kernel));
      g->kconst[n->id] = gv;
    }
  }
}

// ---- functions --------------------------------------------------------------
//
// The C backend reads ctx->inputs, ->params, ->seed and ->training at every call;
// here each is read once on entry (the kernels never write *ctx, so the values
// are the same), which keeps a model's one long basic block small: LLVM 14's
// InstCombine renumbers a block on each change, so its time grows with the
// block's length times the changes made to it. For the same reason the IR is
// built canonical (constants on the right, nsw, i64 GEP indices, nonnull).

// Loads field `i` of *ctx, of type t.
static LLVMValueRef ctx_field(Gen *g, unsigned i, LLVMTypeRef t, const char *name) {
  LLVMValueRef idx[] = {ci64(g, 0), ci32(g, i)};
  LLVMValueRef at = LLVMBuildInBoundsGEP2(g->b, g->ctx, g->ctx_arg, idx, 2, arena_printf("%s.p", name));
  return LLVMBuildLoad2(g->b, t, at, name);
}

// fixed + per_row * B64, as nsw i64 arithmetic (a workspace place or a size).
static LLVMValueRef place(Gen *g, int64_t fixed, int64_t per_row, LLVMValueRef B64) {
  LLVMValueRef off = per_row ? LLVMBuildNSWMul(g->b, B64, ci64(g, per_row), "") : NULL;
  if (!off) return ci64(g, fixed);
  return fixed ? LLVMBuildNSWAdd(g->b, off, ci64(g, fixed), "") : off;
}

// A node's buffer, as emit_c.c's buf_expr computes it: ctx->inputs[i] (i8*),
// ctx->params + offset, or W + fixed + per_row * (int64_t)B (float*).
static LLVMValueRef buf_value(Gen *g, IrNode *n) {
  Buf *b = &g->l->buf[n->id];
  switch (b->kind) {
  case BUF_INPUT: return g->input_ptr[b->index];
  case BUF_PARAM:
    return LLVMBuildInBoundsGEP2(g->b, g->f32, g->params, (LLVMValueRef[]){ci64(g, b->index)}, 1, n->name ? n->name : "");
  case BUF_GRAD:
    return LLVMBuildInBoundsGEP2(g->b, g->f32, g->grads, (LLVMValueRef[]){ci64(g, b->index)}, 1, "");
  default: {
    LLVMValueRef off = place(g, b->fixed, b->per_row, g->B64);
    return LLVMBuildInBoundsGEP2(g->b, g->f32, g->W, &off, 1, arena_printf("n%d.%s", n->id, op_info[n->op].name));
  }
  }
}

static void nonnull(Gen *g, LLVMValueRef call, unsigned arg) {
  LLVMAddCallSiteAttribute(call, arg + 1, LLVMCreateEnumAttribute(g->cx, LLVMGetEnumAttributeKindForName("nonnull", 7), 0));
}

// Starts dmc_forward or dmc_backward over the nodes v: reads ctx on entry.
static LLVMValueRef begin_entry(Gen *g, const char *name, Vec *v) {
  LLVMValueRef fn = LLVMAddFunction(g->m, name, g->entry_fn);
  LLVMSetLinkage(fn, LLVMInternalLinkage);
  LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                          LLVMCreateEnumAttribute(g->cx, LLVMGetEnumAttributeKindForName("nounwind", 8), 0));
  LLVMPositionBuilderAtEnd(g->b, LLVMAppendBasicBlockInContext(g->cx, fn, "entry"));
  g->ctx_arg = LLVMGetParam(fn, 0);
  LLVMSetValueName2(g->ctx_arg, "ctx", 3);
  g->in_array = LLVMBuildAlloca(g->b, LLVMArrayType(g->ptr, DMC_KMAX_IN), "in.array");
  g->in0 = LLVMBuildInBoundsGEP2(g->b, LLVMArrayType(g->ptr, DMC_KMAX_IN), g->in_array, (LLVMValueRef[]){ci64(g, 0), ci64(g, 0)},
                                 2, "in");
  g->B = ctx_field(g, 0, g->i32, "B");
  g->B64 = LLVMBuildSExt(g->b, g->B, g->i64, "B64");
  g->training = ctx_field(g, 1, g->i32, "training");
  g->seed = ctx_field(g, 2, g->i64, "seed");
  g->params = ctx_field(g, 4, g->fptr, "params");
  g->W = ctx_field(g, 6, g->fptr, "W");
  g->grads = ctx_field(g, 5, g->fptr, "grads");   // (unread by the forward: deleted as dead)
  // the inputs these nodes read
  int ninputs = g->l->inputs.len;
  g->input_ptr = arena_alloc(sizeof(LLVMValueRef) * (size_t)(ninputs + 1));
  LLVMValueRef inputs = NULL;
  for (int i = 0; i < v->len; i++) {
    IrNode *n = v->items[i];
    IrNode *const *ops;
    int nin = kernel_args(g->l, n, &ops);
    for (int k = 0; k < nin; k++) {
      Buf *b = &g->l->buf[ops[k]->id];
      if (b->kind != BUF_INPUT || g->input_ptr[b->index]) continue;
      if (!inputs) inputs = ctx_field(g, 3, g->pptr, "inputs");
      LLVMValueRef at = LLVMBuildInBoundsGEP2(g->b, g->ptr, inputs, (LLVMValueRef[]){ci64(g, b->index)}, 1, "");
      g->input_ptr[b->index] = LLVMBuildLoad2(g->b, g->ptr, at, arena_printf("input.%s", ops[k]->name ? ops[k]->name : ""));
    }
  }
  return fn;
}

// One dmc_kernel_f32 call per node from..to-1 of v, as emit_c.c's emit_calls.
static void build_calls(Gen *g, Vec *v, int from, int to) {
  for (int i = from; i < to; i++) {
    IrNode *n = v->items[i];
    LLVMValueRef in = LLVMConstNull(g->pptr);
    IrNode *const *ops;
    int nin = kernel_args(g->l, n, &ops);
    if (nin) {
      for (int k = 0; k < nin; k++) {
        LLVMValueRef at = k ? LLVMBuildInBoundsGEP2(g->b, g->ptr, g->in0, (LLVMValueRef[]){ci64(g, k)}, 1, "") : g->in0;
        LLVMValueRef x = in_slice(g->l, n, ops[k]) ? LLVMConstNull(g->ptr) : buf_value(g, ops[k]);
        x = LLVMBuildPointerCast(g->b, x, g->ptr, "");
        if (store_for_training(g->l, v, i, k))   // ctx->loss ? x : NULL
          x = LLVMBuildSelect(g->b, LLVMBuildIsNull(g->b, ctx_field(g, 7, g->fptr, "loss"), ""), LLVMConstNull(g->ptr), x, "");
        LLVMBuildStore(g->b, x, at);
      }
      in = g->in0;
    }
    LLVMValueRef args[] = {g->kconst[n->id], g->B, buf_value(g, n), in, g->seed, g->training};
    LLVMValueRef call = LLVMBuildCall2(g->b, g->kernel_fn, g->kernel_f32, args, 6, "");
    nonnull(g, call, 0);
    nonnull(g, call, 2);
    if (nin) nonnull(g, call, 3);
  }
}

static void build_functions(Gen *g, LLVMValueRef *fwd, LLVMValueRef *bwd, LLVMValueRef *wsf) {
  Lowered *l = g->l;
  Graph *gr = l->g;
  g->kernel_f32 = LLVMAddFunction(g->m, "dmc_kernel_f32", g->kernel_fn);

  *fwd = begin_entry(g, "dmc_forward", &l->forward);
  if (l->nprep) {   // if (dmc_params_stale(ctx)) { the values of the parameters alone }
    LLVMValueRef stale = LLVMAddFunction(g->m, "dmc_params_stale", g->stale_fn), fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(g->b));
    LLVMBasicBlockRef prep = LLVMAppendBasicBlockInContext(g->cx, fn, "prepare"), rest = LLVMAppendBasicBlockInContext(g->cx, fn, "rest");
    LLVMValueRef is = LLVMBuildCall2(g->b, g->stale_fn, stale, &g->ctx_arg, 1, "stale");
    LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntNE, is, ci32(g, 0), ""), prep, rest);
    LLVMPositionBuilderAtEnd(g->b, prep);
    build_calls(g, &l->forward, 0, l->nprep);
    LLVMBuildBr(g->b, rest);
    LLVMPositionBuilderAtEnd(g->b, rest);
  }
  build_calls(g, &l->forward, l->nprep, l->nscore);
  // if (!ctx->loss) return: scoring only, the rest computes the losses (loss_last.c)
  LLVMValueRef loss = ctx_field(g, 7, g->fptr, "loss"), fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(g->b));
  LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(g->cx, fn, "scored"),
                    losses = LLVMAppendBasicBlockInContext(g->cx, fn, "losses");
  LLVMBuildCondBr(g->b, LLVMBuildIsNull(g->b, loss, ""), done, losses);
  LLVMPositionBuilderAtEnd(g->b, done);
  LLVMBuildRetVoid(g->b);
  LLVMPositionBuilderAtEnd(g->b, losses);
  build_calls(g, &l->forward, l->nscore, l->forward.len);
  // the per-example total loss: memcpy(ctx->loss, buf, sizeof(float) * (size_t)B)
  LLVMBuildMemCpy(g->b, loss, 4, buf_value(g, gr->total_loss), 4, place(g, 0, (int64_t)sizeof(float), g->B64));
  LLVMBuildRetVoid(g->b);

  *bwd = begin_entry(g, "dmc_backward", &l->backward);
  build_calls(g, &l->backward, 0, l->backward.len);
  LLVMValueRef grads = NULL;
  for (int i = 0; i < gr->params.len; i++) {
    IrNode *gn = gr->grads.items[i];
    Param *p = gr->params.items[i];
    if ((!gn && p->is_table) || (gn && l->buf[gn->id].kind == BUF_GRAD)) continue;   // none, or computed in place
    if (!grads) grads = ctx_field(g, 5, g->fptr, "grads");
    LLVMValueRef dst = LLVMBuildInBoundsGEP2(g->b, g->f32, grads, (LLVMValueRef[]){ci64(g, l->param_offset[i])}, 1,
                                             arena_printf("d.%s", p->name));
    LLVMValueRef bytes = ci64(g, (long long)sizeof(float) * shape_numel(p->shape));
    if (!gn) {   // no path to a loss: zero, so every gradient block is written each step
      LLVMBuildMemSet(g->b, dst, LLVMConstInt(LLVMInt8TypeInContext(g->cx), 0, 0), bytes, 4);
      continue;
    }
    LLVMBuildMemCpy(g->b, dst, 4, buf_value(g, gn), 4, bytes);
  }
  LLVMBuildRetVoid(g->b);

  // int64_t dmc_workspace_floats(int max_batch) { return fixed + per_row * (int64_t)max_batch; }
  *wsf = LLVMAddFunction(g->m, "dmc_workspace_floats", g->ws_fn);
  LLVMSetLinkage(*wsf, LLVMInternalLinkage);
  LLVMPositionBuilderAtEnd(g->b, LLVMAppendBasicBlockInContext(g->cx, *wsf, "entry"));
  LLVMValueRef mb = LLVMGetParam(*wsf, 0);
  LLVMSetValueName2(mb, "max_batch", 9);
  LLVMBuildRet(g->b, place(g, l->ws_fixed, l->ws_per_row, LLVMBuildSExt(g->b, mb, g->i64, "")));
}

// ---- the descriptor, as emit_c.c prints it -------------------------------------

static LLVMValueRef record(Gen *g, const char *name, const Record *r) {
  if (!r) return LLVMConstNull(g->record);
  LLVMValueRef keys[8], vals[8], strs[8];
  for (int i = 0; i < r->n; i++) {
    keys[i] = cstr(g, r->keys[i]);
    vals[i] = LLVMConstReal(g->f64, r->vals[i]);
    strs[i] = cstr(g, r->svals[i]);
  }
  LLVMValueRef f[] = {cstr(g, r->name), ci32(g, r->n), carray(g, arena_printf("%s_keys", name), g->ptr, keys, r->n),
                      carray(g, arena_printf("%s_vals", name), g->f64, vals, r->n),
                      carray(g, arena_printf("%s_strs", name), g->ptr, strs, r->n)};
  return LLVMConstNamedStruct(g->record, f, 5);
}

static Feature *vocab_root(Feature *f) {
  while (f->vocab_of && f->vocab_of != f) f = f->vocab_of;
  return f;
}

static int feature_index(Graph *g, Feature *f) {
  for (int i = 0; i < g->features.len; i++)
    if (g->features.items[i] == f) return i;
  die("feature %s is not in the graph", f->name);
}

static int input_index(Lowered *l, IrNode *n) {
  for (int i = 0; n && i < l->inputs.len; i++)
    if (l->inputs.items[i] == n) return i;
  return -1;
}

// C's `(float)%.9g`: the default as emit_c.c prints it, then read back.
static float c_float(double v) {
  char text[64];
  snprintf(text, sizeof text, "%.9g", v);
  return (float)strtod(text, NULL);
}

static char c_char(const char *s) { return s ? s[0] : 0; }

static LLVMValueRef build_features(Gen *g) {
  Lowered *l = g->l;
  Graph *gr = l->g;
  static const DmcFeatureKind kinds[] = {
      [FK_ID] = DMC_FEAT_ID,           [FK_HASH] = DMC_FEAT_HASH,         [FK_FLOAT] = DMC_FEAT_FLOAT,
      [FK_WEIGHTED] = DMC_FEAT_WEIGHTED, [FK_CROSS] = DMC_FEAT_CROSS,     [FK_NEGATIVE] = DMC_FEAT_NEGATIVE,
      [FK_LABEL] = DMC_FEAT_LABEL};
  int n = gr->features.len;
  LLVMValueRef *rows = arena_alloc(sizeof(LLVMValueRef) * (size_t)(n + 1));
  for (int i = 0; i < n; i++) {
    Feature *f = gr->features.items[i];
    LLVMValueRef *cols = arena_alloc(sizeof(LLVMValueRef) * (size_t)(f->columns.len + 1));
    for (int k = 0; k < f->columns.len; k++) cols[k] = cstr(g, f->columns.items[k]);
    LLVMValueRef *srcs = arena_alloc(sizeof(LLVMValueRef) * (size_t)(f->sources.len + 1));
    for (int k = 0; k < f->sources.len; k++) srcs[k] = ci32(g, feature_index(gr, f->sources.items[k]));
    Feature *root = vocab_root(f->kind == FK_NEGATIVE ? (Feature *)f->sources.items[0] : f);
    LLVMValueRef fv[] = {
        cstr(g, f->name),
        ci32(g, kinds[f->kind]),
        ci32(g, f->is_list ? f->len : 0),
        ci32(g, f->columns.len),
        carray(g, arena_printf("f%d_columns", i), g->ptr, cols, f->columns.len),
        ci8(g, c_char(f->sep)),
        ci8(g, c_char(f->kv)),
        ci64(g, f->vocab),
        ci32(g, f->min_count),
        ci32(g, f->normalize),
        ci32(g, f->log1p),
        ci32(g, f->has_default),
        LLVMConstReal(g->f32, c_float(f->dflt)),
        ci32(g, f->next_row),
        ci32(g, f->sources.len),
        carray(g, arena_printf("f%d_sources", i), g->i32, srcs, f->sources.len),
        ci32(g, feature_index(gr, root)),
        ci32(g, input_index(l, f->node && f->node->live ? f->node : NULL)),
        ci32(g, input_index(l, f->weights && f->weights->live ? f->weights : NULL)),
        cstr(g, f->value_column),
    };
    rows[i] = LLVMConstNamedStruct(g->feature, fv, 20);
  }
  return carray(g, "features", g->feature, rows, n);
}

static LLVMValueRef build_inputs(Gen *g) {
  Lowered *l = g->l;
  LLVMValueRef *rows = arena_alloc(sizeof(LLVMValueRef) * (size_t)(l->inputs.len + 1));
  for (int i = 0; i < l->inputs.len; i++) {
    IrNode *n = l->inputs.items[i];
    LLVMValueRef f[] = {cstr(g, n->name), ci32(g, n->dt == DT_I32 ? DMC_I32 : DMC_F32), ci64(g, shape_numel(n->shape))};
    rows[i] = LLVMConstNamedStruct(g->input, f, 3);
  }
  return carray(g, "inputs", g->input, rows, l->inputs.len);
}

static LLVMValueRef build_params(Gen *g) {
  Lowered *l = g->l;
  Graph *gr = l->g;
  int n = gr->params.len;
  LLVMValueRef *rows = arena_alloc(sizeof(LLVMValueRef) * (size_t)(n + 1));
  for (int i = 0; i < n; i++) {
    Param *p = gr->params.items[i];
    int lag_of = -1;
    for (int k = 0; p->lagged && k < n; k++)
      if (!strcmp(((Param *)gr->params.items[k])->name, p->lag_of)) lag_of = k;
    LLVMValueRef dims[4];
    for (int k = 0; k < 4; k++) dims[k] = ci64(g, p->shape.dim[k]);
    LLVMValueRef init = record(g, arena_printf("p%d_init", i), p->init);
    LLVMValueRef opt = record(g, arena_printf("p%d_opt", i), p->optimizer);
    LLVMValueRef f[] = {cstr(g, p->name),
                        ci32(g, p->shape.rank),
                        LLVMConstArray(g->i64, dims, 4),
                        ci64(g, shape_numel(p->shape)),
                        ci64(g, l->param_offset[i]),
                        ci32(g, p->is_table),
                        init,
                        opt,
                        ci32(g, lag_of),
                        ci32(g, p->lag_every),
                        ci32(g, p->is_stat)};
    rows[i] = LLVMConstNamedStruct(g->param, f, 11);
  }
  return carray(g, "params", g->param, rows, n);
}

static LLVMValueRef build_outputs(Gen *g) {
  Lowered *l = g->l;
  Graph *gr = l->g;
  LLVMValueRef *rows = arena_alloc(sizeof(LLVMValueRef) * (size_t)(gr->outputs.len + 1));
  for (int i = 0; i < gr->outputs.len; i++) {
    Output *o = gr->outputs.items[i];
    Buf *b = &l->buf[o->node->id];
    if (b->kind != BUF_WORK) die("output %s is not computed", o->name);
    LLVMValueRef f[] = {cstr(g, o->name), ci64(g, shape_numel(o->node->shape)), ci64(g, b->fixed), ci64(g, b->per_row)};
    rows[i] = LLVMConstNamedStruct(g->output, f, 4);
  }
  return carray(g, "outputs", g->output, rows, gr->outputs.len);
}

static LLVMValueRef build_sparse(Gen *g) {
  Lowered *l = g->l;
  Graph *gr = l->g;
  LLVMValueRef *rows = arena_alloc(sizeof(LLVMValueRef) * (size_t)(gr->sparse.len + 1));
  for (int i = 0; i < gr->sparse.len; i++) {
    SparseGrad *s = gr->sparse.items[i];
    int pi = 0;
    while (((Param *)gr->params.items[pi]) != s->param) pi++;
    Buf *b = &l->buf[(s->rows ? s->rows : s->coef)->id], *v = s->vec ? &l->buf[s->vec->id] : NULL;
    LLVMValueRef f[] = {ci32(g, pi),           ci32(g, input_index(l, s->ids)), ci64(g, shape_numel(s->ids->shape)),
                        ci64(g, s->param->shape.dim[1]), ci64(g, b->fixed), ci64(g, b->per_row),
                        ci64(g, v ? v->fixed : 0), ci64(g, v ? v->per_row : 0)};
    rows[i] = LLVMConstNamedStruct(g->sparse, f, 8);
  }
  return carray(g, "sparse", g->sparse, rows, gr->sparse.len);
}

static void build_model(Gen *g, LLVMValueRef fwd, LLVMValueRef bwd, LLVMValueRef wsf) {
  Lowered *l = g->l;
  Graph *gr = l->g;
  LLVMValueRef features = build_features(g), inputs = build_inputs(g), params = build_params(g);
  LLVMValueRef outputs = build_outputs(g), sparse = build_sparse(g);
  int r_out, r_table, r_target;
  cgen_retrieval(gr, &r_out, &r_table, &r_target);
  int h_out, h_feature;
  cgen_heldout(gr, &h_out, &h_feature);
  LLVMValueRef f[] = {ci32(g, DMC_ABI_VERSION),
                      cstr(g, gr->model_name),
                      LLVMConstInt(g->i64, l->signature, 0),
                      ci8(g, gr->delimiter),
                      cstr(g, gr->next_by),
                      cstr(g, gr->next_order),
                      ci32(g, gr->features.len),
                      features,
                      ci32(g, l->inputs.len),
                      inputs,
                      ci32(g, gr->params.len),
                      params,
                      ci64(g, l->params_size),
                      ci32(g, gr->outputs.len),
                      outputs,
                      ci32(g, gr->sparse.len),
                      sparse,
                      record(g, "opt_dense", gr->optimizer),
                      record(g, "opt_sparse", gr->sparse_optimizer),
                      ci32(g, gr->batch),
                      ci32(g, gr->epochs),
                      ci32(g, gr->seed),
                      LLVMConstReal(g->f64, gr->l2),
                      LLVMConstPointerCast(wsf, g->ptr),
                      LLVMConstPointerCast(fwd, g->ptr),
                      LLVMConstPointerCast(bwd, g->ptr),
                      ci32(g, r_out),
                      ci32(g, r_table),
                      ci32(g, r_target),
                      cstr(g, gr->group_by),
                      ci32(g, h_out),
                      ci32(g, h_feature)};
  LLVMValueRef v = LLVMAddGlobal(g->m, g->model, "dmc_model");
  LLVMSetInitializer(v, LLVMConstNamedStruct(g->model, f, 32));
  LLVMSetGlobalConstant(v, 1);
  LLVMSetAlignment(v, LLVMABIAlignmentOfType(g->td, g->model));
}

// ---- target, module, passes, object --------------------------------------------

static LLVMTargetMachineRef host_machine(bool portable) {
  LLVMInitializeNativeTarget();
  LLVMInitializeNativeAsmPrinter();
  char *triple = LLVMGetDefaultTargetTriple();
  LLVMTargetRef target;
  char *err = NULL;
  if (LLVMGetTargetFromTriple(triple, &target, &err)) die("LLVM has no target for %s: %s", triple, err);
  char *cpu = portable ? NULL : LLVMGetHostCPUName();
  char *features = portable ? NULL : LLVMGetHostCPUFeatures();
  const char *generic = !strncmp(triple, "x86_64", 6) ? "x86-64" : "generic";
  LLVMTargetMachineRef tm = LLVMCreateTargetMachine(target, triple, portable ? generic : cpu, portable ? "" : features,
                                                    LLVMCodeGenLevelNone, LLVMRelocPIC, LLVMCodeModelDefault);
  if (!tm) die("LLVM cannot make a target machine for %s", triple);
  LLVMDisposeMessage(triple);
  if (cpu) LLVMDisposeMessage(cpu);
  if (features) LLVMDisposeMessage(features);
  return tm;
}

// Builds and verifies the module for tm's target. The caller disposes g->cx (and so g->m).
static void build_module(Gen *g, Lowered *l, const char *source_name, LLVMTargetMachineRef tm) {
  memset(g, 0, sizeof *g);
  g->l = l;
  g->cx = LLVMContextCreate();
  g->m = LLVMModuleCreateWithNameInContext(l->g->model_name, g->cx);
  LLVMSetSourceFileName(g->m, source_name, strlen(source_name));
  char *triple = LLVMGetTargetMachineTriple(tm);
  LLVMSetTarget(g->m, triple);
  LLVMDisposeMessage(triple);
  g->td = LLVMCreateTargetDataLayout(tm);
  LLVMSetModuleDataLayout(g->m, g->td);
  g->b = LLVMCreateBuilderInContext(g->cx);
  build_types(g);
  // position-independent, as the PIE programs `cc` links by default
  LLVMAddModuleFlag(g->m, LLVMModuleFlagBehaviorError, "PIC Level", 9, LLVMValueAsMetadata(ci32(g, 2)));
  LLVMAddModuleFlag(g->m, LLVMModuleFlagBehaviorError, "PIE Level", 9, LLVMValueAsMetadata(ci32(g, 2)));
  build_kernels(g);
  LLVMValueRef fwd, bwd, wsf;
  build_functions(g, &fwd, &bwd, &wsf);
  build_model(g, fwd, bwd, wsf);
  LLVMDisposeBuilder(g->b);
  char *msg = NULL;
  if (LLVMVerifyModule(g->m, LLVMReturnStatusAction, &msg)) die("the LLVM module does not verify:\n%s", msg);
  LLVMDisposeMessage(msg);
}

static void dispose(Gen *g, LLVMTargetMachineRef tm) {
  LLVMDisposeTargetData(g->td);
  LLVMDisposeModule(g->m);
  LLVMContextDispose(g->cx);
  LLVMDisposeTargetMachine(tm);
}

// "; %4 = mask %3 : f32[B,3]  (scope)", as emit_c.c comments each call.
static void node_line(FILE *out, const char *lead, IrNode *n) {
  fprintf(out, "%s%%%d = %s", lead, n->id, op_info[n->op].name);
  for (int k = 0; k < n->nin; k++) fprintf(out, "%s%%%d", k ? ", " : " ", n->in[k]->id);
  fprintf(out, " : %s[%s", n->dt == DT_I32 ? "i32" : "f32", n->batched ? "B" : "");
  for (int i = 0; i < n->shape.rank; i++) fprintf(out, "%s%d", (i || n->batched) ? "," : "", n->shape.dim[i]);
  fputc(']', out);
  if (n->scope && n->scope[0]) fprintf(out, "  (%s)", n->scope);
  fputc('\n', out);
}

int llvm_emit_ir(Lowered *l, const char *source_name, FILE *out) {
  LLVMTargetMachineRef tm = host_machine(false);
  Gen g;
  build_module(&g, l, source_name, tm);
  char *text = LLVMPrintModuleToString(g.m);
  fprintf(out, "; %s: generated by dmc from %s (the LLVM backend, before optimisation).\n", l->g->model_name,
          source_name);
  // the module as LLVM prints it, each kernel call preceded by its node's IR line
  static const char call[] = "@dmc_kernel_f32(%DmcKernel* nonnull @k";
  for (char *line = text; *line;) {
    char *end = strchr(line, '\n');
    size_t len = end ? (size_t)(end - line + 1) : strlen(line);
    char *at = strstr(line, call);
    if (at && at < line + len) {
      int id = atoi(at + sizeof call - 1);
      Fused *f = id >= 0 && id < l->g->nodes.len ? l->fused[id] : NULL;
      if (f) {
        fprintf(out, "  ; fused: %d steps\n", f->nstep);
        for (int s = 0; s < f->nstep; s++)
          if (!s || f->member[s] != f->member[s - 1]) node_line(out, "  ;   ", f->member[s]);   // a concat's puts: once
      } else if (id >= 0 && id < l->g->nodes.len) {
        node_line(out, "  ; ", l->g->nodes.items[id]);
      }
    }
    fwrite(line, 1, len, out);
    line += len;
  }
  LLVMDisposeMessage(text);
  dispose(&g, tm);
  return 0;
}

int llvm_emit_object(Lowered *l, const char *source_name, bool portable, const char *path) {
  LLVMTargetMachineRef tm = host_machine(portable);
  Gen g;
  build_module(&g, l, source_name, tm);
  LLVMPassBuilderOptionsRef opts = LLVMCreatePassBuilderOptions();
  // No optimisation pipeline: dmc_forward/backward are straight-line kernel calls with
  // constant arguments, so O3 changed no measured latency (din batch 1: 16.7 us
  // either way) and took 8 s of CPU on the 50-step DIEN; the work is in the kernels.
  LLVMErrorRef e = LLVMRunPasses(g.m, "verify", tm, opts);
  LLVMDisposePassBuilderOptions(opts);
  if (e) {
    char *msg = LLVMGetErrorMessage(e);
    die("LLVM module verification failed: %s", msg);
  }
  char *err = NULL;
  int rc = 0;
  if (LLVMTargetMachineEmitToFile(tm, g.m, (char *)path, LLVMObjectFile, &err)) {
    diag_plain("cannot write the object file '%s': %s", path, err ? err : "");
    rc = 1;
  }
  if (err) LLVMDisposeMessage(err);
  dispose(&g, tm);
  return rc;
}

#endif
