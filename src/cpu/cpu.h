/* SPDX-License-Identifier: MIT */
/*
 * The virtual CPU: state, decoded-instruction record and the interfaces the
 * CPU's files share.  Nothing here is visible outside src/cpu, src/vmx,
 * src/svm and src/accel/emu.c.
 *
 * Fault model: an instruction that faults stops at once by longjmp to the
 * run loop (cpu_raise*), with the architectural state as it was before the
 * instruction except where the SDM says otherwise.  Handlers therefore do
 * every access that can fault before they commit register state.
 */
#ifndef NV_CPU_H
#define NV_CPU_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "nestvm/nestvm.h"

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define NORETURN __attribute__((noreturn))
#define UNUSED __attribute__((unused))

struct cpu;
struct insn;
struct vm;
struct blk;

/* ---- registers ---------------------------------------------------------- */

enum { R_AX, R_CX, R_DX, R_BX, R_SP, R_BP, R_SI, R_DI,
       R_R8, R_R9, R_R10, R_R11, R_R12, R_R13, R_R14, R_R15,
       R_NONE /* always 0: lets effective-address arithmetic be branch free */ };

enum { S_ES, S_CS, S_SS, S_DS, S_FS, S_GS, S_LDTR, S_TR, S_NSEG };

/* Segment register, attributes in the VMX access-rights layout. */
#define AR_TYPE 0x000f
#define AR_S 0x0010
#define AR_DPL_SHIFT 5
#define AR_DPL 0x0060
#define AR_P 0x0080
#define AR_AVL 0x1000
#define AR_L 0x2000
#define AR_DB 0x4000
#define AR_G 0x8000
#define AR_UNUSABLE 0x10000
struct seg {
	uint64_t base;
	uint32_t limit;		/* byte granular */
	uint32_t ar;
	uint16_t sel;
};

struct dtr {
	uint64_t base;
	uint16_t limit;
};

/* RFLAGS */
#define F_CF 0x0001
#define F_FIXED 0x0002
#define F_PF 0x0004
#define F_AF 0x0010
#define F_ZF 0x0040
#define F_SF 0x0080
#define F_TF 0x0100
#define F_IF 0x0200
#define F_DF 0x0400
#define F_OF 0x0800
#define F_IOPL 0x3000
#define F_NT 0x4000
#define F_RF 0x10000
#define F_VM 0x20000
#define F_AC 0x40000
#define F_VIF 0x80000
#define F_VIP 0x100000
#define F_ID 0x200000
#define F_ARITH (F_CF | F_PF | F_AF | F_ZF | F_SF | F_OF)

/* CR0 / CR4 / EFER */
#define CR0_PE (1ULL << 0)
#define CR0_MP (1ULL << 1)
#define CR0_EM (1ULL << 2)
#define CR0_TS (1ULL << 3)
#define CR0_ET (1ULL << 4)
#define CR0_NE (1ULL << 5)
#define CR0_WP (1ULL << 16)
#define CR0_AM (1ULL << 18)
#define CR0_NW (1ULL << 29)
#define CR0_CD (1ULL << 30)
#define CR0_PG (1ULL << 31)
#define CR4_VME (1ULL << 0)
#define CR4_PVI (1ULL << 1)
#define CR4_TSD (1ULL << 2)
#define CR4_DE (1ULL << 3)
#define CR4_PSE (1ULL << 4)
#define CR4_PAE (1ULL << 5)
#define CR4_MCE (1ULL << 6)
#define CR4_PGE (1ULL << 7)
#define CR4_PCE (1ULL << 8)
#define CR4_OSFXSR (1ULL << 9)
#define CR4_OSXMMEXCPT (1ULL << 10)
#define CR4_UMIP (1ULL << 11)
#define CR4_LA57 (1ULL << 12)
#define CR4_VMXE (1ULL << 13)
#define CR4_SMXE (1ULL << 14)
#define CR4_FSGSBASE (1ULL << 16)
#define CR4_PCIDE (1ULL << 17)
#define CR4_OSXSAVE (1ULL << 18)
#define CR4_SMEP (1ULL << 20)
#define CR4_SMAP (1ULL << 21)
#define CR4_PKE (1ULL << 22)
#define CR4_CET (1ULL << 23)
#define CR4_PKS (1ULL << 24)
#define EFER_SCE (1ULL << 0)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)
#define EFER_NXE (1ULL << 11)
#define EFER_SVME (1ULL << 12)
#define EFER_FFXSR (1ULL << 14)

