/*
 * Far JMP / CALL / RET in 32-bit protected mode (SDM Vol. 2 "JMP", "CALL",
 * "RET"; Vol. 3A 5.8): code segments (conforming or not, RPL/DPL/CPL,
 * present, limit), 32- and 16-bit call gates with parameter copying and the
 * inner-privilege stack switch from the TSS (with its #TS/#SS checks),
 * RET to an outer privilege level with SS:ESP and the nulling of data
 * segments more privileged than the new CPL.
 */
#include "sys.h"

#define C0 0x60			/* code32 DPL 0, flat */
#define CC0 0x68		/* conforming code32 DPL 0 */
#define C3 0x70			/* code32 DPL 3 */
#define C16 0x78		/* code16 DPL 0, base fc_target16 */
#define D0 0x80			/* data DPL 0 */
#define G3 0x88			/* call gate 32, DPL 3 -> C0, 0 params */
#define G0 0x90			/* call gate 32, DPL 0 -> C0 */
#define G3P 0x98		/* call gate 32, DPL 3 -> C0, 2 params */
#define G16 0xa0		/* call gate 16, DPL 3 -> C16, 2 params */
#define GNP 0xa8		/* call gate, not present */
#define GNULL 0xb0		/* call gate -> null selector */
#define GDATA 0xb8		/* call gate -> data segment */
#define GOUT 0xc0		/* call gate DPL 0 -> C3 (outward) */
#define CNP 0xc8		/* code, not present */
#define CLIM 0xd0		/* code32 DPL 0, limit 0xfff */
#define C1 0xd8			/* code32 DPL 1 */
#define D1 0xe0			/* data DPL 1 (ring-1 stack) */
#define G1 0xe8			/* call gate 32, DPL 3 -> C1, 1 param */
#define DSMALL1 0xf0		/* data DPL 1, limit 0xfff */
#define D1NP 0xf8		/* data DPL 1, not present */
#define DSS0 0x100		/* data DPL 0, for TSS.SS0 */

/* far pointer and what the targets record */
struct far { uint32_t off; uint16_t sel; } __attribute__((packed));
struct far fc_ptr;
uint32_t fc_np, fc_p[2], fc_jmp, fc_retimm, fc_ds;
uint32_t fc_esp, fc_cs, fc_s[8], fc_hit;
uint32_t fc_esp_before, fc_esp_after, fc_r3_ds, fc_r3_es, fc_r3_fs, fc_r3_gs, fc_r3_cs;
uint16_t fc16_sp, fc16_s[8];

/*
 * fc_go: push fc_np params, far CALL (or JMP) through fc_ptr; back here
 * record ESP, CS and the data segment registers.  Runs at CPL 0 or 3;
 * results are written through SS (DS may have been nulled).
 */
CODE32(fc_go,
	"pushl %ebx\n\t"
	"movl %esp, %ss:fc_esp_before\n\t"
	X32_TRY("1f")
	"cmpl $1, %ss:fc_np\n\t"
	"jb 3f\n\t"
	"je 2f\n\t"
	"pushl %ss:fc_p+4\n"
	"2:\tpushl %ss:fc_p\n"
	"3:\tcmpl $0, %ss:fc_jmp\n\t"
	"jne 4f\n\t"
	"lcall *%ss:fc_ptr\n\t"
	"jmp 5f\n"
	"4:\tljmp *%ss:fc_ptr\n"
	"5:\t" X32_END_SS
	"1:\tmovl %esp, %ss:fc_esp_after\n\t"
	"movl %ds, %eax\n\t"
	"movl %eax, %ss:fc_r3_ds\n\t"
	"movl %es, %eax\n\t"
	"movl %eax, %ss:fc_r3_es\n\t"
	"movl %fs, %eax\n\t"
	"movl %eax, %ss:fc_r3_fs\n\t"
	"movl %gs, %eax\n\t"
	"movl %eax, %ss:fc_r3_gs\n\t"
	"movl %cs, %eax\n\t"
	"movl %eax, %ss:fc_r3_cs\n\t"
	"movl %ss:fc_esp_before, %esp\n\t"
	"popl %ebx\n\t"
	"movl %cs, %eax\n\t"
	"testl $3, %eax\n\t"
	"movl $0x20, %eax\n\t"
	"jz 6f\n\t"
	"movl $0x43, %eax\n"
	"6:\tmovw %ax, %ds\n\t"
	"movw %ax, %es\n\t"
	"movw %ax, %fs\n\t"
	"movw %ax, %gs\n\t"
	"ret");

