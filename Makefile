# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# faultline build, in the libbpf-bootstrap style: quiet unless V=1, everything generated in .output/.
# SAN=1 builds faultline and the unit tests with ASan+UBSan into .output-san (make test SAN=1 runs the
# suite against that binary); the fuzzers are always built with both.
ifeq ($(SAN),1)
OUTPUT := .output-san
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
else
OUTPUT := .output
SAN_FLAGS :=
endif
CLANG ?= clang
CLANG_FORMAT ?= clang-format
SHELLCHECK ?= shellcheck
BPFTOOL ?= bpftool
CC ?= gcc
ARCH := $(shell uname -m | sed 's/x86_64/x86/' | sed 's/aarch64/arm64/')
VMLINUX := vmlinux/$(ARCH)/vmlinux.h

CFLAGS ?= -g -O2
CFLAGS += $(SAN_FLAGS)
WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers
USER_CFLAGS := $(CFLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE -I$(OUTPUT) -Ibpf -Iuser -MMD -MP
USER_LIBS := -lbpf -lelf -lz -ldeflate -ljansson -lncursesw -lpthread -lm
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -D__FAULTLINE_BPF__ -I$(dir $(VMLINUX)) -Ibpf \
	-Wall -Werror -Wno-unused-function -Wno-compare-distinct-pointer-types

BPF_SRCS := $(wildcard bpf/*.bpf.c)
# proc.bpf.c defines the shared maps; libbpf 1.1's linker wants the definitions before the externs.
BPF_OBJS := $(OUTPUT)/bpf/proc.bpf.o \
	$(filter-out $(OUTPUT)/bpf/proc.bpf.o,$(patsubst bpf/%.bpf.c,$(OUTPUT)/bpf/%.bpf.o,$(BPF_SRCS)))
USER_SRCS := $(filter-out user/main.c,$(wildcard user/*.c))
USER_OBJS := $(patsubst user/%.c,$(OUTPUT)/user/%.o,$(USER_SRCS))
UNIT_SRCS := $(wildcard tests/unit/*.c)
WORKLOAD_SRCS := $(wildcard tests/workloads/*.c)
WORKLOADS := $(patsubst tests/workloads/%.c,$(OUTPUT)/workloads/%,$(WORKLOAD_SRCS))
FUZZ_SRCS := $(wildcard tests/fuzz/*.c)
FUZZERS := $(patsubst tests/fuzz/%.c,$(OUTPUT)/fuzz/%,$(FUZZ_SRCS))

ifeq ($(V),1)
	Q =
	msg =
else
	Q = @
	msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.PHONY: all deps test unit demo bench vmtest fuzz clean workloads examples benchtools check check-format check-shell check-layers check-unit
.DELETE_ON_ERROR:
.SECONDARY:

ifeq ($(SAN),1)
# Not ./faultline: with .SECONDARY, an up-to-date ./faultline from a plain build would let make
# skip building the sanitized binary it is made from.
all: deps $(OUTPUT)/faultline workloads examples benchtools
else
all: deps faultline workloads examples benchtools
endif

# Installs the Debian packages the build and tests need; quick when nothing is missing.
deps:
	$(Q)scripts/install-deps.sh

# A new file renamed into place: a running ./faultline keeps its old copy (no "text file busy").
faultline: $(OUTPUT)/faultline
	$(Q)cp $< $@.tmp && mv -f $@.tmp $@

$(OUTPUT) $(OUTPUT)/bpf $(OUTPUT)/user $(OUTPUT)/workloads $(OUTPUT)/fuzz $(OUTPUT)/unit $(OUTPUT)/examples \
	$(OUTPUT)/benchtools:
	$(Q)mkdir -p $@

$(OUTPUT)/bpf/%.bpf.o: bpf/%.bpf.c bpf/faultline.h bpf/hist_slot.h $(wildcard bpf/*.bpf.h) $(VMLINUX) | $(OUTPUT)/bpf
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# All BPF files are linked into one object, so there is one skeleton and maps are shared.
$(OUTPUT)/faultline.bpf.o: $(BPF_OBJS)
	$(call msg,GEN-OBJ,$@)
	$(Q)$(BPFTOOL) gen object $@ $^

$(OUTPUT)/faultline.skel.h: $(OUTPUT)/faultline.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name faultline_bpf > $@

$(OUTPUT)/user/%.o: user/%.c $(OUTPUT)/faultline.skel.h | $(OUTPUT)/user
	$(call msg,CC,$@)
	$(Q)$(CC) $(USER_CFLAGS) -c $< -o $@

$(OUTPUT)/faultline: $(USER_OBJS) $(OUTPUT)/user/main.o
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(USER_LIBS) -o $@

workloads: $(WORKLOADS)

$(OUTPUT)/workloads/%: tests/workloads/%.c $(wildcard tests/workloads/*.h) | $(OUTPUT)/workloads
	$(call msg,CC,$@)
	$(Q)$(CC) -g -O2 $(WL_CFLAGS) -Wall -Wextra -Werror -D_GNU_SOURCE -Ibpf -Iuser $< -o $@ \
		-lpthread -ldl -lm

# Its stall call sites are compared with its own functions: frame pointers, as a user's would be.
$(OUTPUT)/workloads/stall_sites: WL_CFLAGS := -fno-omit-frame-pointer

# The bench's floor of BPF time per fault (scripts/bench.sh, bpfcost): a program that returns at
# once on faultline's fault tracepoint, and its loader.
benchtools: $(OUTPUT)/benchtools/bpf_floor

$(OUTPUT)/benchtools/floor.bpf.o: bench/floor.bpf.c $(VMLINUX) | $(OUTPUT)/benchtools
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUTPUT)/benchtools/floor.skel.h: $(OUTPUT)/benchtools/floor.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name floor_bpf > $@

$(OUTPUT)/benchtools/bpf_floor: bench/bpf_floor.c $(OUTPUT)/benchtools/floor.skel.h
	$(call msg,CC,$@)
	$(Q)$(CC) -g -O2 -Wall -Wextra -Werror -I$(OUTPUT)/benchtools $< -lbpf -lelf -lz -o $@

# The example server's native KV operations (loaded with ctypes): frame pointers and no sibling
# calls, so a stall's stack names them; never sanitized (it is loaded into python3).
examples: $(OUTPUT)/examples/libkvops.so

$(OUTPUT)/examples/libkvops.so: examples/kvops.c | $(OUTPUT)/examples
	$(call msg,CC,$@)
	$(Q)$(CC) -g -O2 -fPIC -shared -fno-omit-frame-pointer -fno-optimize-sibling-calls \
		-Wall -Wextra -Werror -D_GNU_SOURCE $< -o $@

$(OUTPUT)/unit/unit_tests: $(UNIT_SRCS) $(USER_OBJS) | $(OUTPUT)/unit
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(USER_CFLAGS) $(UNIT_SRCS) $(USER_OBJS) $(USER_LIBS) -o $@

unit: $(OUTPUT)/unit/unit_tests
	$(Q)$<

# libFuzzer targets for the untrusted inputs (record files, request logs).
$(OUTPUT)/fuzz/%: tests/fuzz/%.c $(USER_SRCS) $(OUTPUT)/faultline.skel.h | $(OUTPUT)/fuzz
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined -std=gnu11 -D_GNU_SOURCE -I$(OUTPUT) -Ibpf -Iuser \
		$< $(USER_SRCS) $(USER_LIBS) -o $@

# fuzz_trailer is fuzz_model with its input placed as the trailer or metadata JSON.
$(OUTPUT)/fuzz/fuzz_trailer: tests/fuzz/fuzz_model.c

fuzz: $(FUZZERS)
	$(Q)scripts/fuzz.sh

ifeq ($(SAN),1)
# The sanitizer pass: unit tests and host integration tests against the ASan+UBSan binary. The fuzz
# smoke runs (already sanitized) and the VM block run in the plain pass only.
test: all $(OUTPUT)/unit/unit_tests
	$(Q)FAULTLINE_OUTPUT=$(OUTPUT) FAULTLINE_SAN=1 FAULTLINE_NO_VM=1 FAULTLINE_NO_FUZZ=1 tests/run.sh
else
test: all $(OUTPUT)/unit/unit_tests $(FUZZERS)
	$(Q)tests/run.sh
endif

# make check: formatting (.clang-format), shellcheck (.shellcheckrc) and the unit tests; .ci/run
# runs it before the suite. make -k check reports all three even when one fails.
# vmlinux.h (vmlinux/) and the generated skeleton (.output/) are not ours to format.
FORMAT_SRCS := $(wildcard bpf/*.c bpf/*.h user/*.c user/*.h tests/unit/*.c tests/unit/*.h \
	tests/fuzz/*.c tests/workloads/*.c tests/workloads/*.h examples/*.c bench/*.c)
SHELL_SRCS := .ci/run $(wildcard scripts/*.sh scripts/vm/*.sh tests/*.sh tests/integration/*.sh \
	tests/integration/*.bash)

check: check-format check-shell check-layers check-unit

# Every file is checked; the names of those that differ come first, then the first differences.
check-format: | deps
	$(call msg,FORMAT,$(words $(FORMAT_SRCS)) files)
	$(Q)bad=; for f in $(FORMAT_SRCS); do \
		$(CLANG_FORMAT) --dry-run -Werror --ferror-limit=1 "$$f" >/dev/null 2>&1 || bad="$$bad $$f"; \
	done; \
	if [ -n "$$bad" ]; then \
		echo "check: not formatted as .clang-format says (fix: $(CLANG_FORMAT) -i FILE):" >&2; \
		printf '  %s\n' $$bad >&2; \
		$(CLANG_FORMAT) --dry-run --ferror-limit=3 $$bad 2>&1 | head -30 >&2; exit 1; \
	fi

check-shell: | deps
	$(call msg,SHCHECK,$(words $(SHELL_SRCS)) files)
	$(Q)$(SHELLCHECK) -f gcc $(SHELL_SRCS)

# The rules docs/architecture.md states: printers make no jansson call, no literal page size.
check-layers:
	$(call msg,LAYERS,printers and page size)
	$(Q)scripts/check-layers.sh

check-unit: $(OUTPUT)/unit/unit_tests | deps
	$(call msg,UNIT,$<)
	$(Q)$< >$(OUTPUT)/unit/check.log 2>&1 || { grep -v '^PASS ' $(OUTPUT)/unit/check.log >&2; exit 1; }; \
		tail -1 $(OUTPUT)/unit/check.log

demo: all
	$(Q)scripts/demo.sh

bench: all
	$(Q)scripts/bench.sh

# The VM's share of make test (tests marked '# vm: yes'); VMTEST_ARGS= runs every test there.
VMTEST_ARGS ?= --marked
vmtest: all
	$(Q)scripts/vmtest.sh $(VMTEST_ARGS)

clean:
	$(call msg,CLEAN)
	$(Q)rm -rf .output .output-san faultline

-include $(wildcard $(OUTPUT)/user/*.d)