/* Exception vectors */
enum { EXC_DE = 0, EXC_DB = 1, EXC_NMI = 2, EXC_BP = 3, EXC_OF = 4, EXC_BR = 5,
       EXC_UD = 6, EXC_NM = 7, EXC_DF = 8, EXC_TS = 10, EXC_NP = 11, EXC_SS = 12,
       EXC_GP = 13, EXC_PF = 14, EXC_MF = 16, EXC_AC = 17, EXC_MC = 18,
       EXC_XM = 19, EXC_VE = 20, EXC_CP = 21 };

/* #PF error code */
#define PFEC_P 0x1
#define PFEC_W 0x2
#define PFEC_U 0x4
#define PFEC_RSVD 0x8
#define PFEC_I 0x10
#define PFEC_PK 0x20

/* DR6 / DR7 */
#define DR6_B0_3 0xfULL
#define DR6_BD (1ULL << 13)
#define DR6_BS (1ULL << 14)
#define DR6_BT (1ULL << 15)
#define DR6_RTM (1ULL << 16)
#define DR6_ACTIVE_LOW 0xffff0ff0ULL
#define DR7_GD (1ULL << 13)

/* ---- lazy flags --------------------------------------------------------- */

/*
 * The six arithmetic flags are kept as (operation, result, operands) and
 * computed when read.  cc_op = CC_EAGER means they are in cpu->rflags.
 * Operations are grouped by size: CC_x + sz where sz = 0..3 (8..64 bit).
 */
enum {
	CC_EAGER = 0,
	CC_ADD = 4, CC_ADC = 8, CC_SUB = 12, CC_SBB = 16, CC_LOGIC = 20,
	CC_INC = 24, CC_DEC = 28, CC_SHL = 32, CC_SHR = 36, CC_SAR = 40,
	CC_NEG = 44, CC_MUL = 48, CC_BLSI = 52, CC_BLSMSK = 56, CC_BLSR = 60,
	CC_BMI = 64, CC_POPCNT = 68,
	CC_NOPS = 72
};

/* ---- events (src/cpu/event.c) ------------------------------------------- */

/* event type, encoded as in the VMX interruption-information field */
enum {
	EVT_EXT_INTR = 0, EVT_NMI = 2, EVT_HW_EXC = 3, EVT_SOFT_INTR = 4,
	EVT_PRIV_SOFT_EXC = 5, EVT_SOFT_EXC = 6
};

struct evt_exc {
	bool pending;		/* recognised, delivery not started */
	bool injected;		/* delivery started or requested */
	bool has_error_code;
	bool has_payload;
	bool nested;		/* FRED "nested" flag (seed 000) */
	uint8_t vector;
	uint8_t type;		/* EVT_HW_EXC, EVT_SOFT_EXC (INT3/INTO), EVT_PRIV_SOFT_EXC (INT1) */
	uint8_t inst_len;	/* for software exceptions */
	uint32_t error_code;
	uint64_t payload;	/* CR2 for #PF, DR6 bits (positive polarity) for #DB */
};

struct evt_state {
	struct evt_exc exc;
	struct evt_exc exc_vmexit;	/* pending exception L1 intercepts (guest mode) */
	bool exc_from_user;		/* set by SET_VCPU_EVENTS, intercept check deferred */
	uint8_t nmi_pending;		/* 0..2 */
	bool nmi_injected;
	bool nmi_masked;
	bool intr_injected;
	bool intr_soft;
	uint8_t intr_nr;
	uint8_t intr_inst_len;
	uint8_t shadow;			/* KVM_X86_SHADOW_INT_MOV_SS | _STI */
	bool smi_pending;
	bool smm;
	bool smm_inside_nmi;
	bool latched_init;
	bool triple_fault;		/* shutdown decided, not yet acted on */
	uint64_t pending_dbg;		/* trap-like #DB bits for the current instruction */
	uint8_t shadow_next;		/* shadow created by the instruction being executed */
};

/*
 * Hook for a nested hypervisor (src/vmx, src/svm): asked before an
 * exception, NMI or interrupt is delivered in guest mode whether L1
 * intercepts it.  Returns true if it took the event (performed a VM exit).
 */
struct nested_ops {
	bool (*intercept_exception)(struct cpu *c, const struct evt_exc *e);
	bool (*intercept_nmi)(struct cpu *c);
	bool (*intercept_intr)(struct cpu *c);
	bool (*triple_fault)(struct cpu *c);
};

/* ---- decoded instructions ----------------------------------------------- */

typedef void (*insn_fn)(struct cpu *c, const struct insn *i);
typedef void (*jit_fn)(struct cpu *c);

#define BLK_MAX_INSNS 64