/* the 32-bit target: record the stack, CS; optionally load DS; RETF */
CODE32(fc_target,
	"movl %esp, %ss:fc_esp\n\t"
	"movl %cs, %eax\n\t"
	"movl %eax, %ss:fc_cs\n\t"
	"movl $0, %ecx\n"
	"1:\tmovl %ss:(%esp, %ecx, 4), %eax\n\t"
	"movl %eax, %ss:fc_s(, %ecx, 4)\n\t"
	"incl %ecx\n\t"
	"cmpl $6, %ecx\n\t"
	"jb 1b\n\t"
	"incl %ss:fc_hit\n\t"
	"cmpl $0, %ss:fc_jmp\n\t"
	"jne 3f\n\t"
	"movl %ss:fc_ds, %eax\n\t"
	"testl %eax, %eax\n\t"
	"jz 2f\n\t"
	"movw %ax, %ds\n\t"
	"movw %ax, %gs\n\t"
	"movl $0x68, %eax\n\t"		/* conforming readable code survives */
	"movw %ax, %fs\n"
	"2:\tcmpl $0, %ss:fc_retimm\n\t"
	"jne 4f\n\t"
	"lret\n"
	"4:\tcmpl $4, %ss:fc_retimm\n\t"
	"je 6f\n\t"
	"lret $8\n"
	"6:\tlret $4\n"
	/* JMP: no return address; back to fc_go's label through a #UD */
	"3:\tud2");

/* the 16-bit target (code segment based here): record, back to 32-bit */
asm(".pushsection .text\n\t.balign 16\n\t.code16\n"
"fc_target16:\n\t"
	"movl $fc16_sp, %ebx\n\t"
	"movw %sp, (%ebx)\n\t"
	"movl $fc16_s, %ebx\n\t"
	"xorl %ecx, %ecx\n"
	"1:\tmovw (%esp, %ecx, 2), %ax\n\t"
	"movw %ax, (%ebx, %ecx, 2)\n\t"
	"incl %ecx\n\t"
	"cmpl $8, %ecx\n\t"
	"jb 1b\n\t"
	"ljmpl $0x18, $fc_back16\n\t"
	".code32\n"
"fc_back16:\n\t"
	"movl x32_fixup, %ecx\n\t"
	"movl $0, x32_fixup\n\t"
	"movl $0x20, %eax\n\t"
	"movl %eax, %ds\n\t"
	"movl %eax, %es\n\t"
	"movl %eax, %ss\n\t"
	"movl x32_fixup_esp, %esp\n\t"
	"jmp *%ecx\n\t"
	".code64\n\t"
	".popsection");
extern char fc_target16[];

/* RETF to an outer level from a hand-made frame (CPL 0 -> 3) */
CODE32(fc_retf_out,
	"pushal\n\t"
	"movl %esp, %ss:fc_esp_before\n\t"
	"movl $0x20, %eax\n\t"
	"movw %ax, %ds\n\t"		/* DPL 0 data: nulled */
	"movl $0x68, %eax\n\t"
	"movw %ax, %fs\n\t"		/* conforming code: kept */
	"movl $0x60, %eax\n\t"
	"movw %ax, %gs\n\t"		/* DPL 0 code: nulled */
	"movl $0x43, %eax\n\t"
	"movw %ax, %es\n\t"		/* DPL 3 data: kept */
	"movl %esp, %eax\n\t"
	"subl $64, %eax\n\t"
	"pushl $0x43\n\t"
	"pushl %eax\n\t"
	"pushl $0x3b\n\t"
	"pushl $1f\n\t"
	"lret\n"
	"1:\tmovl %ds, %eax\n\t"
	"movl %eax, %ss:fc_r3_ds\n\t"
	"movl %es, %eax\n\t"
	"movl %eax, %ss:fc_r3_es\n\t"
	"movl %fs, %eax\n\t"
	"movl %eax, %ss:fc_r3_fs\n\t"
	"movl %gs, %eax\n\t"
	"movl %eax, %ss:fc_r3_gs\n\t"
	"movl %cs, %eax\n\t"
	"movl %eax, %ss:fc_r3_cs\n\t"
	"movl %esp, %ss:fc_esp_after\n\t"
	/* back to ring 0 through a fault */
	"movl $2f, %ss:x32_fixup\n\t"
	"movl %ss:fc_esp_before, %eax\n\t"
	"movl %eax, %ss:x32_fixup_esp\n\t"
	"ud2\n"
	"2:\tpopal\n\t"
	"ret");

