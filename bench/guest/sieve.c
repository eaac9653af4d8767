/*
 * CPU benchmark image: a sieve of Eratosthenes over a large array in
 * paged memory, and a pure-register loop.  The same image runs under
 * nestvm and QEMU TCG (bench/run.sh).  -append 'sieve' / 'reg' / 'both'.
 */
#include "libguest.h"

#define SIEVE_BASE 0x1000000UL	/* 16 MiB */

static uint64_t sieve(uint64_t n)
{
	uint8_t *a = (uint8_t *)SIEVE_BASE;
	for (uint64_t k = 0; k < n; k++)
		a[k] = 1;
	a[0] = a[1] = 0;
	for (uint64_t p = 2; p * p < n; p++) {
		if (!a[p])
			continue;
		for (uint64_t m = p * p; m < n; m += p)
			a[m] = 0;
	}
	uint64_t count = 0;
	for (uint64_t k = 0; k < n; k++)
		count += a[k];
	return count;
}

static uint64_t regloop(uint64_t iters)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL, acc = 0;
	for (uint64_t k = 0; k < iters; k++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		acc += x & 0xffff;
	}
	return acc;
}

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "both";
	uint64_t n = 100ULL << 20;	/* 100 MiB of bytes */
	if (argc > 2)
		n = (uint64_t)strtol(argv[2], NULL, 0);
	if (!strcmp(what, "sieve") || !strcmp(what, "both"))
		printf("sieve: %llu primes below %llu\n", (unsigned long long)sieve(n),
		       (unsigned long long)n);
	if (!strcmp(what, "reg") || !strcmp(what, "both"))
		printf("regloop: %llu\n", (unsigned long long)regloop(300000000ULL));
	return 0;
}
