/* main.c -- the entry point of a compiled model program.
 *
 * Everything is in rt_main (cli.c); this file only hands it the descriptor
 * the compiler emitted. It lives in libdmcrt.a like the rest of the
 * runtime: the linker pulls it in only for a program that defines no main
 * of its own, so test programs that link the library keep theirs.
 */
#include "app.h"

int main(int argc, char **argv) { return rt_main(&dmc_model, argc, argv); }