/* RETF with a frame given in fc_s[0..3] (EIP, CS, ESP, SS): faults expected */
CODE32(fc_retf_frame,
	"pushl %ebx\n\t"
	X32_TRY("1f")
	"pushl %ss:fc_s+12\n\t"
	"pushl %ss:fc_s+8\n\t"
	"pushl %ss:fc_s+4\n\t"
	"pushl %ss:fc_s\n\t"
	"lret\n"
	"1:\tpopl %ebx\n\t"
	"ret");

static void expect(int vec, uint32_t ec, const char *what)
{
	if (vec < 0)
		report(x32_exc.vector == -1, "%s: no exception (got %d ec %#x)", what,
		       x32_exc.vector, x32_exc.ec);
	else
		report(x32_exc.vector == vec && x32_exc.ec == ec,
		       "%s: vector %d ec %#x (got %d %#x)", what, vec, ec, x32_exc.vector, x32_exc.ec);
}

static void far_setup(uint16_t sel, uint32_t off, uint32_t np, bool jmp)
{
	fc_ptr.sel = sel;
	fc_ptr.off = off;
	fc_np = np;
	fc_p[0] = 0xaaaa1111;
	fc_p[1] = 0xbbbb2222;
	fc_jmp = jmp;
	fc_retimm = np ? 1 : 0;
	fc_ds = 0;
	fc_hit = 0;
	memset(fc_s, 0, sizeof(fc_s));
	fc_esp = fc_cs = 0;
}

static uint32_t T(void)
{
	return (uint32_t)(uintptr_t)fc_target;
}

static void setup(void)
{
	gdt_set(C0, seg_desc(0, 0xfffff, 0xc09b));
	gdt_set(CC0, seg_desc(0, 0xfffff, 0xc09f));
	gdt_set(C3, seg_desc(0, 0xfffff, 0xc0fb));
	gdt_set(C16, seg_desc((uint32_t)(uintptr_t)fc_target16, 0xffff, 0x009b));
	gdt_set(D0, seg_desc(0, 0xfffff, 0xc093));
	gdt_set(G3, gate_desc(C0, T(), 0xc, 3, 0));
	gdt_set(G0, gate_desc(C0, T(), 0xc, 0, 0));
	gdt_set(G3P, gate_desc(C0, T(), 0xc, 3, 2));
	gdt_set(G16, gate_desc(C16, 0, 0x4, 3, 2));
	gdt_set(GNP, gate_desc(C0, T(), 0xc, 3, 0) & ~(1ULL << 47));
	gdt_set(GNULL, gate_desc(0, T(), 0xc, 3, 0));
	gdt_set(GDATA, gate_desc(D0, T(), 0xc, 3, 0));
	gdt_set(GOUT, gate_desc(C3, T(), 0xc, 0, 0));
	gdt_set(CNP, seg_desc(0, 0xfffff, 0xc01b));
	gdt_set(CLIM, seg_desc(0, 0xfff, 0x409b));
	gdt_set(C1, seg_desc(0, 0xfffff, 0xc0bb));
	gdt_set(D1, seg_desc(0, 0xfffff, 0xc0b3));
	gdt_set(G1, gate_desc(C1, T(), 0xc, 3, 1));
	gdt_set(DSMALL1, seg_desc(0, 0xfff, 0x40b3));
	gdt_set(D1NP, seg_desc(0, 0xfffff, 0xc033));
}

