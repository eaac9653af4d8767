/*
 * Far transfers in IA-32e mode (SDM Vol. 2 "JMP", "CALL", "RET"; Vol. 3A
 * 5.8.3.1, 5.8.6): m16:32 and m16:64 far pointers, 64-bit call gates (16
 * bytes, no parameters, stack switch to TSS.RSPn with a null SS), the
 * checks on the gate and the target (L/D bits, upper type field), task
 * switches refused, and RETF to an outer level.
 */
#include "sys.h"

#define G3 0x60			/* 64-bit call gate DPL 3 -> KCODE64 (16 bytes) */
#define G0 0x70			/* 64-bit call gate DPL 0 -> KCODE64 */
#define GBAD 0x80		/* upper type field not 0 */
#define GCOMPAT 0x90		/* gate -> 32-bit code */
#define G16 0xa0		/* 16-bit call gate type: invalid in long mode */
#define CLD 0xb0		/* code with L = 1 and D = 1 */
#define TSS32 0xb8		/* available 32-bit TSS */
#define TGATE 0xc0		/* task gate */
#define C64_3 SEL_UCODE64

struct far32 { uint32_t off; uint16_t sel; } __attribute__((packed));
struct far64 { uint64_t off; uint16_t sel; } __attribute__((packed));
struct far32 fp32;
struct far64 fp64;
uint64_t t_rsp, t_s[6], t_ss, t_cs, t_hit;

static uint8_t ustack[4096] __attribute__((aligned(4096)));

/* 64-bit target: record RSP, the frame, SS and CS */
CODE64(t64,
	"movq %rsp, t_rsp\n\t"
	"movq (%rsp), %rax\n\tmovq %rax, t_s\n\t"
	"movq 8(%rsp), %rax\n\tmovq %rax, t_s+8\n\t"
	"movq 16(%rsp), %rax\n\tmovq %rax, t_s+16\n\t"
	"movq 24(%rsp), %rax\n\tmovq %rax, t_s+24\n\t"
	"movl %ss, %eax\n\tmovq %rax, t_ss\n\t"
	"movl %cs, %eax\n\tmovq %rax, t_cs\n\t"
	"incq t_hit\n\t"
	"lretq");
/* 32-bit-operand target (m16:32 call): RETF without REX.W */
CODE64(t64_32,
	"movq %rsp, t_rsp\n\t"
	"movq (%rsp), %rax\n\tmovq %rax, t_s\n\t"
	"incq t_hit\n\t"
	"lret");

static int far_call32(void)
{
	exc_clear();
	asm volatile(ASM_TRY("1f") "lcall *fp32\n1:" ::: "rax", "memory");
	return exc_last.vector;
}

static int far_call64(void)
{
	exc_clear();
	asm volatile(ASM_TRY("1f") "rex.W lcall *fp64\n1:" ::: "rax", "memory");
	return exc_last.vector;
}

static int far_jmp32(void)
{
	exc_clear();
	asm volatile(ASM_TRY("1f") "ljmp *fp32\n1:" ::: "rax", "memory");
	return exc_last.vector;
}

/* ring 3: CALL through the gate in fp32.sel, return RSP after it */
CODE64(u_call_gate,
	"lcall *fp32\n\t"
	"movq %rsp, %rax\n\t"
	USER_RET);
/* ring 3 after a RETF from ring 0: report DS, ES */
CODE64(u_segs,
	"movl %ds, %eax\n\t"
	"shll $16, %eax\n\t"
	"movw %es, %ax\n\t"
	USER_RET);

