/*
 * Segment loads and descriptor queries against a reference model written
 * from the SDM (Vol. 2 "MOV", "LAR", "LSL", "VERR/VERW"): thousands of
 * pseudo-random descriptors and selectors (GDT and LDT), at CPL 0 and 3,
 * in 64-bit mode.  The exception vector and error code (or ZF and the
 * result) must match the model exactly; the emulator must survive any
 * garbage.
 */
#include "sys.h"

#define FIRST 0x60
#define LAST 0x1d8
#define N 3000

static uint64_t ldt[32];
static uint64_t seed = 0x243f6a8885a308d3ULL;
static uint8_t ustack[4096] __attribute__((aligned(4096)));

static uint64_t rnd(void)
{
	seed ^= seed << 13;
	seed ^= seed >> 7;
	seed ^= seed << 17;
	return seed;
}

static uint64_t rnd_desc(void)
{
	uint64_t d = rnd();
	/* bias: mostly present, S = 1, sometimes system types */
	if (rnd() % 4)
		d |= 1ULL << 47;
	if (rnd() % 3)
		d |= 1ULL << 44;
	return d;
}

static uint64_t get_desc(uint16_t sel, bool *ok)
{
	uint32_t idx = sel & 0xfff8;
	if (sel & 4) {
		*ok = idx + 7 < sizeof(ldt);
		return *ok ? ldt[idx / 8] : 0;
	}
	*ok = idx + 7 <= 0x1ff;
	return *ok ? gdt64[idx / 8] : 0;
}

/* MOV DS (ES, FS, GS): the vector, or -1; *ec the error code */
static int model_load(uint16_t sel, int cpl, uint32_t *ec)
{
	bool ok;
	*ec = sel & 0xfffc;
	if ((sel & 0xfffc) == 0)
		return -1;
	uint64_t d = get_desc(sel, &ok);
	if (!ok)
		return 13;
	int type = (d >> 40) & 0xf, s = (d >> 44) & 1, dpl = (d >> 45) & 3, p = (d >> 47) & 1;
	int rpl = sel & 3;
	bool code = type & 8, conf = code && (type & 4), readable = !code || (type & 2);
	if (!s || !readable)
		return 13;
	if (!conf && (rpl > dpl || cpl > dpl))
		return 13;
	if (!p)
		return 11;
	return -1;
}

/* LAR / LSL / VERR / VERW: ZF */
static bool model_visible(uint16_t sel, int cpl, uint64_t *d)
{
	bool ok;
	if ((sel & 0xfffc) == 0)
		return false;
	*d = get_desc(sel, &ok);
	if (!ok)
		return false;
	int type = (*d >> 40) & 0xf, s = (*d >> 44) & 1, dpl = (*d >> 45) & 3;
	if (s && (type & 8) && (type & 4))
		return true;
	return dpl >= cpl && dpl >= (sel & 3);
}

static bool model_lar(uint16_t sel, int cpl)
{
	uint64_t d;
	if (!model_visible(sel, cpl, &d))
		return false;
	if ((d >> 44) & 1)
		return true;
	int type = (d >> 40) & 0xf;
	return type == 2 || type == 9 || type == 0xb || type == 0xc;	/* IA-32e mode */
}

static bool model_lsl(uint16_t sel, int cpl)
{
	uint64_t d;
	if (!model_visible(sel, cpl, &d))
		return false;
	if ((d >> 44) & 1)
		return true;
	int type = (d >> 40) & 0xf;
	return type == 2 || type == 9 || type == 0xb;
}

static int model_verr(uint16_t sel, int cpl, bool w)
{
	uint64_t d;
	if (!model_visible(sel, cpl, &d) || !((d >> 44) & 1))
		return false;
	int type = (d >> 40) & 0xf;
	if (w)
		return !(type & 8) && (type & 2);
	return !(type & 8) || (type & 2);
}

static uint64_t lsl_value(uint64_t d)
{
	uint32_t lim = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000));
	if (d & (1ULL << 55))
		lim = (lim << 12) | 0xfff;
	return lim;
}

/* ring 3: load DS from rdi, report vector through exc_last; then LAR etc. */
asm(".pushsection .text\n\t.balign 4096\n"
"u_fz:\n"
"u_load:\n\tmovw %di, %ds\n\tmovl $0x43, %eax\n\tmovw %ax, %ds\n\txorl %eax, %eax\n\tint $0x81\n"
"u_query:\n\t"
	"xorl %eax, %eax\n\t"
	"movq $-1, %rbx\n\t"
	"larq %rdi, %rbx\n\t"
	"setz %al\n\t"
	"movq $-1, %rcx\n\t"
	"lslq %rdi, %rcx\n\t"
	"setz %dl\n\t"
	"movzbl %dl, %edx\n\t"
	"shll $1, %edx\n\t"
	"orl %edx, %eax\n\t"
	"verr %di\n\t"
	"setz %dl\n\t"
	"movzbl %dl, %edx\n\t"
	"shll $2, %edx\n\t"
	"orl %edx, %eax\n\t"
	"verw %di\n\t"
	"setz %dl\n\t"
	"movzbl %dl, %edx\n\t"
	"shll $3, %edx\n\t"
	"orl %edx, %eax\n\t"
	"int $0x81\n"
	".balign 4096\n\t"
	".popsection");
