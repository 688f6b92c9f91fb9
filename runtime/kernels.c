// kernels.c: the op kernels in float, for generated programs (see kernels.h).
#include "kernels.h"

#define REAL float
#define K_(name) name##_f32
#define K_MATH(fn) fn##f
#define K_POLY_EXP
#define KFN dmc_kernel_f32
#include "kernels_impl.h"
