// dot.c: the model as a Graphviz picture (`dmc --emit=dot`), drawn at the level
// a person thinks of it: each layer call (mlp, din_attention, dense...) is one
// box, features and tables are the sources, outputs and losses the sinks, and
// every edge is labelled with the shape that flows along it. Constants, masks
// and reshapes are folded into the edges they feed.
#include "dmc.h"

#include <string.h>

static bool hidden(IrNode *n) {
  return n->op == OP_CONST || n->op == OP_MASK || n->op == OP_RESHAPE ||
         (n->op == OP_PARAM && !((Param *)n->ref)->is_table && (!n->scope || n->scope[0]));
}

// the visible node an edge comes from, looking through hidden ones
static IrNode *visible_source(IrNode *n) {
  while (n && hidden(n)) n = n->nin ? n->in[0] : NULL;
  return n;
}

static const char *group_of(IrNode *n) {
  if (!n->scope || !n->scope[0]) return NULL;
  const char *e = strchr(n->scope, '/');
  return e ? arena_strndup(n->scope, (size_t)(e - n->scope)) : n->scope;
}

static const char *node_id(IrNode *n) {
  const char *g = group_of(n);
  if (g && n->op != OP_PARAM) return arena_printf("\"L:%s\"", g);
  return arena_printf("n%d", n->id);
}

static const char *dims(IrNode *n) {
  char buf[64] = "";
  for (int i = 0; i < n->shape.rank; i++) snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%d", i ? "x" : "", n->shape.dim[i]);
  return arena_strdup(n->shape.rank ? buf : "1");
}

void ir_print_dot(Graph *g, FILE *out) {
  fprintf(out, "digraph \"%s\" {\n", g->model_name);
  fprintf(out, "  rankdir=BT; nodesep=0.35; ranksep=0.45;\n"
               "  node [fontname=\"Helvetica\", fontsize=11, style=\"rounded,filled\", shape=box, "
               "color=\"#555555\", fillcolor=\"#eef3fb\"];\n"
               "  edge [fontname=\"Helvetica\", fontsize=9, color=\"#777777\", fontcolor=\"#555555\"];\n"
               "  labelloc=t; fontname=\"Helvetica\"; fontsize=16; label=\"%s\";\n", g->model_name);
  // one box per layer group: its label is the layer kind and the shape it produces
  Vec groups = {0}, last = {0};
  for (int i = 0; i < g->nodes.len; i++) {
    IrNode *n = g->nodes.items[i];
    const char *grp = group_of(n);
    if (!grp || n->op == OP_PARAM || hidden(n)) continue;
    int k = 0;
    while (k < groups.len && strcmp(groups.items[k], grp)) k++;
    if (k == groups.len) {
      vec_push(&groups, (void *)grp);
      vec_push(&last, n);
    } else {
      last.items[k] = n;
    }
  }
  for (int k = 0; k < groups.len; k++) {
    const char *grp = groups.items[k];
    const char *kind = arena_strdup(grp);
    char *us = strrchr(kind, '_');
    if (us) *us = 0;
    fprintf(out, "  \"L:%s\" [label=<<b>%s</b><br/><font point-size=\"9\">%s</font>>, fillcolor=\"#dbe7f7\"];\n", grp,
            kind, dims(last.items[k]));
  }
  for (int i = 0; i < g->nodes.len; i++) {
    IrNode *n = g->nodes.items[i];
    if (hidden(n) || (group_of(n) && n->op != OP_PARAM)) continue;
    if (n->op == OP_INPUT) {
      Feature *f = (Feature *)n->ref;
      if (strchr(n->name, '.') && !f->next_row) continue;   // a weighted list's values: drawn with its ids
      fprintf(out, "  n%d [label=<<b>%s</b><br/><font point-size=\"9\">%s</font>>, shape=box, fillcolor=\"#e3f4e1\"];\n",
              n->id, n->name, f->kind == FK_LABEL ? "label" : dims(n));
    } else if (n->op == OP_PARAM) {
      fprintf(out, "  n%d [label=<<b>%s</b><br/><font point-size=\"9\">%s</font>>, shape=cylinder, fillcolor=\"#fdf1d8\"];\n",
              n->id, n->name, dims(n));
    } else {
      fprintf(out, "  n%d [label=\"%s\", shape=ellipse, fillcolor=\"#ffffff\"];\n", n->id, n->op == OP_GATHER ? "embed" : op_info[n->op].name);
    }
  }
  // edges between distinct boxes, once each
  Vec seen = {0};
  for (int i = 0; i < g->nodes.len; i++) {
    IrNode *n = g->nodes.items[i];
    if (hidden(n)) continue;
    const char *to = node_id(n);
    for (int k = 0; k < n->nin; k++) {
      IrNode *src = visible_source(n->in[k]);
      if (!src) continue;
      if (src->op == OP_INPUT && strchr(src->name, '.') && !((Feature *)src->ref)->next_row) continue;
      const char *from = node_id(src);
      if (!strcmp(from, to)) continue;
      const char *key = arena_printf("%s>%s", from, to);
      bool dup = false;
      for (int j = 0; j < seen.len && !dup; j++) dup = !strcmp(seen.items[j], key);
      if (dup) continue;
      vec_push(&seen, (void *)key);
      fprintf(out, "  %s -> %s [label=\"%s\"];\n", from, to, dims(src));
    }
  }
  for (int i = 0; i < g->outputs.len; i++) {
    Output *o = g->outputs.items[i];
    fprintf(out, "  \"out:%s\" [label=<<b>output %s</b>>, fillcolor=\"#f9dcdc\"];\n", o->name, o->name);
    IrNode *src = visible_source(o->node);
    if (src) fprintf(out, "  %s -> \"out:%s\";\n", node_id(src), o->name);
  }
  for (int i = 0; i < g->losses.len; i++) {
    Output *o = g->losses.items[i];
    fprintf(out, "  \"loss:%d\" [label=<<b>loss</b><br/><font point-size=\"9\">%s</font>>, fillcolor=\"#f9dcdc\"];\n", i,
            op_info[o->node->op].name);
    IrNode *src = visible_source(o->node);
    if (src) fprintf(out, "  %s -> \"loss:%d\" [style=dashed];\n", node_id(src), i);
  }
  fprintf(out, "}\n");
}
