/* SPDX-License-Identifier: MIT */
/*
 * Instruction handlers.  Each takes the CPU and its decoded record; the
 * decoder (decode.c) picks the handler.  Handlers of block-ending
 * instructions (D_END in decode.c) set cpu->rip themselves.
 */
#ifndef NV_EXEC_H
#define NV_EXEC_H

#include "cpu.h"

#define H(name) void name(struct cpu *c, const struct insn *i)

enum { ALU_ADD, ALU_OR, ALU_ADC, ALU_SBB, ALU_AND, ALU_SUB, ALU_XOR, ALU_CMP };

/* exec_alu.c */
H(h_alu_rm_r); H(h_alu_r_rm); H(h_alu_a_i); H(h_alu_rm_i);
H(h_alu_rm_r_32reg); H(h_alu_rm_r_64reg); H(h_alu_r_rm_32); H(h_alu_r_rm_64);
H(h_alu_rm_i_32reg); H(h_alu_rm_i_64reg);
H(h_inc_r); H(h_dec_r); H(h_incdec_rm); H(h_grp3);
H(h_test_rm_r); H(h_test_a_i);
H(h_imul_r_rm); H(h_imul_rmi);
H(h_shift); H(h_shld); H(h_shrd);
H(h_bt); H(h_bt_i); H(h_bsf); H(h_bsr); H(h_tzcnt); H(h_lzcnt); H(h_popcnt);
H(h_bswap); H(h_cbw); H(h_cwd);
H(h_daa); H(h_das); H(h_aaa); H(h_aas); H(h_aam); H(h_aad); H(h_salc);
H(h_xadd); H(h_cmpxchg); H(h_cmpxchg8b); H(h_xchg_rm_r); H(h_xchg_a_r);
H(h_mov_rm_r); H(h_mov_r_rm); H(h_mov_r_i); H(h_mov_rm_i);
H(h_mov_r_rm_32); H(h_mov_r_rm_64); H(h_mov_rm_r_32); H(h_mov_rm_r_64);
H(h_mov_a_moffs); H(h_mov_moffs_a);
H(h_movzx); H(h_movsx); H(h_movsxd); H(h_lea); H(h_cmov); H(h_setcc);
H(h_lahf); H(h_sahf); H(h_clc); H(h_stc); H(h_cmc); H(h_cld); H(h_std);
H(h_xlat); H(h_movbe); H(h_crc32); H(h_adx);
H(h_andn); H(h_bextr); H(h_bmi_grp17); H(h_bzhi); H(h_pdep); H(h_pext);
H(h_mulx); H(h_rorx); H(h_shiftx);
H(h_nop); H(h_pause); H(h_nop_rm); H(h_fence);

/* exec_ctl.c: branches, stack, strings */
H(h_jcc); H(h_jmp_rel); H(h_call_rel); H(h_ret); H(h_jmp_rm); H(h_call_rm);
H(h_loop); H(h_jcxz);
H(h_push_r); H(h_pop_r); H(h_push_i); H(h_push_rm); H(h_pop_rm);
H(h_pusha); H(h_popa); H(h_pushf); H(h_popf); H(h_enter); H(h_leave);
H(h_movs); H(h_cmps); H(h_stos); H(h_lods); H(h_scas); H(h_ins); H(h_outs);

/* exec_far.c: far transfers, interrupts, IRET (with seg.c / task.c) */
H(h_jmpf_ptr); H(h_callf_ptr); H(h_jmpf_m); H(h_callf_m); H(h_retf);
H(h_int3); H(h_int); H(h_into); H(h_int1); H(h_iret);
H(h_push_seg); H(h_pop_seg); H(h_mov_rm_sreg); H(h_mov_sreg_rm); H(h_lxs);
H(h_bound); H(h_arpl);
H(h_syscall); H(h_sysret); H(h_sysenter); H(h_sysexit);

/* exec_sys.c */
H(h_ud); H(h_gp0_len); H(h_hlt); H(h_cli); H(h_sti);
H(h_in); H(h_out); H(h_cpuid); H(h_rdtsc); H(h_rdtscp); H(h_rdmsr); H(h_wrmsr);
H(h_rdpmc); H(h_mov_r_cr); H(h_mov_cr_r); H(h_mov_r_dr); H(h_mov_dr_r);
H(h_clts); H(h_grp6); H(h_grp7); H(h_lar); H(h_lsl); H(h_invd); H(h_wbinvd);
H(h_grp15); H(h_grp9); H(h_rsm); H(h_invpcid); H(h_endbr); H(h_fwait);
H(h_vmx_unimpl);

/* sse.c / x87.c: state save and MXCSR */
H(h_fxsave); H(h_fxrstor); H(h_ldmxcsr); H(h_stmxcsr); H(h_xsave); H(h_xrstor);
H(h_xsaveopt); H(h_xsavec); H(h_xsaves); H(h_xrstors);

#undef H

/*
 * Kinds of specialised instructions (insn.fk), described by the insn's
 * fields: osz, reg, rm, imm, aux (ALU op / condition), modrm.
 */
enum {
	FK_NONE, FK_ALU_RR, FK_ALU_R2, FK_ALU_RI, FK_TEST_RR, FK_MOV_RR, FK_MOV_R2,
	FK_MOV_RI, FK_LEA, FK_LOAD, FK_STORE, FK_STORE_I, FK_MOVZX_LOAD, FK_CMP_MR,
	FK_CMP8_MI, FK_ADD_RM, FK_SHIFT_RI, FK_INC, FK_DEC, FK_JCC, FK_JMP, FK_CALL,
	FK_RET, FK_PUSH, FK_POP, FK_MOVZX_RR,
};

/* exec_fast.c: a specialised handler for a decoded instruction, or NULL */
insn_fn fast_select(struct cpu *c, struct insn *i);

/* shared helpers */
uint64_t alu_op(struct cpu *c, int op, int sz, uint64_t a, uint64_t b);
void cpu_jump(struct cpu *c, uint64_t target);
void cpu_check_target(struct cpu *c, uint64_t target);	/* near jump with limit/canonical check */
void cpu_set_rflags(struct cpu *c, uint64_t v, uint64_t mask);
int sz_idx(int bytes);
uint64_t io_perm_check(struct cpu *c, uint16_t port, int size);
void far_jump(struct cpu *c, uint16_t sel, uint64_t off, int osz, bool call,
	      uint64_t next_rip);
void far_return(struct cpu *c, int osz, uint16_t pop_bytes);
void cpu_iret(struct cpu *c, int osz);
void cpu_x87_check(struct cpu *c);	/* pending unmasked x87 exception: #MF */
void cpu_set_dr(struct cpu *c, int n, uint64_t v);

/* modules owned by separate files (x87.c, sse.c): return NULL for #UD */
insn_fn x87_lookup(uint8_t opcode, uint8_t modrm);
/*
 * SSE/AVX: map 1 (0F), 2 (0F38), 3 (0F3A); mp = mandatory prefix
 * (0 none, 1 = 66, 2 = F3, 3 = F2); vex = VEX encoded.
 */
insn_fn sse_lookup(int map, uint8_t opcode, int mp, uint8_t modrm, bool vex,
		   const struct insn *i);

#endif