struct insn {
	insn_fn fn;
	uint64_t imm;		/* immediate (sign-extended where the ISA says) */
	uint64_t disp;		/* displacement; RIP-relative folded in (absolute) */
	uint64_t rip;		/* RIP of this instruction */
	uint16_t op;		/* map << 8 | opcode byte */
	uint8_t len;
	uint8_t osz;		/* operand size in bytes: 1, 2, 4, 8 (16 for some SSE) */
	uint8_t asz;		/* address size in bytes: 2, 4, 8 */
	uint8_t seg;		/* segment of the memory operand */
	uint8_t base;		/* R_NONE when absent */
	uint8_t index;		/* R_NONE when absent */
	uint8_t scale;		/* shift count */
	uint8_t reg;		/* ModRM.reg with REX.R (0x20 | n: legacy high byte register) */
	uint8_t rm;		/* ModRM.rm with REX.B when mod = 3 (0x20 | n as above) */
	uint8_t mem;		/* operand is in memory */
	uint8_t modrm;
	uint8_t pfx;		/* PFX_* */
	uint8_t rex;
	uint8_t imm2;		/* second immediate (ENTER level, EXTRQ, ...) */
	uint8_t vex_l;		/* VEX.L */
	uint8_t vex_v;		/* VEX.vvvv (register number, not inverted) */
	uint8_t aux;		/* handler specific (ALU op, condition code, ...) */
	uint8_t end;		/* ends its block: the handler sets RIP */
	uint8_t mp;		/* mandatory prefix: 0 none, 1 66, 2 F3, 3 F2 */
	uint8_t map;		/* 0 one-byte, 2 0F, 3 0F38, 4 0F3A */
	uint8_t fk;		/* FK_*: what a specialised handler does (for the JIT) */
};

#define PFX_LOCK 0x01
#define PFX_REP 0x02		/* F3 */
#define PFX_REPNE 0x04		/* F2 */
#define PFX_OPSZ 0x08		/* 66 */
#define PFX_ADSZ 0x10		/* 67 */
#define PFX_VEX 0x20
#define PFX_REXW 0x40
#define PFX_SEG 0x80		/* explicit segment override */

/* A block: a straight-line run of decoded instructions (decode cache). */
struct blk {
	uint64_t rip;
	uint64_t cs_base;
	uint64_t phys[2];	/* physical pages holding the code (phys[1] = ~0 if one) */
	uint16_t off[2], end[2];	/* byte range used in each page */
	uint32_t mode;
	uint16_t n;
	uint8_t dead;
	uint8_t ends_branch;	/* the last instruction sets RIP itself */
	uint32_t vgen;		/* vm->run_gen when the bytes were last verified */
	uint8_t *bytes;		/* copy of the code bytes, to detect writes by the VMM */
	struct blk *hnext;	/* hash chain */
	struct blk *pnext[2];	/* per-page chains */
	struct blk *succ[2];	/* successors seen (block chaining) */
	jit_fn jit;		/* compiled host code (jit.c), or NULL */
	uint32_t hot;		/* executions, until compiled */
	struct insn insn[];
};

/* ---- the software TLB ----------------------------------------------------- */

#define TLB_BITS 15
#define TLB_SIZE (1u << TLB_BITS)
#define TLB_MASK (TLB_SIZE - 1)
#define TLB_INVALID (~0ULL)
/*
 * Tags carry an epoch in their low 12 bits, so a flush is one increment
 * (a full clear every 4094 flushes).  TLB_INVALID never matches.
 */
#define TLB_EPOCH_MAX 0xffe
struct tlb_ent {
	uint64_t tag_r;		/* page address if readable through the fast path */
	uint64_t tag_w;		/* ... writable (dirty set, not code, not watched) */
	uint64_t tag_x;		/* ... executable */
	uintptr_t addend;	/* host = lin + addend */
	uint64_t gpa;		/* guest-physical page */
};

/* TLB sets: supervisor, user, and an always-empty set (forces slow path) */
enum { TLB_SUP, TLB_USER, TLB_NONE, TLB_NSETS };

/* ---- MSR-visible state that lives in the CPU ------------------------------ */

struct x87_reg {
	uint64_t mant;
	uint16_t exp;		/* sign in bit 15 */
};

struct fpu_state {
	struct x87_reg st[8];	/* physical registers R0..R7 */
	uint16_t fcw, fsw, ftw;	/* ftw: full 2-bit tag word */
	uint16_t fop;
	uint64_t fip, fdp;
	uint16_t fcs, fds;
	uint32_t mxcsr;
	uint8_t top_cache;
	/* 32 vector registers of 512 bits (YMM/ZMM room; AVX-512 not exposed) */
	union {
		uint8_t b[64];
		uint16_t w[32];
		uint32_t d[16];
		uint64_t q[8];
		float f[16];
		double g[8];
	} x[32];
	uint64_t xcr0;
	uint64_t xss;
};

