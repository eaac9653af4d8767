/*
 * x87 exceptions: #NM under CR0.TS / CR0.EM / CR0.MP (SDM Vol. 3 Table 2-2),
 * #MF delivery for a pending unmasked exception on the next waiting
 * instruction (SDM Vol. 1 8.6) with the FPU state the handler sees (FSW,
 * FIP, FCS, FOP, FDP, FDS), which instructions wait, and the EFLAGS of
 * FCOMI/FUCOMI.
 */
#include "libguest.h"
#include "util.h"

#define CR0_MP (1ULL << 1)
#define CR0_EM (1ULL << 2)
#define CR0_TS (1ULL << 3)
#define CR0_NE (1ULL << 5)

struct env32 {
	uint32_t cw, sw, tw, fip, fcs_fop, fdp, fds;
} __attribute__((packed));

static uint64_t cr0_base;

static void set_cr0_bits(uint64_t set, uint64_t clear)
{
	write_cr0((cr0_base | set) & ~clear);
}

/* run one instruction (given as asm text) and report the exception, or -1 */
#define TRY(insn, rip_out)                                                       \
	({                                                                       \
		exc_clear();                                                     \
		asm volatile(ASM_TRY("1f") "lea 2f(%%rip), %0\n\t"               \
			     "2: " insn "\n\t"                                   \
			     "1:" : "=&r"(rip_out) :: "memory", "cc");           \
		exc_last.vector;                                                 \
	})

static void test_nm(void)
{
	uint64_t rip;
	int v;

	asm volatile("fninit");
	set_cr0_bits(CR0_TS | CR0_MP, CR0_EM);
	v = TRY("fninit", rip);
	report(v == 7 && exc_last.rip == rip, "TS=1: FNINIT (no-wait) raises #NM at the instruction (vector %d)", v);
	v = TRY("fld1", rip);
	report(v == 7 && exc_last.rip == rip, "TS=1: FLD1 raises #NM (vector %d)", v);
	v = TRY("fnstsw %%ax", rip);
	report(v == 7, "TS=1: FNSTSW AX raises #NM (vector %d)", v);
	v = TRY("fwait", rip);
	report(v == 7 && exc_last.rip == rip, "TS=1 MP=1: FWAIT raises #NM (vector %d)", v);
	set_cr0_bits(CR0_TS, CR0_MP | CR0_EM);
	v = TRY("fwait", rip);
	report(v == -1, "TS=1 MP=0: FWAIT does not fault (vector %d)", v);
	v = TRY("fadd %%st(0), %%st(0)", rip);
	report(v == 7, "TS=1 MP=0: FADD still raises #NM (vector %d)", v);
	/* a reserved ESC encoding is an FPU escape first: #NM, else #UD */
	v = TRY(".byte 0xd9, 0xd1", rip);
	report(v == 7, "TS=1: reserved D9 D1 raises #NM (vector %d)", v);
	asm volatile("clts");
	v = TRY(".byte 0xd9, 0xd1", rip);
	report(v == 6, "TS=0: reserved D9 D1 raises #UD (vector %d)", v);
	v = TRY("fninit", rip);
	report(v == -1, "after CLTS: FNINIT executes (vector %d)", v);

	set_cr0_bits(CR0_EM, CR0_TS | CR0_MP);
	v = TRY("fld1", rip);
	report(v == 7, "EM=1: FLD1 raises #NM (vector %d)", v);
	v = TRY("fnstcw -8(%%rsp)", rip);
	report(v == 7, "EM=1: FNSTCW raises #NM (vector %d)", v);
	v = TRY("fwait", rip);
	report(v == -1, "EM=1 MP=0: FWAIT does not fault (vector %d)", v);
	set_cr0_bits(CR0_EM | CR0_MP, CR0_TS);
	v = TRY("fwait", rip);
	report(v == -1, "EM=1 MP=1 TS=0: FWAIT does not fault (vector %d)", v);
	set_cr0_bits(0, CR0_EM | CR0_TS);
}

