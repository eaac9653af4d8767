/*
 * Segment-register loads and segment-limit/type checks in 32-bit protected
 * mode (SDM Vol. 2 "MOV", "POP", "LDS/LES/LFS/LGS/LSS"; Vol. 3A 3.4.5,
 * 5.3-5.7): null selectors, table limits, TI with a null LDTR, descriptor
 * types, RPL/CPL/DPL, conforming code, present bits, the accessed bit, and
 * every #GP/#SS/#NP with its error code; then limit, expand-down, read-only
 * and execute-only checks on accesses.
 */
#include "sys.h"

#define D_DATA0 0x60		/* RW data DPL 0, flat */
#define D_DATA3 0x68		/* RW data DPL 3 */
#define D_RO 0x70		/* read-only data DPL 0 */
#define D_XO 0x78		/* execute-only code DPL 0, flat */
#define D_CODE 0x80		/* readable code DPL 0 */
#define D_CONF 0x88		/* readable conforming code DPL 0 */
#define D_NP 0x90		/* RW data, not present */
#define D_EDN32 0x98		/* expand-down RW, limit 0xfff, B = 1 */
#define D_EDN16 0xa0		/* expand-down RW, limit 0xfff, B = 0 */
#define D_SMALL 0xa8		/* RW data, byte limit 0xfff, base buf */
#define D_LDT 0xb0		/* LDT descriptor */
#define D_TSS 0xb8		/* available 32-bit TSS */
#define D_NPXO 0xc0		/* execute-only code, not present */
#define D_NPRO 0xc8		/* read-only data, not present */
#define D_NOACC 0xd0		/* RW data, accessed bit clear */
#define D_HALF 0xd8		/* RW data DPL 0, limit 0x7fffffff */
#define D_DATA2 0xe0		/* RW data DPL 2 */
#define D_NPSS 0xe8		/* RW data DPL 0, not present */
#define GDT_LIMIT 0x1ff

static uint64_t ldt[4];
static uint8_t buf[0x1000] __attribute__((aligned(4096)));

/* load a segment register from the argument; return what it holds */
#define LOAD(name, seg, restore) \
	CODE32(name, \
		"movl 4(%esp), %eax\n\t" \
		"movl $0xdead, %edx\n\t" \
		X32_TRY("1f") \
		"movw %ax, %" seg "\n\t" \
		X32_END_SS \
		"movl %" seg ", %edx\n" \
		"1:\tmovl $" restore ", %ecx\n\t" \
		"movw %cx, %" seg "\n\t" \
		"movl %edx, %eax\n\t" \
		"ret")
LOAD(l_ds, "ds", "0x20");
LOAD(l_es, "es", "0x20");
LOAD(l_fs, "fs", "0x20");
LOAD(l_gs, "gs", "0x20");
LOAD(l_ss, "ss", "0x20");
/* ring 3: after a caught fault the snippet continues in ring 0 */
#define ULOAD(name, seg) \
	CODE32(name, \
		"movl 4(%esp), %eax\n\t" \
		"movl $0xdead, %edx\n\t" \
		X32_TRY("1f") \
		"movw %ax, %" seg "\n\t" \
		X32_END_SS \
		"movl %" seg ", %edx\n" \
		"1:\tmovl %cs, %ecx\n\t" \
		"testl $3, %ecx\n\t" \
		"movl $0x20, %ecx\n\t" \
		"jz 2f\n\t" \
		"movl $0x43, %ecx\n" \
		"2:\tmovw %cx, %" seg "\n\t" \
		"movl %edx, %eax\n\t" \
		"ret")
ULOAD(u_ds, "ds");
ULOAD(u_ss, "ss");

/* POP DS: ESP is unchanged after a fault */
CODE32(l_pop_ds,
	"pushl 4(%esp)\n\t"
	"movl %esp, %esi\n\t"
	X32_TRY("1f")
	"popl %ds\n\t"
	X32_END_SS
	"pushl %eax\n"
	"1:\tmovl %esp, %eax\n\t"
	"subl %esi, %eax\n\t"		/* 0 after a fault, 0 after push-back */
	"addl $4, %esp\n\t"
	"movl $0x20, %ecx\n\t"
	"movw %cx, %ds\n\t"
	"ret");
/* LDS / LSS from the far pointer at arg: return EBX, or ESP delta for LSS */
CODE32(l_lds,
	"movl 4(%esp), %esi\n\t"
	"movl $0x11111111, %ebx\n\t"
	X32_TRY("1f")
	"ldsl (%esi), %ebx\n\t"
	X32_END_SS
	"1:\tmovl $0x20, %ecx\n\t"
	"movw %cx, %ds\n\t"
	"movl %ebx, %eax\n\t"
	"ret");
