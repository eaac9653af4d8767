/*
 * x87 state images (SDM Vol. 1 8.1.10, Figures 8-9 to 8-12): FNSTENV,
 * FLDENV, FNSAVE and FRSTOR in 64-bit mode (32-bit layout, and the 16-bit
 * layout with an operand-size prefix) and in compatibility mode (a 32-bit
 * code segment: FCS and the 32-bit EIP), the full tag word computed from
 * the register contents, the last-instruction pointers (FIP, FCS, FOP for
 * non-control instructions, FDP/FDS for memory operands incl. a segment
 * override), and the state after FNSAVE.
 */
#include "libguest.h"

struct env32 {
	uint32_t cw, sw, tw, fip, fcs_fop, fdp, fds;
} __attribute__((packed));

struct env16 {
	uint16_t cw, sw, tw, fip, fcs, fdp, fds;
} __attribute__((packed));

struct save32 {
	struct env32 env;
	uint8_t st[8][10];
} __attribute__((packed));

static double two = 2.0;
static uint16_t cw_dummy;

/* 1.0, 0.0, pi pushed; the last memory operand: `two` (popped again) */
static void load_state(uint64_t *fld_rip, uint64_t *last_rip)
{
	asm volatile("fninit\n\t"
		     "lea 1f(%%rip), %0\n\t"
		     "1: fldl %2\n\t"
		     "fstp %%st(0)\n\t"
		     "fld1\n\t"
		     "fldz\n\t"
		     "lea 2f(%%rip), %1\n\t"
		     "2: fldpi\n\t"
		     : "=&r"(*fld_rip), "=&r"(*last_rip) : "m"(two) : "memory");
}

static void test_fnstenv32(void)
{
	struct env32 e;
	uint64_t fld_rip, last_rip;
	uint16_t cw = 0x0270, cw_after;
	asm volatile("fninit\n\tfldcw %0" :: "m"(cw));
	asm volatile("fldcw %0" :: "m"(cw));
	load_state(&fld_rip, &last_rip);
	asm volatile("fldcw %2\n\tfnstenv %0\n\tfnstcw %1" : "=m"(e), "=m"(cw_after) : "m"(cw));
	CHECK_EQ(e.cw, 0xffff0270, "FNSTENV: FCW, upper half ones");
	CHECK_EQ(e.sw, 0xffff2800, "FNSTENV: FSW with TOP = 5");
	/* R5 = pi (valid), R6 = 0 (zero), R7 = 1 (valid), others empty */
	CHECK_EQ(e.tw, 0xffff13ff, "FNSTENV: full tag word");
	CHECK_EQ(e.fip, (uint32_t)last_rip, "FNSTENV: FIP = FLDPI (FLDCW is a control instruction)");
	CHECK_EQ(e.fcs_fop & 0xffff, SEL_KCODE64, "FNSTENV: FCS");
	CHECK_EQ(e.fcs_fop >> 16, 0x1eb, "FNSTENV: FOP = D9 EB");
	CHECK_EQ(e.fdp, (uint32_t)(uintptr_t)&two, "FNSTENV: FDP = the last memory operand");
	CHECK_EQ(e.fds, 0xffff0000 | SEL_KDATA, "FNSTENV: FDS, upper half ones");
	CHECK_EQ(cw_after, 0x027f, "FNSTENV masks all exceptions afterwards");
	(void)fld_rip;
	asm volatile("fninit");
}

static void test_fnstenv16(void)
{
	struct env16 e;
	uint64_t fld_rip, last_rip;
	load_state(&fld_rip, &last_rip);
	asm volatile("data16 fnstenv %0" : "=m"(e));
	CHECK_EQ(e.cw, 0x037f, "16-bit FNSTENV: FCW");
	CHECK_EQ(e.sw, 0x2800, "16-bit FNSTENV: FSW");
	CHECK_EQ(e.tw, 0x13ff, "16-bit FNSTENV: tag word");
	CHECK_EQ(e.fip, (uint16_t)last_rip, "16-bit FNSTENV: FIP offset (low 16 bits)");
	CHECK_EQ(e.fcs, SEL_KCODE64, "16-bit FNSTENV: FCS");
	CHECK_EQ(e.fdp, (uint16_t)(uintptr_t)&two, "16-bit FNSTENV: FDP offset");
	CHECK_EQ(e.fds, SEL_KDATA, "16-bit FNSTENV: FDS");
	/* and FLDENV reads it back */
	struct env16 e2 = e;
	e2.cw = 0x0c7f;
	asm volatile("fninit\n\tdata16 fldenv %0\n\tfnstcw %1" : "+m"(e2), "=m"(cw_dummy));
	asm volatile("data16 fnstenv %0" : "=m"(e));
	CHECK_EQ(e.cw, 0x0c7f, "16-bit FLDENV: FCW loaded");
	CHECK_EQ(e.fip, (uint16_t)last_rip, "16-bit FLDENV: FIP loaded");
	asm volatile("fninit");
}

