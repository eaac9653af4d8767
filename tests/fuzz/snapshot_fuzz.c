/*
 * Fuzz target for the snapshot reader: any byte string given to
 * snapshot_restore must be refused cleanly or restored, never crash, leak
 * or trip ASan/UBSan.  Built with libFuzzer (clang -fsanitize=fuzzer) when
 * available; otherwise -DSTANDALONE gives a deterministic mutation fuzzer
 * (tests/fuzz/snapshot.sh).  Mutations are format-aware in part: after
 * mutating, CRCs are often recomputed so the input gets past the checksum
 * checks and reaches the section parsers and the vCPU set functions.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/machine.h"
#include "vmm/snapshot.h"

static struct machine m;
static bool ready;

static void setup(void)
{
	if (ready)
		return;
	struct config c = {
		.ram_size = 4ULL << 20, .smp = 2, .max_cpus = 2, .serial = "none",
		.engine = NV_ENGINE_EMU, .quantum = 100000, .pc_testdev = true,
	};
	if (machine_init(&m, &c) < 0)
		abort();
	ready = true;
}

static uint32_t crc32c(const uint8_t *p, size_t n)
{
	uint32_t c = ~0u;
	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82f63b78u & -(c & 1));
	}
	return ~c;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr32(uint8_t *p, uint32_t v)
{
	for (int k = 0; k < 4; k++)
		p[k] = (uint8_t)(v >> (8 * k));
}

/* recompute the header CRC and every section's CRCs the layout still allows */
static void fix_crcs(uint8_t *b, size_t len)
{
	if (len < 24)
		return;
	wr32(b + 20, crc32c(b, 20));
	size_t pos = 24;
	while (len - pos >= 48) {
		uint8_t *h = b + pos;
		uint64_t sl = rd32(h + 32) | ((uint64_t)rd32(h + 36) << 32);
		if (sl > len - pos - 48)
			sl = len - pos - 48;
		wr32(h + 40, crc32c(h + 48, sl));
		wr32(h + 44, crc32c(h, 44));
		pos += 48 + sl;
	}
}

/* the seed: a valid snapshot of the fuzz machine */
static uint8_t *seed(size_t *len)
{
	setup();
	char err[300];
	int fd = memfd_create("seed", 0);
	m.ram[0x1000] = 0x42;
	if (fd < 0 || snapshot_save_fd(&m, fd, err, sizeof(err)) < 0)
		abort();
	off_t n = lseek(fd, 0, SEEK_END);
	uint8_t *b = malloc((size_t)n);
	if (!b || pread(fd, b, (size_t)n, 0) != n)
		abort();
	close(fd);
	*len = (size_t)n;
	return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[400];
	setup();
	snapshot_check(data, size, err, sizeof(err));
	snapshot_restore(&m, data, size, err, sizeof(err));
	return 0;
}

#ifndef STANDALONE
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max, unsigned int s);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max, unsigned int s)
{
	if (size < 24) {
		size_t n;
		uint8_t *b = seed(&n);
		if (n <= max) {
			memcpy(data, b, n);
			size = n;
		}
		free(b);
	}
	size = LLVMFuzzerMutate(data, size, max);
	if (s % 4)
		fix_crcs(data, size);
	return size;
}
#else
static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

int main(int argc, char **argv)
{
	long iters = argc > 1 ? atol(argv[1]) : 20000;
	size_t slen;
	uint8_t *s = seed(&slen);
	uint8_t *b = malloc(slen + 4096);
	for (long it = 0; it < iters; it++) {
		size_t len = slen;
		memcpy(b, s, slen);
		int nmut = 1 + (int)(rnd() % 4);
		for (int k = 0; k < nmut; k++) {
			size_t at = rnd() % len;
			switch (rnd() % 6) {
			case 0: b[at] ^= (uint8_t)(1u << (rnd() % 8)); break;
			case 1: b[at] = (uint8_t)rnd(); break;
			case 2: len = at; break;
			case 3: {	/* interesting values into a 32-bit field */
				static const uint32_t v[] = { 0, 1, 0xff, 0x7fffffff, 0x80000000,
							      0xffffffff, 4096, 65536 };
				if (at + 4 <= len)
					wr32(b + at, v[rnd() % 8]);
				break;
			}
			case 4:	/* copy a chunk over another place */
				if (len > 64) {
					size_t from = rnd() % (len - 32), n = 1 + rnd() % 32;
					if (at + n <= len)
						memmove(b + at, b + from, n);
				}
				break;
			default:	/* grow with junk */
				if (len + 16 <= slen + 4096)
					for (int j = 0; j < 16; j++)
						b[len++] = (uint8_t)rnd();
				break;
			}
			if (len < 24)
				break;
		}
		if (rnd() % 4)
			fix_crcs(b, len);
		LLVMFuzzerTestOneInput(b, len);
	}
	printf("snapshot fuzz: %ld inputs, no crash\n", iters);
	free(b);
	free(s);
	machine_destroy(&m);
	return 0;
}
#endif