/* The CPU model (src/cpu/cpuid.c) */
#define VENDOR_INTEL 0
#define VENDOR_AMD 1
struct cpuid_ent {
	uint32_t fn, idx, flags, eax, ebx, ecx, edx;
};
#define CPUID_MAX_ENT 256	/* KVM_MAX_CPUID_ENTRIES */
struct cpu_model {
	int vendor;
	char name[48];
	struct cpuid_ent ent[CPUID_MAX_ENT];
	int nent;
	uint32_t maxphyaddr;
	/* decoded feature bits used on hot paths */
	uint64_t feat;
};
enum {
	FEAT_NX, FEAT_PDPE1GB, FEAT_LA57, FEAT_PCID, FEAT_INVPCID, FEAT_SMEP,
	FEAT_SMAP, FEAT_PKU, FEAT_UMIP, FEAT_FSGSBASE, FEAT_XSAVE, FEAT_AVX,
	FEAT_AVX2, FEAT_BMI1, FEAT_BMI2, FEAT_ADX, FEAT_POPCNT, FEAT_LZCNT,
	FEAT_MOVBE, FEAT_RDRAND, FEAT_RDSEED, FEAT_RDTSCP, FEAT_RDPID,
	FEAT_SSE3, FEAT_SSSE3, FEAT_SSE41, FEAT_SSE42, FEAT_CX16, FEAT_X2APIC,
	FEAT_TSC_DEADLINE, FEAT_VMX, FEAT_SVM, FEAT_XSAVEOPT, FEAT_XSAVEC,
	FEAT_XSAVES, FEAT_CLFLUSHOPT, FEAT_CLWB, FEAT_SYSCALL, FEAT_LM,
	FEAT_MONITOR, FEAT_SSE4A, FEAT_PCLMUL, FEAT_AES, FEAT_FMA, FEAT_F16C,
	FEAT_SHA, FEAT_CET_IBT, FEAT_LAHF64, FEAT_PREFETCHW, FEAT_MISALIGNSSE,
	FEAT_ABM, FEAT_SEP, FEAT_XGETBV1, FEAT_CLZERO, FEAT_RDPRU, FEAT_PAT,
	FEAT_ERMS, FEAT_FSRM, FEAT_HLE, FEAT_RTM, FEAT_TSC_ADJUST, FEAT_ARAT,
};
#define HAS(c, f) (((c)->model->feat >> (f)) & 1)

/* MSR numbers used across files */
#define MSR_TSC 0x10
#define MSR_APIC_BASE 0x1b
#define MSR_FEATURE_CONTROL 0x3a
#define MSR_TSC_ADJUST 0x3b
#define MSR_SYSENTER_CS 0x174
#define MSR_SYSENTER_ESP 0x175
#define MSR_SYSENTER_EIP 0x176
#define MSR_DEBUGCTL 0x1d9
#define MSR_PAT 0x277
#define MSR_MISC_ENABLE 0x1a0
#define MSR_TSC_DEADLINE 0x6e0
#define MSR_XSS 0xda0
#define MSR_EFER 0xc0000080
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_FMASK 0xc0000084
#define MSR_FS_BASE 0xc0000100
#define MSR_GS_BASE 0xc0000101
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MSR_TSC_AUX 0xc0000103

struct msr_state {
	uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
	uint64_t star, lstar, cstar, fmask, kernel_gs_base, tsc_aux;
	uint64_t pat, debugctl, misc_enable, feature_control, tsc_adjust;
	uint64_t tsc_offset;	/* guest TSC = clock + tsc_offset */
	uint64_t mtrr_cap, mtrr_def_type, mtrr_fixed[11], mtrr_var[16];
	uint64_t mcg_status, mcg_cap, mcg_ctl;
	uint64_t mc_bank[4 * 10];	/* 10 banks: CTL, STATUS, ADDR, MISC */
	uint64_t pmc[8], perfevtsel[8], fixed_ctr[4], fixed_ctr_ctrl;
	uint64_t perf_global_ctrl, perf_global_status, perf_global_ovf_ctrl;
	uint64_t spec_ctrl, pred_cmd_dummy, tsc_deadline;
	uint64_t pkrs, u_cet, s_cet;
	uint64_t smbase;
	uint64_t amd_hwcr, amd_vm_cr, amd_hsave_pa, amd_syscfg;
};

/* Local APIC (src/cpu/lapic.c) */
struct lapic;

/* ---- the CPU ------------------------------------------------------------ */

/* decode mode: code size and the few mode bits decoding depends on */
#define MODE_CS16 0
#define MODE_CS32 1
#define MODE_CS64 2
#define MODE_REAL 4
#define MODE_V86 8
#define MODE_USER 16		/* CPL 3: blocks are keyed by it (fetch U/S, SMEP) */