/* set up a pending unmasked zero-divide: 1 / 0 with ZM clear */
static uint64_t make_pending_zdiv(void)
{
	uint64_t rip;
	uint16_t cw = 0x37b;
	asm volatile("fninit\n\t"
		     "fldcw %1\n\t"
		     "fld1\n\t"
		     "fldz\n\t"
		     "lea 1f(%%rip), %0\n\t"
		     "1: .byte 0xde, 0xf9\n\t"	/* FDIVP ST(1), ST: 1 / 0 */
		     : "=r"(rip) : "m"(cw) : "memory");
	return rip;
}

static void test_mf(void)
{
	uint64_t rip, fdiv_rip;
	uint16_t sw;
	struct env32 env;
	int v;

	set_cr0_bits(CR0_NE | CR0_MP, CR0_EM | CR0_TS);

	/* the faulting FDIV itself completes; FNSTSW does not wait */
	fdiv_rip = make_pending_zdiv();
	v = TRY("fnstsw %%ax", rip);
	asm volatile("fnstsw %0" : "=m"(sw));
	report(v == -1, "pending #MF: FNSTSW does not fault (vector %d)", v);
	report((sw & 0x80ff) == 0x8084, "FSW: ZE, ES and B set (%#x)", sw);
	v = TRY("fwait", rip);
	report(v == 16 && exc_last.rip == rip, "FWAIT raises #MF at the FWAIT (vector %d)", v);
	report(exc_last.error_code == 0, "#MF has no error code");
	asm volatile("fnstenv %0" : "=m"(env));
	CHECK_EQ(env.fip, (uint32_t)fdiv_rip, "FIP is the FDIVP that raised the exception");
	CHECK_EQ(env.fcs_fop & 0xffff, SEL_KCODE64, "FCS is the code selector");
	CHECK_EQ(env.fcs_fop >> 16, 0x6f9, "FOP is DE F9 (FDIVP)");
	CHECK_EQ((env.sw >> 11) & 7, 6, "TOP: the unmasked ZE suppressed the FDIVP's pop");

	/* the next waiting FP instruction faults before it executes */
	make_pending_zdiv();
	v = TRY("fld1", rip);
	asm volatile("fnstsw %0" : "=m"(sw));
	report(v == 16 && exc_last.rip == rip, "FLD1 raises #MF at the FLD1 (vector %d)", v);
	CHECK_EQ((sw >> 11) & 7, 6, "the FLD1 did not push");
	v = TRY("fldcw -8(%%rsp)", rip);
	report(v == 16, "FLDCW waits: #MF (vector %d)", v);
	v = TRY("fnstcw -8(%%rsp)", rip);
	report(v == -1, "FNSTCW does not wait (vector %d)", v);
	asm volatile("fnclex");
	v = TRY("fwait", rip);
	report(v == -1, "after FNCLEX: FWAIT does not fault (vector %d)", v);

	/* memory operand: FDP/FDS of the faulting instruction */
	static double zero = 0.0;
	uint16_t cw = 0x37b;
	asm volatile("fninit\n\tfldcw %2\n\tfld1\n\tlea 1f(%%rip), %0\n\t1: fdivl %1"
		     : "=r"(fdiv_rip) : "m"(zero), "m"(cw) : "memory");
	v = TRY("fwait", rip);
	uint16_t cw_after;
	asm volatile("fnstenv %0\n\tfnstcw %1" : "=m"(env), "=m"(cw_after));
	report(v == 16, "FDIV m64 by zero: #MF on FWAIT (vector %d)", v);
	CHECK_EQ(env.fip, (uint32_t)fdiv_rip, "FIP is the FDIV m64");
	CHECK_EQ(env.fcs_fop >> 16, 0x435, "FOP is DC 35 (FDIV m64, RIP-relative)");
	CHECK_EQ(env.fdp, (uint32_t)(uintptr_t)&zero, "FDP is the operand's offset");
	CHECK_EQ(env.fds & 0xffff, SEL_KDATA, "FDS is the data selector");
	CHECK_EQ(env.cw, 0xffff037b, "FNSTENV stored FCW (reserved upper half ones)");
	CHECK_EQ(cw_after, 0x37f, "FNSTENV then masked all exceptions");
	v = TRY("fwait", rip);
	report(v == -1, "after FNSTENV the exception is no longer pending (vector %d)", v);

	/* unmasking an exception already flagged makes it pending */
	asm volatile("fninit\n\tfld1\n\tfldz\n\t.byte 0xde, 0xf9\n\tfstp %st(0)");
	cw = 0x37b;
	exc_clear();
	uint64_t at;
	asm volatile(ASM_TRY("1f") "fldcw %1\n\tlea 2f(%%rip), %0\n\t2: fwait\n\t1:"
		     : "=&r"(at) : "m"(cw) : "memory");
	report(exc_last.vector == 16 && exc_last.rip == at,
	       "FLDCW unmasking a set ZE: #MF on the next FWAIT, not on FLDCW (vector %d)",
	       exc_last.vector);
	asm volatile("fninit");

	/* CR0.NE = 0: nestvm still raises #MF (docs/cpu.md: no FERR#/IRQ 13) */
	set_cr0_bits(0, CR0_NE);
	make_pending_zdiv();
	v = TRY("fwait", rip);
	report(v == 16, "CR0.NE=0: #MF on FWAIT (vector %d)", v);
	asm volatile("fninit");
	set_cr0_bits(CR0_NE, 0);
}