CODE32(l_lss,
	"movl 4(%esp), %esi\n\t"
	"movl %esp, %edi\n\t"
	X32_TRY("1f")
	"lssl (%esi), %esp\n\t"
	X32_END
	"1:\tmovl %esp, %eax\n\t"
	"movl $0x20, %ecx\n\t"
	"movw %cx, %ss\n\t"
	"movl %edi, %esp\n\t"
	"ret");
CODE32(l_mov_cs,
	"movl %cs, %eax\n\t"
	X32_TRY("1f")
	".byte 0x8e, 0xc8\n\t"		/* mov %eax, %cs */
	X32_END
	"1:\tret");

/* accesses through ES (arg: struct acc) */
struct acc {
	uint32_t sel, off, op, val;
};
CODE32(l_access,
	"movl 4(%esp), %esi\n\t"
	"movl 4(%esi), %edi\n\t"
	"movl 12(%esi), %edx\n\t"
	"movl 8(%esi), %ecx\n\t"
	"movl (%esi), %eax\n\t"
	"movw %ax, %es\n\t"
	X32_TRY("9f")
	"cmpl $0, %ecx\n\t"
	"je 1f\n\t"
	"cmpl $1, %ecx\n\t"
	"je 2f\n\t"
	"cmpl $2, %ecx\n\t"
	"je 3f\n\t"
	"cmpl $3, %ecx\n\t"
	"je 4f\n\t"
	"cmpl $4, %ecx\n\t"
	"je 5f\n\t"
	"jmp 6f\n"
	"1:\tmovzbl %es:(%edi), %edx\n\t"
	"jmp 8f\n"
	"2:\tmovzwl %es:(%edi), %edx\n\t"
	"jmp 8f\n"
	"3:\tmovl %es:(%edi), %edx\n\t"
	"jmp 8f\n"
	"4:\tmovb %dl, %es:(%edi)\n\t"
	"jmp 8f\n"
	"5:\tmovw %dx, %es:(%edi)\n\t"
	"jmp 8f\n"
	"6:\tmovl %edx, %es:(%edi)\n"
	"8:\t" X32_END
	"9:\tmovl $0x20, %eax\n\t"
	"movw %ax, %es\n\t"
	"movl %edx, 12(%esi)\n\t"
	"ret");
/* the same through SS (the stack stays where it is; ESP is valid in it) */
CODE32(l_access_ss,
	"movl 4(%esp), %esi\n\t"
	"movl 4(%esi), %edi\n\t"
	"movl (%esi), %eax\n\t"
	"movw %ax, %ss\n\t"
	"movl $0xdead, %edx\n\t"
	X32_TRY("9f")
	"movl %ss:(%edi), %edx\n\t"
	X32_END
	"9:\tmovl $0x20, %eax\n\t"
	"movw %ax, %ss\n\t"
	"movl %edx, 12(%esi)\n\t"
	"ret");
/* CS-relative: read and write through an execute-only and a readable CS */
CODE32(l_cs_read_xo,
	"ljmp $0x78, $1f\n"
	"1:\t" X32_TRY("2f")
	"movl %cs:buf, %eax\n\t"
	X32_END
	"2:\tljmp $0x18, $3f\n"
	"3:\tret");
CODE32(l_cs_write,
	X32_TRY("2f")
	"movl %eax, %cs:buf\n\t"
	X32_END
	"2:\tret");
CODE32(l_lldt,
	"movl 4(%esp), %eax\n\t"
	"lldt %ax\n\t"
	"ret");

/* inside one excursion: LLDT, then loads through the LDT */
CODE32(l_ldt_seq,
	"movl 4(%esp), %eax\n\t"
	"lldt %ax\n\t"
	"movl $0x0c, %eax\n\t"		/* index 1, TI */
	"movw %ax, %ds\n\t"
	"movl %ds, %ebx\n\t"
	"movl $0x20, %eax\n\t"
	"movw %ax, %ds\n\t"
	"movl $0x24, %eax\n\t"		/* index 4: beyond the LDT limit */
	X32_TRY("1f")
	"movw %ax, %ds\n\t"
	X32_END_SS
	"1:\tmovl $0x20, %eax\n\t"
	"movw %ax, %ds\n\t"
	"movl %ebx, %eax\n\t"
	"ret");

static uint32_t ld(void *fn, uint32_t sel)
{
	return call32(fn, sel);
}

