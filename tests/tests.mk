# tests.mk: the test suites, run by `make test` through tests/run_all.sh, which
# runs every suite, prints each summary and exits non-zero if any failed.
UNIT_SRCS := $(wildcard tests/unit/*.c)

$(BUILD)/tests/test_compiler: $(UNIT_SRCS) $(BUILD)/libdmc.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(UNIT_SRCS) $(BUILD)/libdmc.a -lcunit -lm

test: deps bin/dmc $(BUILD)/tests/test_compiler $(if $(wildcard runtime/runtime.mk),$(BUILD)/tests/test_runtime)
	@BUILD=$(BUILD) tests/run_all.sh
