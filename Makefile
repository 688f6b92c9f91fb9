# dmc: `make` builds bin/dmc and the runtime; `make test` runs every test suite;
# `make demo` compiles examples/din.model, synthesises data, trains and evaluates.
# scripts/deps.sh installs the Debian packages this needs when they are missing.

CC      ?= cc
BUILD   ?= build
OPT     ?= -O2 -g
WARN    := -std=c11 -Wall -Wextra -Wpedantic
CFLAGS  += $(OPT) $(WARN) -D_POSIX_C_SOURCE=200809L -Icompiler -iquote runtime -I$(BUILD)/grammar
ifeq ($(SAN),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif

COMPILER_SRCS := $(wildcard compiler/*.c)
GRAMMAR_OBJS  := $(BUILD)/grammar/parser.o $(BUILD)/grammar/lexer.o
COMPILER_OBJS := $(patsubst compiler/%.c,$(BUILD)/compiler/%.o,$(COMPILER_SRCS))
LIB_OBJS      := $(filter-out $(BUILD)/compiler/main.o,$(COMPILER_OBJS)) $(GRAMMAR_OBJS)

.PHONY: all deps test demo bench bench-quality clean
all: bin/dmc $(BUILD)/libdmcrt.a

demo: deps all
	@scripts/demo.sh

# the quality table of BENCHMARKS.md: dmc and its PyTorch peers, seeds 1-3
bench-quality: deps all
	scripts/deps.sh --bench
	bench/quality.sh

# the speed tables of BENCHMARKS.md: dmc and PyTorch side by side, ~35 min
# (bench/speed.sh; BENCH_QUICK=1 or BENCH_MODELS="deepfm din" for a quick look)
bench: deps all
	scripts/deps.sh --bench
	bench/speed.sh

deps:
	@scripts/deps.sh

$(BUILD)/grammar/parser.c $(BUILD)/grammar/parser.h: grammar/parser.y
	@mkdir -p $(dir $@)
	bison -Wall -Werror -d -o $(BUILD)/grammar/parser.c $<

$(BUILD)/grammar/lexer.c: grammar/lexer.l $(BUILD)/grammar/parser.h
	@mkdir -p $(dir $@)
	flex -o $@ $<

# flex's skeleton trips -Wextra/-Wpedantic on things we do not control.
$(BUILD)/grammar/lexer.o: $(BUILD)/grammar/lexer.c
	$(CC) $(CFLAGS) -Wno-unused-function -Wno-sign-compare -Wno-unused-parameter -c -o $@ $<
$(BUILD)/grammar/parser.o: $(BUILD)/grammar/parser.c
	$(CC) $(CFLAGS) -c -o $@ $<

# -MMD -MP: each object also depends on every header it includes (sema.h, kernels.h...)
$(BUILD)/compiler/%.o: compiler/%.c compiler/dmc.h compiler/ops.def $(BUILD)/grammar/parser.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

-include $(wildcard $(BUILD)/compiler/*.d)

$(BUILD)/libdmc.a: $(LIB_OBJS)
	ar rcs $@ $^

bin/dmc: $(BUILD)/compiler/main.o $(BUILD)/libdmc.a
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lm

-include compiler/llvm.mk
-include runtime/runtime.mk
-include tests/tests.mk
-include tests/fuzz/fuzz.mk

clean:
	rm -rf $(BUILD) bin