/* why the inner loop must stop after the current instruction */
#define BRK_EXIT 0x01		/* an exit to the VMM is ready */
#define BRK_SMC 0x02		/* the running block was invalidated */
#define BRK_EVENT 0x04		/* an event may have become deliverable */
#define BRK_MODE 0x08		/* decode mode or single-step state changed */
#define BRK_REP 0x10		/* a string instruction stopped between iterations */
#define BRK_IO 0x20		/* replayed I/O data was consumed: retire it */
#define BRK_BLKEND 0x40	/* the block-end sentinel stopped the chain (accounted) */
#define BRK_CHAIN 0x80		/* the sentinel chained: continue at cpu->ip */

/* MMIO / port-I/O read results returned by the VMM, replayed on re-execution */
#define IO_MAXQ 4

struct cpu {
	/* hot: registers, flags, TLB selection */
	uint64_t gpr[R_NONE + 1];
	uint64_t rip;
	uint64_t rflags;	/* arithmetic flags valid only if cc_op == CC_EAGER */
	uint64_t cc_res, cc_src1, cc_src2;
	uint32_t cc_op;
	uint32_t brk;
	struct tlb_ent *tlb_cur;	/* for explicit data accesses at the current CPL */
	const struct insn *cur;	/* instruction being executed */
	const struct insn *ip;	/* next instruction of the chained loop */
	const struct blk *cur_blk;
	uint64_t seg_ebase[S_NSEG];	/* effective base: 0 for ES/CS/SS/DS in 64-bit mode */
	uint64_t seg_elim[S_NSEG];	/* limit for the fast check; ~0 in 64-bit mode */
	uint32_t seg_fast;	/* bit s: segment s needs only the limit check (read) */
	uint32_t seg_fast_w;	/* bit s: ... and is writable */
	uint64_t lin_mask;	/* 0xffffffff outside 64-bit mode */
	uint64_t idle;		/* virtual time spent waiting (halted, wait-for-SIPI) */
	uint64_t clock;		/* virtual time of this vCPU (ns = TSC ticks) */
	uint64_t budget_end;	/* stop when clock reaches this (~0 = never) */
	uint64_t stop_at;	/* min(budget_end, next timer deadline) */

	struct seg seg[S_NSEG];
	struct dtr gdtr, idtr;
	uint64_t cr0, cr2, cr3, cr4, efer;
	uint64_t pdpte[4];
	uint64_t dr[8];		/* dr[4], dr[5] unused (aliases) */
	int cpl;
	uint32_t mode;		/* MODE_* for decoding */
	bool halted;
	bool shutdown;		/* triple fault reported; stays until reset */
	bool extint_pending;	/* KVM_INTERRUPT from the VMM's PIC */
	uint8_t extint_vector;
	uint32_t mp_state;	/* KVM_MP_STATE_* */
	uint8_t sipi_vector;
	bool mwait_armed;	/* MONITOR armed (src/cpu/smp.c) */
	bool mwait_wait;	/* waiting in MWAIT */
	bool mwait_break;	/* MWAIT ECX[0]: interrupts end the wait even with IF = 0 */
	uint64_t monitor_addr;	/* guest-physical line address */
	uint8_t monitor_line[64];	/* its contents at MONITOR time */
	uint64_t pause_until;	/* PAUSE in an SMP VM: idle until this clock (0 = no) */
	uint32_t pkru;
	bool a20;

	struct fpu_state fpu;
	struct msr_state msr;
	struct evt_state evt;
	struct lapic *apic;
	const struct cpu_model *model;
	struct cpu_model model_own;	/* per vCPU copy after SET_CPUID2 */

	struct tlb_ent *tlb[TLB_NSETS];	/* TLB_NONE is a shared, always-empty set */
	uint64_t tlb_epoch;
	bool tlb_large;		/* some entries come from large pages */

	/* jump cache: linear RIP -> block */
#define JC_BITS 12
	struct blk *jc[1 << JC_BITS];

	/* I/O exits */
	struct kvm_run *run;
	uint64_t io_resp[IO_MAXQ];
	int io_nresp;		/* responses available for this instruction */
	int io_used;		/* responses consumed by the current execution */
	bool io_exit_after;	/* a write exit is queued; stop after the instruction */

