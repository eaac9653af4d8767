/*
 * Decoder robustness: random and mutated byte sequences (prefix soups,
 * REX/VEX mixes, over-long instructions, ModRM/SIB/displacement edges,
 * page-crossing code) run through the CPU in 64-, 32- and 16-bit modes.
 *
 * Instruction length is measured the same black-box way on both sides:
 * the first k bytes are placed at the end of an executable page whose
 * successor is not present, and the smallest k that does not take an
 * instruction-fetch #PF at the boundary is the length (SDM 6.15: fetch
 * faults come before anything else of the instruction).  The host runs the
 * bytes natively in a ptrace'd child under PTRACE_SYSEMU_SINGLESTEP
 * (system calls are not executed), CS = 0x33 / 0x23 / a 16-bit LDT code
 * segment; nestvm runs them through the vCPU API at CPL 0, its state
 * restored before every run.
 *
 * Checks: nestvm never crashes or hangs (a budget bounds every run); where
 * neither side raises #UD the lengths agree; what the host rejects with
 * #UD nestvm rejects too (except instructions the Intel model has and AMD
 * lacks, listed in intel_only()); a 16+-byte instruction raises #GP(0);
 * LOCK on a form that does not allow it raises #UD.
 *
 * Environment: DEC_SEED (default 1), DEC_ITERS (sequences per mode,
 * default 600), DEC_VERBOSE, DEC_NOHOST (nestvm only), DEC_ONE="0f 0b"
 * with DEC_MODE=0/1/2 (64/32/16): measure one sequence in nestvm.
 */
#define _GNU_SOURCE
#include <asm/ldt.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ndiff.h"
#include "vmt.h"

#ifndef PTRACE_SYSEMU_SINGLESTEP
#define PTRACE_SYSEMU_SINGLESTEP 32
#endif

static uint64_t rng;
static int iters = 600;
static bool verbose;
static uint64_t rnd(void) { return nd_rand(&rng); }
static unsigned rn(unsigned n) { return (unsigned)(rnd() % n); }

/* outcome of one run */
enum { O_FETCH, O_UD, O_GP, O_OTHER, O_BAD };
static const char *oname[] = { "fetch-#PF", "#UD", "#GP", "ran/other", "broken" };

/* ---- host side: a ptrace'd child --------------------------------------------- */

#define HC 0x10000000ULL		/* code page; HC + 0x1000 is PROT_NONE */
#define HD 0x20000000ULL		/* data for memory operands */
#define H16_OFF 0x9000ULL		/* 16-bit: offset of the boundary */
#define LDT_SEL16 ((0 << 3) | 4 | 3)	/* LDT entry 0, RPL 3 */

static pid_t child = -1;
static uint8_t *hpage;			/* shared with the child */
static bool host16, host32 = true;
static struct user_regs_struct hregs0;

static void child_main(void)
{
	/* 16-bit code segment whose offset H16_OFF is the boundary */
	struct user_desc d = {
		.entry_number = 0,
		.base_addr = (unsigned)(HC + 0x1000 - H16_OFF),
		.limit = 0xffff,
		.seg_32bit = 0,
		.contents = 2,		/* code */
		.read_exec_only = 0,
		.limit_in_pages = 0,
		.seg_not_present = 0,
		.useable = 1,
	};
	int ok16 = syscall(SYS_modify_ldt, 1, &d, sizeof(d)) == 0;
	ptrace(PTRACE_TRACEME, 0, 0, 0);
	/* tell the parent about the LDT through the shared page */
	hpage[0] = (uint8_t)ok16;
	raise(SIGSTOP);
	for (;;)
		pause();
}