static uint64_t fcomi_flags(const char *which, long double a, long double b, uint64_t in)
{
	uint64_t fl;
	/* ST(0) = a, ST(1) = b */
	if (which[1] == 'u')
		asm volatile("fninit\n\tfldt %2\n\tfldt %1\n\tpush %3\n\tpopfq\n\t"
			     "fucomi %%st(1), %%st\n\tpushfq\n\tpop %0\n\tfninit"
			     : "=r"(fl) : "m"(a), "m"(b), "r"(in) : "memory", "cc");
	else
		asm volatile("fninit\n\tfldt %2\n\tfldt %1\n\tpush %3\n\tpopfq\n\t"
			     "fcomi %%st(1), %%st\n\tpushfq\n\tpop %0\n\tfninit"
			     : "=r"(fl) : "m"(a), "m"(b), "r"(in) : "memory", "cc");
	return fl & 0x8d5;
}

static void test_fcomi(void)
{
	static const long double one = 1.0L, two = 2.0L;
	long double qnan;
	uint64_t qb = 0xc000000000000000ULL;
	uint16_t qe = 0x7fff, sw;
	memcpy(&qnan, &qb, 8);
	memcpy((char *)&qnan + 8, &qe, 2);
	const uint64_t all = 0x8d5, none = 0;

	CHECK_EQ(fcomi_flags("fc", two, one, all), 0, "FCOMI 2 > 1: ZF PF CF clear, OF SF AF cleared");
	CHECK_EQ(fcomi_flags("fc", one, two, none), 0x001, "FCOMI 1 < 2: CF");
	CHECK_EQ(fcomi_flags("fc", one, one, all), 0x040, "FCOMI 1 = 1: ZF");
	CHECK_EQ(fcomi_flags("fu", qnan, one, none), 0x045, "FUCOMI NaN: ZF PF CF (unordered)");
	asm volatile("fninit\n\tfldt %1\n\tfldt %1\n\tfucomi %%st(1), %%st\n\tfnstsw %0\n\tfninit"
		     : "=m"(sw) : "m"(qnan) : "cc");
	report(!(sw & 1), "FUCOMI QNaN: no IE (FSW %#x)", sw);
	asm volatile("fninit\n\tfldt %1\n\tfldt %1\n\tfcomi %%st(1), %%st\n\tfnstsw %0\n\tfninit"
		     : "=m"(sw) : "m"(qnan) : "cc");
	report(sw & 1, "FCOMI QNaN: IE (FSW %#x)", sw);
	asm volatile("fninit\n\tfld1\n\tfldz\n\tfcomip %%st(1), %%st\n\tfnstsw %0\n\tfninit"
		     : "=m"(sw) :: "cc");
	CHECK_EQ((sw >> 11) & 7, 7, "FCOMIP pops once");
}