	/* run control */
	jmp_buf jb;
	uint64_t rep_done;	/* REP iterations completed by the running instruction */
	uint64_t jit_tmp;	/* scratch for compiled code */
	uint64_t faults;	/* instructions that faulted (counted in the clock) */
	bool in_delivery;
	const char *internal_why;
	bool single_step;	/* execute one instruction per block */
	uint8_t ss_buf[sizeof(struct blk) + sizeof(struct insn)] __attribute__((aligned(16)));
	bool guest_debug_ss;	/* KVM_GUESTDBG_SINGLESTEP */
	bool rf_keep;		/* the instruction loaded RF (IRET): do not clear it */
	/*
	 * A fault raised after an instruction's architectural commit point
	 * (a task switch has loaded the new task's state, SDM 7.3 step 13)
	 * belongs to the new context: RIP stays as set, the instruction
	 * counts as executed.  Set and cleared by the instruction.
	 */
	bool flt_keep_rip;
	bool sw_int;		/* the instruction delivered INT n/INT3/INTO/INT1 */
	bool init_pending, sipi_pending;
	int eoi_exit_vector;	/* level-triggered EOI for the VMM's IOAPIC, -1 none */
	/* fault being raised */
	struct { int vec; bool has_ec; uint32_t ec; bool has_payload; uint64_t payload; } flt;
	/* queued MMIO / port writes (exits after the instruction) */
	struct { uint64_t addr; uint64_t data; uint8_t size; uint8_t is_io; } wq[64];
	int wq_n, wq_pos;
	int io_in_pending;	/* size of the IN / MMIO read the VMM answers, 0 none */
	uint32_t guest_debug;
	bool immediate_exit;
	int id;
	struct vm *vm;

	/* nested virtualization (src/vmx, src/svm) */
	const struct nested_ops *nested;
	void *nested_state;
	bool guest_mode;

	/* statistics */
	uint64_t stat_blocks, stat_decoded, stat_tlb_miss;
};

/* ---- the VM (emulator engine) ------------------------------------------ */

#define VM_MAX_SLOTS 32
#define VM_MAX_VCPUS 256
struct memslot {
	uint64_t gpa, size;
	uint8_t *host;
	uint32_t slot, flags;
	uint64_t *code;		/* per 4 KiB page: 64-byte chunks holding decoded code */
	struct blk **blocks;	/* per page: chain of blocks */
};

struct vm {
	struct memslot slots[VM_MAX_SLOTS];
	int nslots;
	struct cpu *vcpu[VM_MAX_VCPUS];
	int nvcpus;
	struct cpu_model model;
	bool cap_exception_payload;
	bool cap_triple_fault_event;
	bool cap_nested_flag;
	uint32_t nested_flag_cap;
	bool strict;		/* strict-SDM mode instead of KVM-compatible */
	/* decode cache */
	uint8_t *arena;
	size_t arena_size, arena_used;
	struct blk **bhash;
	uint32_t bhash_mask;
	uint64_t code_gen;	/* bumped on full flush */
	/*
	 * Bumped whenever the VMM may have written guest memory (each run
	 * entry): cached blocks re-check their bytes once per generation.
	 */
	uint32_t run_gen;
	struct jit *jit;	/* the block compiler's code buffer */
	bool jit_off;		/* no compiler (disabled, or no executable memory) */
	uint32_t jit_threshold;	/* executions before a block is compiled */
	/*
	 * Virtual time of the latest VMM action: the clock of the vCPU that
	 * last returned from cpu_run.  Interrupt messages the VMM sends
	 * (KVM_SIGNAL_MSI) carry it (lapic.c).
	 */
	uint64_t now;
	/* deterministic random generator for RDRAND/RDSEED */
	uint64_t rng_state;
	/* I/O APIC EOI broadcast needs the VMM: vectors are reported by exit */
};

/* ---- functions shared between CPU files --------------------------------- */

/* faults (never return) */
NORETURN void cpu_raise(struct cpu *c, int vec);
NORETURN void cpu_raise_ec(struct cpu *c, int vec, uint32_t ec);
NORETURN void cpu_raise_pf(struct cpu *c, uint64_t lin, uint32_t ec);
NORETURN void cpu_raise_db(struct cpu *c, uint64_t dr6_bits);
NORETURN void cpu_ud(struct cpu *c);
NORETURN void cpu_gp0(struct cpu *c);
/* leave the instruction loop with an exit to the VMM (state as before it) */
NORETURN void cpu_exit_now(struct cpu *c);
/* internal error: report and stop the VM */
NORETURN void cpu_internal_error(struct cpu *c, const char *why);

/* flags.c */
uint64_t cc_flags(const struct cpu *c);		/* the six arithmetic flags */
bool cc_cond(const struct cpu *c, int cond);	/* Jcc/SETcc/CMOVcc condition */
uint64_t cpu_get_rflags(const struct cpu *c);
void cpu_set_rflags_raw(struct cpu *c, uint64_t v);	/* no checks */
static inline void cc_set(struct cpu *c, uint32_t op, uint64_t res,
			  uint64_t s1, uint64_t s2)
{
	c->cc_op = op;
	c->cc_res = res;
	c->cc_src1 = s1;
	c->cc_src2 = s2;
}
/* materialise flags into rflags and switch to eager mode */
static inline void cc_flush(struct cpu *c)
{
	if (c->cc_op != CC_EAGER) {
		c->rflags = (c->rflags & ~(uint64_t)F_ARITH) | cc_flags(c);
		c->cc_op = CC_EAGER;
	}
}
static inline bool cc_cf(const struct cpu *c)
{
	return cc_flags(c) & F_CF;
}