static void setup(void)
{
	uint64_t t = (uint64_t)(uintptr_t)t64;
	gdt_set16(G3, gate64_lo(SEL_KCODE64, t, 0xc, 3, 0), t >> 32);
	gdt_set16(G0, gate64_lo(SEL_KCODE64, t, 0xc, 0, 0), t >> 32);
	gdt_set16(GBAD, gate64_lo(SEL_KCODE64, t, 0xc, 3, 0), (t >> 32) | (0xcULL << 40));
	gdt_set16(GCOMPAT, gate64_lo(SEL_KCODE32, t, 0xc, 3, 0), t >> 32);
	gdt_set16(G16, gate64_lo(SEL_KCODE64, t, 0x4, 3, 0), t >> 32);
	gdt_set(CLD, seg_desc(0, 0xfffff, 0xe09b));
	gdt_set(TSS32, seg_desc((uint32_t)(uintptr_t)&tss, 0x67, 0x89));
	gdt_set(TGATE, gate_desc(TSS32, 0, 0x5, 3, 0));
	set_user((uint64_t)(uintptr_t)u_call_gate);
	set_user((uint64_t)(uintptr_t)u_segs);
	set_user((uint64_t)(uintptr_t)ustack);
	set_user((uint64_t)(uintptr_t)&fp32);	/* ring 3 reads the far pointer */
}

static void direct(void)
{
	uint64_t rsp;
	fp32.sel = SEL_KCODE64;
	fp32.off = (uint32_t)(uintptr_t)t64_32;
	t_hit = 0;
	asm volatile("mov %%rsp, %0" : "=r"(rsp));
	CHECK_EQ(far_call32(), EXC_NONE, "CALL m16:32 in 64-bit mode");
	CHECK_EQ(t_hit, 1, "m16:32: target reached");
	report(t_rsp < rsp && rsp - t_rsp <= 0x100, "m16:32: stack used");
	fp64.sel = SEL_KCODE64;
	fp64.off = (uint64_t)(uintptr_t)t64;
	CHECK_EQ(far_call64(), EXC_NONE, "CALL m16:64 (REX.W)");
	CHECK_EQ(t_s[1], SEL_KCODE64, "m16:64: 8-byte CS pushed");
	CHECK_EQ(t_cs, SEL_KCODE64, "m16:64: CS");

	/* a 64-bit offset above 4 GiB through m16:64 (Intel) */
	uint64_t hi = 0x0000004000000000ULL;
	uint64_t pg = (uint64_t)(uintptr_t)t64 & ~0xfffULL;
	map_page(hi, pg, PTE_W);
	map_page(hi + 0x1000, pg + 0x1000, PTE_W);
	fp64.off = hi + ((uint64_t)(uintptr_t)t64 & 0xfff);
	t_hit = 0;
	CHECK_EQ(far_call64(), EXC_NONE, "CALL m16:64 to an offset above 4 GiB");
	CHECK_EQ(t_hit, 1, "the 64-bit offset was used");

	fp32.sel = CLD;
	CHECK_EQ(far_jmp32(), 13, "JMP to code with L = 1 and D = 1: #GP");
	CHECK_EQ(exc_last.error_code, CLD, "... error code = selector");
	fp32.sel = CLD;
	CHECK_EQ(far_call32(), 13, "CALL to code with L = 1 and D = 1: #GP");
	exc_clear();
	asm volatile("mov %%rsp, %%rdx\n\t"
		     "pushq %0\n\t"
		     "pushq $1f\n\t"
		     ASM_TRY("1f")
		     "lretq\n"
		     "1:\tmov %%rdx, %%rsp" :: "i"(CLD) : "rdx", "memory");
	report(exc_last.vector == 13 && exc_last.error_code == CLD,
	       "RETF to code with L = 1 and D = 1: #GP(selector)");
	fp32.sel = TSS32;
	CHECK_EQ(far_jmp32(), 13, "JMP to a TSS in IA-32e mode: #GP");
	CHECK_EQ(exc_last.error_code, TSS32, "... error code = selector");
	fp32.sel = TGATE;
	CHECK_EQ(far_call32(), 13, "CALL to a task gate in IA-32e mode: #GP");
	CHECK_EQ(exc_last.error_code, TGATE, "... error code = selector");
}

