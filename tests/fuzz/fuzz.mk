# tests/fuzz/fuzz.mk -- libFuzzer harnesses (clang, ASan + UBSan), included by
# the top-level Makefile. See tests/fuzz/README.md.
#
#   make fuzz                      every harness for FUZZ_SECONDS (default 60) each
#   make fuzz FUZZ_SECONDS=3600    the long campaign; `make -j3 fuzz` runs them side by side;
#                                  FUZZ_FORK=1 keeps going after crashes (each one saved)
#   make fuzz-smoke                every harness FUZZ_SMOKE_SECONDS (15), then the regressions (CI)
#   make fuzz-regress              only the inputs of tests/fuzz/regressions/<harness>/
#   make fuzz-build                only the binaries: $(BUILD)/fuzz/fuzz_{front,data,ckpt}
#
# Harnesses (tests/fuzz/fuzz_*.c):
#   front  bytes as a .model file: parse, sema, verify, dce, printers, autodiff, lower, emit C,
#          and one run of the graph in the reference interpreter (runtime/kernels_impl.h)
#   data   one selector byte, then bytes as a CSV/TSV file read (runtime/csv.h) and encoded
#          (encoder.h, dataset.h) with one of five real descriptors, streamed (feed.h) and
#          compared, saved and reloaded and compared
#   ckpt   bytes as a safetensors file: checkpoint.h's reader, then modelckpt.h's loader
#
# Everything is compiled again here with FUZZ_CFLAGS (never the objects of the normal
# build): compiler/*.c but main.c, the grammar outputs of $(BUILD)/grammar, runtime/*.c
# but main.c, and the C that bin/dmc generates for the data harness's models.
# emit_llvm.c is its stub (no DMC_HAVE_LLVM). Needs clang 14 and libclang-rt-14-dev.
#
# Working corpora grow in $(BUILD)/fuzz/corpus/<harness> (seeded from
# tests/fuzz/corpus/<harness>), crashes land in $(BUILD)/fuzz/artifacts/<harness>/.
# A bug found becomes a regression input in tests/fuzz/regressions/<harness>/.

FUZZ_CC            ?= clang
FUZZ_SECONDS       ?= 60
FUZZ_SMOKE_SECONDS ?= 15
FUZZ_DIR           ?= $(BUILD)/fuzz
FUZZ_SAN           := -fsanitize=address,undefined -fno-sanitize-recover=undefined
# FUZZ_EXTRA: more flags for compiling and linking (coverage.sh: source coverage)
FUZZ_EXTRA         ?=
FUZZ_CFLAGS        := -g -O1 -fno-omit-frame-pointer $(FUZZ_SAN) -fsanitize=fuzzer-no-link $(FUZZ_EXTRA) \
                      -std=c11 -D_POSIX_C_SOURCE=200809L -Icompiler -iquote runtime -I$(BUILD)/grammar
FUZZ_LDFLAGS       := $(FUZZ_SAN) -fsanitize=fuzzer $(FUZZ_EXTRA)
# -close_fd_mask=2: the compiler's diagnostics are expected and slow the fuzzer down
# (libFuzzer and the sanitizers keep a copy of stderr for their reports).
FUZZ_RUN_FLAGS     ?= -close_fd_mask=2 -rss_limit_mb=2048 -timeout=20
# FUZZ_FORK=1 (campaigns): keep going after a crash, timeout or OOM, saving each one
# (libFuzzer's fork mode, one child at a time); without it a run stops at the first.
FUZZ_FORK          ?= 0
ifeq ($(FUZZ_FORK),1)
FUZZ_RUN_FLAGS     += -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1
endif
FUZZ_HARNESSES     := front data ckpt
# UBSan prints a stack with its report (in the runs and the regressions)
FUZZ_ENV           := UBSAN_OPTIONS=$${UBSAN_OPTIONS:-print_stacktrace=1}