/* mmu.c */
#define ACC_R 0
#define ACC_W 1
#define ACC_X 2
#define ACC_USER 4		/* access is made at CPL 3 (explicit) */
#define ACC_IMPLICIT 8		/* supervisor-mode implicit access (tables, TSS) */
#define ACC_PROBE 16		/* do not fault; return failure */
#define ACC_NOSET 32		/* do not set accessed/dirty bits */
#define ACC_SS 64		/* stack reference: #SS(0) for a non-canonical address */
#define ACC_FORCE_SUP 128	/* explicit supervisor access regardless of CPL (event delivery) */
struct walk {
	uint64_t gpa;
	uint32_t pfec;		/* error code if it faults */
	bool fault;
	bool writable, user, nx, global, dirty;
	uint32_t pkey;
	uint64_t page_size;
	bool large;
};
int mmu_tlb_alloc(struct cpu *c);
void mmu_tlb_free(struct cpu *c);
void mmu_flush(struct cpu *c);
void mmu_flush_page(struct cpu *c, uint64_t lin);
void mmu_flush_all_vcpus(struct vm *vm);
bool mmu_translate(struct cpu *c, uint64_t lin, int acc, struct walk *w);
uint64_t mmu_lin_to_gpa(struct cpu *c, uint64_t lin, int acc);	/* faults */
int mmu_load_pdptrs(struct cpu *c, uint64_t cr3);	/* 0 or -1 (reserved bits) */
uint8_t *mmu_gpa_host(struct vm *vm, uint64_t gpa, struct memslot **slot);
uint64_t mem_read_slow(struct cpu *c, uint64_t lin, int size, int acc);
void mem_write_slow(struct cpu *c, uint64_t lin, int size, uint64_t v, int acc);
void mem_read_bytes(struct cpu *c, uint64_t lin, void *dst, int n, int acc);
void mem_write_bytes(struct cpu *c, uint64_t lin, const void *src, int n, int acc);
void mem_probe(struct cpu *c, uint64_t lin, int n, int acc);	/* fault if not accessible */
uint64_t phys_read(struct vm *vm, uint64_t gpa, int size);
void phys_write(struct vm *vm, uint64_t gpa, int size, uint64_t v);
void cpu_update_tlb_sel(struct cpu *c);
bool cpu_is_user_access(const struct cpu *c);

/* decode.c */
struct blk *blk_lookup(struct cpu *c);
struct blk *blk_next(struct cpu *c, struct blk *prev);
static inline int blk_jc_idx(uint64_t rip)
{
	return (int)((rip ^ (rip >> 12)) & ((1 << 12) - 1));
}
void h_blk_end(struct cpu *c, const struct insn *i);
void blk_chain(struct cpu *c, struct blk *b);
void code_invalidate_page(struct vm *vm, uint64_t gpa, struct cpu *writer);
void code_invalidate_range(struct vm *vm, uint64_t gpa, int len, struct cpu *writer);
void mmu_unwrite_gpa(struct vm *vm, uint64_t gpa_page);
void code_flush_all(struct vm *vm);
int decode_one(struct cpu *c, uint64_t lin_rip, struct insn *out, uint8_t *bytes, int nbytes);

/* seg.c */
void seg_load_real(struct cpu *c, int s, uint16_t sel);
void seg_load(struct cpu *c, int s, uint16_t sel);	/* protected mode, with checks */
void seg_update_cache(struct cpu *c);	/* recompute seg_ebase/seg_fast etc. */
void cpu_update_mode(struct cpu *c);	/* CS/CR0/EFER changed */
bool desc_read(struct cpu *c, uint16_t sel, uint64_t *lo, uint64_t *hi, int vec_on_fault);
uint32_t desc_ar(uint64_t d);
uint32_t desc_limit(uint64_t d);
uint64_t desc_base(uint64_t d);
void seg_from_desc(struct seg *s, uint16_t sel, uint64_t d);
void seg_set_accessed(struct cpu *c, uint16_t sel, uint64_t d);
NORETURN void seg_fault_limit(struct cpu *c, int s);
uint64_t seg_check_slow(struct cpu *c, int s, uint64_t ea, int size, int acc);

/* event.c */
void evt_queue_exception(struct cpu *c, int vec, bool has_ec, uint32_t ec,
			 bool has_payload, uint64_t payload);