static void gates(void)
{
	uint64_t rsp;
	fp32.off = 0xdeadbeef;	/* ignored with a gate */

	fp32.sel = G0;
	t_hit = 0;
	asm volatile("mov %%rsp, %0" : "=r"(rsp));
	CHECK_EQ(far_call32(), EXC_NONE, "CALL through a 64-bit gate at CPL 0");
	CHECK_EQ(t_hit, 1, "gate target reached");
	CHECK_EQ(t_s[1], SEL_KCODE64, "same level: 8-byte CS pushed");
	report(rsp - t_rsp < 0x100 && t_ss == SEL_KDATA, "same level: no stack switch");
	fp32.sel = GBAD;
	CHECK_EQ(far_call32(), 13, "gate with a non-zero upper type: #GP");
	CHECK_EQ(exc_last.error_code, GBAD, "... error code = gate selector");
	fp32.sel = GCOMPAT;
	CHECK_EQ(far_call32(), 13, "gate to compatibility-mode code: #GP");
	CHECK_EQ(exc_last.error_code, SEL_KCODE32, "... error code = code selector");
	fp32.sel = G16;
	CHECK_EQ(far_call32(), 13, "16-bit call gate in IA-32e mode: #GP");
	CHECK_EQ(exc_last.error_code, G16, "... error code = gate selector");

	/* from ring 3: stack switch to TSS.RSP0 with a null SS */
	fp32.sel = G3 | 3;
	t_hit = 0;
	exc_clear();
	uint64_t r = run_user64(u_call_gate, 0, ustack + sizeof(ustack));
	report(exc_last.vector == -1, "CPL 3 CALL through a DPL 3 64-bit gate (exc %d ec %#llx)",
	       exc_last.vector, (unsigned long long)exc_last.error_code);
	CHECK_EQ(t_hit, 1, "inner call: target reached");
	CHECK_EQ(t_rsp, tss.rsp[0] - 32, "inner call: RSP0 from the TSS, 4 quadwords");
	CHECK_EQ(t_ss, 0, "inner call: SS = null selector with RPL 0");
	CHECK_EQ(t_s[1], SEL_UCODE64 | 3, "inner call: caller CS");
	CHECK_EQ(t_s[2], (uint64_t)(uintptr_t)(ustack + sizeof(ustack)), "inner call: caller RSP");
	CHECK_EQ(t_s[3], SEL_UDATA | 3, "inner call: caller SS");
	CHECK_EQ(r, (uint64_t)(uintptr_t)(ustack + sizeof(ustack)), "RETF back to ring 3: RSP");
	fp32.sel = G0 | 3;
	exc_clear();
	run_user64(u_call_gate, 0, ustack + sizeof(ustack));
	report(exc_last.vector == 13 && exc_last.error_code == G0,
	       "CPL 3 CALL through a DPL 0 gate: #GP(gate)");
}

static void outer_return(void)
{
	uint16_t ds, es;
	asm volatile("mov %%ds, %0\n\tmov %%es, %1" : "=r"(ds), "=r"(es));
	asm volatile("mov %0, %%es" :: "r"((uint16_t)(SEL_UDATA | 3)));
	exc_clear();
	uint64_t r = run_user64_lret(u_segs, 0, ustack + sizeof(ustack));
	asm volatile("mov %0, %%ds\n\tmov %1, %%es" :: "r"(ds), "r"(es));
	CHECK_EQ(exc_last.vector, -1, "RETF (REX.W) to 64-bit ring 3");
	CHECK_EQ(r >> 16, 0, "RETF to CPL 3: DS with DPL 0 data nulled");
	CHECK_EQ(r & 0xffff, SEL_UDATA | 3, "RETF to CPL 3: ES with DPL 3 data kept");
}

int main(int argc, char **argv)
{
	setup();
	direct();
	gates();
	outer_return();
	return report_summary();
}
