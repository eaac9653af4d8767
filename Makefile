# nestvm — `make` builds, `make check` runs every test.
#
#   make            build/nestvm, build/libnestvm.a, the guest test images, unit tests
#   make check      all tests (TAP through prove), ends with "N passed, N failed"
#   make san        the same with ASan + UBSan, in build-san/
#   make run        boot the bundled demo image and print its output
#   make bench      benchmarks (nestvm vs QEMU TCG)

CC ?= gcc
O ?= build
OPT ?= -O2
SAN ?=
CFLAGS_BASE := -std=gnu11 -g $(OPT) -Wall -Wextra -Wno-unused-parameter \
	-Iinclude -MMD -MP $(SAN)
CFLAGS ?=
ALL_CFLAGS := $(CFLAGS_BASE) $(CFLAGS)
LDFLAGS ?=
LDLIBS := -lm

# zstd compresses RAM in snapshot files (-snapshot-compress); Debian: libzstd-dev
HAVE_ZSTD := $(shell printf '\043include <zstd.h>\n' | $(CC) -E -x c - >/dev/null 2>&1 && echo 1)
ifeq ($(HAVE_ZSTD),1)
ALL_CFLAGS += -DNV_HAVE_ZSTD
LDLIBS += -lzstd
endif

LIB_SRC := $(wildcard src/cpu/*.c src/vmx/*.c src/svm/*.c src/accel/*.c src/vmm/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(O)/%.o)
CLI_SRC := $(wildcard src/cli/*.c)
CLI_OBJ := $(CLI_SRC:%.c=$(O)/%.o)

# ---- guest test images ---------------------------------------------------
# Freestanding 64-bit C, linked at 4 MiB, wrapped as ELF32 (platform.md §1).
GCC_GUEST := gcc
GUEST_CFLAGS := -m64 -std=gnu11 -O2 -g -ffreestanding -fno-pic -fno-pie -nostdlib \
	-mno-red-zone -fno-stack-protector -fno-builtin \
	-mno-sse -mno-mmx -mno-sse2 -mno-80387 -fcf-protection=full \
	-Wall -Wextra -Wno-unused-parameter -Itests/guest/lib
GUEST_ASFLAGS := -m64 -g -Itests/guest/lib
GUEST_LIB_SRC := $(wildcard tests/guest/lib/*.c) $(wildcard tests/guest/lib/*.S)
GUEST_LIB_OBJ := $(patsubst %,$(O)/%.o,$(basename $(GUEST_LIB_SRC)))
GUEST_SRC := $(wildcard tests/guest/*.c)
GUEST_ELF := $(GUEST_SRC:tests/guest/%.c=$(O)/tests/guest/%.elf)

# ---- host unit tests ---------------------------------------------------------
UNIT_SRC := $(wildcard tests/unit/*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(O)/tests/unit/%)
UNIT_LIB_SRC := $(wildcard tests/unit/lib/*.c)
UNIT_LIB_OBJ := $(UNIT_LIB_SRC:%.c=$(O)/%.o)

.PHONY: all check san run bench clean fuzz fuzz-diff fuzz-diff-sse fuzz-snapshot fuzz-decode fuzz-platform
all: $(O)/nestvm $(O)/libnestvm.a $(GUEST_ELF) $(UNIT_BIN)

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(O)/libnestvm.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(O)/nestvm: $(CLI_OBJ) $(O)/libnestvm.a
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(CLI_OBJ) $(O)/libnestvm.a $(LDLIBS)

$(O)/tests/guest/lib/%.o: tests/guest/lib/%.c
	@mkdir -p $(dir $@)
	$(GCC_GUEST) $(GUEST_CFLAGS) -MMD -MP -c $< -o $@

$(O)/tests/guest/lib/%.o: tests/guest/lib/%.S
	@mkdir -p $(dir $@)
	$(GCC_GUEST) $(GUEST_ASFLAGS) -MMD -MP -c $< -o $@

$(O)/tests/guest/%.o: tests/guest/%.c
	@mkdir -p $(dir $@)
	$(GCC_GUEST) $(GUEST_CFLAGS) $(shell sed -n 's|^// guest-cflags: ||p' $<) -MMD -MP -c $< -o $@

$(O)/tests/guest/%.elf: $(O)/tests/guest/%.o $(GUEST_LIB_OBJ) tests/guest/lib/guest.ld
	$(GCC_GUEST) -m64 -nostdlib -static -no-pie -Wl,-T,tests/guest/lib/guest.ld \
		-Wl,--build-id=none -Wl,--no-warn-rwx-segments -o $@.64 $(GUEST_LIB_OBJ) $<
	objcopy -O elf32-i386 $@.64 $@
	@rm -f $@.64

$(O)/bench/guest/%.o: bench/guest/%.c
	@mkdir -p $(dir $@)
	$(GCC_GUEST) $(GUEST_CFLAGS) -MMD -MP -c $< -o $@

$(O)/bench/guest/%.elf: $(O)/bench/guest/%.o $(GUEST_LIB_OBJ) tests/guest/lib/guest.ld
	$(GCC_GUEST) -m64 -nostdlib -static -no-pie -Wl,-T,tests/guest/lib/guest.ld \
		-Wl,--build-id=none -Wl,--no-warn-rwx-segments -o $@.64 $(GUEST_LIB_OBJ) $<
	objcopy -O elf32-i386 $@.64 $@
	@rm -f $@.64

$(O)/tests/unit/lib/%.o: tests/unit/lib/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Isrc -Itests/unit/lib -c $< -o $@

$(O)/tests/unit/%: tests/unit/%.c $(UNIT_LIB_OBJ) $(O)/libnestvm.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Isrc -Itests/unit/lib -o $@ $< $(UNIT_LIB_OBJ) $(O)/libnestvm.a $(LDLIBS)

check: all
	@O=$(O) perl tests/harness/check.pl

san:
	$(MAKE) O=build-san OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer" check

run: $(O)/nestvm $(O)/tests/guest/hello.elf
	$(O)/nestvm -nodefaults -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x4 \
		-kernel $(O)/tests/guest/hello.elf -append 'hello from make run'; \
		st=$$?; echo "(exit status $$st)"; test $$st -eq 1

BENCH_ELF := $(patsubst bench/guest/%.c,$(O)/bench/guest/%.elf,$(wildcard bench/guest/*.c))

bench: all $(BENCH_ELF)
	@O=$(O) bash bench/run.sh

# long differential run of the SIMD instructions against the host CPU:
#   make fuzz-diff-sse [DIFF_SSE_ITERS=n] [DIFF_SSE_SEED=s] [DIFF_SSE_VERBOSE=1]
fuzz-diff-sse: $(O)/tests/unit/diff_sse
	DIFF_SSE_ITERS=$${DIFF_SSE_ITERS:-2000} DIFF_SSE_SEED=$${DIFF_SSE_SEED:-$$(date +%s)} \
		$(O)/tests/unit/diff_sse > $(O)/fuzz-diff-sse.log; st=$$?; \
		grep -v '^ok' $(O)/fuzz-diff-sse.log; exit $$st

# the snapshot reader (tests/fuzz/snapshot.sh): libFuzzer or a mutation fuzzer, ASan+UBSan
fuzz: fuzz-snapshot fuzz-decode fuzz-platform
fuzz-snapshot:
	@bash tests/fuzz/snapshot.sh
# the platform under a hostile guest (tests/guest/chaos_platform.c), ASan+UBSan
fuzz-platform:
	@bash tests/fuzz/platform.sh

# ---- long randomized runs -----------------------------------------------------
# make fuzz [FUZZ_TIME=s]: libFuzzer on the decoder (tests/fuzz/), built with
# clang -fsanitize=fuzzer,address,undefined in build-fuzz/; the corpus stays
# in build-fuzz/corpus-decode.  Needs clang with libFuzzer (Debian: clang-14).
FUZZ_CC ?= clang
FUZZ_TIME ?= 60
FUZZ_CFLAGS := -std=gnu11 -g -O1 -Iinclude -Isrc -Itests/unit/lib -Wno-unused-parameter \
	-fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
build-fuzz/fuzz_decode: tests/fuzz/fuzz_decode.c tests/unit/lib/vmt.c $(LIB_SRC) $(wildcard src/*/*.h)
	@mkdir -p build-fuzz
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz_decode.c tests/unit/lib/vmt.c $(LIB_SRC) $(LDLIBS)
fuzz-decode:
	@command -v $(FUZZ_CC) >/dev/null || { echo "make fuzz: $(FUZZ_CC) not found (apt-get install clang)"; exit 1; }
	$(MAKE) build-fuzz/fuzz_decode
	@mkdir -p build-fuzz/corpus-decode
	build-fuzz/fuzz_decode -max_total_time=$(FUZZ_TIME) -max_len=65 -timeout=10 \
		-rss_limit_mb=4096 build-fuzz/corpus-decode

