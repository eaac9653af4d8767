/*
 * LAR, LSL, VERR, VERW, ARPL, LLDT/LTR, SGDT/SIDT/SLDT/STR/SMSW with
 * CR4.UMIP (SDM Vol. 2; Vol. 3A 5.10.3, 2.5 UMIP).
 */
#include "sys.h"

#define D_DATA0 0x60
#define D_XO 0x68		/* execute-only code */
#define D_CONF 0x70		/* conforming readable code DPL 0 */
#define D_RO 0x78		/* read-only data */
#define D_SMALL 0x80		/* data, byte limit 0xfff, DPL 3 */
#define D_LDT 0x88		/* 16-byte LDT descriptor in long mode */
#define D_TSS16 0x98		/* 16-bit TSS type */
#define D_CGATE 0xa0		/* 64-bit call gate (16 bytes) */
#define D_TGATE 0xb0		/* task gate */
#define D_LDTBAD 0xb8		/* LDT with a non-zero upper type (16 bytes) */
#define D_CODE3 0xc8		/* readable code DPL 3, AVL set */

static uint64_t ldt[2];
static uint8_t ustack[4096] __attribute__((aligned(4096)));

static bool lar(uint64_t sel, uint64_t *v)
{
	bool z;
	asm volatile("lar %2, %0" : "+r"(*v), "=@ccz"(z) : "r"(sel));
	return z;
}

static bool lsl(uint64_t sel, uint64_t *v)
{
	bool z;
	asm volatile("lsl %2, %0" : "+r"(*v), "=@ccz"(z) : "r"(sel));
	return z;
}

static bool verr(uint16_t sel)
{
	bool z;
	asm volatile("verr %1" : "=@ccz"(z) : "r"(sel));
	return z;
}

static bool verw(uint16_t sel)
{
	bool z;
	asm volatile("verw %1" : "=@ccz"(z) : "r"(sel));
	return z;
}

static void lar_lsl(void)
{
	uint64_t v;

	v = 0;
	report(lar(SEL_KCODE64, &v) && v == 0x00a09b00, "LAR 64-bit code: %#llx", (unsigned long long)v);
	v = 0;
	report(lar(D_CODE3 | 3, &v) && v == 0x00d0fb00, "LAR keeps AVL, G, D: %#llx", (unsigned long long)v);
	v = 0x1234;
	report(!lar(0, &v) && v == 0x1234, "LAR null: ZF = 0, destination unchanged");
	report(!lar(0x200, &v) && v == 0x1234, "LAR beyond the GDT limit: ZF = 0");
	report(!lar(0x0c, &v), "LAR with TI = 1 and a null LDTR: ZF = 0");
	v = 0;
	report(lar(SEL_TSS, &v) && v == 0x00008b00, "LAR busy 64-bit TSS: %#llx", (unsigned long long)v);
	report(lar(D_LDT, &v) && (v & 0x1f00) == 0x0200, "LAR LDT in long mode: valid");
	report(lar(D_CGATE, &v) && (v & 0x1f00) == 0x0c00, "LAR 64-bit call gate: valid");
	report(!lar(D_TSS16, &v), "LAR 16-bit TSS in long mode: ZF = 0");
	report(!lar(D_TGATE, &v), "LAR task gate in long mode: ZF = 0");
	report(!lar(D_DATA0 | 3, &v), "LAR with RPL 3 > DPL 0: ZF = 0");
	report(lar(D_CONF | 3, &v), "LAR conforming code with RPL 3: no privilege check");
	v = 0xffffffffffffffffULL;
	asm volatile("larl %k1, %k0" : "+r"(v) : "r"((uint64_t)SEL_KDATA));
	CHECK_EQ(v, 0x00c09300, "LAR r32 zero-extends into r64");
	v = 0xffffffffffff0000ULL;
	asm volatile("larw %w1, %w0" : "+r"(v) : "r"((uint64_t)SEL_KDATA));
	CHECK_EQ(v, 0xffffffffffff9300ULL, "LAR r16 writes 16 bits");
	uint16_t msel = SEL_KDATA;
	v = 0;
	asm volatile("lar %1, %0" : "+r"(v) : "m"(msel));
	CHECK_EQ(v, 0x00c09300, "LAR with a memory selector");

	v = 0;
	report(lsl(SEL_KCODE64, &v) && v == 0xffffffff, "LSL page-granular: %#llx", (unsigned long long)v);
	v = 0;
	report(lsl(D_SMALL, &v) && v == 0xfff, "LSL byte-granular");
	v = 0;
	report(lsl(SEL_TSS, &v) && v == sizeof(tss) - 1, "LSL TSS");
	report(lsl(D_LDT, &v) && v == sizeof(ldt) - 1, "LSL LDT");
	v = 0x55;
	report(!lsl(D_CGATE, &v) && v == 0x55, "LSL call gate: ZF = 0");
	report(!lsl(0, &v), "LSL null: ZF = 0");
}

