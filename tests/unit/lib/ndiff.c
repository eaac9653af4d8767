/* Native-vs-nestvm differential kit (ndiff.h). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <cpuid.h>

#include "ndiff.h"

/*
 * Host layout (fixed addresses, identical to the guest's):
 *   0xff000  loader page: 64-bit loader, compat loader, in/out state
 *   0x100000 code under test, followed by the saver
 *   0x200000 data window
 */
#define H_LOADER 0xff000ULL
#define H_LOAD64 (H_LOADER + 0x000)
#define H_LOAD32E (H_LOADER + 0x200)	/* 64-bit entry of the compat path */
#define H_IN (H_LOADER + 0x800)		/* struct: r[16], fl */
#define H_OUT (H_LOADER + 0x900)
#define H_HOSTRSP (H_LOADER + 0xa00)
#define H_FARPTR (H_LOADER + 0xa10)
#define H_LOWSP (H_LOADER + 0xa20)
#define H_LOAD32 (H_LOADER + 0xb00)	/* 32-bit code */
#define H_LOWSTACK (H_LOADER + 0xff0)
#define ND_IST_TOP 0x9f000ULL	/* guest: exception stack (64-bit) */

static uint8_t *h_loader, *h_code, *h_data;
static sigjmp_buf h_jb;
static volatile int h_fault_vec;
static struct nd_state h_fault;
static volatile bool h_armed;

struct asmb {
	uint8_t *p;
	int n;
};

static void b1(struct asmb *a, uint8_t v) { a->p[a->n++] = v; }
static void b4(struct asmb *a, uint32_t v) { memcpy(a->p + a->n, &v, 4); a->n += 4; }

/* 64-bit: mov reg, [abs32] / mov [abs32], reg */
static void mov64_abs(struct asmb *a, int reg, uint32_t addr, bool store)
{
	b1(a, 0x48 | ((reg & 8) ? 4 : 0));
	b1(a, store ? 0x89 : 0x8b);
	b1(a, (uint8_t)(((reg & 7) << 3) | 4));
	b1(a, 0x25);
	b4(a, addr);
}

/* 32-bit: mov r32, [abs32] / mov [abs32], r32 */
static void mov32_abs(struct asmb *a, int reg, uint32_t addr, bool store)
{
	b1(a, store ? 0x89 : 0x8b);
	b1(a, (uint8_t)(((reg & 7) << 3) | 5));
	b4(a, addr);
}

static void jmp_rel32(struct asmb *a, uint64_t from_base, uint64_t target)
{
	b1(a, 0xe9);
	b4(a, (uint32_t)(target - (from_base + a->n + 4)));
}

static void build_loaders(void)
{
	struct asmb a = { h_loader + (H_LOAD64 - H_LOADER), 0 };
	/* push rbx, rbp, r12-r15 */
	b1(&a, 0x53); b1(&a, 0x55);
	b1(&a, 0x41); b1(&a, 0x54); b1(&a, 0x41); b1(&a, 0x55);
	b1(&a, 0x41); b1(&a, 0x56); b1(&a, 0x41); b1(&a, 0x57);
	mov64_abs(&a, 4, H_HOSTRSP, true);
	/* push qword [IN.fl]; popfq */
	b1(&a, 0xff); b1(&a, 0x34); b1(&a, 0x25); b4(&a, H_IN + 128);
	b1(&a, 0x9d);
	for (int r = 0; r < 16; r++)
		mov64_abs(&a, r, (uint32_t)(H_IN + 8 * r), false);
	jmp_rel32(&a, H_LOAD64, ND_CODE);

	/* compat path, 64-bit part: switch to a low stack, far call */
	a = (struct asmb){ h_loader + (H_LOAD32E - H_LOADER), 0 };
	b1(&a, 0x53); b1(&a, 0x55);
	b1(&a, 0x41); b1(&a, 0x54); b1(&a, 0x41); b1(&a, 0x55);
	b1(&a, 0x41); b1(&a, 0x56); b1(&a, 0x41); b1(&a, 0x57);
	mov64_abs(&a, 4, H_HOSTRSP, true);
	b1(&a, 0xbc); b4(&a, H_LOWSTACK);		/* mov esp, imm32 */
	b1(&a, 0xff); b1(&a, 0x1c); b1(&a, 0x25); b4(&a, H_FARPTR);	/* call far m16:32 */
	mov64_abs(&a, 4, H_HOSTRSP, false);
	b1(&a, 0xfc);					/* cld */
	b1(&a, 0x41); b1(&a, 0x5f); b1(&a, 0x41); b1(&a, 0x5e);
	b1(&a, 0x41); b1(&a, 0x5d); b1(&a, 0x41); b1(&a, 0x5c);
	b1(&a, 0x5d); b1(&a, 0x5b); b1(&a, 0xc3);
	uint32_t off = (uint32_t)H_LOAD32;
	uint16_t sel = 0x23;
	memcpy(h_loader + (H_FARPTR - H_LOADER), &off, 4);
	memcpy(h_loader + (H_FARPTR - H_LOADER) + 4, &sel, 2);

	/* compat path, 32-bit part: flat data segments, load state, go */
	a = (struct asmb){ h_loader + (H_LOAD32 - H_LOADER), 0 };
	b1(&a, 0x6a); b1(&a, 0x2b); b1(&a, 0x1f);	/* push 0x2b; pop ds */
	b1(&a, 0x6a); b1(&a, 0x2b); b1(&a, 0x07);	/* push 0x2b; pop es */
	mov32_abs(&a, 4, H_LOWSP, true);
	b1(&a, 0xff); b1(&a, 0x35); b4(&a, H_IN + 128);	/* push dword [IN.fl] */
	b1(&a, 0x9d);
	for (int r = 0; r < 8; r++)
		mov32_abs(&a, r, (uint32_t)(H_IN + 8 * r), false);
	jmp_rel32(&a, H_LOAD32, ND_CODE);
}

