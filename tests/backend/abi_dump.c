// abi_dump.c: prints a compiled model's descriptor (runtime/dmc_abi.h), every
// field and every nested array and string, one per line. Linked once with the C
// backend's object and once with the LLVM backend's, the two printouts must be
// identical (tests/llvm_backend.sh diffs them): the runtime sees the same model.
//   usage: abi_dump   (links with one model's object and runtime/kernels.c)
#include <inttypes.h>
#include <stdio.h>

#include "dmc_abi.h"

static void str(const char *what, const char *s) {
  if (!s) {
    printf("%s NULL\n", what);
    return;
  }
  printf("%s \"", what);
  for (; *s; s++) {
    if ((unsigned char)*s < 32 || (unsigned char)*s > 126 || *s == '"' || *s == '\\') printf("\\%03o", (unsigned char)*s);
    else putchar(*s);
  }
  printf("\"\n");
}

static void record(const char *what, const DmcRecord *r) {
  printf("%s:\n", what);
  str("  name", r->name);
  printf("  n %d keys %s values %s strings %s\n", r->n, r->keys ? "set" : "NULL", r->values ? "set" : "NULL",
         r->strings ? "set" : "NULL");
  for (int i = 0; i < r->n; i++) {
    str("  key", r->keys[i]);
    printf("  value %.17g\n", r->values[i]);
    str("  string", r->strings ? r->strings[i] : NULL);
  }
}

int main(void) {
  const DmcModel *m = &dmc_model;
  printf("abi_version %d\n", m->abi_version);
  str("name", m->name);
  printf("signature %016" PRIx64 "\ndelimiter %d\n", m->signature, m->delimiter);
  str("next_by", m->next_by);
  str("next_order", m->next_order);
  printf("nfeatures %d\n", m->nfeatures);
  for (int i = 0; i < m->nfeatures; i++) {
    const DmcFeature *f = &m->features[i];
    printf("feature %d\n", i);
    str("  name", f->name);
    printf("  kind %d len %d ncolumns %d\n", (int)f->kind, f->len, f->ncolumns);
    for (int k = 0; k < f->ncolumns; k++) str("  column", f->columns[k]);
    printf("  sep %d kv %d vocab %" PRId64 " min_count %d normalize %d log1p %d has_default %d default %.9g\n", f->sep,
           f->kv, f->vocab, f->min_count, f->normalize, f->log1p, f->has_default, (double)f->default_value);
    printf("  next_row %d nsources %d sources", f->next_row, f->nsources);
    for (int k = 0; k < f->nsources; k++) printf(" %d", f->sources[k]);
    printf("\n  vocab_of %d input %d weights_input %d\n", f->vocab_of, f->input, f->weights_input);
    str("  value_column", f->value_column);
  }
  printf("ninputs %d\n", m->ninputs);
  for (int i = 0; i < m->ninputs; i++) {
    str("input", m->inputs[i].name);
    printf("  dtype %d size %" PRId64 "\n", (int)m->inputs[i].dtype, m->inputs[i].size);
  }
  printf("nparams %d params_size %" PRId64 "\n", m->nparams, m->params_size);
  for (int i = 0; i < m->nparams; i++) {
    const DmcParam *p = &m->params[i];
    str("param", p->name);
    printf("  rank %d shape %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 " size %" PRId64 " offset %" PRId64
           " is_table %d lag_of %d lag_every %d\n",
           p->rank, p->shape[0], p->shape[1], p->shape[2], p->shape[3], p->size, p->offset, p->is_table, p->lag_of,
           p->lag_every);
    record("  init", &p->init);
    record("  optimizer", &p->optimizer);
  }
  printf("noutputs %d\n", m->noutputs);
  for (int i = 0; i < m->noutputs; i++) {
    str("output", m->outputs[i].name);
    printf("  size %" PRId64 " fixed %" PRId64 " per_row %" PRId64 "\n", m->outputs[i].size, m->outputs[i].fixed,
           m->outputs[i].per_row);
  }
  printf("nsparse %d\n", m->nsparse);
  for (int i = 0; i < m->nsparse; i++) {
    const DmcSparseGrad *s = &m->sparse[i];
    printf("sparse param %d ids_input %d ids_per_example %" PRId64 " dim %" PRId64 " grad_fixed %" PRId64
           " grad_per_row %" PRId64 " vec_fixed %" PRId64 " vec_per_row %" PRId64 "\n",
           s->param, s->ids_input, s->ids_per_example, s->dim, s->grad_fixed, s->grad_per_row, s->vec_fixed,
           s->vec_per_row);
  }
  record("optimizer", &m->optimizer);
  record("sparse_optimizer", &m->sparse_optimizer);
  printf("batch %d epochs %d seed %d l2 %.17g\n", m->batch, m->epochs, m->seed, m->l2);
  printf("retrieve output %d table %d target %d\n", m->retrieve_output, m->retrieve_table, m->retrieve_target);
  str("group_by", m->group_by);
  printf("heldout output %d feature %d\n", m->heldout_output, m->heldout_feature);
  printf("workspace_floats(1) %" PRId64 " (256) %" PRId64 " (4096) %" PRId64 "\n", m->workspace_floats(1),
         m->workspace_floats(256), m->workspace_floats(4096));
  printf("forward %s backward %s\n", m->forward ? "set" : "NULL", m->backward ? "set" : "NULL");
  return 0;
}