static void jumps(void)
{
	gdt_set(C0, seg_desc(0, 0xfffff, 0xc09a));	/* accessed bit clear */
	far_setup(C0, T(), 0, true);
	call32(fc_go, 0);
	expect(6, 0, "JMP to non-conforming DPL 0 code (target ends with UD2)");
	CHECK_EQ(fc_cs, C0, "JMP: CS loaded");
	CHECK_EQ((gdt_get(C0) >> 40) & 1, 1, "JMP: accessed bit set in the code descriptor");
	far_setup(CC0, T(), 0, true);
	call32(fc_go, 0);
	expect(6, 0, "JMP to conforming DPL 0 code");
	CHECK_EQ(fc_cs, CC0, "JMP conforming: CS.RPL = CPL");
	far_setup(C3, T(), 0, true);
	call32(fc_go, 0);
	expect(13, C3, "JMP to DPL 3 non-conforming code from CPL 0");
	far_setup(C0 | 3, T(), 0, true);
	call32(fc_go, 0);
	expect(13, C0, "JMP with RPL 3 > CPL to non-conforming code");
	far_setup(D0, T(), 0, true);
	call32(fc_go, 0);
	expect(13, D0, "JMP to a data segment");
	far_setup(0, T(), 0, true);
	call32(fc_go, 0);
	expect(13, 0, "JMP to a null selector");
	far_setup(CNP, T(), 0, true);
	call32(fc_go, 0);
	expect(11, CNP, "JMP to a not-present code segment");
	far_setup(CLIM, 0x2000, 0, true);
	call32(fc_go, 0);
	expect(13, 0, "JMP beyond the code segment limit");
	CHECK_EQ(fc_hit, 0, "faulting JMPs did not reach the target");
	/* conforming code from CPL 3 keeps CPL 3 */
	far_setup(CC0 | 3, T(), 0, true);
	call32_user(fc_go, 0);
	expect(6, 0, "CPL 3: JMP to conforming DPL 0 code");
	CHECK_EQ(fc_cs, CC0 | 3, "CPL 3: conforming CS has RPL 3");
}

static void calls(void)
{
	far_setup(C0, T(), 0, false);
	call32(fc_go, 0);
	expect(-1, 0, "CALL far same privilege");
	CHECK_EQ(fc_esp, fc_esp_before - 8, "CALL far: 8 bytes pushed");
	CHECK_EQ(fc_s[1] & 0xffff, SEL_KCODE32, "CALL far: CS pushed");
	CHECK_EQ(fc_esp_after, fc_esp_before, "RETF: stack back");
	far_setup(C0, T(), 2, false);
	call32(fc_go, 0);
	CHECK_EQ(fc_s[2], 0xaaaa1111, "CALL far: caller's parameters above the return address");
	CHECK_EQ(fc_esp_after, fc_esp_before, "RETF 8 removes the parameters");
	/* call gate at the same privilege level: no stack switch, no copy */
	far_setup(G0, 0x12345678, 0, false);
	call32(fc_go, 0);
	expect(-1, 0, "CALL through a DPL 0 gate at CPL 0");
	CHECK_EQ(fc_cs, C0, "gate: CS from the gate");
	CHECK_EQ(fc_esp, fc_esp_before - 8, "gate same level: CS and EIP pushed");
	far_setup(G0, 0, 0, true);
	call32(fc_go, 0);
	expect(6, 0, "JMP through a call gate");
	CHECK_EQ(fc_esp, fc_esp_before, "JMP through a gate pushes nothing");
	far_setup(G0 | 3, 0, 0, false);
	call32(fc_go, 0);
	expect(13, G0, "gate RPL 3 > gate DPL 0");
	far_setup(GNP, 0, 0, false);
	call32(fc_go, 0);
	expect(11, GNP, "not-present call gate: #NP(gate)");
	far_setup(GNULL, 0, 0, false);
	call32(fc_go, 0);
	expect(13, 0, "gate to a null selector: #GP(0)");
	far_setup(GDATA, 0, 0, false);
	call32(fc_go, 0);
	expect(13, D0, "gate to a data segment");
	far_setup(GOUT, 0, 0, false);
	call32(fc_go, 0);
	expect(13, C3, "gate to less privileged code");
}