/* the saver after the code under test */
static int build_saver(uint8_t *p, int mode)
{
	struct asmb a = { p, 0 };
	if (mode == 64) {
		for (int r = 0; r < 16; r++)
			mov64_abs(&a, r, (uint32_t)(H_OUT + 8 * r), true);
		mov64_abs(&a, 4, H_HOSTRSP, false);
		b1(&a, 0x9c);					/* pushfq */
		b1(&a, 0x8f); b1(&a, 0x04); b1(&a, 0x25); b4(&a, H_OUT + 128);
		b1(&a, 0xfc);					/* cld */
		b1(&a, 0x41); b1(&a, 0x5f); b1(&a, 0x41); b1(&a, 0x5e);
		b1(&a, 0x41); b1(&a, 0x5d); b1(&a, 0x41); b1(&a, 0x5c);
		b1(&a, 0x5d); b1(&a, 0x5b); b1(&a, 0xc3);
	} else {
		for (int r = 0; r < 8; r++)
			mov32_abs(&a, r, (uint32_t)(H_OUT + 8 * r), true);
		mov32_abs(&a, 4, H_LOWSP, false);
		b1(&a, 0x9c);					/* pushfd */
		b1(&a, 0x8f); b1(&a, 0x05); b4(&a, H_OUT + 128);
		b1(&a, 0xcb);					/* retf */
	}
	return a.n;
}

static const int greg_of[16] = {
	REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
	REG_R8, REG_R9, REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15,
};

static void h_sig(int sig, siginfo_t *si, void *uv)
{
	ucontext_t *uc = uv;
	if (!h_armed) {
		signal(sig, SIG_DFL);
		return;
	}
	for (int r = 0; r < 16; r++)
		h_fault.r[r] = (uint64_t)uc->uc_mcontext.gregs[greg_of[r]];
	h_fault.rip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
	h_fault.fl = (uint64_t)uc->uc_mcontext.gregs[REG_EFL];
	h_fault_vec = (int)uc->uc_mcontext.gregs[REG_TRAPNO];
	h_fault.ec = (uint32_t)uc->uc_mcontext.gregs[REG_ERR];
	h_fault.cr2 = (uint64_t)(uintptr_t)si->si_addr;
	siglongjmp(h_jb, 1);
}

