# compiler/llvm.mk: the LLVM backend (compiler/emit_llvm.c), included by the
# Makefile. With llvm-config (Debian's llvm-dev, LLVM 14) on the PATH,
# emit_llvm.c is compiled against the LLVM C API (headers as -isystem, so
# -Wpedantic stays quiet about them) and bin/dmc links LLVM's libraries;
# without it emit_llvm.c compiles to stubs that say so, and --backend=c works.
#   make LLVM_CONFIG=llvm-config-14   pick another llvm-config
#   make LLVM_STATIC=0                link libLLVM-14.so instead of the static libraries
#
# Static by default (measured): only the parts of LLVM dmc uses are linked, so
# every dmc run starts faster (4 ms instead of 13) and runs under valgrind in
# about 2 s instead of 3.3 (the golden tests: 3.2 min instead of 5.2; 1.0
# without LLVM). The cost: bin/dmc is ~48 MB and relinks in ~1.5 s.
LLVM_CONFIG ?= $(shell command -v llvm-config 2>/dev/null || command -v llvm-config-14 2>/dev/null)
LLVM_COMPONENTS := core analysis target native passes

ifneq ($(strip $(LLVM_CONFIG)),)
LLVM_CFLAGS := $(patsubst -I%,-isystem %,$(shell $(LLVM_CONFIG) --cflags)) -DDMC_HAVE_LLVM
LLVM_STATIC ?= 1
ifeq ($(LLVM_STATIC),1)   # (when the static libraries are not installed, the shared one)
LLVM_STATIC_LIBS := $(shell $(LLVM_CONFIG) --link-static --libs $(LLVM_COMPONENTS) 2>/dev/null)
endif
ifneq ($(strip $(LLVM_STATIC_LIBS)),)
LLVM_LIBS := $(shell $(LLVM_CONFIG) --ldflags) $(LLVM_STATIC_LIBS) \
             $(shell $(LLVM_CONFIG) --link-static --system-libs) -lstdc++
else
LLVM_LIBS := $(shell $(LLVM_CONFIG) --ldflags) $(shell $(LLVM_CONFIG) --libs $(LLVM_COMPONENTS)) \
             $(shell $(LLVM_CONFIG) --system-libs)
endif
$(BUILD)/compiler/emit_llvm.o: CFLAGS += $(LLVM_CFLAGS)
$(BUILD)/compiler/emit_llvm.o: compiler/llvm.mk
LDLIBS += $(LLVM_LIBS)
endif
