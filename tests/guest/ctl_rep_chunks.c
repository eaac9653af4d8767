/*
 * REP MOVS / REP STOS copy exactly RCX elements (regression: the
 * page-chunk fast path lost one element per chunk).  Forward copies of
 * every element size, several counts, within a page and across pages.
 */
#include "libguest.h"

static uint8_t src[3 * 4096] __attribute__((aligned(4096)));
static uint8_t dst[3 * 4096 + 64] __attribute__((aligned(4096)));

static bool check_movs(int sz, unsigned long n, unsigned off)
{
	memset(dst, 0xee, sizeof(dst));
	void *d = dst + off, *s = (void *)(src + off);
	unsigned long c = n;
	switch (sz) {
	case 1: asm volatile("cld; rep movsb" : "+D"(d), "+S"(s), "+c"(c) :: "memory"); break;
	case 2: asm volatile("cld; rep movsw" : "+D"(d), "+S"(s), "+c"(c) :: "memory"); break;
	case 4: asm volatile("cld; rep movsl" : "+D"(d), "+S"(s), "+c"(c) :: "memory"); break;
	default: asm volatile("cld; rep movsq" : "+D"(d), "+S"(s), "+c"(c) :: "memory"); break;
	}
	if (c != 0 || d != dst + off + n * sz || s != src + off + n * sz)
		return false;
	if (memcmp(dst + off, src + off, n * sz))
		return false;
	return dst[off + n * sz] == 0xee && (off == 0 || dst[off - 1] == 0xee);
}

static bool check_stos(int sz, unsigned long n, unsigned off)
{
	memset(dst, 0xee, sizeof(dst));
	void *d = dst + off;
	unsigned long c = n, v = 0x0102030405060708ULL;
	switch (sz) {
	case 1: asm volatile("cld; rep stosb" : "+D"(d), "+c"(c) : "a"(v) : "memory"); break;
	case 2: asm volatile("cld; rep stosw" : "+D"(d), "+c"(c) : "a"(v) : "memory"); break;
	case 4: asm volatile("cld; rep stosl" : "+D"(d), "+c"(c) : "a"(v) : "memory"); break;
	default: asm volatile("cld; rep stosq" : "+D"(d), "+c"(c) : "a"(v) : "memory"); break;
	}
	if (c != 0 || d != dst + off + n * sz)
		return false;
	for (unsigned long k = 0; k < n * sz; k++)
		if (dst[off + k] != ((const uint8_t *)&v)[k % sz])
			return false;
	return dst[off + n * sz] == 0xee;
}

int main(int argc, char **argv)
{
	static const unsigned long counts[] = { 1, 2, 3, 39, 512, 1000 };
	for (unsigned k = 0; k < sizeof(src); k++)
		src[k] = (uint8_t)(k * 7 + 3);
	for (int sz = 1; sz <= 8; sz *= 2)
		for (unsigned c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
			unsigned long n = counts[c];
			report(check_movs(sz, n, 0), "REP MOVS size %d count %lu", sz, n);
			report(check_movs(sz, n, 4000), "REP MOVS size %d count %lu across a page", sz, n);
			report(check_stos(sz, n, 8), "REP STOS size %d count %lu", sz, n);
		}
	return report_summary();
}