static void expect(int vec, uint32_t ec, const char *what)
{
	if (vec < 0)
		report(x32_exc.vector == -1, "%s: no exception (got %d ec %#x)", what,
		       x32_exc.vector, x32_exc.ec);
	else
		report(x32_exc.vector == vec && x32_exc.ec == ec, "%s: vector %d ec %#x (got %d %#x)",
		       what, vec, ec, x32_exc.vector, x32_exc.ec);
}

static void setup(void)
{
	gdt_set(D_DATA0, seg_desc(0, 0xfffff, 0xc093));
	gdt_set(D_DATA3, seg_desc(0, 0xfffff, 0xc0f3));
	gdt_set(D_RO, seg_desc(0, 0xfffff, 0xc091));
	gdt_set(D_XO, seg_desc(0, 0xfffff, 0xc099));
	gdt_set(D_CODE, seg_desc(0, 0xfffff, 0xc09b));
	gdt_set(D_CONF, seg_desc(0, 0xfffff, 0xc09f));
	gdt_set(D_NP, seg_desc(0, 0xfffff, 0xc013));
	gdt_set(D_EDN32, seg_desc(0, 0xfff, 0x4097));
	gdt_set(D_EDN16, seg_desc(0, 0xfff, 0x0097));
	gdt_set(D_SMALL, seg_desc((uint32_t)(uintptr_t)buf, 0xfff, 0x4093));
	gdt_set(D_LDT, seg_desc((uint32_t)(uintptr_t)ldt, sizeof(ldt) - 1, 0x82));
	gdt_set(D_TSS, seg_desc((uint32_t)(uintptr_t)&x32_tss, sizeof(x32_tss) - 1, 0x89));
	gdt_set(D_NPXO, seg_desc(0, 0xfffff, 0xc019));
	gdt_set(D_NPRO, seg_desc(0, 0xfffff, 0xc011));
	gdt_set(D_NOACC, seg_desc(0, 0xfffff, 0xc092));
	gdt_set(D_HALF, seg_desc(0, 0x7ffff, 0xc093));
	gdt_set(D_DATA2, seg_desc(0, 0xfffff, 0xc0d3));
	gdt_set(D_NPSS, seg_desc(0, 0xfffff, 0xc013));
	ldt[0] = 0;
	ldt[1] = seg_desc(0, 0xfffff, 0xc093);
	ldt[2] = seg_desc(0, 0xfffff, 0xc0f3);
	ldt[3] = seg_desc(0, 0xfffff, 0xc09b);
}

static void data_loads(void)
{
	CHECK_EQ(ld(l_ds, D_DATA0), D_DATA0, "DS <- RW data DPL 0");
	expect(-1, 0, "DS <- RW data");
	CHECK_EQ(ld(l_ds, D_NOACC), D_NOACC, "DS <- descriptor with A = 0");
	CHECK_EQ((gdt_get(D_NOACC) >> 40) & 0xff, 0x93, "loading sets the accessed bit");
	CHECK_EQ(ld(l_ds, 0), 0, "DS <- null selector");
	expect(-1, 0, "DS <- null");
	CHECK_EQ(ld(l_ds, 3), 3, "DS <- null selector with RPL 3");
	ld(l_ds, GDT_LIMIT + 1);
	expect(13, GDT_LIMIT + 1, "DS <- selector beyond the GDT limit");
	ld(l_ds, 0x1f8 | 3);
	expect(13, 0x1f8, "DS <- last GDT entry (reserved, null descriptor)");
	ld(l_ds, 0x0c);
	expect(13, 0x0c, "DS <- LDT selector with a null LDTR");
	ld(l_ds, D_TSS);
	expect(13, D_TSS, "DS <- TSS descriptor");
	ld(l_ds, D_LDT);
	expect(13, D_LDT, "DS <- LDT descriptor");
	ld(l_ds, D_XO);
	expect(13, D_XO, "DS <- execute-only code");
	CHECK_EQ(ld(l_ds, D_CODE), D_CODE, "DS <- readable code");
	CHECK_EQ(ld(l_ds, D_CONF), D_CONF, "DS <- readable conforming code");
	ld(l_ds, D_NP);
	expect(11, D_NP, "DS <- not-present data");
	ld(l_ds, D_NPXO);
	expect(13, D_NPXO, "DS <- not-present execute-only code (#GP before #NP)");
	ld(l_ds, D_DATA0 | 3);
	expect(13, D_DATA0, "DS <- DPL 0 data with RPL 3");
	CHECK_EQ(ld(l_ds, D_DATA3 | 3), D_DATA3 | 3, "DS <- DPL 3 data with RPL 3 at CPL 0");
	ld(l_es, D_XO);
	expect(13, D_XO, "ES <- execute-only code");
	ld(l_fs, D_NP);
	expect(11, D_NP, "FS <- not present");
	ld(l_gs, D_TSS);
	expect(13, D_TSS, "GS <- TSS");
	CHECK_EQ(ld(l_gs, D_RO), D_RO, "GS <- read-only data");
	call32(l_mov_cs, 0);
	expect(6, 0, "MOV CS: #UD");
}