static int host_setup(void)
{
	hpage = mmap((void *)HC, 0x1000, PROT_READ | PROT_WRITE | PROT_EXEC,
		     MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (hpage != (void *)HC)
		return -1;
	if (mmap((void *)(HC + 0x1000), 0x1000, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) != (void *)(HC + 0x1000))
		return -1;
	if (mmap((void *)HD, 0x10000, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) != (void *)HD)
		return -1;
	fflush(stdout);
	child = fork();
	if (child < 0)
		return -1;
	if (child == 0)
		child_main();
	int st;
	if (waitpid(child, &st, 0) < 0 || !WIFSTOPPED(st))
		return -1;
	host16 = hpage[0] == 1;
	ptrace(PTRACE_GETREGS, child, 0, &hregs0);
	return 0;
}

/* run `n` bytes ending `end` bytes before the boundary; mode 64/32/16 */
static int host_run(int mode, const uint8_t *b, int n, int gap)
{
	uint64_t off = 0x1000 - (uint64_t)n - (uint64_t)gap;
	memset(hpage, 0x90, 0x1000);
	memcpy(hpage + off, b, n);
	struct user_regs_struct r = hregs0;
	uint64_t start = HC + off;
	r.rip = start;
	r.cs = mode == 64 ? 0x33 : mode == 32 ? 0x23 : LDT_SEL16;
	if (mode == 16)
		r.rip = H16_OFF - (uint64_t)n - (uint64_t)gap;
	r.ss = r.ds = r.es = 0x2b;
	r.fs = r.gs = 0;
	r.fs_base = r.gs_base = 0;
	r.rax = r.rbx = r.rdx = r.rsi = r.rdi = r.rbp = HD + 0x8000;
	r.r8 = r.r9 = r.r10 = r.r11 = r.r12 = r.r13 = r.r14 = r.r15 = HD + 0x8000;
	r.rcx = 3;
	r.rsp = HD + 0x8000;
	r.eflags = 0x202;
	if (ptrace(PTRACE_SETREGS, child, 0, &r) < 0)
		return O_BAD;
	if (ptrace(PTRACE_SYSEMU_SINGLESTEP, child, 0, 0) < 0)
		return O_BAD;
	int st;
	if (waitpid(child, &st, 0) < 0 || !WIFSTOPPED(st))
		return O_BAD;
	int sig = WSTOPSIG(st);
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	ptrace(PTRACE_GETSIGINFO, child, 0, &si);
	ptrace(PTRACE_GETREGS, child, 0, &r);
	uint64_t rip_now = r.rip;
	uint64_t rip_start = mode == 16 ? H16_OFF - (uint64_t)n - (uint64_t)gap : start;
	if (sig == SIGSEGV && (uint64_t)(uintptr_t)si.si_addr == HC + 0x1000 && rip_now == rip_start)
		return O_FETCH;
	if (sig == SIGILL)
		return O_UD;
	if (sig == SIGSEGV && si.si_code == SI_KERNEL && rip_now == rip_start)
		return O_GP;
	return O_OTHER;
}

/* ---- nestvm side ------------------------------------------------------------- */

#define GB 0x210000ULL			/* boundary: non-present page from here */
#define G16_BASE (GB - H16_OFF)		/* 16-bit CS base: offset H16_OFF is GB */

struct gside {
	struct vmt t;
	struct kvm_sregs sregs0;
	uint8_t *low0;			/* pristine low memory */
	int mode;
};
static struct gside g[3];		/* 64, 32, 16 */
#define LOW_SIZE 0x20000

static void put64(struct vmt *t, uint64_t a, uint64_t v) { memcpy(vmt_ptr(t, a), &v, 8); }
static void put32(struct vmt *t, uint64_t a, uint32_t v) { memcpy(vmt_ptr(t, a), &v, 4); }

static int guest_setup(struct gside *s, int mode)
{
	s->mode = mode;
	if (vmt_init_mode(&s->t, NV_ENGINE_EMU, 64 << 20, mode) < 0)
		return -1;
	struct kvm_sregs sr;
	nv_get_sregs(s->t.v, &sr);
	if (mode == 64) {
		/* 4 KiB pages for 2..4 MiB, absent from GB on; IST1 for all vectors */
		for (uint64_t k = 0; k < 512; k++) {
			uint64_t pa = 0x200000 + k * 0x1000;
			put64(&s->t, 0xa000 + k * 8, pa < GB ? pa | 3 : 0);
		}
		put64(&s->t, 0x3000 + 8, 0xa000 | 3);
		put64(&s->t, 0x24, 0x9f000);
		for (int v = 0; v < 256; v++)
			*(uint8_t *)vmt_ptr(&s->t, VMT_IDT + v * 16 + 4) = 1;
	} else {
		/* 32-bit paging, 4 KiB pages identity over 0..4 MiB, absent from GB */
		put32(&s->t, 0xb000, 0xc000 | 3);
		for (uint64_t k = 0; k < 1024; k++) {
			uint64_t pa = k * 0x1000;
			put32(&s->t, 0xc000 + k * 4, pa >= GB && pa < GB + 0x10000 ? 0 : (uint32_t)(pa | 3));
		}
		sr.cr3 = 0xb000;
		sr.cr0 |= 0x80000000ULL;
		if (mode == 16) {
			sr.cs.base = G16_BASE;
			sr.cs.limit = 0xffff;
			sr.cs.g = 0;
		}
		if (nv_set_sregs(s->t.v, &sr) < 0)
			return -1;
	}
	nv_get_sregs(s->t.v, &sr);
	sr.cr4 |= 1ULL << 20;		/* SMEP: #PF reports I/D for fetches */
	if (mode == 64)
		sr.efer |= 1ULL << 11;	/* NXE */
	if (nv_set_sregs(s->t.v, &sr) < 0)
		return -1;
	nv_get_sregs(s->t.v, &s->sregs0);
	s->low0 = malloc(LOW_SIZE);
	memcpy(s->low0, vmt_ptr(&s->t, 0), LOW_SIZE);
	return 0;
}

static int guest_run_at(struct gside *s, const uint8_t *b, int n, uint64_t lin, uint64_t budget,
			int *vec_out, uint64_t *rip_out);

static int guest_run(struct gside *s, const uint8_t *b, int n, int gap)
{
	return guest_run_at(s, b, n, GB - (uint64_t)n - (uint64_t)gap, 300, NULL, NULL);
}

/*
 * Run n bytes placed at linear `lin` (inside GB - 0x2000 .. GB) for at most
 * `budget` instructions; vec_out, rip_out: the exception (-1 none) and the
 * RIP at the end (of the faulting instruction if one was raised).
 */
static int guest_run_at(struct gside *s, const uint8_t *b, int n, uint64_t lin, uint64_t budget,
			int *vec_out, uint64_t *rip_out)
{
	struct vmt *t = &s->t;
	/* everything a random system instruction may have changed */
	bool dirty = memcmp(vmt_ptr(t, 0), s->low0, LOW_SIZE) != 0;
	if (dirty)
		memcpy(vmt_ptr(t, 0), s->low0, LOW_SIZE);
	struct kvm_sregs cur;
	nv_get_sregs(t->v, &cur);
	cur.cr2 = s->sregs0.cr2;
	/* reloading CR3 also drops TLB entries of page tables just restored */
	if (dirty || memcmp(&cur, &s->sregs0, sizeof(cur)))
		nv_set_sregs(t->v, &s->sregs0);
	struct kvm_debugregs dr;
	memset(&dr, 0, sizeof(dr));
	dr.dr6 = 0xffff0ff0;
	dr.dr7 = 0x400;
	nv_set_debugregs(t->v, &dr);
	struct kvm_vcpu_events ev;
	memset(&ev, 0, sizeof(ev));
	nv_set_vcpu_events(t->v, &ev);

	memset(vmt_ptr(t, GB - 0x2000), 0x90, 0x2000);
	memcpy(vmt_ptr(t, lin), b, n);
	uint64_t rip = s->mode == 16 ? lin - G16_BASE : lin;
	struct kvm_regs r;
	memset(&r, 0, sizeof(r));
	r.rax = r.rbx = r.rdx = r.rsi = r.rdi = r.rbp = 0x208000;
	r.r8 = r.r9 = r.r10 = r.r11 = r.r12 = r.r13 = r.r14 = r.r15 = 0x208000;
	r.rcx = 3;
	r.rsp = 0x208000;
	r.rip = rip;
	r.rflags = 2;
	uint32_t zero = 0;
	vmt_write(t, VMT_EXC_VEC, &zero, 4);
	nv_set_regs(t->v, &r);
	struct kvm_mp_state mp = { KVM_MP_STATE_RUNNABLE };
	nv_set_mp_state(t->v, &mp);
	nv_set_budget(t->v, budget);
	int why = -1;
	for (int guard = 0; guard < 64; guard++) {
		int ret = nv_run(t->v);
		why = t->run->exit_reason;
		if (ret < 0 && ret != -EINTR)
			return O_BAD;
		if (why != KVM_EXIT_IO && why != KVM_EXIT_MMIO)
			break;
	}
	nv_set_budget(t->v, 0);
	int vec = vmt_exception(t);
	if (vec_out) {
		*vec_out = why == KVM_EXIT_HLT || why == KVM_EXIT_INTR ? vec : 256 + why;
		nv_get_regs(t->v, &r);
		*rip_out = r.rip;
	}
	/* the stub ends in HLT; with a budget that may show as KVM_EXIT_INTR */
	if (vec < 0 || (why != KVM_EXIT_HLT && why != KVM_EXIT_INTR))
		return O_OTHER;
	nv_get_regs(t->v, &r);
	/* the frame: 64-bit on IST (ec, rip, ...); 32/16: ec, eip on the stack */
	uint64_t sp = r.rsp, frip, ec = 0;
	bool hasec = vec == 8 || (vec >= 10 && vec <= 14) || vec == 17;
	if (sp > t->size - 32)
		return O_OTHER;	/* the stub did not run on a sane stack */
	if (s->mode == 64) {
		if (hasec)
			memcpy(&ec, vmt_ptr(t, sp), 8), sp += 8;
		memcpy(&frip, vmt_ptr(t, sp), 8);
	} else {
		uint32_t v;
		if (hasec)
			memcpy(&v, vmt_ptr(t, sp), 4), ec = v, sp += 4;
		memcpy(&v, vmt_ptr(t, sp), 4);
		frip = v;
	}
	if (rip_out)
		*rip_out = frip;
	if (vec == 14) {
		struct kvm_sregs sr;
		nv_get_sregs(t->v, &sr);
		/* I/D is reported: NXE (64-bit) and SMEP (all modes) are on */
		if (sr.cr2 == GB && frip == rip && (ec & 0x10))
			return O_FETCH;
	}
	if (vec == 6 && frip == rip)
		return O_UD;
	if (vec == 13 && frip == rip && ec == 0)
		return O_GP;
	return O_OTHER;
}

/* ---- length by the fetch boundary -------------------------------------------- */

typedef int (*runner)(void *ctx, const uint8_t *b, int n, int gap);

struct hctx { int mode; };
static int run_h(void *ctx, const uint8_t *b, int n, int gap)
{
	return host_run(((struct hctx *)ctx)->mode, b, n, gap);
}
static int run_g(void *ctx, const uint8_t *b, int n, int gap)
{
	return guest_run(ctx, b, n, gap);
}

/*
 * Smallest k in 1..15 whose run does not fetch-fault (16: all do); *full:
 * the outcome of the instruction alone (its bytes end at the boundary, so
 * nothing after it runs), or with every byte present if it needs > 15.
 */
static int measure(runner fn, void *ctx, const uint8_t *b, int n, int *full)
{
	int lo = 1, hi = 16;	/* answer in [lo, hi] */
	*full = O_BAD;
	while (lo < hi) {
		int mid = (lo + hi) / 2;
		if (mid > n)
			return -1;	/* callers pass at least 16 bytes */
		int o = fn(ctx, b, mid, 0);
		if (o == O_BAD)
			return -1;
		if (o == O_FETCH)
			lo = mid + 1;
		else
			hi = mid;
	}
	*full = lo <= 15 ? fn(ctx, b, lo, 0) : fn(ctx, b, n, 32);
	return lo;
}

/* ---- generation ------------------------------------------------------------------ */

static const uint8_t legacy_pfx[] = { 0x66, 0x67, 0xf0, 0xf2, 0xf3, 0x2e, 0x36, 0x3e, 0x26, 0x64, 0x65 };

/* one-byte opcodes of the integer ISA that take a ModRM byte */
static const uint8_t modrm_ops[] = {
	0x00, 0x01, 0x02, 0x03, 0x08, 0x09, 0x0a, 0x0b, 0x10, 0x11, 0x12, 0x13, 0x18, 0x19,
	0x1a, 0x1b, 0x20, 0x21, 0x22, 0x23, 0x28, 0x29, 0x2a, 0x2b, 0x30, 0x31, 0x32, 0x33,
	0x38, 0x39, 0x3a, 0x3b, 0x62, 0x63, 0x69, 0x6b, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85,
	0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b, 0x8c, 0x8d, 0x8e, 0x8f, 0xc0, 0xc1, 0xc4, 0xc5,
	0xc6, 0xc7, 0xd0, 0xd1, 0xd2, 0xd3, 0xd8, 0xdd, 0xf6, 0xf7, 0xfe, 0xff,
};

static int gen(uint8_t *b)
{
	int n = 0;
	unsigned kind = rn(8);
	switch (kind) {
	case 0:		/* uniformly random */
		for (n = 0; n < 20; n++)
			b[n] = (uint8_t)rnd();
		return n;
	case 1:		/* prefix soup, maybe past 15 bytes */
		for (int k = (int)rn(18); k > 0; k--)
			b[n++] = legacy_pfx[rn(sizeof(legacy_pfx))];
		break;
	default:
		for (int k = (int)rn(4); k > 0; k--)
			b[n++] = legacy_pfx[rn(sizeof(legacy_pfx))];
		break;
	}
	if (rn(3) == 0)
		b[n++] = (uint8_t)(0x40 | rn(16));	/* REX (INC/DEC outside 64-bit) */
	switch (rn(6)) {
	case 0: case 1:
		b[n++] = modrm_ops[rn(sizeof(modrm_ops))];
		break;
	case 2:
		b[n++] = 0x0f;
		b[n++] = (uint8_t)rnd();
		break;
	case 3:
		b[n++] = 0x0f;
		b[n++] = rn(2) ? 0x38 : 0x3a;
		b[n++] = (uint8_t)(rn(2) ? 0xf0 + rn(16) : rnd());
		break;
	case 4: {	/* VEX */
		bool three = rn(2);
		b[n++] = three ? 0xc4 : 0xc5;
		b[n++] = (uint8_t)rnd();
		if (three)
			b[n++] = (uint8_t)rnd();
		b[n++] = (uint8_t)(rn(2) ? 0xf0 + rn(8) : rnd());
		break;
	}
	default:
		b[n++] = (uint8_t)rnd();
		break;
	}
	/* ModRM / SIB / displacement edges */
	static const uint8_t modrm_edge[] = { 0x04, 0x05, 0x44, 0x84, 0x0c, 0x3d, 0xc0, 0xff, 0x14, 0x25 };
	static const uint8_t sib_edge[] = { 0x25, 0x24, 0x65, 0xe5, 0x05, 0x2d, 0x64, 0x20 };
	b[n++] = rn(2) ? modrm_edge[rn(sizeof(modrm_edge))] : (uint8_t)rnd();
	b[n++] = rn(2) ? sib_edge[rn(sizeof(sib_edge))] : (uint8_t)rnd();
	while (n < 24)
		b[n++] = (uint8_t)rnd();
	return n;
}

/*
 * Sequences the native side must not run: they would change state ptrace
 * cannot restore (PKRU, XSAVE components) or wait (MWAITX).  Checked
 * anywhere in the bytes, which is conservative.
 */
static bool host_unsafe(const uint8_t *b, int n)
{
	for (int k = 0; k + 1 < n; k++) {
		if (b[k] != 0x0f)
			continue;
		uint8_t o = b[k + 1], m = k + 2 < n ? b[k + 2] : 0;
		if (o == 0x01 && (m == 0xef || m == 0xfa || m == 0xfb))
			return true;	/* WRPKRU, MONITORX, MWAITX */
		if (o == 0xae && ((m >> 3) & 7) == 5 && (m >> 6) != 3)
			return true;	/* XRSTOR */
		if (o == 0xc7 && ((m >> 3) & 7) == 3)
			return true;	/* XRSTORS */
	}
	for (int k = 0; k + 1 < n; k++)
		if (b[k] == 0xcd && b[k + 1] == 0x80)
			return true;	/* INT 0x80: a 32-bit system call */
	return false;
}

/*
 * Valid on the Intel model, #UD on AMD processors (so an AMD host's #UD
 * proves nothing): SYSENTER/SYSEXIT in 64-bit mode, VMX instructions.
 * Conservative: looks at the first opcode after prefixes.
 */
static bool intel_only(const uint8_t *b, int n, int mode)
{
	int k = 0;
	while (k < n && (memchr(legacy_pfx, b[k], sizeof(legacy_pfx)) ||
			 (mode == 64 && (b[k] & 0xf0) == 0x40)))
		k++;
	if (k + 1 >= n || b[k] != 0x0f)
		return false;
	uint8_t o = b[k + 1];
	if (o == 0x34 || o == 0x35 || o == 0x78 || o == 0x79)
		return true;
	if (o == 0x01 && k + 2 < n && b[k + 2] >= 0xc1 && b[k + 2] <= 0xc4)
		return true;
	if (o == 0xc7 && k + 2 < n && ((b[k + 2] >> 3) & 7) >= 6)
		return true;	/* VMPTRLD/VMCLEAR/VMXON/VMPTRST (and RDRAND/RDSEED/RDPID) */
	return false;
}

/*
 * Lengths that differ by vendor: in 64-bit mode AMD processors honour 66
 * on near branches (rel16), Intel's (nestvm's default model) ignore it.
 */
static bool vendor_len(const uint8_t *b, int n, int mode)
{
	if (mode != 64)
		return false;
	bool p66 = false;
	int k = 0;
	for (; k < n && (memchr(legacy_pfx, b[k], sizeof(legacy_pfx)) || (b[k] & 0xf0) == 0x40); k++)
		if (b[k] == 0x66)
			p66 = true;
	if (!p66 || k >= n)
		return false;
	return b[k] == 0xe8 || b[k] == 0xe9 || (b[k] == 0x0f && k + 1 < n && (b[k + 1] & 0xf0) == 0x80);
}

/*
 * Must nestvm accept what the host executes?  For LOCK forms and the
 * one-byte integer opcode map yes; elsewhere the host may simply have
 * more features than the model (AVX-512, XOP, SSE4a, ...).
 */
static bool must_accept(const uint8_t *b, int n, int mode)
{
	int k = 0;
	bool lock = false;
	while (k < n && (memchr(legacy_pfx, b[k], sizeof(legacy_pfx)) ||
			 (mode == 64 && (b[k] & 0xf0) == 0x40))) {
		lock |= b[k] == 0xf0;
		k++;
	}
	(void)lock;
	if (k >= n)
		return false;
	uint8_t o = b[k];
	if ((o >= 0xd8 && o <= 0xdf) || o == 0xc4 || o == 0xc5 || o == 0x62 || o == 0x8f)
		return false;	/* x87, VEX/EVEX/XOP escapes (62: EVEX on the host) */
	if (o == 0x0f) {
		if (k + 1 >= n)
			return false;
		uint8_t o2 = b[k + 1];
		static const uint8_t lockable[] = { 0xb0, 0xb1, 0xc0, 0xc1, 0xab, 0xb3, 0xbb, 0xba, 0xc7 };
		if (lock)
			return memchr(lockable, o2, sizeof(lockable)) != NULL;
		/* the integer part of the 0F map */
		return (o2 >= 0x40 && o2 <= 0x4f) || (o2 >= 0x80 && o2 <= 0x9f) ||
		       (o2 >= 0xa0 && o2 <= 0xa5) || o2 == 0xa8 || o2 == 0xa9 ||
		       (o2 >= 0xab && o2 <= 0xad) || o2 == 0xaf || (o2 >= 0xb0 && o2 <= 0xb7) ||
		       (o2 >= 0xba && o2 <= 0xbf) || o2 == 0xc0 || o2 == 0xc1 || (o2 >= 0xc8 && o2 <= 0xcf) ||
		       (o2 >= 0x18 && o2 <= 0x1f) || o2 == 0x0d;
	}
	return true;
}

/* ---- the checks ------------------------------------------------------------------ */

static void hex(const uint8_t *b, int n)
{
	for (int k = 0; k < n; k++)
		printf(" %02x", b[k]);
}

struct stats { long seqs, lens_cmp, ud_both, fails, splits; };

static void check_seq(int mode, struct gside *s, const uint8_t *b, int n, struct stats *st,
		      bool host_ok)
{
	int gfull, glen = measure(run_g, s, b, n, &gfull);
	st->seqs++;
	if (getenv("DEC_TRACE")) {
		printf("# trace mode %d len %d %s:", mode, glen, oname[gfull]);
		hex(b, n);
		printf("\n");
	}
	if (glen < 0) {
		st->fails++;
		printf("# mode %d: nestvm run failed:", mode);
		hex(b, 16);
		printf("\n");
		return;
	}
	/* nestvm alone: over-long instructions must #GP */
	if (glen == 16 && gfull != O_GP) {
		st->fails++;
		printf("# mode %d: needs > 15 bytes but full run gave %s:", mode, oname[gfull]);
		hex(b, n);
		printf("\n");
	}
	/*
	 * The same bytes across two present pages behave as in one page: same
	 * exception and the same RIP relative to the start after a few steps.
	 */
	if (glen >= 2 && glen <= 15 && n >= glen) {
		int split = 1 + (int)rn((unsigned)glen - 1);
		uint64_t a1 = GB - 0x1800, a2 = GB - 0x1000 - (uint64_t)split;
		int v1, v2;
		uint64_t r1, r2;
		memset(vmt_ptr(&s->t, 0x200000), 0, GB - 0x2000 - 0x200000);
		guest_run_at(s, b, glen, a1, 4, &v1, &r1);
		memset(vmt_ptr(&s->t, 0x200000), 0, GB - 0x2000 - 0x200000);
		guest_run_at(s, b, glen, a2, 4, &v2, &r2);
		uint64_t base = mode == 16 ? G16_BASE : 0;
		int64_t o1 = (int64_t)(r1 + base - a1), o2 = (int64_t)(r2 + base - a2);
		/*
		 * Branches whose targets depend on the placement (16-bit IP
		 * wrap-around, 66-truncated EIP, absolute targets) leave the
		 * neighbourhood: not comparable.
		 */
		bool local = o1 > -64 && o1 < 64 && o2 > -64 && o2 < 64;
		if ((local || r1 == r2) && (v1 != v2 || (o1 != o2 && r1 != r2))) {
			st->fails++;
			printf("# mode %d: split at %d differs: vector %d/%d, rip offset %lld/%lld:", mode,
			       split, v1, v2, (long long)o1, (long long)o2);
			hex(b, glen);
			printf("\n");
		}
		st->splits++;
	}
	if (!host_ok)
		return;
	struct hctx hc = { mode };
	int hfull, hlen = measure(run_h, &hc, b, n, &hfull);
	if (hlen < 0) {
		printf("# mode %d: host run failed\n", mode);
		st->fails++;
		return;
	}
	const char *why = NULL;
	if (hfull == O_UD && gfull == O_UD) {
		st->ud_both++;
	} else if (hfull == O_UD && gfull != O_UD) {
		/*
		 * Hardware may raise #UD before it has all the bytes (AMD's UD0/UD1
		 * take no ModRM): nestvm hitting the 15-byte limit first is fine.
		 */
		if (!intel_only(b, n, mode) && !(gfull == O_GP && glen == 15))
			why = "host #UD, nestvm accepts";
	} else if (gfull == O_UD && hfull != O_UD) {
		if (must_accept(b, n, mode))
			why = "host executes, nestvm #UD";
	} else if (gfull != O_UD && hfull != O_UD) {
		st->lens_cmp++;
		if (hlen != glen && !vendor_len(b, n, mode))
			why = "length differs";
		else if ((hlen == 16) != (glen == 16) || (hlen == 16 && hfull != gfull))
			why = "15-byte limit differs";
	}
	if (why) {
		st->fails++;
		if (st->fails <= 10 || verbose) {
			printf("# mode %d: %s: host len %d %s, nestvm len %d %s:", mode, why, hlen,
			       oname[hfull], glen, oname[gfull]);
			hex(b, n < 16 ? n : 16);
			printf("\n");
		}
	}
}

/* fixed encodings: the architected outcome in every mode */
static void fixed_checks(void)
{
	static const struct { uint8_t b[20]; int n; int want; int len; const char *what; } fx[] = {
		{ { 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
		    0x01, 0xc0 }, 16, O_GP, 15, "14 prefixes + add: 16 bytes, #GP once 15 are fetched" },
		{ { 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
		    0x01, 0xc0 }, 15, O_OTHER, 15, "13 prefixes + add: 15 bytes, runs" },
		{ { 0x2e, 0x3e, 0x26, 0x64, 0x65, 0x36, 0x66, 0x67, 0xf2, 0xf3, 0x2e, 0x3e,
		    0x81, 0x80, 0, 0, 0, 0, 1, 0 }, 20, O_GP, 15, "prefixes + 81 /0 disp32 imm32: #GP" },
		{ { 0xf0, 0x01, 0xc0 }, 3, O_UD, 3, "LOCK add reg, reg: #UD" },
		{ { 0xf0, 0x89, 0x00 }, 3, O_UD, 3, "LOCK mov [mem], reg: #UD" },
		{ { 0xf0, 0x90 }, 2, O_UD, 2, "LOCK nop: #UD" },
		{ { 0xf0, 0x0f, 0xa3, 0x00 }, 4, O_UD, 4, "LOCK bt [mem], reg: #UD" },
		{ { 0xf0, 0x0f, 0xab, 0xc0 }, 4, O_UD, 4, "LOCK bts reg, reg: #UD" },
		{ { 0xf0, 0x38, 0x00 }, 3, O_UD, 3, "LOCK cmp [mem], reg: #UD" },
		{ { 0xf0, 0xf6, 0x00, 0x01 }, 4, O_UD, 4, "LOCK test [mem], imm: #UD" },
		{ { 0xf0, 0x0f, 0xc7, 0xc8 }, 4, O_UD, 4, "LOCK cmpxchg8b reg: #UD" },
		{ { 0x0f, 0x0b }, 2, O_UD, 2, "UD2" },
		{ { 0x8d, 0xc0 }, 2, O_UD, 2, "LEA with a register operand: #UD" },
		{ { 0x0f, 0xff, 0x00 }, 3, O_UD, 3, "UD0 with ModRM" },
		{ { 0x0f, 0xb9, 0x84, 0x00, 0, 0, 0, 0 }, 8, O_UD, 8, "UD1 with SIB+disp32" },
		{ { 0xc6, 0xc8, 0x00 }, 3, O_UD, 3, "C6 /1: #UD" },
		{ { 0xfe, 0xd0 }, 2, O_UD, 2, "FE /2: #UD" },
		{ { 0xff, 0xf8 }, 2, O_UD, 2, "FF /7: #UD" },
	};
	for (size_t k = 0; k < sizeof(fx) / sizeof(fx[0]); k++) {
		for (int mi = 0; mi < 3; mi++) {
			int mode = mi == 0 ? 64 : mi == 1 ? 32 : 16;
			/* 66 in 16-bit mode changes operand sizes, not lengths here */
			/* the array is zero-padded to 20: enough for the search */
			int full, len = measure(run_g, &g[mi], fx[k].b, 20, &full);
			bool ok = full == fx[k].want && (fx[k].want == O_UD || len == fx[k].len);
			tap_ok(ok, "%s (mode %d: nestvm %s, length %d)", fx[k].what, mode, oname[full], len);
		}
	}
}

int main(void)
{
	const char *e;
	uint64_t seed = 1;
	if ((e = getenv("DEC_SEED")))
		seed = strtoull(e, NULL, 0);
	if ((e = getenv("DEC_ITERS")))
		iters = atoi(e);
	verbose = getenv("DEC_VERBOSE") != NULL;
	rng = seed * 0x9e3779b97f4a7c15ULL | 1;

	if (guest_setup(&g[0], 64) < 0 || guest_setup(&g[1], 32) < 0 || guest_setup(&g[2], 16) < 0) {
		tap_skip_all("cannot create a VM");
		return 0;
	}
	bool host = !getenv("DEC_NOHOST") && host_setup() == 0;
	if (!host)
		printf("# native side unavailable (ptrace or fixed mappings): nestvm-only checks\n");
	if (host) {
		/*
		 * The oracle must measure known lengths in each mode (a kernel
		 * without 32-bit compatibility or LDT support cannot run them).
		 */
		static const uint8_t mov64[16] = { 0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8 };
		static const uint8_t mov32[16] = { 0xb8, 1, 2, 3, 4 };
		struct hctx h64 = { 64 }, h32 = { 32 }, h16 = { 16 };
		int full;
		if (measure(run_h, &h64, mov64, 16, &full) != 10 || full != O_OTHER) {
			printf("# native 64-bit oracle does not work: nestvm-only checks\n");
			host = false;
		}
		if (host && (measure(run_h, &h32, mov32, 16, &full) != 5 || full != O_OTHER))
			host32 = false;
		if (host && host16 && (measure(run_h, &h16, mov32, 16, &full) != 3 || full != O_OTHER))
			host16 = false;
	}
	printf("# seed %llu, %d sequences per mode, native oracle 64/32/16-bit: %s/%s/%s\n",
	       (unsigned long long)seed, iters, host ? "yes" : "no", host && host32 ? "yes" : "no",
	       host && host16 ? "yes" : "no");

	if (getenv("DEC_SPLIT")) {
		/* DEC_SPLIT="bytes" DEC_MODE=m DEC_AT=split: both placements, budget 4 */
		uint8_t x[32];
		int nx = 0;
		for (char *p = getenv("DEC_SPLIT"); *p && nx < 32; ) {
			x[nx++] = (uint8_t)strtoul(p, &p, 16);
			while (*p == ' ')
				p++;
		}
		int mi = atoi(getenv("DEC_MODE") ? getenv("DEC_MODE") : "0");
		int split = atoi(getenv("DEC_AT") ? getenv("DEC_AT") : "1");
		uint64_t at[2] = { GB - 0x1800, GB - 0x1000 - (uint64_t)split };
		for (int k = 0; k < 2; k++) {
			int v;
			uint64_t rr, ic0, ic1;
			nv_get_icount(g[mi].t.v, &ic0);
			guest_run_at(&g[mi], x, nx, at[k], 4, &v, &rr);
			nv_get_icount(g[mi].t.v, &ic1);
			struct kvm_regs r;
			nv_get_regs(g[mi].t.v, &r);
			printf("# at %llx: vec %d rip %llx icount +%llu rcx %llx rsi %llx\n",
			       (unsigned long long)at[k], v, (unsigned long long)rr,
			       (unsigned long long)(ic1 - ic0), (unsigned long long)r.rcx,
			       (unsigned long long)r.rsi);
		}
		return 0;
	}
	if (getenv("DEC_ONE")) {
		/* "bytes|bytes|...": measure each in turn (state carries over) */
		int mi = atoi(getenv("DEC_MODE") ? getenv("DEC_MODE") : "0");
		for (char *p = getenv("DEC_ONE"); *p; ) {
			uint8_t x[32];
			int nx = 0;
			memset(x, 0x90, sizeof(x));
			while (*p && *p != '|' && nx < 32) {
				x[nx++] = (uint8_t)strtoul(p, &p, 16);
				while (*p == ' ')
					p++;
			}
			if (*p == '|')
				p++;
			int full, len = measure(run_g, &g[mi], x, nx < 16 ? 16 : nx, &full);
			printf("# nestvm: length %d, %s\n", len, oname[full]);
		}
		return 0;
	}
	fixed_checks();

	for (int mi = 0; mi < 3; mi++) {
		int mode = mi == 0 ? 64 : mi == 1 ? 32 : 16;
		struct stats st = { 0 };
		for (int it = 0; it < iters; it++) {
			uint8_t b[32];
			int n = gen(b);
			bool host_ok = host && (mode != 16 || host16) && (mode != 32 || host32) &&
				       !host_unsafe(b, n);
			check_seq(mode, &g[mi], b, n, &st, host_ok);
			/* mutate: drop, insert or flip a byte and go again */
			uint8_t m[32];
			memcpy(m, b, n);
			int at = (int)rn((unsigned)n);
			m[at] ^= (uint8_t)(1u << rn(8));
			host_ok = host && (mode != 16 || host16) && (mode != 32 || host32) &&
				  !host_unsafe(m, n);
			check_seq(mode, &g[mi], m, n, &st, host_ok);
		}
		tap_ok(st.fails == 0, "mode %d: %ld sequences, %ld lengths compared with the host, "
		       "%ld #UD on both, %ld page-split runs, %ld failures", mode, st.seqs, st.lens_cmp,
		       st.ud_both, st.splits, st.fails);
	}
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
	for (int mi = 0; mi < 3; mi++)
		vmt_destroy(&g[mi].t);
	return tap_done();
}
