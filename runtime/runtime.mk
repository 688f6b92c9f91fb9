# runtime/runtime.mk -- builds the generic runtime library and its tests.
#
# Included by the top-level Makefile, with paths relative to the repository
# root. Uses CC, CFLAGS, LDFLAGS and BUILD; defines RT_SRCS, RT_OBJS, RT_LIB,
# RT_INC (the -I flag for code that includes the runtime headers) and
# RT_LDLIBS (what a program linking RT_LIB also needs), and the targets
# $(RT_LIB), $(RT_FIXTURE), $(RT_RETR_FIXTURE) and test-runtime (builds and runs
# $(BUILD)/tests/test_runtime). Every object depends on every runtime
# header: the headers are few.
#
# runtime/main.c holds main() and sits in the archive like every other
# object: a program that defines no main (a compiled model) gets it, the
# test programs keep their own. $(RT_FIXTURE) is a hand-written model
# (tests/runtime/fixtures/lr_model.c) linked with the library: the whole
# program train/eval/predict/info/synth, which test_runtime runs as a
# child process; the same model is also linked into test_runtime itself.
# $(RT_RETR_FIXTURE) is the same for a retrieval model
# (tests/runtime/fixtures/retr_model.c, linked into test_runtime under the
# name retr_model).

BUILD ?= build

RT_SRCS := $(wildcard runtime/*.c)
RT_HDRS := $(wildcard runtime/*.h)
RT_OBJS := $(RT_SRCS:runtime/%.c=$(BUILD)/runtime/%.o)
RT_LIB := $(BUILD)/libdmcrt.a
RT_INC := -iquote runtime   # quote-only: no runtime header may shadow a system one
RT_LDLIBS := -lxxhash -lz -ljansson -lm -lpthread
CFLAGS += $(RT_INC) # for the including Makefile; recipes here add it too,
                   # so `make CFLAGS=...` on the command line still works

RT_TEST_SRCS := $(wildcard tests/runtime/*.c) tests/runtime/fixtures/lr_model.c \
                tests/runtime/fixtures/retr_model.c
RT_TEST_HDRS := $(wildcard tests/runtime/*.h)
RT_TEST_BIN := $(BUILD)/tests/test_runtime
RT_FIXTURE := $(BUILD)/tests/lr_fixture
RT_RETR_FIXTURE := $(BUILD)/tests/retr_fixture

$(BUILD)/runtime/%.o: runtime/%.c $(RT_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(RT_INC) -c $< -o $@

$(RT_LIB): $(RT_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $(RT_OBJS)

$(RT_FIXTURE): tests/runtime/fixtures/lr_model.c $(RT_HDRS) $(RT_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(RT_INC) $(LDFLAGS) -o $@ $< $(RT_LIB) $(RT_LDLIBS)

$(RT_RETR_FIXTURE): tests/runtime/fixtures/retr_model.c $(RT_HDRS) $(RT_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(RT_INC) $(LDFLAGS) -o $@ $< $(RT_LIB) $(RT_LDLIBS)

$(RT_TEST_BIN): $(RT_TEST_SRCS) $(RT_TEST_HDRS) $(RT_HDRS) $(RT_LIB) $(RT_FIXTURE) $(RT_RETR_FIXTURE)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(RT_INC) -DRT_FIXTURE_BIN='"$(RT_FIXTURE)"' \
	  -DRT_RETR_FIXTURE_BIN='"$(RT_RETR_FIXTURE)"' -DRETR_MODEL=retr_model $(LDFLAGS) -o $@ \
	  $(RT_TEST_SRCS) $(RT_LIB) -lcunit $(RT_LDLIBS)

.PHONY: test-runtime
test-runtime: $(RT_TEST_BIN)
	$(RT_TEST_BIN)

# The kernels are where programs spend their time: build them for this machine's
# CPU, at -O3 (programs built with `dmc --portable` link the portable variant).
# -ffp-contract=fast: -std=c11 turns off fusing a*b+c into one FMA, which halves
# the GEMM's speed; the kernels' results are checked against the double
# interpreter with a tolerance, not bit for bit. -fno-math-errno: sqrtf in vector
# form (Dice's standardize at batch 1 spent 2 us in scalar sqrt); the same values.
# -fno-trapping-math: without AVX-512's masks, GCC will not if-convert a select
# next to an op it thinks may trap, and sigmoid, exp and tanh stayed scalar with
# AVX2 (DIN's attention layer, matmul + sigmoid over [12800, 80]: 7.9 -> 2.4 ms on a
# Zen 3); nothing here sets floating-point traps, and no value changes.
# GCC tuned for Zen leaves a loop's lone accumulator as a multiply and an add
# (avoid-fma-max-bits): a one-vector tile would round otherwise than a wide one, and a
# GEMM shared among threads would not give one thread's bits.
NO_FMA_AVOID := $(if $(shell $(CC) --version 2>/dev/null | grep -i clang),,--param avoid-fma-max-bits=0)
KERNEL_MATH := -ffp-contract=fast -fno-math-errno -fno-trapping-math $(NO_FMA_AVOID)
KERNEL_FLAGS ?= -O3 -march=native $(KERNEL_MATH)
# The optimizer's dense loops (Adam over a 400x400 weight) vectorize at -O3 only
# with sqrtf free of errno (FTRL's in the AVX2 and SSE copies only free of traps
# too); for this CPU family, not the host (portable programs link
# the same archive: its loops pick their AVX-512 or AVX2 copy at start), and
# without contraction, so its results are the scalar loop's bit for bit (vector sqrt
# and division round as the scalar ones do).
$(BUILD)/runtime/optim.o: CFLAGS += -O3 -fno-math-errno -fno-trapping-math
KERNEL_SRCS := runtime/kernels.c runtime/kernels_impl.h runtime/gemm_impl.h runtime/rnn_impl.h runtime/afm_impl.h \
  runtime/kernels.h compiler/ops.def runtime/runtime.mk
$(BUILD)/runtime/kernels.o: $(KERNEL_SRCS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(KERNEL_FLAGS) $(RT_INC) -c $< -o $@
$(BUILD)/runtime/kernels_portable.o: $(KERNEL_SRCS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -O3 $(KERNEL_MATH) $(RT_INC) -c $< -o $@
$(RT_LIB): $(BUILD)/runtime/kernels_portable.o