static void test_fnsave(void)
{
	struct save32 s, s2;
	uint64_t fld_rip, last_rip;
	uint16_t cw, sw, tw;
	load_state(&fld_rip, &last_rip);
	asm volatile("fnsave %0\n\tfnstcw %1\n\tfnstsw %2" : "=m"(s), "=m"(cw), "=m"(sw));
	CHECK_EQ(s.env.sw & 0xffff, 0x2800, "FNSAVE: FSW");
	CHECK_EQ(s.env.tw & 0xffff, 0x13ff, "FNSAVE: tag word");
	uint64_t m;
	uint16_t se;
	memcpy(&m, s.st[0], 8);
	memcpy(&se, s.st[0] + 8, 2);
	report(se == 0x4000 && m == 0xc90fdaa22168c235ULL, "FNSAVE: ST(0) = pi (%04x:%016llx)",
	       se, (unsigned long long)m);
	memcpy(&m, s.st[1], 8);
	memcpy(&se, s.st[1] + 8, 2);
	report(se == 0 && m == 0, "FNSAVE: ST(1) = 0");
	memcpy(&m, s.st[2], 8);
	memcpy(&se, s.st[2] + 8, 2);
	report(se == 0x3fff && m == 1ULL << 63, "FNSAVE: ST(2) = 1");
	CHECK_EQ(cw, 0x37f, "after FNSAVE: FCW = 0x37f (FNINIT)");
	CHECK_EQ(sw, 0, "after FNSAVE: FSW = 0");
	asm volatile("fnstenv %0" : "=m"(s2.env));
	tw = (uint16_t)s2.env.tw;
	CHECK_EQ(tw, 0xffff, "after FNSAVE: all registers empty");
	CHECK_EQ(s2.env.fip, 0, "after FNSAVE: FIP = 0");

	/* FRSTOR puts it all back */
	asm volatile("frstor %1\n\tfnsave %0" : "=m"(s2) : "m"(s));
	report(!memcmp(&s, &s2, sizeof(s)), "FRSTOR then FNSAVE gives the same image");

	/* tags on load: only empty / not empty matter, the rest is recomputed */
	struct save32 t = s;
	t.env.tw = 0xffff0000 | 0x0000;	/* claim R0..R7 all valid */
	memset(t.st, 0, sizeof(t.st));
	uint64_t nanm = 0xc000000000000000ULL;
	uint16_t nane = 0x7fff;
	memcpy(t.st[3], &nanm, 8);	/* ST(3) = R0 (TOP = 5): a NaN */
	memcpy(t.st[3] + 8, &nane, 2);
	asm volatile("frstor %1\n\tfnstenv %0" : "=m"(s2.env) : "m"(t));
	/* R0 special, R1..R4 and R5..R7 hold zeros */
	CHECK_EQ(s2.env.tw & 0xffff, 0x5556, "FRSTOR: tag word recomputed from the contents");
	asm volatile("fninit");
}

static void test_fxam_empty(void)
{
	uint16_t sw;
	asm volatile("fninit\n\tfxam\n\tfnstsw %0" : "=m"(sw));
	CHECK_EQ(sw & 0x4700, 0x4100, "FXAM of an empty ST(0): C3 = C0 = 1");
	asm volatile("fninit\n\tfld1\n\tfchs\n\tfxam\n\tfnstsw %0\n\tfninit" : "=m"(sw));
	CHECK_EQ(sw & 0x4700, 0x0600, "FXAM of -1: normal (C2), sign (C1)");
}

/* FDS follows a segment override; control instructions keep the pointers */
static void test_pointers(void)
{
	struct env32 e;
	uint64_t rip;
	uint16_t fs_sel = SEL_KDATA32;
	asm volatile("mov %0, %%fs" :: "r"(fs_sel));
	asm volatile("fninit\n\tlea 1f(%%rip), %0\n\t1: fldl %%fs:%1\n\t"
		     "fnstcw %2\n\tfnclex"
		     : "=&r"(rip), "+m"(two), "=m"(cw_dummy) :: "memory");
	asm volatile("fnstenv %0" : "=m"(e));
	CHECK_EQ(e.fds & 0xffff, SEL_KDATA32, "FDS = the FS override's selector");
	CHECK_EQ(e.fip, (uint32_t)rip, "FNSTCW/FNCLEX/FNSTENV leave FIP alone");
	CHECK_EQ(e.fcs_fop >> 16, 0x505, "FOP = DD 05 (prefixes not included)");
	CHECK_EQ(e.fdp, (uint32_t)(uintptr_t)&two, "FDP = the offset");
	fs_sel = SEL_KDATA;
	asm volatile("mov %0, %%fs\n\tfninit" :: "r"(fs_sel));
}

/* ---- compatibility mode: a 32-bit code segment -------------------------------- */

extern char compat_entry[];
struct env32 compat_env __attribute__((used));
uint32_t compat_rip __attribute__((used));

asm(".code32\n"
    "compat_entry:\n\t"
    "fninit\n\t"
    "fld1\n\t"
    "movl $1f, compat_rip\n"
    "1:\tfldz\n\t"
    "fnstenv compat_env\n\t"
    "fninit\n\t"
    "lret\n"
    ".code64\n");

static void test_compat(void)
{
	struct { uint32_t off; uint16_t sel; } __attribute__((packed)) fp = {
		(uint32_t)(uintptr_t)compat_entry, SEL_KCODE32
	};
	asm volatile("lcall *%0" :: "m"(fp) : "memory");
	CHECK_EQ(compat_env.fcs_fop & 0xffff, SEL_KCODE32, "compatibility mode: FCS = the 32-bit CS");
	CHECK_EQ(compat_env.fip, compat_rip, "compatibility mode: FIP = EIP of FLDZ");
	CHECK_EQ(compat_env.fcs_fop >> 16, 0x1ee, "compatibility mode: FOP = D9 EE");
	CHECK_EQ(compat_env.sw & 0xffff, 0x3000, "compatibility mode: TOP = 6");
	CHECK_EQ(compat_env.tw & 0xffff, 0x1fff, "compatibility mode: tags (R6 zero, R7 valid)");
}

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	test_fnstenv32();
	test_fnstenv16();
	test_fnsave();
	test_fxam_empty();
	test_pointers();
	test_compat();
	return report_summary();
}