/* page faults on x87 memory operands: all or nothing, state unchanged */
static void test_faults(void)
{
	uint8_t *pg = alloc_pages(2);
	uint64_t ro = (uint64_t)pg + 4096;
	uint64_t *pte = pte_4k(ro);
	struct env32 before, after;
	uint64_t rip;
	uint16_t sw;

	set_cr0_bits(1ULL << 16, 0);	/* CR0.WP: supervisor writes honour R/W */
	*pte &= ~2ULL;
	invlpg(ro);
	memset(pg, 0xaa, 4096);

	asm volatile("fninit\n\tfld1\n\tfldpi\n\tfnstenv %0\n\tfldcw %0" : "=m"(before));
	exc_clear();
	asm volatile(ASM_TRY("1f") "lea 2f(%%rip), %0\n\t2: fstpl (%1)\n\t1:"
		     : "=&r"(rip) : "r"(ro) : "memory");
	asm volatile("fnstenv %0\n\tfldcw %0" : "=m"(after));
	report(exc_last.vector == 14 && exc_last.rip == rip && (exc_last.error_code & 3) == 3,
	       "FSTP m64 to a read-only page: #PF (vector %d, error %#llx)", exc_last.vector,
	       (unsigned long long)exc_last.error_code);
	report(!memcmp(&before, &after, sizeof(before)),
	       "the faulting FSTP left FSW, tags, FIP, FOP and FDP alone");

	/* 10- and 108-byte stores straddling into the read-only page */
	exc_clear();
	asm volatile(ASM_TRY("1f") "fstpt (%0)\n\t1:" :: "r"(ro - 4) : "memory");
	report(exc_last.vector == 14 && pg[4092] == 0xaa,
	       "FSTP m80 across into a read-only page: #PF, nothing written (vector %d)",
	       exc_last.vector);
	exc_clear();
	asm volatile(ASM_TRY("1f") "fnsave (%0)\n\t1:" :: "r"(ro - 50) : "memory");
	asm volatile("fnstsw %0" : "=m"(sw));
	report(exc_last.vector == 14 && pg[4096 - 50] == 0xaa && ((sw >> 11) & 7) == 6,
	       "FNSAVE across into a read-only page: #PF, nothing written, no FNINIT");
	exc_clear();
	asm volatile(ASM_TRY("1f") "fbstp (%0)\n\t1:" :: "r"(ro - 2) : "memory");
	asm volatile("fnstsw %0" : "=m"(sw));
	report(exc_last.vector == 14 && pg[4094] == 0xaa && ((sw >> 11) & 7) == 6,
	       "FBSTP across into a read-only page: #PF, no pop");

	/* a load from a non-present page pushes nothing */
	*pte &= ~1ULL;
	invlpg(ro);
	exc_clear();
	asm volatile(ASM_TRY("1f") "fldt (%0)\n\t1:" :: "r"(ro) : "memory");
	asm volatile("fnstsw %0" : "=m"(sw));
	report(exc_last.vector == 14 && !(exc_last.error_code & 1) && ((sw >> 11) & 7) == 6,
	       "FLD m80 from a non-present page: #PF, no push");
	*pte |= 3;
	invlpg(ro);
	asm volatile("fninit");
	set_cr0_bits(0, 1ULL << 16);
}

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cr0_base = read_cr0() & ~(CR0_EM | CR0_TS);
	test_nm();
	test_mf();
	test_fcomi();
	test_faults();
	write_cr0(cr0_base);
	return report_summary();
}
