# tests.mk: the test suites, run by `make test` through tests/run_all.sh, which
# runs every suite, prints each summary and exits non-zero if any failed.
$(BUILD)/tests/test_compiler: tests/unit/test_front.c $(BUILD)/libdmc.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libdmc.a -lcunit -lm

$(BUILD)/tests/test_grad: tests/unit/test_grad.c $(BUILD)/libdmc.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libdmc.a -lcunit -lm

ifeq ($(SAN),1)
# `make test SAN=1`: the sanitizer suite alone; tests/san.sh builds dmc, the runtime and the
# unit tests with ASan and UBSan into build-san/ itself (bin/dmc and build/ are left alone)
test: deps
	@tests/san.sh
else
test: deps bin/dmc $(BUILD)/tests/test_compiler $(BUILD)/tests/test_grad $(BUILD)/tests/save_loop $(if $(wildcard runtime/runtime.mk),$(BUILD)/tests/test_runtime)
	@BUILD=$(BUILD) tests/run_all.sh
endif

# tests/crash_save.sh's writer: saves checkpoints in a loop while the test kills it
$(BUILD)/tests/save_loop: tests/crash/save_loop.c $(RT_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(RT_LIB) $(RT_LDLIBS)