static void verify(void)
{
	report(verr(SEL_KDATA) && verw(SEL_KDATA), "VERR/VERW data");
	report(!verr(D_XO) && !verw(D_XO), "VERR/VERW execute-only code: not readable/writable");
	report(verr(SEL_KCODE64) && !verw(SEL_KCODE64), "readable code: VERR only");
	report(verr(D_RO) && !verw(D_RO), "read-only data: VERR only");
	report(!verr(SEL_TSS) && !verw(SEL_TSS), "system descriptor: neither");
	report(!verr(0) && !verw(0), "null selector: neither");
	report(!verr(D_DATA0 | 3), "VERR with RPL 3 > DPL 0");
	report(verr(D_CONF | 3), "VERR conforming readable code with RPL 3");
}

/* ring 3: result bits: LAR DPL0 data ok, VERR conforming ok, VERR DPL0 data ok */
CODE64(u_checks,
	"xorl %ebx, %ebx\n\t"
	"movl $0x60, %ecx\n\t"
	"larl %ecx, %eax\n\t"
	"jnz 1f\n\t"
	"orl $1, %ebx\n"
	"1:\tmovl $0x70, %ecx\n\t"
	"verr %cx\n\t"
	"jnz 2f\n\t"
	"orl $2, %ebx\n"
	"2:\tmovl $0x60, %ecx\n\t"
	"verr %cx\n\t"
	"jnz 3f\n\t"
	"orl $4, %ebx\n"
	"3:\tmovl $0x43, %ecx\n\t"
	"verw %cx\n\t"
	"jnz 4f\n\t"
	"orl $8, %ebx\n"
	"4:\tmovl %ebx, %eax\n\t"
	USER_RET);

/* ring 3: run the instruction at rdi (one of the stubs), return 0 */
CODE64(u_sgdt, "sgdt -16(%rsp)\n\txorl %eax, %eax\n\t" USER_RET);
CODE64(u_sidt, "sidt -16(%rsp)\n\txorl %eax, %eax\n\t" USER_RET);
CODE64(u_sldt, "sldt %eax\n\txorl %eax, %eax\n\t" USER_RET);
CODE64(u_str, "str %eax\n\txorl %eax, %eax\n\t" USER_RET);
CODE64(u_smsw, "smsw %eax\n\t" USER_RET);
CODE64(u_lgdt, "lgdt -16(%rsp)\n\t" USER_RET);
CODE64(u_lldt, "xorl %eax, %eax\n\tlldt %ax\n\t" USER_RET);
CODE64(u_ltr, "movl $0x50, %eax\n\tltr %ax\n\t" USER_RET);

static int user(void *fn, uint64_t *ret)
{
	set_user((uint64_t)(uintptr_t)fn);
	exc_clear();
	uint64_t r = run_user64(fn, 0, ustack + sizeof(ustack));
	if (ret)
		*ret = r;
	return exc_last.vector;
}

static void privileges(void)
{
	uint64_t r;
	CHECK_EQ(user(u_checks, &r), EXC_NONE, "ring-3 LAR/VERR/VERW ran");
	CHECK_EQ(r, 0xa, "CPL 3: LAR/VERR DPL 0 data fail, VERR conforming ok, VERW DPL 3 data ok");
	CHECK_EQ(user(u_sgdt, NULL), EXC_NONE, "CPL 3 SGDT without UMIP");
	CHECK_EQ(user(u_smsw, &r), EXC_NONE, "CPL 3 SMSW without UMIP");
	CHECK_EQ(r & 0xffffffff, read_cr0() & 0xffffffff, "SMSW r32 at CPL 3");
	CHECK_EQ(user(u_lgdt, NULL), 13, "CPL 3 LGDT: #GP");
	CHECK_EQ(user(u_lldt, NULL), 13, "CPL 3 LLDT: #GP");
	CHECK_EQ(user(u_ltr, NULL), 13, "CPL 3 LTR: #GP");
	write_cr4(read_cr4() | (1u << 11));
	static void *const umip[] = { u_sgdt, u_sidt, u_sldt, u_str, u_smsw };
	static const char *const name[] = { "SGDT", "SIDT", "SLDT", "STR", "SMSW" };
	for (int k = 0; k < 5; k++) {
		int v = user(umip[k], NULL);
		report(v == 13 && exc_last.error_code == 0, "UMIP: CPL 3 %s #GP(0) (%d)", name[k], v);
	}
	struct { uint16_t lim; uint64_t base; } __attribute__((packed)) d;
	asm volatile("sgdt %0" : "=m"(d));
	report(d.base == (uint64_t)(uintptr_t)gdt64, "UMIP: CPL 0 SGDT still works");
	write_cr4(read_cr4() & ~(1u << 11));
}

