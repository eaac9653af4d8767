/*
 * Snapshot size and save/restore time for a guest of a given RAM size
 * (bench/snapshot.sh).  The guest's RAM is filled the way a busy guest's
 * might be: FILL percent of the pages hold data (a mix of text-like,
 * structured and random bytes), the rest were never touched.  Times are
 * wall clock; the file goes to DIR (page cache, not fsync'd).
 *
 *   snapshot_bench SIZE_MIB FILL_PERCENT DIR [compress]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vmm/machine.h"
#include "vmm/snapshot.h"

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static uint64_t rng = 88172645463325252ULL;
static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void fill_page(uint8_t *p, int kind)
{
	static const char words[] = "the quick brown fox jumps over the lazy dog 0123456789 ";
	switch (kind) {
	case 0:	/* text-like */
		for (int k = 0; k < 4096; k++)
			p[k] = (uint8_t)words[(k + next() % 3) % (sizeof(words) - 1)];
		break;
	case 1:	/* structured: small integers and pointers */
		for (int k = 0; k < 4096; k += 8) {
			uint64_t v = (k & 8) ? 0xffff888000000000ULL + (next() & 0xfff0) : next() & 0xff;
			memcpy(p + k, &v, 8);
		}
		break;
	default:	/* random (compressed or encrypted data) */
		for (int k = 0; k < 4096; k += 8) {
			uint64_t v = next();
			memcpy(p + k, &v, 8);
		}
		break;
	}
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s SIZE_MIB FILL_PERCENT DIR [compress]\n", argv[0]);
		return 2;
	}
	uint64_t mib = strtoull(argv[1], NULL, 0);
	int fill = atoi(argv[2]);
	bool compress = argc > 4 && !strcmp(argv[4], "compress");
	struct config c = {
		.ram_size = mib << 20, .smp = 1, .max_cpus = 1, .serial = "none",
		.engine = NV_ENGINE_EMU, .quantum = 100000, .snapshot_zstd = compress,
	};
	struct machine m, r;
	if (machine_init(&m, &c) < 0 || machine_init(&r, &c) < 0)
		return 1;
	uint64_t pages = m.ram_size / 4096;
	for (uint64_t p = 0; p < pages; p++)
		if ((int)(next() % 100) < fill)
			fill_page(m.ram + p * 4096, (int)(next() % 4) % 3);
	char path[4096], err[400];
	snprintf(path, sizeof(path), "%s/nestvm-bench-%d.snap", argv[3], (int)getpid());
	double t0 = now_ms();
	if (snapshot_save_file(&m, path, err, sizeof(err)) < 0) {
		fprintf(stderr, "save: %s\n", err);
		return 1;
	}
	double t1 = now_ms();
	if (snapshot_load_file(&r, path, err, sizeof(err)) < 0) {
		fprintf(stderr, "restore: %s\n", err);
		return 1;
	}
	double t2 = now_ms();
	struct stat st;
	stat(path, &st);
	unlink(path);
	bool same = !memcmp(m.ram, r.ram, m.ram_size);
	printf("%6llu MiB  %3d%% touched  %-5s  size %8.1f MiB  save %7.1f ms  restore %7.1f ms"
	       "  total %7.1f ms%s\n", (unsigned long long)mib, fill, compress ? "zstd" : "raw",
	       (double)st.st_size / (1 << 20), t1 - t0, t2 - t1, t2 - t0,
	       same ? "" : "  RAM MISMATCH");
	machine_destroy(&m);
	machine_destroy(&r);
	return same ? 0 : 1;
}