static void inner_calls(void)
{
	uint32_t esp0 = x32_tss.esp0;

	far_setup(G3, 0, 0, false);
	fc_ds = D0;
	gdt_set(C0, seg_desc(0, 0xfffff, 0xc09a));
	x32_tss.ss0 = DSS0;
	gdt_set(DSS0, seg_desc(0, 0xfffff, 0xc092));
	call32_user(fc_go, 0);
	x32_tss.ss0 = SEL_KDATA32;
	CHECK_EQ((gdt_get(C0) >> 40) & 1, 1, "inner call: accessed bit of the target code set");
	CHECK_EQ((gdt_get(DSS0) >> 40) & 1, 1, "inner call: accessed bit of the new SS set");
	expect(-1, 0, "CPL 3 CALL through a DPL 3 gate to DPL 0 code");
	CHECK_EQ(fc_cs, C0, "inner call: CS");
	CHECK_EQ(fc_esp, esp0 - 16, "inner call: new stack from TSS.ESP0, 4 dwords");
	CHECK_EQ(fc_s[1] & 0xffff, SEL_UCODE32 | 3, "inner call: caller CS pushed");
	CHECK_EQ(fc_s[2], fc_esp_before, "inner call: caller ESP pushed");
	CHECK_EQ(fc_s[3] & 0xffff, SEL_UDATA | 3, "inner call: caller SS pushed");
	CHECK_EQ(fc_r3_cs, SEL_UCODE32 | 3, "RETF to CPL 3");
	CHECK_EQ(fc_esp_after, fc_esp_before, "RETF: outer ESP restored");
	CHECK_EQ(fc_r3_ds, 0, "RETF to CPL 3: DS with a DPL 0 data segment nulled");
	CHECK_EQ(fc_r3_gs, 0, "RETF to CPL 3: GS nulled");
	CHECK_EQ(fc_r3_fs, CC0, "RETF to CPL 3: FS with conforming code kept");
	CHECK_EQ(fc_r3_es, SEL_UDATA | 3, "RETF to CPL 3: ES with DPL 3 data kept");

	far_setup(G3P, 0, 2, false);
	call32_user(fc_go, 0);
	expect(-1, 0, "CPL 3 CALL through a gate with 2 parameters");
	CHECK_EQ(fc_esp, esp0 - 24, "param gate: 6 dwords on the new stack");
	CHECK_EQ(fc_s[2], 0xaaaa1111, "param gate: parameter 0 copied");
	CHECK_EQ(fc_s[3], 0xbbbb2222, "param gate: parameter 1 copied");
	CHECK_EQ(fc_s[4], fc_esp_before - 8, "param gate: caller ESP points at the parameters");
	CHECK_EQ(fc_s[5] & 0xffff, SEL_UDATA | 3, "param gate: caller SS");
	CHECK_EQ(fc_esp_after, fc_esp_before, "RETF 8: both stacks popped");

	far_setup(G16, 0, 2, false);
	fc16_sp = 0;
	call32_user(fc_go, 0);
	expect(-1, 0, "CPL 3 CALL through a 16-bit gate");
	CHECK_EQ(fc16_sp, (uint16_t)(esp0 - 12), "16-bit gate: 6 words on the new stack");
	CHECK_EQ(fc16_s[1], SEL_UCODE32 | 3, "16-bit gate: CS word");
	CHECK_EQ(fc16_s[2], 0x1111, "16-bit gate: parameter word 0");
	CHECK_EQ(fc16_s[3], 0xaaaa, "16-bit gate: parameter word 1 (words, not dwords, copied)");
	CHECK_EQ(fc16_s[4], (uint16_t)(fc_esp_before - 8), "16-bit gate: caller SP word");
	CHECK_EQ(fc16_s[5], SEL_UDATA | 3, "16-bit gate: SS word");

	far_setup(G0 | 3, 0, 0, false);
	call32_user(fc_go, 0);
	expect(13, G0, "CPL 3 CALL through a DPL 0 gate");
	far_setup(G3, 0, 0, true);
	call32_user(fc_go, 0);
	expect(13, C0, "CPL 3 JMP through a gate to more privileged code");
	CHECK_EQ(fc_hit, 0, "faulting gate transfers did not reach the target");
}