static void tables(void)
{
	struct { uint16_t lim; uint64_t base; } __attribute__((packed)) d;
	uint64_t v;

	memset(&d, 0xff, sizeof(d));
	asm volatile("sgdt %0" : "=m"(d));
	CHECK_EQ(d.lim, 0x1ff, "SGDT limit");
	CHECK_EQ(d.base, (uint64_t)(uintptr_t)gdt64, "SGDT 64-bit base");
	asm volatile("sidt %0" : "=m"(d));
	CHECK_EQ(d.lim, 0xfff, "SIDT limit");
	v = ~0ULL;
	asm volatile("str %k0" : "+r"(v));
	CHECK_EQ(v, SEL_TSS, "STR r32 zero-extends");
	asm volatile("lldt %w0" :: "r"((uint16_t)D_LDT));
	v = ~0ULL;
	asm volatile("sldt %k0" : "+r"(v));
	CHECK_EQ(v, D_LDT, "SLDT after LLDT");
	uint16_t m = 0xffff;
	asm volatile("sldt %0" : "=m"(m));
	CHECK_EQ(m, D_LDT, "SLDT m16");
	uint64_t lsel = 0x0c;
	v = 0;
	report(lar(lsel, &v), "LAR through the LDT after LLDT");
	asm volatile("lldt %w0" :: "r"((uint16_t)0));
	v = ~0ULL;
	asm volatile("smsw %0" : "+r"(v));
	CHECK_EQ(v, read_cr0(), "SMSW r64");
	m = 0;
	asm volatile("smsw %0" : "=m"(m));
	CHECK_EQ(m, read_cr0() & 0xffff, "SMSW m16");

	exc_clear();
	asm volatile(ASM_TRY("1f") "lldt %w0\n1:" :: "r"((uint16_t)D_DATA0) : "memory");
	report(exc_last.vector == 13 && exc_last.error_code == D_DATA0, "LLDT of a data segment: #GP(sel)");
	exc_clear();
	asm volatile(ASM_TRY("1f") "lldt %w0\n1:" :: "r"((uint16_t)D_LDTBAD) : "memory");
	report(exc_last.vector == 13 && exc_last.error_code == D_LDTBAD,
	       "LLDT: 16-byte descriptor with a non-zero upper type: #GP(sel)");
	gdt_set16(D_LDTBAD, sys_desc64_lo((uint64_t)(uintptr_t)ldt, sizeof(ldt) - 1, 2, 0), 0x8000);
	exc_clear();
	asm volatile(ASM_TRY("1f") "lldt %w0\n1:" :: "r"((uint16_t)D_LDTBAD) : "memory");
	report(exc_last.vector == 13 && exc_last.error_code == D_LDTBAD,
	       "LLDT: non-canonical 64-bit base: #GP(sel)");
	gdt_set16(D_LDTBAD, sys_desc64_lo((uint64_t)(uintptr_t)&tss, sizeof(tss) - 1, 9, 0), 0x8000);
	exc_clear();
	asm volatile(ASM_TRY("1f") "ltr %w0\n1:" :: "r"((uint16_t)D_LDTBAD) : "memory");
	report(exc_last.vector == 13 && exc_last.error_code == D_LDTBAD,
	       "LTR: non-canonical 64-bit base: #GP(sel)");
	exc_clear();
	asm volatile(ASM_TRY("1f") "lldt %w0\n1:" :: "r"((uint16_t)(D_LDT | 4)) : "memory");
	report(exc_last.vector == 13 && exc_last.error_code == (D_LDT | 4), "LLDT with TI = 1: #GP(sel)");
	exc_clear();
	asm volatile(ASM_TRY("1f") "ltr %w0\n1:" :: "r"((uint16_t)SEL_TSS) : "memory");
	report(exc_last.vector == 13 && exc_last.error_code == SEL_TSS, "LTR of a busy TSS: #GP(sel)");
	exc_clear();
	asm volatile(ASM_TRY("1f") "ltr %w0\n1:" :: "r"((uint16_t)0) : "memory");
	report(exc_last.vector == 13 && exc_last.error_code == 0, "LTR null: #GP(0)");
	/* LTR marks the TSS busy */
	gdt64[SEL_TSS / 8] &= ~(2ULL << 40);
	asm volatile("ltr %w0" :: "r"((uint16_t)SEL_TSS) : "memory");
	CHECK_EQ((gdt64[SEL_TSS / 8] >> 40) & 0xf, 0xb, "LTR sets the busy bit");
}