extern char u_fz[], u_load[], u_query[];

static int load0(uint16_t sel)
{
	exc_clear();
	asm volatile(ASM_TRY("1f") "movw %0, %%ds\n1:\tmovw %1, %%ds" :: "r"(sel), "r"((uint16_t)SEL_KDATA)
		     : "memory");
	return exc_last.vector;
}

static int query0(uint16_t sel, uint64_t *lar, uint64_t *lsl)
{
	uint64_t a = ~0ULL, b = ~0ULL;
	bool z1, z2, z3, z4;
	asm volatile("lar %4, %0\n\tsetz %2\n\tlsl %4, %1\n\tsetz %3"
		     : "+&r"(a), "+&r"(b), "=&r"(z1), "=&r"(z2) : "r"((uint64_t)sel));
	asm volatile("verr %2\n\tsetz %0\n\tverw %2\n\tsetz %1" : "=&r"(z3), "=&r"(z4) : "r"(sel));
	*lar = a;
	*lsl = b;
	return z1 | z2 << 1 | z3 << 2 | z4 << 3;
}

int main(int argc, char **argv)
{
	int bad_load = 0, bad_query = 0, bad_val = 0, bad_user = 0;

	set_user((uint64_t)(uintptr_t)u_fz);
	set_user((uint64_t)(uintptr_t)ustack);
	gdt_set16(FIRST, sys_desc64_lo((uint64_t)(uintptr_t)ldt, sizeof(ldt) - 1, 2, 0), 0);
	asm volatile("lldt %w0" :: "r"((uint16_t)FIRST) : "memory");
	for (int n = 0; n < N; n++) {
		for (int s = FIRST + 16; s <= LAST; s += 8)
			gdt_set(s, rnd_desc());
		for (unsigned k = 0; k < sizeof(ldt) / 8; k++)
			ldt[k] = rnd_desc();
		for (int t = 0; t < 8; t++) {
			uint16_t sel = (uint16_t)(rnd() & 0x1ff);
			if (!(rnd() % 3))
				sel = (uint16_t)((FIRST + 16 + (rnd() % 46) * 8) | (rnd() & 3));
			if ((sel & 4) && (sel & 0xfff8) >= sizeof(ldt) && (rnd() & 1))
				sel &= 0xff;
			uint32_t ec;
			int want = model_load(sel, 0, &ec);
			int got = load0(sel);
			if (got != want || (want > 0 && exc_last.error_code != ec)) {
				if (bad_load++ < 5)
					diag("MOV DS %#x: want %d/%#x got %d/%#llx (desc %#llx)", sel, want, ec, got,
					     (unsigned long long)exc_last.error_code,
					     (unsigned long long)get_desc(sel, &(bool){0}));
			}
			uint64_t lar, lsl;
			int z = query0(sel, &lar, &lsl);
			int wz = model_lar(sel, 0) | model_lsl(sel, 0) << 1 | model_verr(sel, 0, false) << 2 |
				 model_verr(sel, 0, true) << 3;
			if (z != wz && bad_query++ < 5)
				diag("LAR/LSL/VERR/VERW %#x at CPL 0: want %#x got %#x", sel, wz, z);
			bool ok;
			uint64_t d = get_desc(sel, &ok);
			if (z == wz && (z & 1) && lar != ((d >> 32) & 0x00f0ff00ULL) && bad_val++ < 5)
				diag("LAR %#x value %#llx", sel, (unsigned long long)lar);
			if (z == wz && (z & 2) && lsl != lsl_value(d) && bad_val++ < 5)
				diag("LSL %#x value %#llx", sel, (unsigned long long)lsl);
			if (t < 2) {
				want = model_load(sel, 3, &ec);
				exc_clear();
				run_user64(u_load, sel, ustack + sizeof(ustack));
				got = exc_last.vector;
				if ((got != want || (want > 0 && exc_last.error_code != ec)) && bad_user++ < 5)
					diag("CPL 3 MOV DS %#x: want %d got %d", sel, want, got);
				wz = model_lar(sel, 3) | model_lsl(sel, 3) << 1 | model_verr(sel, 3, false) << 2 |
				     model_verr(sel, 3, true) << 3;
				exc_clear();
				z = (int)run_user64(u_query, sel, ustack + sizeof(ustack));
				if (z != wz && bad_user++ < 5)
					diag("CPL 3 LAR/LSL/VERR/VERW %#x: want %#x got %#x", sel, wz, z);
			}
		}
	}
	asm volatile("lldt %w0" :: "r"((uint16_t)0) : "memory");
	report(bad_load == 0, "MOV DS at CPL 0 matches the model (%d mismatches)", bad_load);
	report(bad_query == 0, "LAR/LSL/VERR/VERW at CPL 0 match the model (%d)", bad_query);
	report(bad_val == 0, "LAR/LSL values match (%d)", bad_val);
	report(bad_user == 0, "CPL 3 loads and queries match the model (%d)", bad_user);
	return report_summary();
}
