/*
 * Native-vs-nestvm differential kit.
 *
 * Runs a short piece of user-mode code twice: natively on the host (64-bit
 * mode, or 32-bit compatibility mode through a far call to selector 0x23)
 * and in nestvm through the vCPU API (tests/unit/lib/vmt.h), from the same
 * registers, flags and memory, and reports both outcomes.
 *
 * The host side mirrors the guest's layout exactly: the code under test is
 * at ND_CODE (= VMT_CODE) and the data window at ND_DATA (= VMT_DATA) in
 * both, so addresses held in registers, RIP-relative operands and memory
 * contents compare directly.  Natively the code is entered from a loader
 * that sets every GPR and RFLAGS and is followed by a saver; in the guest it
 * is followed by HLT.  A fault ends the run with its vector and the
 * registers at the faulting instruction (host: from the signal context,
 * guest: from the exception frame).
 */
#ifndef NDIFF_H
#define NDIFF_H

#include <stdbool.h>
#include <stdint.h>

#include "vmt.h"

#define ND_CODE VMT_CODE
#define ND_CODE_MAX 0x1000	/* bytes of code under test */
#define ND_DATA VMT_DATA
#define ND_DATA_SIZE 0x10000	/* the compared data window */

#define ND_FLAGS_ARITH 0x8d5ULL	/* CF PF AF ZF SF OF */
#define ND_DF 0x400ULL

struct nd_state {
	uint64_t r[16];		/* RAX..R15 in encoding order */
	uint64_t fl;
	uint64_t rip;		/* out: where it stopped (fault: the faulting RIP) */
	int vec;		/* out: -1 ran to the end, else the exception vector */
	uint64_t cr2;		/* out: #PF linear address */
	uint32_t ec;		/* out: error code (#PF: P and W bits only compare) */
};

/*
 * The 64 KiB after the data window and the 64 KiB before it are not present
 * on both sides (host: PROT_NONE guards; guest: 4 KiB page tables), so
 * accesses that run off either end take the same #PF natively and in
 * nestvm.
 */
#define ND_GUARD (ND_DATA + ND_DATA_SIZE)
#define ND_GUARD_LO (ND_DATA - 0x10000)	/* and the 64 KiB before it */

/*
 * 64-bit mode: GS.base during the run on both sides when nd.gs is set (the
 * host needs FSGSBASE; FS stays the C library's TLS).
 */
#define ND_GS_BASE 0x1000ULL

/* the host's user-visible features (CPUID) */
struct nd_host {
	bool bmi1, bmi2, adx, movbe, popcnt, lzcnt, cx16, sse42, lahf64;
	bool amd;
};

/*
 * Set up both sides.  Returns 0; -1 if nestvm cannot run (then nothing
 * works); host64/compat tell whether the native sides are usable.
 */
struct nd {
	struct vmt g64, g32;
	bool host64, compat, guest32;
	bool gs;		/* GS.base = ND_GS_BASE in 64-bit runs */
	struct nd_host feat;
	uint64_t guest_runs, host_runs;
};
int nd_init(struct nd *d);
void nd_fini(struct nd *d);

/* the data window of each side */
uint8_t *nd_host_data(struct nd *d);
uint8_t *nd_guest_data(struct nd *d, int mode);

/*
 * Run `code` (len bytes) in `mode` (64 or 32) from `in`; the data windows
 * must have been filled by the caller.  Returns 0, -1 if that side is not
 * available.
 */
int nd_run_host(struct nd *d, int mode, const uint8_t *code, int len,
		const struct nd_state *in, struct nd_state *out);
int nd_run_guest(struct nd *d, int mode, const uint8_t *code, int len,
		 const struct nd_state *in, struct nd_state *out);

/* byte range of the guest's data window written by exception delivery */
void nd_guest_frame_range(const struct nd_state *out, int mode, uint64_t *lo, uint64_t *hi);

/* xorshift64* generator: deterministic per seed */
static inline uint64_t nd_rand(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/* operand values biased to the edges (0, 1, -1, sign bits, small, random) */
uint64_t nd_value(uint64_t *s);

#endif