/* ARPL in 32-bit protected mode (MOVSXD in 64-bit mode) */
uint32_t arpl_res[4];
CODE32(p_arpl,
	"movl $0x0011, %eax\n\t"
	"movl $0x0013, %ecx\n\t"
	"arpl %cx, %ax\n\t"
	"setz %dl\n\t"
	"movl %eax, arpl_res\n\t"
	"movzbl %dl, %edx\n\t"
	"movl %edx, arpl_res+4\n\t"
	"movl $0x0013, %eax\n\t"
	"movl $0x0011, %ecx\n\t"
	"arpl %cx, %ax\n\t"
	"setz %dl\n\t"
	"movl %eax, arpl_res+8\n\t"
	"movzbl %dl, %edx\n\t"
	"movl %edx, arpl_res+12\n\t"
	"ret");
/* SGDT with a 16-bit operand: 24-bit base */
uint8_t sgdt16[6];
CODE32(p_sgdt16,
	"movl $0xffffffff, sgdt16+2\n\t"
	"data16 sgdt sgdt16\n\t"
	"ret");

static void legacy(void)
{
	call32(p_arpl, 0);
	CHECK_EQ(arpl_res[0], 0x13, "ARPL raises the RPL");
	CHECK_EQ(arpl_res[1], 1, "ARPL: ZF = 1 when adjusted");
	CHECK_EQ(arpl_res[2], 0x13, "ARPL keeps a higher RPL");
	CHECK_EQ(arpl_res[3], 0, "ARPL: ZF = 0 when not adjusted");
	call32(p_sgdt16, 0);
	uint32_t base = sgdt16[2] | sgdt16[3] << 8 | sgdt16[4] << 16 | (uint32_t)sgdt16[5] << 24;
	CHECK_EQ(base, (uint32_t)(uintptr_t)gdt64 & 0xffffff, "SGDT with 16-bit operand: 24-bit base");
}

int main(int argc, char **argv)
{
	gdt_set(D_DATA0, seg_desc(0, 0xfffff, 0xc093));
	gdt_set(D_XO, seg_desc(0, 0xfffff, 0xc099));
	gdt_set(D_CONF, seg_desc(0, 0xfffff, 0xc09f));
	gdt_set(D_RO, seg_desc(0, 0xfffff, 0xc091));
	gdt_set(D_SMALL, seg_desc(0, 0xfff, 0x40f3));
	gdt_set16(D_LDT, sys_desc64_lo((uint64_t)(uintptr_t)ldt, sizeof(ldt) - 1, 2, 0), 0);
	gdt_set(D_TSS16, sys_desc64_lo(0x1000, 0x2b, 1, 0));
	gdt_set16(D_CGATE, gate64_lo(SEL_KCODE64, 0x1234, 0xc, 3, 0), 0);
	gdt_set(D_TGATE, gate_desc(D_TSS16, 0, 5, 3, 0));
	gdt_set16(D_LDTBAD, sys_desc64_lo((uint64_t)(uintptr_t)ldt, sizeof(ldt) - 1, 2, 0),
		  0x2ULL << 40);
	gdt_set(D_CODE3, seg_desc(0, 0xfffff, 0xd0fb));
	ldt[1] = seg_desc(0, 0xfffff, 0xc093);
	set_user((uint64_t)(uintptr_t)ustack);
	lar_lsl();
	verify();
	privileges();
	tables();
	legacy();
	return report_summary();
}