bool evt_service(struct cpu *c);	/* at an instruction boundary; false: nothing done */
bool evt_need_service(struct cpu *c);
void evt_deliver_soft(struct cpu *c, int vec, int type, int inst_len);
void evt_commit_payload(struct cpu *c, struct evt_exc *e);
void evt_iret_unblock_nmi(struct cpu *c);
void evt_reset(struct cpu *c);
int evt_exception_class(int vec);

/* cpu.c: run loop and helpers */
int cpu_run(struct cpu *c);
struct cpu *cpu_create(struct vm *vm, int id);
void cpu_destroy(struct cpu *c);
void cpu_reset(struct cpu *c, bool init);
void cpu_accept_init_sipi(struct cpu *c);	/* latched INIT, then SIPI */
void cpu_request_exit(struct cpu *c, uint32_t reason);
void cpu_set_cr0(struct cpu *c, uint64_t v);
void cpu_set_cr3(struct cpu *c, uint64_t v);
void cpu_set_cr4(struct cpu *c, uint64_t v);
uint64_t cpu_cr4_valid_bits(const struct cpu *c);
void cpu_set_efer(struct cpu *c, uint64_t v);
uint64_t cpu_tsc(struct cpu *c);
void cpu_dump(struct cpu *c, FILE *f);

/* msr.c */
bool msr_read(struct cpu *c, uint32_t idx, uint64_t *v);	/* false: #GP */
bool msr_write(struct cpu *c, uint32_t idx, uint64_t v, bool host);
extern const uint32_t msr_index_list[];
extern const int msr_index_count;

/* cpuid.c */
int cpuid_model_init(struct cpu_model *m, const char *spec, char *err, size_t errlen);
void cpuid_query(struct cpu *c, uint32_t fn, uint32_t idx, uint32_t out[4]);
void cpuid_decode_features(struct cpu_model *m);

/* io.c: port and MMIO exits */
uint64_t io_in(struct cpu *c, uint16_t port, int size);
void io_out(struct cpu *c, uint16_t port, int size, uint64_t v);
uint64_t mmio_read(struct cpu *c, uint64_t gpa, int size);
void mmio_write(struct cpu *c, uint64_t gpa, int size, uint64_t v);
void io_retire(struct cpu *c);	/* instruction done: drop replayed responses */
void io_complete(struct cpu *c);	/* take the VMM's answer to the last exit */
void io_emit_write(struct cpu *c);	/* next queued write as an exit */
bool evt_exc_has_error_code(int vec);
bool evt_intr_pending(const struct cpu *c);

/* ---- small inline helpers ------------------------------------------------ */

/* executed instructions: time not spent idle (REP iterations count) */
static inline uint64_t cpu_icount(const struct cpu *c)
{
	return c->clock - c->idle;
}

static inline uint64_t sz_mask(int bytes)
{
	return bytes == 8 ? ~0ULL : (1ULL << (bytes * 8)) - 1;
}

static inline int64_t sext(uint64_t v, int bytes)
{
	switch (bytes) {
	case 1: return (int8_t)v;
	case 2: return (int16_t)v;
	case 4: return (int32_t)v;
	default: return (int64_t)v;
	}
}

static inline bool cpu_long64(const struct cpu *c)
{
	return (c->mode & 3) == MODE_CS64;
}

static inline bool cpu_pmode(const struct cpu *c)
{
	return (c->cr0 & CR0_PE) && !(c->rflags & F_VM);
}

static inline bool cpu_v86(const struct cpu *c)
{
	return (c->cr0 & CR0_PE) && (c->rflags & F_VM);
}

static inline uint64_t rip_mask(const struct cpu *c)
{
	switch (c->mode & 3) {
	case MODE_CS64: return ~0ULL;
	case MODE_CS32: return 0xffffffffULL;
	default: return 0xffff;
	}
}

/* register access: r < 16, or 0x20 | n for AH/CH/DH/BH */
static inline uint64_t reg_get(const struct cpu *c, int r, int sz)
{
	switch (sz) {
	case 1:
		if (r & 0x20)
			return (c->gpr[r & 3] >> 8) & 0xff;
		return c->gpr[r] & 0xff;
	case 2: return c->gpr[r] & 0xffff;
	case 4: return c->gpr[r] & 0xffffffff;
	default: return c->gpr[r];
	}
}

static inline void reg_set(struct cpu *c, int r, int sz, uint64_t v)
{
	switch (sz) {
	case 1:
		if (r & 0x20)
			c->gpr[r & 3] = (c->gpr[r & 3] & ~0xff00ULL) | ((v & 0xff) << 8);
		else
			c->gpr[r] = (c->gpr[r] & ~0xffULL) | (v & 0xff);
		break;
	case 2: c->gpr[r] = (c->gpr[r] & ~0xffffULL) | (v & 0xffff); break;
	case 4: c->gpr[r] = (uint32_t)v; break;
	default: c->gpr[r] = v; break;
	}
}

#endif
