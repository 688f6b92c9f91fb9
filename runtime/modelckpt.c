/* modelckpt.c -- saving and verified loading of a model's checkpoint (see modelckpt.h). */
#include "modelckpt.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "groups.h"
#include "model.h"

#define HINT_RETRAIN "HINT: train again with this program, or use the program that wrote the " \
  "checkpoint (its `info` prints its signature)"

int rt_model_save(const DmcModel *m, const float *w, const RtEncoder *e, const RtCkptInfo *info,
                  const char *path, RtError *err) {
  RtCkptWriter *cw = rt_ckpt_writer_new();
  if (!cw) return rt_error(err, "%s: out of memory", path);
  char buf[64];
  int r = 0;
  for (int i = 0; i < m->nparams && !r; i++) {
    const DmcParam *p = &m->params[i];
    r = rt_ckpt_add(cw, p->name, w + p->offset, p->rank, p->shape, err);
  }
  snprintf(buf, sizeof buf, "%016" PRIx64, m->signature);
  r = r || rt_ckpt_set_meta(cw, "dmc.model", m->name, err) ||
      rt_ckpt_set_meta(cw, "dmc.signature", buf, err);
  snprintf(buf, sizeof buf, "%d", m->abi_version);
  r = r || rt_ckpt_set_meta(cw, "dmc.abi", buf, err);
  if (info) {
    snprintf(buf, sizeof buf, "%d", info->epoch);
    r = r || rt_ckpt_set_meta(cw, "dmc.epoch", buf, err);
    if (info->metric[0]) {
      snprintf(buf, sizeof buf, "%.9g", info->metric_value);
      r = r || rt_ckpt_set_meta(cw, "dmc.metric", info->metric, err) ||
          rt_ckpt_set_meta(cw, "dmc.metric_value", buf, err);
      if (!strcmp(info->metric, "auc")) r = r || rt_ckpt_set_meta(cw, "dmc.valid_auc", buf, err);
    }
  }
  if (info && info->inputs) r = r || rt_groups_save(e, info->inputs, cw, err);
  r = r || rt_enc_save(e, cw, err) || rt_ckpt_write(cw, path, err);
  rt_ckpt_writer_free(cw);
  return r ? -1 : 0;
}

/* The first line of a checkpoint error without its "path: " prefix. */
static const char *detail(char *msg, const char *path) {
  size_t n = strlen(path);
  char *nl = strchr(msg, '\n');
  if (nl) *nl = '\0';
  return !strncmp(msg, path, n) && msg[n] == ':' ? msg + n + 2 : msg;
}

static int mismatch(const DmcModel *m, const RtCkpt *c, const char *path, const char *name,
                    const char *sig, RtError *err) {
  char diffs[700] = "";
  size_t k = 0, maxsize = 1;
  int ndiff = 0;
  for (int i = 0; i < m->nparams; i++)
    if ((size_t)m->params[i].size > maxsize) maxsize = (size_t)m->params[i].size;
  float *tmp = malloc(maxsize * sizeof *tmp);
  for (int i = 0; tmp && i < m->nparams && ndiff < 4; i++) {
    const DmcParam *p = &m->params[i];
    RtError e;
    if (!rt_ckpt_read(c, p->name, tmp, p->rank, p->shape, &e)) continue;
    ndiff++;
    if (k < sizeof diffs)
      k += (size_t)snprintf(diffs + k, sizeof diffs - k, "\n  %s", detail(e.msg, path));
  }
  free(tmp);
  return rt_error(err, "%s: written for model '%s' (signature %s), this program is model '%s' "
                  "(signature %016" PRIx64 ")%s%s\n" HINT_RETRAIN, path, name ? name : "?",
                  sig ? sig : "none", m->name, m->signature,
                  ndiff ? "" : "\n  (the parameters have the same names and shapes: the "
                  "features or the graph differ)", diffs);
}

int rt_model_load(const DmcModel *m, float *w, RtEncoder *e, RtCkptInfo *info, const char *path,
                  RtError *err) {
  RtCkpt *c = rt_ckpt_open(path, err);
  if (!c) return -1;
  char want[32];
  snprintf(want, sizeof want, "%016" PRIx64, m->signature);
  const char *name = rt_ckpt_meta(c, "dmc.model"), *sig = rt_ckpt_meta(c, "dmc.signature");
  int r = 0;
  if (!name && !sig) {
    r = rt_error(err, "%s: not a dmc model checkpoint (no dmc.model / dmc.signature metadata)\n"
                 HINT_RETRAIN, path);
  } else if (!name || !sig || strcmp(name, m->name) || strcmp(sig, want)) {
    r = mismatch(m, c, path, name, sig, err);
  }
  for (int i = 0; i < m->nparams && !r; i++) {
    const DmcParam *p = &m->params[i];
    r = rt_ckpt_read(c, p->name, w + p->offset, p->rank, p->shape, err);
  }
  if (!r) r = rt_enc_load(e, c, err);
  if (!r && info) {
    const char *ep = rt_ckpt_meta(c, "dmc.epoch"), *mn = rt_ckpt_meta(c, "dmc.metric");
    const char *mv = rt_ckpt_meta(c, "dmc.metric_value");
    info->epoch = ep ? atoi(ep) : -1;
    snprintf(info->metric, sizeof info->metric, "%s", mn ? mn : "");
    info->metric_value = mv ? strtod(mv, NULL) : 0;
    info->inputs = NULL; /* the groups are read by rt_model_load_inputs */
  }
  rt_ckpt_close(c);
  return r;
}

RtData *rt_model_load_inputs(const RtEncoder *e, const char *path, RtError *err) {
  RtCkpt *c = rt_ckpt_open(path, err);
  if (!c) return NULL;
  RtError why;
  RtData *d = rt_groups_load(e, c, &why);
  if (!d) rt_error(err, "%s: %s", path, why.msg);
  rt_ckpt_close(c);
  return d;
}