static void ldt_loads(void)
{
	uint32_t lsel = D_LDT;
	CHECK_EQ(call32(l_ldt_seq, lsel), 0x0c, "DS <- LDT selector after LLDT");
	expect(13, 0x24, "DS <- LDT selector beyond the LDT limit");
}

static void ss_loads(void)
{
	ld(l_ss, 0);
	expect(13, 0, "SS <- null selector");
	ld(l_ss, D_RO);
	expect(13, D_RO, "SS <- read-only data");
	ld(l_ss, D_CODE);
	expect(13, D_CODE, "SS <- code");
	ld(l_ss, D_DATA3);
	expect(13, D_DATA3, "SS <- DPL 3 data at CPL 0");
	ld(l_ss, D_DATA0 | 1);
	expect(13, D_DATA0, "SS <- RPL 1 at CPL 0");
	ld(l_ss, D_NPSS);
	expect(12, D_NPSS, "SS <- not-present writable data: #SS");
	ld(l_ss, D_NPRO);
	expect(13, D_NPRO, "SS <- not-present read-only data: #GP first");
	CHECK_EQ(ld(l_ss, D_DATA0), D_DATA0, "SS <- RW data DPL 0");
	ld(l_ss, 0x20b);
	expect(13, 0x208, "SS <- beyond the GDT limit");
}

static void pops_and_far_pointers(void)
{
	static struct { uint32_t off; uint16_t sel; } __attribute__((packed)) fp;
	CHECK_EQ(call32(l_pop_ds, D_XO), 0, "POP DS fault: ESP unchanged");
	expect(13, D_XO, "POP DS <- execute-only code");
	call32(l_pop_ds, D_DATA0);
	expect(-1, 0, "POP DS <- data");
	fp.off = 0x12345678;
	fp.sel = D_NP;
	CHECK_EQ(call32(l_lds, (uint32_t)(uintptr_t)&fp), 0x11111111, "LDS fault: EBX unchanged");
	expect(11, D_NP, "LDS with a not-present segment");
	fp.sel = D_DATA0;
	CHECK_EQ(call32(l_lds, (uint32_t)(uintptr_t)&fp), 0x12345678, "LDS loads EBX");
	expect(-1, 0, "LDS good");
	fp.sel = D_RO;
	uint32_t r = call32(l_lss, (uint32_t)(uintptr_t)&fp);
	expect(13, D_RO, "LSS with read-only data");
	report(r != fp.off, "LSS fault: ESP unchanged");
	fp.sel = D_DATA0;
	fp.off = 0x00abcdef;
	CHECK_EQ(call32(l_lss, (uint32_t)(uintptr_t)&fp), 0x00abcdef, "LSS loads ESP");
}

static uint32_t acc(uint32_t sel, uint32_t off, uint32_t op, uint32_t val)
{
	static struct acc a;
	a.sel = sel;
	a.off = off;
	a.op = op;
	a.val = val;
	call32(l_access, (uint32_t)(uintptr_t)&a);
	return a.val;
}

static uint32_t acc_ss(uint32_t sel, uint32_t off)
{
	static struct acc a;
	a.sel = sel;
	a.off = off;
	call32(l_access_ss, (uint32_t)(uintptr_t)&a);
	return a.val;
}