# make fuzz-diff [FUZZ_ITERS=n] [FUZZ_SEED=s] [FUZZ_RUNS=k]: the native-vs-nestvm
# differential tests with many more cases, k seeds from s on.  An umbrella:
# add your own with "fuzz-diff: fuzz-diff-NAME" and a recipe reading the same
# variables.
FUZZ_ITERS ?= 5000
FUZZ_SEED ?= 1
FUZZ_RUNS ?= 4
fuzz-diff: fuzz-diff-int fuzz-diff-decode fuzz-diff-sse
.PHONY: fuzz-diff-int fuzz-diff-decode
fuzz-diff-decode: $(O)/tests/unit/decode_diff
	@for k in $$(seq 0 $$(($(FUZZ_RUNS) - 1))); do \
		s=$$(($(FUZZ_SEED) + k)); \
		echo "decode_diff: seed $$s, $(FUZZ_ITERS) sequences per mode"; \
		out=$$(DEC_SEED=$$s DEC_ITERS=$(FUZZ_ITERS) $<); st=$$?; \
		printf '%s\n' "$$out" | grep -v '^ok'; \
		[ $$st -eq 0 ] || exit 1; \
	done
fuzz-diff-int: $(O)/tests/unit/diff_int
	@for k in $$(seq 0 $$(($(FUZZ_RUNS) - 1))); do \
		s=$$(($(FUZZ_SEED) + k)); \
		echo "diff_int: seed $$s, $(FUZZ_ITERS) iterations"; \
		out=$$(DIFF_SEED=$$s DIFF_ITERS=$(FUZZ_ITERS) $<); st=$$?; \
		printf '%s\n' "$$out" | grep -v '^ok'; \
		[ $$st -eq 0 ] || exit 1; \
	done

# the x87 against the host FPU: FUZZ_ITERS cases per instruction group
.PHONY: fuzz-diff-x87
fuzz-diff: fuzz-diff-x87
fuzz-diff-x87: $(O)/tests/unit/diff_x87
	@for k in $$(seq 0 $$(($(FUZZ_RUNS) - 1))); do \
		s=$$(($(FUZZ_SEED) + k)); \
		echo "diff_x87: seed $$s, $(FUZZ_ITERS) cases per group"; \
		out=$$(X87_SEED=$$s X87_ITERS=$(FUZZ_ITERS) X87_SHOW=5 $<); st=$$?; \
		printf '%s\n' "$$out" | grep -v '^ok'; \
		[ $$st -eq 0 ] || exit 1; \
	done

clean:
	rm -rf build build-san build-fuzz

-include $(wildcard $(O)/src/*/*.d $(O)/tests/guest/*.d $(O)/tests/guest/lib/*.d $(O)/tests/unit/*.d $(O)/tests/unit/lib/*.d)