/* CPL 3 -> 1 through G1: the ring-1 stack from TSS.SS1/ESP1 */
static void ring1_calls(void)
{
	static uint8_t stack1[256] __attribute__((aligned(16)));
	uint32_t top = (uint32_t)(uintptr_t)(stack1 + sizeof(stack1));

	x32_tss.ss1 = D1 | 1;
	x32_tss.esp1 = top;
	far_setup(G1, 0, 1, false);
	fc_retimm = 4;
	call32_user(fc_go, 0);
	expect(-1, 0, "CALL to ring 1");
	CHECK_EQ(fc_cs, C1 | 1, "ring 1: CS.RPL = 1");
	CHECK_EQ(fc_esp, top - 20, "ring 1: stack from TSS.ESP1, one parameter copied");
	CHECK_EQ(fc_s[2], 0xaaaa1111, "ring 1: parameter");
	CHECK_EQ(fc_r3_cs, SEL_UCODE32 | 3, "RETF 4 from ring 1 to ring 3");
	CHECK_EQ(fc_esp_after, fc_esp_before, "RETF 4: the parameter popped from the outer stack");
	fc_hit = 0;

	x32_tss.ss1 = 0;
	call32_user(fc_go, 0);
	expect(10, 0, "TSS.SS1 null: #TS(0)");
	x32_tss.ss1 = D1 | 2;
	call32_user(fc_go, 0);
	expect(10, D1, "TSS.SS1 with RPL 2: #TS(SS1)");
	x32_tss.ss1 = D0 | 1;
	call32_user(fc_go, 0);
	expect(10, D0, "TSS.SS1 with DPL 0: #TS(SS1)");
	x32_tss.ss1 = C1 | 1;
	call32_user(fc_go, 0);
	expect(10, C1, "TSS.SS1 is code: #TS(SS1)");
	x32_tss.ss1 = D1NP | 1;
	call32_user(fc_go, 0);
	expect(12, D1NP, "TSS.SS1 not present: #SS(SS1)");
	x32_tss.ss1 = DSMALL1 | 1;
	x32_tss.esp1 = 0x10;
	call32_user(fc_go, 0);
	expect(12, DSMALL1, "no room on the new stack: #SS(SS1)");
	x32_tss.ss1 = 0;
	x32_tss.esp1 = 0;
	CHECK_EQ(fc_hit, 0, "faulting inner calls did not reach the target");
}

static void returns(void)
{
	call32(fc_retf_out, 0);
	expect(6, 0, "hand-made RETF to CPL 3 ran");
	CHECK_EQ(fc_r3_cs, SEL_UCODE32 | 3, "RETF to outer level: CS");
	CHECK_EQ(fc_r3_ds, 0, "RETF to outer level: DS (DPL 0 data) nulled");
	CHECK_EQ(fc_r3_gs, 0, "RETF to outer level: GS (DPL 0 code) nulled");
	CHECK_EQ(fc_r3_fs, CC0, "RETF to outer level: FS (conforming code) kept");
	CHECK_EQ(fc_r3_es, SEL_UDATA | 3, "RETF to outer level: ES (DPL 3 data) kept");
	CHECK_EQ(fc_esp_after, fc_esp_before - 64, "RETF to outer level: ESP popped");

	/* from CPL 3: return to CPL 0 is refused */
	fc_s[0] = 0;
	fc_s[1] = SEL_KCODE32;
	fc_s[2] = 0;
	fc_s[3] = SEL_KDATA32;
	call32_user(fc_retf_frame, 0);
	expect(13, SEL_KCODE32, "RETF from CPL 3 to CS RPL 0");
	/* from CPL 0 to CPL 3 with SS RPL 0 */
	fc_s[1] = SEL_UCODE32 | 3;
	fc_s[3] = SEL_UDATA;
	call32(fc_retf_frame, 0);
	expect(13, SEL_UDATA, "RETF to CPL 3 with SS RPL 0");
	fc_s[3] = SEL_KDATA32 | 3;
	call32(fc_retf_frame, 0);
	expect(13, SEL_KDATA32, "RETF to CPL 3 with a DPL 0 SS");
	fc_s[3] = 0;
	call32(fc_retf_frame, 0);
	expect(13, 0, "RETF to CPL 3 with a null SS");
	fc_s[1] = C3;
	call32(fc_retf_frame, 0);
	expect(13, C3, "RETF to DPL 3 code with RPL 0");
	fc_s[1] = CNP;
	call32(fc_retf_frame, 0);
	expect(11, CNP, "RETF to a not-present code segment");
	fc_s[0] = 0x2000;
	fc_s[1] = CLIM;
	call32(fc_retf_frame, 0);
	expect(13, 0, "RETF beyond the code segment limit");
}

int main(int argc, char **argv)
{
	setup();
	jumps();
	calls();
	inner_calls();
	ring1_calls();
	returns();
	return report_summary();
}