static void host_setup(struct nd *d)
{
	void *p = mmap((void *)H_LOADER, 0x3000, PROT_READ | PROT_WRITE | PROT_EXEC,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p != (void *)H_LOADER) {
		fprintf(stderr, "ndiff: cannot map host code at %#llx\n", H_LOADER);
		return;
	}
	void *q = mmap((void *)ND_DATA, ND_DATA_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (q != (void *)ND_DATA) {
		fprintf(stderr, "ndiff: cannot map host data at %#llx\n", ND_DATA);
		munmap(p, 0x3000);
		return;
	}
	/* the guard after the window: non-present like the guest's */
	void *g = mmap((void *)ND_GUARD, 0x10000, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (g != (void *)ND_GUARD)
		fprintf(stderr, "ndiff: no guard after the data window\n");
	g = mmap((void *)ND_GUARD_LO, 0x10000, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (g != (void *)ND_GUARD_LO)
		fprintf(stderr, "ndiff: no guard before the data window\n");
	/* GS-relative operands: the kernel must allow WRGSBASE (HWCAP2_FSGSBASE) */
	d->gs = getauxval(AT_HWCAP2) & 2;
	h_loader = p;
	h_code = (uint8_t *)p + 0x1000;
	h_data = q;
	build_loaders();

	static uint8_t altstack[65536];
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
	sigaltstack(&ss, NULL);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = h_sig;
	/* no SA_RESTART games: we leave by siglongjmp; NODEFER keeps it armed */
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGFPE, &sa, NULL);
	sigaction(SIGILL, &sa, NULL);
	sigaction(SIGTRAP, &sa, NULL);
	d->host64 = true;

	/* compatibility mode: DAA (valid only there) must run */
	static const uint8_t probe[] = { 0x27 };
	struct nd_state in, out;
	memset(&in, 0, sizeof(in));
	in.r[4] = ND_DATA + 0x8000;
	d->compat = true;
	if (nd_run_host(d, 32, probe, 1, &in, &out) < 0 || out.vec != -1) {
		fprintf(stderr, "ndiff: 32-bit compatibility mode unavailable (vector %d)\n", out.vec);
		d->compat = false;
	}
}

static void host_features(struct nd_host *f)
{
	unsigned a = 0, b = 0, c = 0, dd = 0;
	if (__get_cpuid(1, &a, &b, &c, &dd)) {
		f->movbe = c & (1u << 22);
		f->popcnt = c & (1u << 23);
		f->cx16 = c & (1u << 13);
		f->sse42 = c & (1u << 20);
	}
	if (__get_cpuid_count(7, 0, &a, &b, &c, &dd)) {
		f->bmi1 = b & (1u << 3);
		f->bmi2 = b & (1u << 8);
		f->adx = b & (1u << 19);
	}
	if (__get_cpuid(0x80000001, &a, &b, &c, &dd)) {
		f->lzcnt = c & (1u << 5);
		f->lahf64 = c & 1;
	}
	__get_cpuid(0, &a, &b, &c, &dd);
	f->amd = b == 0x68747541;	/* "Auth" */
}

int nd_init(struct nd *d)
{
	memset(d, 0, sizeof(*d));
	if (vmt_init_mode(&d->g64, NV_ENGINE_EMU, 64 << 20, 64) < 0)
		return -1;
	d->guest32 = vmt_init_mode(&d->g32, NV_ENGINE_EMU, 64 << 20, 32) == 0;
	if (d->guest32) {
		/*
		 * 32-bit guest: paging (4 KiB pages, identity over 0..4 MiB) with
		 * the same non-present guard after the window as everywhere.
		 */
		struct vmt *t = &d->g32;
		uint32_t pde = 0xc000 | 3;
		memcpy(vmt_ptr(t, 0xb000), &pde, 4);
		for (uint32_t k = 0; k < 1024; k++) {
			uint32_t pa = k * 0x1000;
			bool hole = (pa >= ND_GUARD && pa < ND_GUARD + 0x10000) ||
				    (pa >= ND_GUARD_LO && pa < ND_DATA);
			uint32_t e = hole ? 0 : pa | 3;
			memcpy(vmt_ptr(t, 0xc000 + k * 4), &e, 4);
		}
		struct kvm_sregs sr;
		nv_get_sregs(t->v, &sr);
		sr.cr3 = 0xb000;
		sr.cr0 |= 0x80000000ULL;
		if (nv_set_sregs(t->v, &sr) < 0)
			d->guest32 = false;
	}
	/*
	 * 64-bit guest: 4 KiB pages for 0..4 MiB, the guards absent.  vmt's
	 * tables are at 0x1000-0x3fff; these go at 0xa000 (2..4 MiB) and
	 * 0xd000 (0..2 MiB).
	 */
	for (uint64_t k = 0; k < 1024; k++) {
		uint64_t pa = k * 0x1000;
		bool hole = pa >= ND_GUARD || (pa >= ND_GUARD_LO && pa < ND_DATA);
		uint64_t e = hole ? 0 : (pa | 3);
		uint64_t at = k < 512 ? 0xd000 + k * 8 : 0xa000 + (k - 512) * 8;
		memcpy(vmt_ptr(&d->g64, at), &e, 8);
	}
	uint64_t pde = 0xd000 | 3;
	memcpy(vmt_ptr(&d->g64, 0x3000), &pde, 8);
	pde = 0xa000 | 3;
	memcpy(vmt_ptr(&d->g64, 0x3000 + 8), &pde, 8);
	/*
	 * Every vector on IST1 (TSS at linear 0, vmt's TR): a fault caused by a
	 * bad RSP is delivered instead of escalating, and frames stay out of
	 * the data window.
	 */
	uint64_t ist = ND_IST_TOP;
	memcpy(vmt_ptr(&d->g64, 0x24), &ist, 8);
	for (int v = 0; v < 256; v++)
		*(uint8_t *)vmt_ptr(&d->g64, VMT_IDT + v * 16 + 4) = 1;
	host_features(&d->feat);
	host_setup(d);
	if (d->gs) {
		struct kvm_sregs sr;
		nv_get_sregs(d->g64.v, &sr);
		sr.gs.base = ND_GS_BASE;
		if (nv_set_sregs(d->g64.v, &sr) < 0)
			d->gs = false;
	}
	return 0;
}

void nd_fini(struct nd *d)
{
	vmt_destroy(&d->g64);
	if (d->guest32)
		vmt_destroy(&d->g32);
	if (h_loader) {
		h_armed = false;
		munmap(h_loader, 0x3000);
		munmap(h_data, ND_DATA_SIZE);
		munmap((void *)ND_GUARD, 0x10000);
		munmap((void *)ND_GUARD_LO, 0x10000);
		h_loader = h_code = h_data = NULL;
	}
}

uint8_t *nd_host_data(struct nd *d)
{
	(void)d;
	return h_data;
}

uint8_t *nd_guest_data(struct nd *d, int mode)
{
	return vmt_ptr(mode == 32 ? &d->g32 : &d->g64, ND_DATA);
}

int nd_run_host(struct nd *d, int mode, const uint8_t *code, int len,
		const struct nd_state *in, struct nd_state *out)
{
	if (!h_loader || (mode == 32 && !d->compat) || len > ND_CODE_MAX)
		return -1;
	memcpy(h_code, code, len);
	int sl = build_saver(h_code + len, mode);
	(void)sl;
	memcpy(h_loader + (H_IN - H_LOADER), in->r, 128);
	uint64_t fl = (in->fl & (ND_FLAGS_ARITH | ND_DF)) | 0x202;
	memcpy(h_loader + (H_IN - H_LOADER) + 128, &fl, 8);
	memset(h_loader + (H_OUT - H_LOADER), 0, 136);
	d->host_runs++;
	bool gs = d->gs && mode == 64;
	h_armed = true;
	if (sigsetjmp(h_jb, 0)) {
		h_armed = false;
		if (gs)
			__asm__ volatile("wrgsbase %0" : : "r"(0ULL));
		*out = h_fault;
		out->vec = h_fault_vec;
		if (mode == 32) {
			for (int r = 0; r < 16; r++)
				out->r[r] = r < 8 ? (uint32_t)out->r[r] : 0;
			out->rip &= 0xffffffff;
		}
		/* the loader and saver set DF=0 around the code under test */
		return 0;
	}
	if (gs)
		__asm__ volatile("wrgsbase %0" : : "r"(ND_GS_BASE));
	((void (*)(void))(uintptr_t)(mode == 64 ? H_LOAD64 : H_LOAD32E))();
	h_armed = false;
	if (gs)
		__asm__ volatile("wrgsbase %0" : : "r"(0ULL));
	memcpy(out->r, h_loader + (H_OUT - H_LOADER), 128);
	memcpy(&out->fl, h_loader + (H_OUT - H_LOADER) + 128, 8);
	out->rip = ND_CODE + len;
	out->vec = -1;
	return 0;
}

static uint64_t rd64(struct vmt *t, uint64_t a)
{
	uint64_t v;
	memcpy(&v, vmt_ptr(t, a), 8);
	return v;
}

static uint32_t rd32(struct vmt *t, uint64_t a)
{
	uint32_t v;
	memcpy(&v, vmt_ptr(t, a), 4);
	return v;
}

static bool has_ec(int v)
{
	return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21;
}

int nd_run_guest(struct nd *d, int mode, const uint8_t *code, int len,
		 const struct nd_state *in, struct nd_state *out)
{
	struct vmt *t = mode == 32 ? &d->g32 : &d->g64;
	if ((mode == 32 && !d->guest32) || len + 1 > ND_CODE_MAX)
		return -1;
	uint8_t buf[ND_CODE_MAX + 1];
	memcpy(buf, code, len);
	buf[len] = 0xf4;
	vmt_write(t, ND_CODE, buf, len + 1);
	struct kvm_regs r;
	memset(&r, 0, sizeof(r));
	const uint64_t *s = in->r;
	uint64_t m = mode == 32 ? 0xffffffffULL : ~0ULL;
	r.rax = s[0] & m; r.rcx = s[1] & m; r.rdx = s[2] & m; r.rbx = s[3] & m;
	r.rsp = s[4] & m; r.rbp = s[5] & m; r.rsi = s[6] & m; r.rdi = s[7] & m;
	if (mode == 64) {
		r.r8 = s[8]; r.r9 = s[9]; r.r10 = s[10]; r.r11 = s[11];
		r.r12 = s[12]; r.r13 = s[13]; r.r14 = s[14]; r.r15 = s[15];
	}
	/* IF=1 like user mode, so PUSHF images agree (no interrupt sources exist) */
	r.rflags = (in->fl & (ND_FLAGS_ARITH | ND_DF)) | 0x202;
	d->guest_runs++;
	int why = vmt_run(t, ND_CODE, &r);
	if (why < 0)
		return -1;
	uint64_t o[16] = { r.rax, r.rcx, r.rdx, r.rbx, r.rsp, r.rbp, r.rsi, r.rdi,
			   r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15 };
	memcpy(out->r, o, sizeof(o));
	out->fl = r.rflags;
	out->rip = r.rip - 1;	/* after HLT */
	out->vec = vmt_exception(t);
	if (why != KVM_EXIT_HLT)
		out->vec = 256 + why;	/* not a clean end: never matches */
	out->cr2 = 0;
	out->ec = 0;
	if (out->vec >= 0 && out->vec < 256) {
		uint64_t sp = r.rsp + (has_ec(out->vec) ? (mode == 64 ? 8 : 4) : 0);
		if (has_ec(out->vec))
			out->ec = mode == 64 ? (uint32_t)rd64(t, r.rsp) : rd32(t, r.rsp);
		if (out->vec == 14) {
			struct kvm_sregs sr;
			nv_get_sregs(t->v, &sr);
			out->cr2 = sr.cr2;
		}
		if (mode == 64) {
			out->rip = rd64(t, sp);
			out->fl = rd64(t, sp + 16);
			out->r[4] = rd64(t, sp + 24);
		} else {
			out->rip = rd32(t, sp);
			out->fl = rd32(t, sp + 8);
			out->r[4] = sp + 12;	/* same privilege: no SS:ESP pushed */
		}
	}
	return 0;
}

void nd_guest_frame_range(const struct nd_state *out, int mode, uint64_t *lo, uint64_t *hi)
{
	/* 64-bit: on the IST stack, outside the window; 32-bit: 3 or 4 dwords */
	uint64_t top = out->r[4];
	if (mode == 64) {
		*hi = *lo = 0;
	} else {
		*hi = top;
		*lo = top - 16;
	}
}

uint64_t nd_value(uint64_t *s)
{
	uint64_t r = nd_rand(s);
	switch (r & 15) {
	case 0: return 0;
	case 1: return 1;
	case 2: return ~0ULL;
	case 3: return 1ULL << (nd_rand(s) & 63);
	case 4: return ~(1ULL << (nd_rand(s) & 63));
	case 5: return nd_rand(s) & 0xff;
	case 6: return (uint64_t)(int64_t)(int8_t)nd_rand(s);
	case 7: { int k = (int)(nd_rand(s) % 4); static const uint64_t e[4] = {
		0x80ULL, 0x8000ULL, 0x80000000ULL, 0x8000000000000000ULL };
		return e[k] - (nd_rand(s) & 1); }
	case 8: return nd_rand(s) & 0xffff;
	case 9: return nd_rand(s) & 0xffffffff;
	case 10: return (nd_rand(s) & 0xffffffff00000000ULL) | (nd_rand(s) & 0xff);
	default: return nd_rand(s);
	}
}