static void accesses(void)
{
	buf[0xffc] = 0x11;
	buf[0xfff] = 0x44;
	CHECK_EQ(acc(D_SMALL, 0xffc, 2, 0) & 0xff, 0x11, "dword at the limit - 3: read");
	expect(-1, 0, "dword ending at the limit");
	acc(D_SMALL, 0xffd, 2, 0);
	expect(13, 0, "dword crossing the limit");
	CHECK_EQ(acc(D_SMALL, 0xfff, 0, 0), 0x44, "byte at the limit");
	acc(D_SMALL, 0x1000, 0, 0);
	expect(13, 0, "byte beyond the limit");
	acc(D_SMALL, 0xfff, 4, 0x1234);
	expect(13, 0, "word write crossing the limit");
	acc(D_RO, (uint32_t)(uintptr_t)buf, 3, 0x55);
	expect(13, 0, "write to read-only data");
	acc(D_RO, (uint32_t)(uintptr_t)buf, 0, 0);
	expect(-1, 0, "read from read-only data");
	acc(0, (uint32_t)(uintptr_t)buf, 0, 0);
	expect(13, 0, "read through a null ES");
	acc(D_CODE, (uint32_t)(uintptr_t)buf, 3, 0x55);
	expect(13, 0, "write through a code segment in ES");
	acc(D_CODE, (uint32_t)(uintptr_t)buf, 2, 0);
	expect(-1, 0, "read through a readable code segment in ES");
	/* expand-down, B = 1: valid offsets 0x1000 .. 0xffffffff */
	acc(D_EDN32, 0x800, 0, 0);
	expect(13, 0, "expand-down: offset below the limit");
	acc(D_EDN32, 0xfff, 0, 0);
	expect(13, 0, "expand-down: offset = limit");
	acc(D_EDN32, (uint32_t)(uintptr_t)buf, 2, 0);
	expect(-1, 0, "expand-down: offset above the limit");
	acc(D_EDN32, 0xffe, 2, 0);
	expect(13, 0, "expand-down: dword starting below the limit");
	acc(D_EDN32, 0xfffffffe, 2, 0);
	expect(13, 0, "expand-down B=1: dword past 4 GiB");
	/* expand-down, B = 0: valid offsets 0x1000 .. 0xffff */
	acc(D_EDN16, 0xfffe, 1, 0);
	expect(-1, 0, "expand-down B=0: word at 0xfffe");
	acc(D_EDN16, 0xffff, 1, 0);
	expect(13, 0, "expand-down B=0: word at 0xffff");
	acc(D_EDN16, 0x10000, 0, 0);
	expect(13, 0, "expand-down B=0: offset 0x10000");
	/* 16-bit data segment, limit 0xffff */
	acc(SEL_DATA16, 0xfffe, 1, 0);
	expect(-1, 0, "limit 0xffff: word at 0xfffe");
	acc(SEL_DATA16, 0xffff, 1, 0);
	expect(13, 0, "limit 0xffff: word at 0xffff");
	/* through SS: #SS(0) */
	acc_ss(D_EDN32, 0x800);
	expect(12, 0, "SS expand-down: offset below the limit: #SS(0)");
	acc_ss(D_HALF, 0x80000000);
	expect(12, 0, "SS: offset beyond the limit: #SS(0)");
	buf[0] = 0x77;
	CHECK_EQ(acc_ss(D_HALF, (uint32_t)(uintptr_t)buf) & 0xff, 0x77, "SS: offset inside the limit");
	/* CS-relative */
	call32(l_cs_read_xo, 0);
	expect(13, 0, "read through an execute-only CS");
	call32(l_cs_write, 0);
	expect(13, 0, "write through CS");
}

/* CPL 3 loads (ring 3 of the 32-bit world) */
static void user_loads(void)
{
	call32_user(u_ds, D_DATA0 | 3);
	expect(13, D_DATA0, "CPL 3: DS <- DPL 0 data");
	call32_user(u_ds, D_DATA2 | 3);
	expect(13, D_DATA2, "CPL 3: DS <- DPL 2 data");
	CHECK_EQ(call32_user(u_ds, D_DATA3 | 3), D_DATA3 | 3, "CPL 3: DS <- DPL 3 data");
	CHECK_EQ(call32_user(u_ds, D_CONF | 3), D_CONF | 3, "CPL 3: DS <- DPL 0 conforming code");
	call32_user(u_ds, D_CODE | 3);
	expect(13, D_CODE, "CPL 3: DS <- DPL 0 non-conforming code");
	CHECK_EQ(call32_user(u_ds, 0), 0, "CPL 3: DS <- null");
	call32_user(u_ss, 0);
	expect(13, 0, "CPL 3: SS <- null");
	call32_user(u_ss, D_DATA3);
	expect(13, D_DATA3, "CPL 3: SS <- RPL 0 DPL 3 data");
	call32_user(u_ss, D_DATA0 | 3);
	expect(13, D_DATA0, "CPL 3: SS <- DPL 0 data");
	CHECK_EQ(call32_user(u_ss, D_DATA3 | 3), D_DATA3 | 3, "CPL 3: SS <- DPL 3 data");
}

int main(int argc, char **argv)
{
	setup();
	data_loads();
	ldt_loads();
	ss_loads();
	pops_and_far_pointers();
	accesses();
	user_loads();
	return report_summary();
}
