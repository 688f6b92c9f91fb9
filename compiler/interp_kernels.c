// interp_kernels.c: the op kernels in double precision, for the reference
// interpreter (interp.c). The same source as the runtime's float kernels.
#include "kernels.h"

#define REAL double
#define K_(name) name##_f64
#define K_MATH(fn) fn
#define KFN dmc_kernel_f64
#include "kernels_impl.h"