# (fuzz_front links tests/fuzz/fuzz_arena.c for compiler/arena.c: one malloc per object)
FUZZ_COMPILER_OBJS := $(patsubst compiler/%.c,$(FUZZ_DIR)/obj/compiler/%.o,$(filter-out compiler/main.c compiler/arena.c,$(wildcard compiler/*.c))) \
                      $(FUZZ_DIR)/obj/grammar/parser.o $(FUZZ_DIR)/obj/grammar/lexer.o
FUZZ_RT_OBJS       := $(patsubst runtime/%.c,$(FUZZ_DIR)/obj/runtime/%.o,$(filter-out runtime/main.c,$(wildcard runtime/*.c)))
# the descriptors fuzz_data.c and fuzz_ckpt.c link (each renamed fuzz_model_<name>)
FUZZ_DATA_MODELS   := din wide_deep drn enc_fixture lr_fixture
FUZZ_CKPT_MODELS   := enc_fixture lr_fixture

# (every object depends on every header of its directory: the top-level Makefile's rule
# lists dmc.h and ops.def only, so a change of sema.h leaves builtins.o and decl.o stale)
$(FUZZ_DIR)/obj/compiler/%.o: compiler/%.c $(wildcard compiler/*.h runtime/*.h) compiler/ops.def $(BUILD)/grammar/parser.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

# the kernels the interpreter runs: sanitized, but without coverage feedback (their
# branches depend on the random values, not on the model; it would only slow them down)
$(FUZZ_DIR)/obj/compiler/interp_kernels.o: compiler/interp_kernels.c runtime/kernels_impl.h runtime/gemm_impl.h runtime/rnn_impl.h runtime/afm_impl.h runtime/kernels.h \
                                            $(wildcard compiler/*.h) compiler/ops.def
	@mkdir -p $(@D)
	$(FUZZ_CC) $(filter-out -fsanitize=fuzzer-no-link,$(FUZZ_CFLAGS)) -c -o $@ $<

$(FUZZ_DIR)/obj/grammar/%.o: $(BUILD)/grammar/%.c $(BUILD)/grammar/parser.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -w -c -o $@ $<

$(FUZZ_DIR)/obj/runtime/%.o: runtime/%.c $(wildcard runtime/*.h) compiler/ops.def
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

# Model descriptors: the C bin/dmc generates (examples/, tests/fuzz/models/), and the
# runtime tests' hand-written fixture.
$(FUZZ_DIR)/gen/%.c: examples/%.model bin/dmc
	@mkdir -p $(@D)
	bin/dmc $< --emit=c -o $@
$(FUZZ_DIR)/gen/%.c: tests/fuzz/models/%.model bin/dmc
	@mkdir -p $(@D)
	bin/dmc $< --emit=c -o $@
$(FUZZ_DIR)/gen/lr_fixture.c: tests/runtime/fixtures/lr_model.c
	@mkdir -p $(@D)
	cp $< $@
$(FUZZ_DIR)/obj/gen/%.o: $(FUZZ_DIR)/gen/%.c $(wildcard runtime/*.h)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -w -Ddmc_model=fuzz_model_$* -c -o $@ $<

$(FUZZ_DIR)/fuzz_front: tests/fuzz/fuzz_front.c tests/fuzz/fuzz_arena.c $(FUZZ_COMPILER_OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -DFUZZ_STDLIB='"$(abspath stdlib)"' $(FUZZ_LDFLAGS) -o $@ $^ -lm

$(FUZZ_DIR)/fuzz_data: tests/fuzz/fuzz_data.c tests/fuzz/fuzz_util.h $(FUZZ_DATA_MODELS:%=$(FUZZ_DIR)/obj/gen/%.o) $(FUZZ_RT_OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_LDFLAGS) -o $@ $(filter %.c %.o,$^) $(RT_LDLIBS)

$(FUZZ_DIR)/fuzz_ckpt: tests/fuzz/fuzz_ckpt.c tests/fuzz/fuzz_util.h $(FUZZ_CKPT_MODELS:%=$(FUZZ_DIR)/obj/gen/%.o) $(FUZZ_RT_OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_LDFLAGS) -o $@ $(filter %.c %.o,$^) $(RT_LDLIBS)

FUZZ_BINS := $(FUZZ_HARNESSES:%=$(FUZZ_DIR)/fuzz_%)

.PHONY: fuzz fuzz-smoke fuzz-build fuzz-regress $(FUZZ_HARNESSES:%=fuzz-run-%) $(FUZZ_HARNESSES:%=fuzz-smoke-%) \
        $(FUZZ_HARNESSES:%=fuzz-regress-%)
fuzz-build: $(FUZZ_BINS)

# fuzz-run-H: FUZZ_TIME seconds of H on one core, from the committed seeds plus what
# earlier runs found; prints libFuzzer's final statistics. fuzz-smoke-H: the same for
# FUZZ_SMOKE_SECONDS.
FUZZ_TIME ?= $(FUZZ_SECONDS)
# seeds, read in place: front takes every .model of the tree as it is today
FUZZ_SEEDS_front := examples stdlib tests/errors tests/ir tests/fuzz/models tests/fuzz/corpus/front
FUZZ_SEEDS_data  := tests/fuzz/corpus/data
FUZZ_SEEDS_ckpt  := tests/fuzz/corpus/ckpt
# input size limits: models and data files are small; larger inputs mostly make the
# fuzzer slower (nesting 10000 deep is the parser's limit, and is a test of its own)
FUZZ_MAXLEN_front := 4096
# (data: room for rows longer than the CSV reader's first 4 KB record buffer)
FUZZ_MAXLEN_data  := 12288
FUZZ_MAXLEN_ckpt  := 8192
# $(call fuzz_run,HARNESS,SECONDS)
define fuzz_run
	@mkdir -p $(FUZZ_DIR)/corpus/$(1) $(FUZZ_DIR)/artifacts/$(1)
	cd $(FUZZ_DIR) && $(FUZZ_ENV) ./fuzz_$(1) $(FUZZ_RUN_FLAGS) -max_total_time=$(2) -print_final_stats=1 \
	  -max_len=$(FUZZ_MAXLEN_$(1)) -dict=$(abspath tests/fuzz/$(1).dict) -artifact_prefix=artifacts/$(1)/ \
	  corpus/$(1) $(abspath $(FUZZ_SEEDS_$(1)))
endef
$(FUZZ_HARNESSES:%=fuzz-run-%): fuzz-run-%: $(FUZZ_DIR)/fuzz_%
	$(call fuzz_run,$*,$(FUZZ_TIME))
$(FUZZ_HARNESSES:%=fuzz-smoke-%): fuzz-smoke-%: $(FUZZ_DIR)/fuzz_%
	$(call fuzz_run,$*,$(FUZZ_SMOKE_SECONDS))

# fuzz-regress-H: every saved reproducer of H runs once and must not crash; the output
# of each is in $(FUZZ_DIR)/regress/H/FILE.log, the sanitizer's summary is printed.
$(FUZZ_HARNESSES:%=fuzz-regress-%): fuzz-regress-%: $(FUZZ_DIR)/fuzz_%
	@mkdir -p $(FUZZ_DIR)/regress/$*; n=0; bad=0; \
	for f in $$(find tests/fuzz/regressions/$* -type f ! -name '*.md' 2>/dev/null | sort); do \
	  n=$$((n + 1)); log=$(FUZZ_DIR)/regress/$*/$$(basename $$f).log; \
	  if $(FUZZ_ENV) $(FUZZ_DIR)/fuzz_$* -rss_limit_mb=2048 -timeout=20 $$f >$$log 2>&1; then echo "ok    $$f"; \
	  else bad=$$((bad + 1)); echo "FAIL  $$f ($$log)"; \
	    grep -m 3 -E "SUMMARY|check failed|runtime error|internal error|ERROR: libFuzzer" $$log | sed 's/^/        /'; fi; \
	done; echo "fuzz-regress-$*: $$n inputs, $$bad failed"; [ $$bad = 0 ]

fuzz-regress: $(FUZZ_HARNESSES:%=fuzz-regress-%)
fuzz: $(FUZZ_HARNESSES:%=fuzz-run-%)
# the fuzzing first, the regressions last (`make -k fuzz-smoke` runs them all even while
# a regression still fails)
fuzz-smoke: $(FUZZ_HARNESSES:%=fuzz-smoke-%) $(FUZZ_HARNESSES:%=fuzz-regress-%)

# keep the generated C (an intermediate file otherwise): it is what a crash points into
.SECONDARY: $(FUZZ_DATA_MODELS:%=$(FUZZ_DIR)/gen/%.c)

# tests/san.sh: a dmc linked from this BUILD's objects (bin/dmc is one file shared by
# every BUILD, so `make SAN=1 BUILD=build-san bin/dmc` would overwrite the normal one).
$(BUILD)/bin/dmc: $(BUILD)/compiler/main.o $(BUILD)/libdmc.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lm
