// SPDX-License-Identifier: MIT
/*
 * Instruction decoder (SDM Vol. 2 ch. 2 and appendix A) and the decode
 * cache.
 *
 * decode_one() turns the bytes at RIP into a struct insn: prefixes (with the
 * rules for repeated and conflicting ones), REX, VEX, the opcode maps,
 * ModRM/SIB/displacement with 16/32/64-bit addressing and RIP-relative
 * folding, immediates, and the handler.  Invalid encodings decode to a
 * handler that raises #UD (or #GP for the 15-byte limit) when executed, so
 * the fault is taken in order.
 *
 * Blocks of decoded instructions are cached by (RIP, CS base, mode) and by
 * the physical pages holding them; a write to those bytes invalidates them.
 */
#include <stdlib.h>

#include "cpu.h"
#include "exec.h"
#include "mem.h"
#include "lapic.h"
#include "jit.h"

/* operand-format flags */
#define D_MODRM (1u << 0)
#define D_BYTE (1u << 1)	/* 8-bit operand size; reg and rm are byte registers */
#define D_RMB (1u << 2)		/* rm operand is a byte register (MOVZX, SETcc) */
#define D_IB (1u << 3)		/* imm8, zero extended */
#define D_IBS (1u << 4)		/* imm8, sign extended */
#define D_IW (1u << 5)		/* imm16 */
#define D_IZ (1u << 6)		/* imm16/32 by operand size, sign extended to 64 */
#define D_IV (1u << 7)		/* imm16/32/64 by operand size */
#define D_JB (1u << 8)		/* rel8 branch */
#define D_JZ (1u << 9)		/* rel16/32 branch */
#define D_MOFFS (1u << 10)	/* moffs of address size */
#define D_AP (1u << 11)		/* far pointer ptr16:16/32 */
#define D_ENTER (1u << 12)	/* imm16, imm8 */
#define D_DEF64 (1u << 13)	/* 64-bit default operand size in 64-bit mode */
#define D_F64 (1u << 14)	/* 64-bit operand size forced in 64-bit mode (near branches) */
#define D_I64 (1u << 15)	/* invalid in 64-bit mode */
#define D_END (1u << 16)	/* ends the block (sets RIP itself) */
#define D_LOCK (1u << 17)	/* LOCK allowed with a memory operand */
#define D_REGOP (1u << 18)	/* register in opcode bits 2:0 */
#define D_GRP (1u << 19)	/* sub-table by ModRM.reg */
#define D_MEMONLY (1u << 20)	/* ModRM must be a memory operand */
#define D_REGONLY (1u << 21)	/* ModRM must be a register */
#define D_SSE (1u << 22)	/* ask sse_lookup */
#define D_X87 (1u << 23)	/* ask x87_lookup */
#define D_O64 (1u << 24)	/* valid only in 64-bit mode */
#define D_NOREP_END (1u << 25)	/* unused */
#define D_INVAL (1u << 26)	/* #UD */
#define D_OSZ16 (1u << 27)	/* operand size is 16 bits (segment ops with memory) */
#define D_IMMSSE (1u << 28)	/* SSE with imm8 */

struct opdesc {
	uint32_t f;
	insn_fn fn;
	uint8_t aux;
	const struct opdesc *grp;	/* with D_GRP: 8 entries */
};

#define E(flags, handler, a) { (flags), (handler), (a), NULL }
#define G(flags, table) { (flags) | D_GRP | D_MODRM, NULL, 0, (table) }
#define INV { D_INVAL, NULL, 0, NULL }

/* CMP only reads its destination: not lockable (SDM LOCK) */
#define ALU_ROW(op) \
	E(D_MODRM | D_BYTE | ((op) == ALU_CMP ? 0 : D_LOCK), h_alu_rm_r, op), \
	E(D_MODRM | ((op) == ALU_CMP ? 0 : D_LOCK), h_alu_rm_r, op), \
	E(D_MODRM | D_BYTE, h_alu_r_rm, op), \
	E(D_MODRM, h_alu_r_rm, op), \
	E(D_BYTE | D_IB, h_alu_a_i, op), \
	E(D_IZ, h_alu_a_i, op)

/* group 1: 80, 81, 83 (82 is 80 outside 64-bit mode) */
static const struct opdesc grp1_b[8] = {
	E(D_BYTE | D_IB | D_LOCK, h_alu_rm_i, 0), E(D_BYTE | D_IB | D_LOCK, h_alu_rm_i, 1),
	E(D_BYTE | D_IB | D_LOCK, h_alu_rm_i, 2), E(D_BYTE | D_IB | D_LOCK, h_alu_rm_i, 3),
	E(D_BYTE | D_IB | D_LOCK, h_alu_rm_i, 4), E(D_BYTE | D_IB | D_LOCK, h_alu_rm_i, 5),
	E(D_BYTE | D_IB | D_LOCK, h_alu_rm_i, 6), E(D_BYTE | D_IB, h_alu_rm_i, 7),
};
static const struct opdesc grp1_z[8] = {
	E(D_IZ | D_LOCK, h_alu_rm_i, 0), E(D_IZ | D_LOCK, h_alu_rm_i, 1),
	E(D_IZ | D_LOCK, h_alu_rm_i, 2), E(D_IZ | D_LOCK, h_alu_rm_i, 3),
	E(D_IZ | D_LOCK, h_alu_rm_i, 4), E(D_IZ | D_LOCK, h_alu_rm_i, 5),
	E(D_IZ | D_LOCK, h_alu_rm_i, 6), E(D_IZ, h_alu_rm_i, 7),
};
static const struct opdesc grp1_bs[8] = {
	E(D_IBS | D_LOCK, h_alu_rm_i, 0), E(D_IBS | D_LOCK, h_alu_rm_i, 1),
	E(D_IBS | D_LOCK, h_alu_rm_i, 2), E(D_IBS | D_LOCK, h_alu_rm_i, 3),
	E(D_IBS | D_LOCK, h_alu_rm_i, 4), E(D_IBS | D_LOCK, h_alu_rm_i, 5),
	E(D_IBS | D_LOCK, h_alu_rm_i, 6), E(D_IBS, h_alu_rm_i, 7),
};
static const struct opdesc grp1a[8] = {
	E(D_DEF64, h_pop_rm, 0), INV, INV, INV, INV, INV, INV, INV,
};
/* group 2: shifts; aux = count source (0 imm8, 1 one, 2 CL) */
#define SHIFT_ROW(fl, a) \
	E(fl, h_shift, a), E(fl, h_shift, a), E(fl, h_shift, a), E(fl, h_shift, a), \
	E(fl, h_shift, a), E(fl, h_shift, a), E(fl, h_shift, a), E(fl, h_shift, a)
static const struct opdesc grp2_b_ib[8] = { SHIFT_ROW(D_BYTE | D_IB, 0) };
static const struct opdesc grp2_v_ib[8] = { SHIFT_ROW(D_IB, 0) };
static const struct opdesc grp2_b_1[8] = { SHIFT_ROW(D_BYTE, 1) };
static const struct opdesc grp2_v_1[8] = { SHIFT_ROW(0, 1) };
static const struct opdesc grp2_b_cl[8] = { SHIFT_ROW(D_BYTE, 2) };
static const struct opdesc grp2_v_cl[8] = { SHIFT_ROW(0, 2) };
/* group 3 */
static const struct opdesc grp3_b[8] = {
	E(D_BYTE | D_IB, h_grp3, 0), E(D_BYTE | D_IB, h_grp3, 1),
	E(D_BYTE | D_LOCK, h_grp3, 2), E(D_BYTE | D_LOCK, h_grp3, 3),
	E(D_BYTE, h_grp3, 4), E(D_BYTE, h_grp3, 5), E(D_BYTE, h_grp3, 6),
	E(D_BYTE, h_grp3, 7),
};
static const struct opdesc grp3_v[8] = {
	E(D_IZ, h_grp3, 0), E(D_IZ, h_grp3, 1), E(D_LOCK, h_grp3, 2),
	E(D_LOCK, h_grp3, 3), E(0, h_grp3, 4), E(0, h_grp3, 5), E(0, h_grp3, 6),
	E(0, h_grp3, 7),
};
static const struct opdesc grp4[8] = {
	E(D_BYTE | D_LOCK, h_incdec_rm, 0), E(D_BYTE | D_LOCK, h_incdec_rm, 1),
	INV, INV, INV, INV, INV, INV,
};
static const struct opdesc grp5[8] = {
	E(D_LOCK, h_incdec_rm, 0), E(D_LOCK, h_incdec_rm, 1),
	E(D_F64 | D_END, h_call_rm, 0), E(D_MEMONLY | D_END, h_callf_m, 0),
	E(D_F64 | D_END, h_jmp_rm, 0), E(D_MEMONLY | D_END, h_jmpf_m, 0),
	E(D_DEF64, h_push_rm, 0), INV,
};
/* C6/C7 /1-7 are #UD, but their length still includes the immediate */
#define INV_IB { D_INVAL | D_BYTE | D_IB, NULL, 0, NULL }
#define INV_IZ { D_INVAL | D_IZ, NULL, 0, NULL }
static const struct opdesc grp11_b[8] = {
	E(D_BYTE | D_IB, h_mov_rm_i, 0), INV_IB, INV_IB, INV_IB, INV_IB, INV_IB, INV_IB, INV_IB,
};
static const struct opdesc grp11_v[8] = {
	E(D_IZ, h_mov_rm_i, 0), INV_IZ, INV_IZ, INV_IZ, INV_IZ, INV_IZ, INV_IZ, INV_IZ,
};

static const struct opdesc map1[256] = {
	ALU_ROW(ALU_ADD),
	[0x06] = E(D_I64, h_push_seg, S_ES), [0x07] = E(D_I64 | D_END, h_pop_seg, S_ES),
	[0x08] = ALU_ROW(ALU_OR),
	[0x0e] = E(D_I64, h_push_seg, S_CS),
	[0x10] = ALU_ROW(ALU_ADC),
	[0x16] = E(D_I64, h_push_seg, S_SS), [0x17] = E(D_I64 | D_END, h_pop_seg, S_SS),
	[0x18] = ALU_ROW(ALU_SBB),
	[0x1e] = E(D_I64, h_push_seg, S_DS), [0x1f] = E(D_I64 | D_END, h_pop_seg, S_DS),
	[0x20] = ALU_ROW(ALU_AND),
	[0x27] = E(D_I64, h_daa, 0),
	[0x28] = ALU_ROW(ALU_SUB),
	[0x2f] = E(D_I64, h_das, 0),
	[0x30] = ALU_ROW(ALU_XOR),
	[0x37] = E(D_I64, h_aaa, 0),
	[0x38] = ALU_ROW(ALU_CMP),
	[0x3f] = E(D_I64, h_aas, 0),
	[0x40] = E(D_REGOP, h_inc_r, 0), E(D_REGOP, h_inc_r, 0), E(D_REGOP, h_inc_r, 0),
	E(D_REGOP, h_inc_r, 0), E(D_REGOP, h_inc_r, 0), E(D_REGOP, h_inc_r, 0),
	E(D_REGOP, h_inc_r, 0), E(D_REGOP, h_inc_r, 0),
	E(D_REGOP, h_dec_r, 0), E(D_REGOP, h_dec_r, 0), E(D_REGOP, h_dec_r, 0),
	E(D_REGOP, h_dec_r, 0), E(D_REGOP, h_dec_r, 0), E(D_REGOP, h_dec_r, 0),
	E(D_REGOP, h_dec_r, 0), E(D_REGOP, h_dec_r, 0),
	[0x50] = E(D_REGOP | D_DEF64, h_push_r, 0), E(D_REGOP | D_DEF64, h_push_r, 0),
	E(D_REGOP | D_DEF64, h_push_r, 0), E(D_REGOP | D_DEF64, h_push_r, 0),
	E(D_REGOP | D_DEF64, h_push_r, 0), E(D_REGOP | D_DEF64, h_push_r, 0),
	E(D_REGOP | D_DEF64, h_push_r, 0), E(D_REGOP | D_DEF64, h_push_r, 0),
	E(D_REGOP | D_DEF64, h_pop_r, 0), E(D_REGOP | D_DEF64, h_pop_r, 0),
	E(D_REGOP | D_DEF64, h_pop_r, 0), E(D_REGOP | D_DEF64, h_pop_r, 0),
	E(D_REGOP | D_DEF64, h_pop_r, 0), E(D_REGOP | D_DEF64, h_pop_r, 0),
	E(D_REGOP | D_DEF64, h_pop_r, 0), E(D_REGOP | D_DEF64, h_pop_r, 0),
	[0x60] = E(D_I64, h_pusha, 0), E(D_I64, h_popa, 0),
	E(D_I64 | D_MODRM | D_MEMONLY, h_bound, 0), E(D_MODRM, h_arpl, 0),
	[0x68] = E(D_IZ | D_DEF64, h_push_i, 0), E(D_MODRM | D_IZ, h_imul_rmi, 0),
	E(D_IBS | D_DEF64, h_push_i, 0), E(D_MODRM | D_IBS, h_imul_rmi, 0),
	E(D_BYTE, h_ins, 0), E(0, h_ins, 0), E(D_BYTE, h_outs, 0), E(0, h_outs, 0),
	[0x70] = E(D_JB | D_F64 | D_END, h_jcc, 0x0), E(D_JB | D_F64 | D_END, h_jcc, 0x1),
	E(D_JB | D_F64 | D_END, h_jcc, 0x2), E(D_JB | D_F64 | D_END, h_jcc, 0x3),
	E(D_JB | D_F64 | D_END, h_jcc, 0x4), E(D_JB | D_F64 | D_END, h_jcc, 0x5),
	E(D_JB | D_F64 | D_END, h_jcc, 0x6), E(D_JB | D_F64 | D_END, h_jcc, 0x7),
	E(D_JB | D_F64 | D_END, h_jcc, 0x8), E(D_JB | D_F64 | D_END, h_jcc, 0x9),
	E(D_JB | D_F64 | D_END, h_jcc, 0xa), E(D_JB | D_F64 | D_END, h_jcc, 0xb),
	E(D_JB | D_F64 | D_END, h_jcc, 0xc), E(D_JB | D_F64 | D_END, h_jcc, 0xd),
	E(D_JB | D_F64 | D_END, h_jcc, 0xe), E(D_JB | D_F64 | D_END, h_jcc, 0xf),
	[0x80] = G(0, grp1_b), G(0, grp1_z), G(D_I64, grp1_b), G(0, grp1_bs),
	E(D_MODRM | D_BYTE, h_test_rm_r, 0), E(D_MODRM, h_test_rm_r, 0),
	E(D_MODRM | D_BYTE | D_LOCK, h_xchg_rm_r, 0), E(D_MODRM | D_LOCK, h_xchg_rm_r, 0),
	E(D_MODRM | D_BYTE, h_mov_rm_r, 0), E(D_MODRM, h_mov_rm_r, 0),
	E(D_MODRM | D_BYTE, h_mov_r_rm, 0), E(D_MODRM, h_mov_r_rm, 0),
	E(D_MODRM, h_mov_rm_sreg, 0), E(D_MODRM | D_MEMONLY, h_lea, 0),
	E(D_MODRM | D_END, h_mov_sreg_rm, 0), G(0, grp1a),
	[0x90] = E(D_REGOP, h_xchg_a_r, 0), E(D_REGOP, h_xchg_a_r, 0),
	E(D_REGOP, h_xchg_a_r, 0), E(D_REGOP, h_xchg_a_r, 0), E(D_REGOP, h_xchg_a_r, 0),
	E(D_REGOP, h_xchg_a_r, 0), E(D_REGOP, h_xchg_a_r, 0), E(D_REGOP, h_xchg_a_r, 0),
	[0x98] = E(0, h_cbw, 0), E(0, h_cwd, 0), E(D_I64 | D_AP | D_END, h_callf_ptr, 0),
	E(0, h_fwait, 0), E(D_DEF64, h_pushf, 0), E(D_DEF64 | D_END, h_popf, 0),
	E(0, h_sahf, 0), E(0, h_lahf, 0),
	[0xa0] = E(D_BYTE | D_MOFFS, h_mov_a_moffs, 0), E(D_MOFFS, h_mov_a_moffs, 0),
	E(D_BYTE | D_MOFFS, h_mov_moffs_a, 0), E(D_MOFFS, h_mov_moffs_a, 0),
	E(D_BYTE, h_movs, 0), E(0, h_movs, 0), E(D_BYTE, h_cmps, 0), E(0, h_cmps, 0),
	E(D_BYTE | D_IB, h_test_a_i, 0), E(D_IZ, h_test_a_i, 0),
	E(D_BYTE, h_stos, 0), E(0, h_stos, 0), E(D_BYTE, h_lods, 0), E(0, h_lods, 0),
	E(D_BYTE, h_scas, 0), E(0, h_scas, 0),
	[0xb0] = E(D_REGOP | D_BYTE | D_IB, h_mov_r_i, 0), E(D_REGOP | D_BYTE | D_IB, h_mov_r_i, 0),
	E(D_REGOP | D_BYTE | D_IB, h_mov_r_i, 0), E(D_REGOP | D_BYTE | D_IB, h_mov_r_i, 0),
	E(D_REGOP | D_BYTE | D_IB, h_mov_r_i, 0), E(D_REGOP | D_BYTE | D_IB, h_mov_r_i, 0),
	E(D_REGOP | D_BYTE | D_IB, h_mov_r_i, 0), E(D_REGOP | D_BYTE | D_IB, h_mov_r_i, 0),
	E(D_REGOP | D_IV, h_mov_r_i, 0), E(D_REGOP | D_IV, h_mov_r_i, 0),
	E(D_REGOP | D_IV, h_mov_r_i, 0), E(D_REGOP | D_IV, h_mov_r_i, 0),
	E(D_REGOP | D_IV, h_mov_r_i, 0), E(D_REGOP | D_IV, h_mov_r_i, 0),
	E(D_REGOP | D_IV, h_mov_r_i, 0), E(D_REGOP | D_IV, h_mov_r_i, 0),
	[0xc0] = G(0, grp2_b_ib), G(0, grp2_v_ib),
	E(D_IW | D_F64 | D_END, h_ret, 1), E(D_F64 | D_END, h_ret, 0),
	E(D_MODRM | D_MEMONLY | D_I64, h_lxs, S_ES), E(D_MODRM | D_MEMONLY | D_I64, h_lxs, S_DS),
	G(0, grp11_b), G(0, grp11_v),
	E(D_ENTER | D_DEF64, h_enter, 0), E(D_DEF64, h_leave, 0),
	E(D_IW | D_END, h_retf, 1), E(D_END, h_retf, 0),
	E(D_END, h_int3, 0), E(D_IB | D_END, h_int, 0), E(D_I64 | D_END, h_into, 0),
	E(D_END, h_iret, 0),
	[0xd0] = G(0, grp2_b_1), G(0, grp2_v_1), G(0, grp2_b_cl), G(0, grp2_v_cl),
	E(D_IB | D_I64, h_aam, 0), E(D_IB | D_I64, h_aad, 0), E(D_I64, h_salc, 0),
	E(0, h_xlat, 0),
	[0xd8] = E(D_MODRM | D_X87, NULL, 0), E(D_MODRM | D_X87, NULL, 0),
	E(D_MODRM | D_X87, NULL, 0), E(D_MODRM | D_X87, NULL, 0),
	E(D_MODRM | D_X87, NULL, 0), E(D_MODRM | D_X87, NULL, 0),
	E(D_MODRM | D_X87, NULL, 0), E(D_MODRM | D_X87, NULL, 0),
	[0xe0] = E(D_JB | D_F64 | D_END, h_loop, 0), E(D_JB | D_F64 | D_END, h_loop, 1),
	E(D_JB | D_F64 | D_END, h_loop, 2), E(D_JB | D_F64 | D_END, h_jcxz, 0),
	E(D_BYTE | D_IB, h_in, 0), E(D_IB, h_in, 0),
	E(D_BYTE | D_IB, h_out, 0), E(D_IB, h_out, 0),
	E(D_JZ | D_F64 | D_END, h_call_rel, 0), E(D_JZ | D_F64 | D_END, h_jmp_rel, 0),
	E(D_AP | D_I64 | D_END, h_jmpf_ptr, 0), E(D_JB | D_F64 | D_END, h_jmp_rel, 0),
	E(D_BYTE, h_in, 1), E(0, h_in, 1), E(D_BYTE, h_out, 1), E(0, h_out, 1),
	[0xf1] = E(D_END, h_int1, 0), [0xf4] = E(D_END, h_hlt, 0), [0xf5] = E(0, h_cmc, 0),
	[0xf6] = G(0, grp3_b), G(0, grp3_v),
	[0xf8] = E(0, h_clc, 0), E(0, h_stc, 0), E(D_END, h_cli, 0), E(D_END, h_sti, 0),
	E(0, h_cld, 0), E(0, h_std, 0), G(0, grp4), G(0, grp5),
};

/* 0F map, integer and system part; SSE/MMX opcodes go to sse_lookup */
static const struct opdesc grp8[8] = {
	INV, INV, INV, INV,
	E(D_IB, h_bt_i, 0), E(D_IB | D_LOCK, h_bt_i, 1),
	E(D_IB | D_LOCK, h_bt_i, 2), E(D_IB | D_LOCK, h_bt_i, 3),
};

#define SSE E(D_MODRM | D_SSE, NULL, 0)
#define SSEI E(D_MODRM | D_SSE | D_IMMSSE, NULL, 0)
#define CMOV(cc) E(D_MODRM, h_cmov, cc)
#define JCC(cc) E(D_JZ | D_F64 | D_END, h_jcc, cc)
#define SETCC(cc) E(D_MODRM | D_RMB, h_setcc, cc)

static const struct opdesc map2[256] = {
	[0x00] = E(D_MODRM | D_END, h_grp6, 0), E(D_MODRM | D_END, h_grp7, 0),
	E(D_MODRM, h_lar, 0), E(D_MODRM, h_lsl, 0),
	[0x05] = E(D_END, h_syscall, 0), E(D_END, h_clts, 0), E(D_END, h_sysret, 0),
	E(0, h_invd, 0), E(0, h_wbinvd, 0), [0x0b] = E(0, h_ud, 0),
	[0x0d] = E(D_MODRM | D_MEMONLY, h_nop_rm, 0),	/* PREFETCH/PREFETCHW m8 */
	[0x10] = SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE,
	[0x18] = E(D_MODRM, h_nop_rm, 0), E(D_MODRM, h_nop_rm, 0), E(D_MODRM, h_nop_rm, 0),
	E(D_MODRM, h_nop_rm, 0), E(D_MODRM, h_nop_rm, 0), E(D_MODRM, h_nop_rm, 0),
	E(D_MODRM, h_endbr, 0), E(D_MODRM, h_nop_rm, 0),
	[0x20] = E(D_MODRM | D_END, h_mov_r_cr, 0), E(D_MODRM | D_END, h_mov_r_dr, 0),
	E(D_MODRM | D_END, h_mov_cr_r, 0), E(D_MODRM | D_END, h_mov_dr_r, 0),
	[0x28] = SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE,
	[0x30] = E(D_END, h_wrmsr, 0), E(0, h_rdtsc, 0), E(0, h_rdmsr, 0), E(0, h_rdpmc, 0),
	E(D_END, h_sysenter, 0), E(D_END, h_sysexit, 0),
	[0x40] = CMOV(0), CMOV(1), CMOV(2), CMOV(3), CMOV(4), CMOV(5), CMOV(6), CMOV(7),
	CMOV(8), CMOV(9), CMOV(10), CMOV(11), CMOV(12), CMOV(13), CMOV(14), CMOV(15),
	[0x50] = SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE,
	[0x60] = SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE,
	[0x70] = SSEI, SSEI, SSEI, SSEI, SSE, SSE, SSE, E(D_SSE, NULL, 0),
	[0x78] = E(D_MODRM | D_END, h_vmx_unimpl, 0), E(D_MODRM | D_END, h_vmx_unimpl, 0),
	[0x7c] = SSE, SSE, SSE, SSE,
	[0x80] = JCC(0), JCC(1), JCC(2), JCC(3), JCC(4), JCC(5), JCC(6), JCC(7),
	JCC(8), JCC(9), JCC(10), JCC(11), JCC(12), JCC(13), JCC(14), JCC(15),
	[0x90] = SETCC(0), SETCC(1), SETCC(2), SETCC(3), SETCC(4), SETCC(5), SETCC(6), SETCC(7),
	SETCC(8), SETCC(9), SETCC(10), SETCC(11), SETCC(12), SETCC(13), SETCC(14), SETCC(15),
	[0xa0] = E(D_DEF64, h_push_seg, S_FS), E(D_DEF64 | D_END, h_pop_seg, S_FS),
	E(D_END, h_cpuid, 0), E(D_MODRM, h_bt, 0),
	E(D_MODRM | D_IB, h_shld, 0), E(D_MODRM, h_shld, 1),
	[0xa8] = E(D_DEF64, h_push_seg, S_GS), E(D_DEF64 | D_END, h_pop_seg, S_GS),
	E(D_END, h_rsm, 0), E(D_MODRM | D_LOCK, h_bt, 1),
	E(D_MODRM | D_IB, h_shrd, 0), E(D_MODRM, h_shrd, 1),
	E(D_MODRM | D_END, h_grp15, 0), E(D_MODRM, h_imul_r_rm, 0),
	[0xb0] = E(D_MODRM | D_BYTE | D_LOCK, h_cmpxchg, 0), E(D_MODRM | D_LOCK, h_cmpxchg, 0),
	E(D_MODRM | D_MEMONLY | D_END, h_lxs, S_SS), E(D_MODRM | D_LOCK, h_bt, 2),
	E(D_MODRM | D_MEMONLY, h_lxs, S_FS), E(D_MODRM | D_MEMONLY, h_lxs, S_GS),
	E(D_MODRM | D_RMB, h_movzx, 1), E(D_MODRM, h_movzx, 2),
	[0xb8] = E(D_MODRM, h_popcnt, 0), E(D_MODRM, h_ud, 0), G(0, grp8),
	E(D_MODRM | D_LOCK, h_bt, 3), E(D_MODRM, h_bsf, 0), E(D_MODRM, h_bsr, 0),
	E(D_MODRM | D_RMB, h_movsx, 1), E(D_MODRM, h_movsx, 2),
	[0xc0] = E(D_MODRM | D_BYTE | D_LOCK, h_xadd, 0), E(D_MODRM | D_LOCK, h_xadd, 0),
	SSEI, E(D_MODRM | D_MEMONLY, h_mov_rm_r, 0), SSEI, SSEI, SSEI,
	E(D_MODRM | D_LOCK | D_END, h_grp9, 0),
	[0xc8] = E(D_REGOP, h_bswap, 0), E(D_REGOP, h_bswap, 0), E(D_REGOP, h_bswap, 0),
	E(D_REGOP, h_bswap, 0), E(D_REGOP, h_bswap, 0), E(D_REGOP, h_bswap, 0),
	E(D_REGOP, h_bswap, 0), E(D_REGOP, h_bswap, 0),
	[0xd0] = SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE,
	[0xe0] = SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE,
	[0xf0] = SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE,
	[0xff] = E(D_MODRM, h_ud, 0),
};

/* ---- decoding ---------------------------------------------------------- */

struct dstate {
	const uint8_t *p;
	int n, avail;
	bool need_more;
};

static inline int getb(struct dstate *d)
{
	if (d->n >= d->avail) {
		d->need_more = true;
		return 0;
	}
	return d->p[d->n++];
}

static uint64_t getn(struct dstate *d, int bytes)
{
	uint64_t v = 0;
	for (int k = 0; k < bytes; k++)
		v |= (uint64_t)getb(d) << (8 * k);
	return v;
}

/* ModRM (and SIB, displacement); SDM Vol. 2 tables 2-1 to 2-3 */
static void decode_modrm(struct cpu *c, struct dstate *d, struct insn *i,
			 uint8_t rex, bool *ss_default, bool *riprel)
{
	uint8_t m = i->modrm;
	int mod = m >> 6, rm = m & 7;

	i->reg = ((m >> 3) & 7) | ((rex & 4) << 1);
	if (mod == 3) {
		i->mem = 0;
		i->rm = rm | ((rex & 1) << 3);
		return;
	}
	i->mem = 1;
	i->base = R_NONE;
	i->index = R_NONE;
	i->scale = 0;
	i->disp = 0;
	if (i->asz == 2) {
		static const uint8_t b16[8] = { R_BX, R_BX, R_BP, R_BP, R_SI, R_DI, R_BP, R_BX };
		static const uint8_t x16[8] = { R_SI, R_DI, R_SI, R_DI, R_NONE, R_NONE, R_NONE, R_NONE };
		if (mod == 0 && rm == 6) {
			i->disp = (uint16_t)getn(d, 2);
		} else {
			i->base = b16[rm];
			i->index = x16[rm];
			if (rm == 2 || rm == 3 || rm == 6)
				*ss_default = true;
			if (mod == 1)
				i->disp = (uint64_t)(int64_t)(int8_t)getb(d);
			else if (mod == 2)
				i->disp = (uint64_t)(int64_t)(int16_t)getn(d, 2);
		}
		return;
	}
	if (rm == 4) {
		uint8_t sib = getb(d);
		int base = (sib & 7) | ((rex & 1) << 3);
		int idx = ((sib >> 3) & 7) | ((rex & 2) << 2);
		i->scale = sib >> 6;
		i->index = idx == R_SP ? R_NONE : idx;
		if ((sib & 7) == 5 && mod == 0) {
			i->base = R_NONE;
			i->disp = (uint64_t)(int64_t)(int32_t)getn(d, 4);
		} else {
			i->base = base;
			if (base == R_SP || base == R_BP)
				*ss_default = true;
		}
	} else if (rm == 5 && mod == 0) {
		i->disp = (uint64_t)(int64_t)(int32_t)getn(d, 4);
		if (cpu_long64(c))
			*riprel = true;	/* fixed up once the length is known */
		return;
	} else {
		i->base = rm | ((rex & 1) << 3);
		if (i->base == R_BP)
			*ss_default = true;
	}
	if (mod == 1)
		i->disp = (uint64_t)(int64_t)(int8_t)getb(d);
	else if (mod == 2)
		i->disp = (uint64_t)(int64_t)(int32_t)getn(d, 4);
}

static inline uint8_t byte_reg(uint8_t r, uint8_t rex)
{
	if (!rex && r >= 4 && r < 8)
		return 0x20 | (r & 3);
	return r;
}

/* LOCK is allowed only on these with a memory destination (SDM LOCK) */
static bool lock_ok(const struct insn *i, uint32_t f)
{
	return (f & D_LOCK) && i->mem;
}

/*
 * Decode one instruction.  Returns its length, or 0 if more bytes than
 * `avail` are needed (the caller decides which fault that is).
 */
int decode_one(struct cpu *c, uint64_t rip, struct insn *i, uint8_t *bytes, int avail)
{
	struct dstate d = { bytes, 0, avail, false };
	bool long64 = cpu_long64(c);
	int def = (c->mode & 3) == MODE_CS16 ? 2 : 4;
	uint8_t rex = 0, seg = 0xff, pfx = 0, mp = 0;
	int b, map = 1, nprefix = 0;
	bool ss_default = false, vex = false, riprel = false, vex_bad = false;
	const struct opdesc *od = NULL;
	uint32_t f = 0;

	memset(i, 0, sizeof(*i));
	i->rip = rip;
	i->base = R_NONE;
	i->index = R_NONE;

	/* legacy prefixes; REX only directly before the opcode */
	for (;;) {
		b = getb(&d);
		if (d.need_more)
			return 0;
		switch (b) {
		case 0xf0: pfx |= PFX_LOCK; break;
		case 0xf2: pfx = (pfx & ~PFX_REP) | PFX_REPNE; mp = 3; break;
		case 0xf3: pfx = (pfx & ~PFX_REPNE) | PFX_REP; mp = 2; break;
		case 0x66: pfx |= PFX_OPSZ; break;
		case 0x67: pfx |= PFX_ADSZ; break;
		case 0x26: seg = S_ES; break;
		case 0x2e: seg = S_CS; break;
		case 0x36: seg = S_SS; break;
		case 0x3e: seg = S_DS; break;
		case 0x64: seg = S_FS; break;
		case 0x65: seg = S_GS; break;
		default:
			goto prefixes_done;
		}
		nprefix++;
		rex = 0;
	}
prefixes_done:
	if (long64 && (b & 0xf0) == 0x40) {
		rex = b;
		b = getb(&d);
		if (d.need_more)
			return 0;
		/* a legacy prefix after REX cancels it (SDM 2.2.1) */
		while (b == 0x66 || b == 0x67 || b == 0xf0 || b == 0xf2 || b == 0xf3 ||
		       b == 0x26 || b == 0x2e || b == 0x36 || b == 0x3e || b == 0x64 ||
		       b == 0x65 || (b & 0xf0) == 0x40) {
			if ((b & 0xf0) == 0x40) {
				rex = b;
			} else {
				rex = 0;
				switch (b) {
				case 0xf0: pfx |= PFX_LOCK; break;
				case 0xf2: pfx = (pfx & ~PFX_REP) | PFX_REPNE; mp = 3; break;
				case 0xf3: pfx = (pfx & ~PFX_REPNE) | PFX_REP; mp = 2; break;
				case 0x66: pfx |= PFX_OPSZ; break;
				case 0x67: pfx |= PFX_ADSZ; break;
				case 0x64: seg = S_FS; break;
				case 0x65: seg = S_GS; break;
				default: seg = b == 0x26 ? S_ES : b == 0x2e ? S_CS :
					       b == 0x36 ? S_SS : S_DS; break;
				}
			}
			b = getb(&d);
			if (d.need_more)
				return 0;
		}
	}
	(void)nprefix;

	/* VEX (C4/C5): in legacy modes only when ModRM.mod would be 11 */
	if ((b == 0xc4 || b == 0xc5) && (long64 || (cpu_pmode(c) &&
	    d.n < d.avail && (d.p[d.n] & 0xc0) == 0xc0))) {
		int b1 = getb(&d), w = 0, l, pp, vvvv;
		if (d.need_more)
			return 0;
		/*
		 * A preceding REX/66/F2/F3/LOCK makes it #UD (SDM 2.3.2), but the
		 * whole instruction is still fetched and measured first, so a
		 * fetch fault or the 15-byte limit comes before the #UD.
		 */
		vex_bad = rex || (pfx & (PFX_OPSZ | PFX_REP | PFX_REPNE | PFX_LOCK));
		if (b == 0xc5) {
			rex = 0x40 | ((~b1 & 0x80) ? 4 : 0);
			vvvv = (~b1 >> 3) & 0xf;
			l = (b1 >> 2) & 1;
			pp = b1 & 3;
			map = 1;
		} else {
			int b2 = getb(&d);
			if (d.need_more)
				return 0;
			rex = 0x40 | ((~b1 >> 5) & 7);
			map = b1 & 0x1f;
			w = b2 >> 7;
			vvvv = (~b2 >> 3) & 0xf;
			l = (b2 >> 2) & 1;
			pp = b2 & 3;
			if (w)
				rex |= 8;
		}
		if (!long64) {
			rex &= ~7;	/* R/X/B ignored outside 64-bit mode */
			vvvv &= 7;
		}
		vex = true;
		pfx |= PFX_VEX;
		i->vex_l = l;
		i->vex_v = vvvv;
		mp = pp == 1 ? 1 : pp == 2 ? 2 : pp == 3 ? 3 : 0;
		if (map < 1 || map > 3) {
			i->fn = h_ud;
			goto finish_len;
		}
		b = getb(&d);
		if (d.need_more)
			return 0;
	} else if (b == 0x0f) {
		b = getb(&d);
		if (d.need_more)
			return 0;
		map = 2;
		if (b == 0x38 || b == 0x3a) {
			map = b == 0x38 ? 3 : 4;
			b = getb(&d);
			if (d.need_more)
				return 0;
		}
	} else {
		map = 0;
	}
	if (!vex && !mp && (pfx & PFX_OPSZ))
		mp = 1;
	/* VEX maps are numbered 1..3 = 0F, 0F38, 0F3A; legacy 0 = one-byte */
	if (vex)
		map = map + 1;

	i->rex = rex;
	if (rex & 8)
		pfx |= PFX_REXW;
	i->pfx = pfx | (seg != 0xff ? PFX_SEG : 0);
	i->op = (uint16_t)(map << 8 | b);

	/* address size */
	if (long64)
		i->asz = (pfx & PFX_ADSZ) ? 4 : 8;
	else
		i->asz = ((pfx & PFX_ADSZ) ? (def ^ 6) : def);

	/* table lookup */
	static const struct opdesc sse_any = { D_MODRM | D_SSE, NULL, 0, NULL };
	static const struct opdesc sse_imm = { D_MODRM | D_SSE | D_IMMSSE, NULL, 0, NULL };
	static const struct opdesc opmodrm = { D_MODRM, NULL, 0, NULL };
	if (map == 0)
		od = &map1[b];
	else if (map == 1 || map == 2)
		od = vex ? &sse_any : &map2[b];
	else if (map == 3)
		od = &sse_any;
	else
		od = &sse_imm;
	/* integer instructions in the 0F38 map */
	if (map == 3 && !vex && (b == 0xf0 || b == 0xf1 || b == 0xf6 ||
				 (b >= 0x80 && b <= 0x82)))
		od = &opmodrm;
	if (map == 3 && vex && b >= 0xf2 && b <= 0xf7)
		od = &opmodrm;
	if (map == 4 && vex && b == 0xf0)
		od = &sse_imm;
	/* SSE4a EXTRQ / INSERTQ (AMD): 66 / F2 0F 78 (imm8, imm8) and 0F 79 */
	bool sse4a = map == 2 && !vex && (b == 0x78 || b == 0x79) && (mp == 1 || mp == 3);
	if (sse4a)
		od = b == 0x78 ? &sse_imm : &sse_any;
	f = od->f;

	if (f & D_MODRM) {
		i->modrm = getb(&d);
		if (d.need_more)
			return 0;
		/* MOV to/from CR and DR: ModRM.mod is ignored, always a register (SDM MOV-CR) */
		if (map == 2 && !vex && b >= 0x20 && b <= 0x23)
			i->modrm |= 0xc0;
		if (f & D_GRP) {
			const struct opdesc *g = &od->grp[(i->modrm >> 3) & 7];
			f = (f & ~D_GRP) | g->f;
			od = g;
		}
	}
	if (f & D_INVAL) {
		i->fn = h_ud;
		/* operand size, for an immediate that is part of the length */
		if (f & D_BYTE)
			i->osz = 1;
		else if (long64)
			i->osz = (rex & 8) ? 8 : (pfx & PFX_OPSZ) ? 2 : 4;
		else
			i->osz = (pfx & PFX_OPSZ) ? (def ^ 6) : def;
		if (f & D_MODRM)
			goto do_modrm_ud;
		goto finish_len;
	}
	/* invalid in 64-bit mode: #UD, after the legacy form's bytes are fetched */
	if ((f & D_I64) && long64)
		i->fn = h_ud;

	/* operand size */
	if (f & D_BYTE) {
		i->osz = 1;
	} else if (long64) {
		if (rex & 8)
			i->osz = 8;
		else if (f & D_F64)
			i->osz = (c->model->vendor == VENDOR_AMD && (pfx & PFX_OPSZ)) ? 2 : 8;
		else if (pfx & PFX_OPSZ)
			i->osz = 2;
		else
			i->osz = (f & D_DEF64) ? 8 : 4;
	} else {
		i->osz = (pfx & PFX_OPSZ) ? (def ^ 6) : def;
	}

do_modrm_ud:
	if (f & D_MODRM) {
		decode_modrm(c, &d, i, rex, &ss_default, &riprel);
		if (d.need_more)
			return 0;
		if ((f & D_MEMONLY) && !i->mem)
			i->fn = h_ud;
		if ((f & D_REGONLY) && i->mem)
			i->fn = h_ud;
		if (f & D_BYTE) {
			i->reg = byte_reg(i->reg, rex);
			if (!i->mem)
				i->rm = byte_reg(i->rm, rex);
		} else if ((f & D_RMB) && !i->mem) {
			i->rm = byte_reg(i->rm, rex);
		}
	}
	if (f & D_REGOP) {
		i->reg = (b & 7) | ((rex & 1) << 3);
		if (f & D_BYTE)
			i->reg = byte_reg(i->reg, rex);
	}

	/* segment of the memory operand: override, else DS or SS */
	if (seg != 0xff && !(long64 && seg < S_FS)) {
		i->seg = seg;
	} else {
		i->seg = ss_default ? S_SS : S_DS;
		i->pfx &= ~PFX_SEG;	/* ES/CS/SS/DS overrides are ignored in 64-bit mode */
	}

	/* immediates */
	if (f & D_IB)
		i->imm = getb(&d);
	else if (f & D_IBS)
		i->imm = (uint64_t)(int64_t)(int8_t)getb(&d);
	else if (f & D_IW)
		i->imm = getn(&d, 2);
	else if (f & D_IZ)
		i->imm = i->osz == 2 ? getn(&d, 2) : (uint64_t)(int64_t)(int32_t)getn(&d, 4);
	else if (f & D_IV)
		i->imm = getn(&d, i->osz);
	else if (f & D_MOFFS)
		i->imm = getn(&d, i->asz);
	else if (f & D_AP) {
		i->imm = getn(&d, i->osz == 2 ? 2 : 4);
		i->disp = getn(&d, 2);	/* selector */
	} else if (f & D_ENTER) {
		i->imm = getn(&d, 2);
		i->imm2 = getb(&d);
	} else if (f & D_IMMSSE) {
		i->imm = getb(&d);
		if (sse4a)
			i->imm2 = getb(&d);
	}
	if (f & (D_JB | D_JZ)) {
		int64_t rel = (f & D_JB) ? (int8_t)getb(&d) :
			      i->osz == 2 ? (int16_t)getn(&d, 2) : (int32_t)getn(&d, 4);
		i->imm = (uint64_t)rel;
	}
	if (d.need_more)
		return 0;

	/* choose the handler */
	if (!i->fn) {
		if (f & D_X87) {
			i->fn = x87_lookup(b, i->modrm);
		} else if (f & D_SSE) {
			i->fn = sse_lookup(map == 0 ? 1 : map - 1, b, mp, i->modrm, vex, i);
		} else if (map == 3 || (map == 4 && !vex)) {
			i->fn = NULL;
		} else {
			i->fn = od->fn;
		}
		if (map == 0 && b == 0x63 && long64)
			i->fn = h_movsxd;
		if (map == 0 && b == 0x90 && !(rex & 1))
			i->fn = (pfx & PFX_REP) ? h_pause : h_nop;
		if (map == 2 && b == 0xb8 && mp != 2)
			i->fn = h_ud;
		if (map == 2 && !vex && b == 0xbc && mp == 2 && HAS(c, FEAT_BMI1))
			i->fn = h_tzcnt;
		if (map == 2 && !vex && b == 0xbd && mp == 2 && HAS(c, FEAT_LZCNT))
			i->fn = h_lzcnt;
		/* MOVNTI is NP: a 66/F2/F3 prefix makes it #UD */
		if (map == 2 && !vex && b == 0xc3 && mp)
			i->fn = h_ud;
		/* integer instructions of the 0F38 / VEX maps */
		if (map == 3 && !vex) {
			if ((b == 0xf0 || b == 0xf1) && mp == 2)
				i->fn = h_ud;
			else if ((b == 0xf0 || b == 0xf1) && mp != 3)
				i->fn = h_movbe;
			else if ((b == 0xf0 || b == 0xf1) && mp == 3)
				i->fn = h_crc32;
			else if (b == 0xf6 && (mp == 1 || mp == 2))
				i->fn = h_adx;
			else if (b == 0x82 && mp == 1)
				i->fn = h_invpcid;
			else if ((b == 0x80 || b == 0x81) && mp == 1)
				i->fn = h_vmx_unimpl;
			if (b == 0xf0 || b == 0xf1) {
				if (mp < 2 && !i->mem)
					i->fn = h_ud;	/* MOVBE needs memory */
				if (b == 0xf0 && mp == 3)
					i->osz = 1;
				if (b == 0xf0 && mp == 3 && !i->mem)
					i->rm = byte_reg(i->rm, rex);
			}
		}
		if (map == 3 && vex && b >= 0xf2 && b <= 0xf7) {
			static const insn_fn bmi[4][6] = {
				/* f2      f3           f5      f6      f7 (by pp) */
				{ h_andn, h_bmi_grp17, NULL, h_bzhi, NULL, h_bextr },
				{ NULL, NULL, NULL, NULL, NULL, h_shiftx },	/* 66: shlx */
				{ NULL, NULL, NULL, h_pext, NULL, h_shiftx },	/* F3: sarx */
				{ NULL, NULL, NULL, h_pdep, h_mulx, h_shiftx },	/* F2: shrx */
			};
			i->fn = bmi[mp][b - 0xf2];
			i->osz = (rex & 8) && long64 ? 8 : 4;
			if (i->vex_l)
				i->fn = NULL;
		}
		/* RORX: VEX.vvvv must be 1111b (SDM RORX: otherwise #UD) */
		if (map == 4 && vex && b == 0xf0)
			i->fn = (mp == 3 && !i->vex_l && !i->vex_v) ? h_rorx : NULL;
		if (map == 4 && vex && b == 0xf0)
			i->osz = (rex & 8) && long64 ? 8 : 4;
		if (!i->fn)
			i->fn = h_ud;
	}

	if (vex_bad)
		i->fn = h_ud;
	/* LOCK prefix on anything but the lockable forms: #UD */
	if ((pfx & PFX_LOCK) && !lock_ok(i, f)) {
		/* AMD: LOCK MOV CR0 is MOV CR8 (CR8 legacy) */
		if (!(map == 2 && (b == 0x20 || b == 0x22) && c->model->vendor == VENDOR_AMD))
			i->fn = h_ud;
	}
	if ((f & D_O64) && !long64)
		i->fn = h_ud;

finish_len:
	if (d.need_more)
		return 0;
	if (d.n > 15) {
		i->fn = h_gp0_len;
		d.n = 15;
	}
	i->len = d.n;
	if (riprel)
		i->disp += rip + d.n;	/* RIP-relative: absolute */
	i->aux = od ? od->aux : 0;
	i->end = !!(f & D_END);
	i->mp = mp;
	i->map = map;
	if (od && i->fn == od->fn && od->fn) {
		insn_fn fast = fast_select(c, i);
		if (fast)
			i->fn = fast;
	}
	return d.n;
}

/* ---- the decode cache ----------------------------------------------------- */

#define BLK_MAX BLK_MAX_INSNS
#define ARENA_SIZE (64u << 20)

static uint32_t bhash_fn(uint64_t phys, uint64_t rip)
{
	uint64_t h = phys * 0x9e3779b97f4a7c15ULL ^ rip * 0xc2b2ae3d27d4eb4fULL;
	return (uint32_t)(h >> 40);
}

static int jc_idx(uint64_t rip)
{
	return blk_jc_idx(rip);
}

static void arena_init(struct vm *vm)
{
	/* NESTVM_JIT=0 interprets only; NESTVM_JIT=N compiles after N runs */
	const char *j = getenv("NESTVM_JIT");
	vm->jit_threshold = JIT_THRESHOLD;
	if (j && !strcmp(j, "0"))
		vm->jit_off = true;
	else if (j && atoi(j) > 0)
		vm->jit_threshold = (uint32_t)atoi(j);
	vm->arena_size = ARENA_SIZE;
	vm->arena = malloc(vm->arena_size);
	vm->bhash_mask = (1u << 16) - 1;
	vm->bhash = calloc(vm->bhash_mask + 1, sizeof(*vm->bhash));
	if (!vm->arena || !vm->bhash) {
		fprintf(stderr, "nestvm: out of memory for the decode cache\n");
		exit(1);
	}
}

void code_flush_all(struct vm *vm)
{
	vm->arena_used = 0;
	jit_reset(vm);
	if (vm->bhash)
		memset(vm->bhash, 0, (vm->bhash_mask + 1) * sizeof(*vm->bhash));
	for (int s = 0; s < vm->nslots; s++) {
		struct memslot *ms = &vm->slots[s];
		uint64_t np = ms->size >> 12;
		if (ms->code)
			memset(ms->code, 0, np * sizeof(*ms->code));
		if (ms->blocks)
			memset(ms->blocks, 0, np * sizeof(*ms->blocks));
	}
	for (int v = 0; v < vm->nvcpus; v++) {
		struct cpu *c = vm->vcpu[v];
		if (c) {
			memset(c->jc, 0, sizeof(c->jc));
			c->brk |= BRK_SMC;
		}
	}
	vm->code_gen++;
}

static bool slot_track(struct vm *vm, uint64_t gpa, struct memslot **sp, uint64_t *pg)
{
	struct memslot *s;
	if (!mmu_gpa_host(vm, gpa, &s))
		return false;
	if (!s->code) {
		uint64_t np = (s->size + 0xfff) >> 12;
		s->code = calloc(np, sizeof(*s->code));
		s->blocks = calloc(np, sizeof(*s->blocks));
		if (!s->code || !s->blocks) {
			fprintf(stderr, "nestvm: out of memory for code tracking\n");
			exit(1);
		}
	}
	*sp = s;
	*pg = (gpa - s->gpa) >> 12;
	return true;
}

static uint64_t chunk_mask(unsigned off, unsigned end)
{
	uint64_t m = 0;
	for (unsigned k = off >> 6; k <= (end - 1) >> 6 && k < 64; k++)
		m |= 1ULL << k;
	return m;
}

static void blk_register(struct vm *vm, struct blk *b)
{
	uint32_t h = bhash_fn(b->phys[0], b->rip) & vm->bhash_mask;
	b->hnext = vm->bhash[h];
	vm->bhash[h] = b;
	for (int k = 0; k < 2; k++) {
		struct memslot *s;
		uint64_t pg;
		if (b->phys[k] == ~0ULL || !slot_track(vm, b->phys[k], &s, &pg))
			continue;
		bool was = s->code[pg] != 0;
		s->code[pg] |= chunk_mask(b->off[k], b->end[k]);
		b->pnext[k] = s->blocks[pg];
		s->blocks[pg] = b;
		if (!was)
			mmu_unwrite_gpa(vm, b->phys[k]);
	}
}

static void blk_unlink_hash(struct vm *vm, struct blk *b)
{
	uint32_t h = bhash_fn(b->phys[0], b->rip) & vm->bhash_mask;
	struct blk **pp = &vm->bhash[h];
	while (*pp) {
		if (*pp == b) {
			*pp = b->hnext;
			return;
		}
		pp = &(*pp)->hnext;
	}
}

/*
 * Bytes [gpa, gpa+len) of a page holding decoded code are about to be
 * written: kill every block that overlaps them.  If the writer's running
 * block dies, it stops after the current instruction.
 */
void code_invalidate_range(struct vm *vm, uint64_t gpa, int len, struct cpu *writer)
{
	struct memslot *s;
	uint64_t pg;
	uint64_t pgpa = gpa & ~0xfffULL;
	unsigned lo = gpa & 0xfff, hi = lo + len;

	if (!slot_track(vm, gpa, &s, &pg))
		return;
	struct blk **pp = &s->blocks[pg];
	uint64_t keep = 0;
	while (*pp) {
		struct blk *b = *pp;
		int k = b->phys[0] == pgpa ? 0 : 1;
		struct blk **next = &b->pnext[k];
		if (b->off[k] < hi && lo < b->end[k]) {
			b->dead = 1;
			blk_unlink_hash(vm, b);
			*pp = *next;
			if (writer && writer->cur_blk == b)
				writer->brk |= BRK_SMC;
			continue;
		}
		keep |= chunk_mask(b->off[k], b->end[k]);
		pp = next;
	}
	s->code[pg] = keep;
	/* blocks dying here may be cached in a jump cache: checked by ->dead */
}

void code_invalidate_page(struct vm *vm, uint64_t gpa, struct cpu *writer)
{
	code_invalidate_range(vm, gpa & ~0xfffULL, 4096, writer);
}

/* fetch translation for instruction bytes; faults if not executable */
static uint8_t *fetch_page(struct cpu *c, uint64_t lin, uint64_t *gpa, bool do_fault)
{
	struct walk w;
	int acc = ACC_X | (c->cpl == 3 ? ACC_USER : 0);
	uint8_t *h;

	if ((c->efer & EFER_LMA) && c->lin_mask == ~0ULL) {
		int sh = (c->cr4 & CR4_LA57) ? 7 : 16;
		if ((uint64_t)((int64_t)(lin << sh) >> sh) != lin) {
			if (do_fault)
				cpu_gp0(c);
			return NULL;
		}
	}
	if (!mmu_translate(c, lin, acc, &w)) {
		if (do_fault)
			cpu_raise_pf(c, lin, w.pfec);
		return NULL;
	}
	h = mmu_gpa_host(c->vm, w.gpa & ~0xfffULL, NULL);
	if (!h) {
		if (do_fault)
			cpu_internal_error(c, "instruction fetch from a non-RAM address");
		return NULL;
	}
	*gpa = w.gpa & ~0xfffULL;
	return h;
}

static void *arena_alloc(struct vm *vm, size_t sz)
{
	sz = (sz + 15) & ~(size_t)15;
	if (vm->arena_used + sz > vm->arena_size)
		return NULL;
	void *p = vm->arena + vm->arena_used;
	vm->arena_used += sz;
	return p;
}

static struct blk *blk_build(struct cpu *c, uint64_t rip, uint64_t lin, uint64_t gpa0,
			     uint8_t *host0)
{
	struct vm *vm = c->vm;
	struct insn tmp[BLK_MAX];
	uint64_t phys1 = ~0ULL;
	uint8_t *host1 = NULL;
	int n = 0;
	uint64_t cur = rip;
	unsigned end1 = 0;
	bool cs_check = !cpu_long64(c);
	uint64_t cs_lim = c->seg[S_CS].limit;
	uint64_t rmask = rip_mask(c);

	for (;;) {
		uint8_t buf[16];
		uint64_t l = (c->seg_ebase[S_CS] + cur) & c->lin_mask;
		unsigned off = l & 0xfff;
		int avail = 0;

		/* bytes on the first page, then possibly the second */
		if ((l & ~0xfffULL) != (lin & ~0xfffULL))
			break;	/* block stays on its page */
		int a1 = 0x1000 - off;
		if (a1 > 15)
			a1 = 15;
		memcpy(buf, host0 + off, a1);
		avail = a1;
		if (a1 < 15) {
			if (!host1) {
				uint64_t g;
				host1 = fetch_page(c, (l + a1) & c->lin_mask, &g, false);
				if (host1)
					phys1 = g;
			}
			if (host1) {
				memcpy(buf + a1, host1, 15 - a1);
				avail = 15;
			}
		}
		if (cs_check) {
			/* bytes beyond the CS limit are not fetchable (#GP) */
			int lim_avail = cur > cs_lim ? 0 : (int)(cs_lim - cur + 1 > 15 ? 15 : cs_lim - cur + 1);
			if (lim_avail < avail)
				avail = lim_avail;
		}
		int len = decode_one(c, cur, &tmp[n], buf, avail);
		if (!len) {
			if (n > 0)
				break;	/* fault when we get there */
			/* 15 bytes were there and did not suffice: #GP(0) (SDM 2.3.11) */
			if (avail == 15)
				cpu_gp0(c);
			/* first instruction: the missing byte decides the fault */
			if (cs_check && (cur + avail > cs_lim || cur > cs_lim))
				cpu_gp0(c);
			uint64_t g;
			fetch_page(c, (l + a1) & c->lin_mask, &g, true);
			cpu_internal_error(c, "instruction decode");
		}
		bool crosses = off + len > 0x1000;
		if (crosses)
			end1 = off + len - 0x1000;
		n++;
		cur = (cur + len) & rmask;
		if (tmp[n - 1].end || crosses || n >= BLK_MAX)
			break;
		if (c->single_step)
			break;
	}

	unsigned nb0 = 0, nb1 = end1;
	{
		uint64_t e0 = (lin & 0xfff);
		for (int k = 0; k < n; k++)
			e0 += tmp[k].len;
		nb0 = (unsigned)((e0 > 0x1000 ? 0x1000 : e0) - (lin & 0xfff));
	}
	/* cached blocks end with a sentinel that chains to the next block */
	size_t sz = sizeof(struct blk) + (n + 1) * sizeof(struct insn);
	struct blk *b;
	if (c->single_step) {
		/* one instruction, used once: not cached */
		b = (struct blk *)c->ss_buf;
		b->bytes = NULL;
	} else {
		b = arena_alloc(vm, sz + nb0 + nb1);
		if (!b) {
			code_flush_all(vm);
			b = arena_alloc(vm, sz + nb0 + nb1);
		}
		b->bytes = (uint8_t *)b + sz;
		memcpy(b->bytes, host0 + (lin & 0xfff), nb0);
		if (nb1)
			memcpy(b->bytes + nb0, host1, nb1);
	}
	b->vgen = vm->run_gen;
	b->rip = rip;
	b->cs_base = c->seg_ebase[S_CS];
	b->mode = c->mode;
	b->n = n;
	b->dead = 0;
	b->ends_branch = tmp[n - 1].end;
	b->phys[0] = gpa0;
	b->off[0] = lin & 0xfff;
	uint64_t last_end = (lin & 0xfff);
	for (int k = 0; k < n; k++)
		last_end += tmp[k].len;
	b->end[0] = last_end > 0x1000 ? 0x1000 : (uint16_t)last_end;
	if (end1) {
		b->phys[1] = phys1;
		b->off[1] = 0;
		b->end[1] = end1;
	} else {
		b->phys[1] = ~0ULL;
		b->off[1] = b->end[1] = 0;
	}
	b->hnext = NULL;
	b->pnext[0] = b->pnext[1] = NULL;
	b->succ[0] = b->succ[1] = NULL;
	b->jit = NULL;
	b->hot = 0;
	memcpy(b->insn, tmp, n * sizeof(struct insn));
	if (!c->single_step) {
		struct insn *e = &b->insn[n];
		memset(e, 0, sizeof(*e));
		e->fn = h_blk_end;
		e->imm = (uint64_t)(uintptr_t)b;
		e->rip = tmp[n - 1].rip;
		e->disp = (tmp[n - 1].rip + tmp[n - 1].len) & rip_mask(c);
		blk_register(vm, b);
	}
	c->stat_decoded += n;
	return b;
}

/*
 * Has the VMM rewritten the block's code since it was decoded?  Guest
 * writes invalidate blocks as they happen; writes through the VMM's own
 * mapping are found here, once per run generation.
 */
static bool blk_still_valid(struct vm *vm, struct blk *b)
{
	for (int k = 0; k < 2; k++) {
		if (b->phys[k] == ~0ULL)
			continue;
		unsigned lo = b->off[k], hi = b->end[k];
		uint8_t *h = mmu_gpa_host(vm, b->phys[k] + lo, NULL);
		unsigned first = k ? b->end[0] - b->off[0] : 0;
		if (!h || memcmp(h, b->bytes + first, hi - lo))
			return false;
	}
	b->vgen = vm->run_gen;
	return true;
}

static void blk_kill(struct vm *vm, struct blk *b)
{
	code_invalidate_range(vm, b->phys[0] + b->off[0], b->end[0] - b->off[0], NULL);
	if (b->phys[1] != ~0ULL)
		code_invalidate_range(vm, b->phys[1], b->end[1], NULL);
	b->dead = 1;
}

/*
 * The block at the current RIP.  Raises the fetch fault if the first
 * instruction cannot be fetched.
 */
struct blk *blk_lookup(struct cpu *c)
{
	struct vm *vm = c->vm;
	uint64_t rip = c->rip;
	uint64_t csb = c->seg_ebase[S_CS];
	int j = jc_idx(rip);
	struct blk *b = c->jc[j];

	if (!vm->arena)
		arena_init(vm);
	if (likely(b && b->rip == rip && !b->dead && b->cs_base == csb &&
		   b->mode == c->mode) && !c->single_step) {
		if (likely(b->vgen == vm->run_gen) || blk_still_valid(vm, b))
			return b;
		blk_kill(vm, b);
	}

	uint64_t lin = (csb + rip) & c->lin_mask;
	if (!cpu_long64(c) && rip > c->seg[S_CS].limit)
		cpu_gp0(c);
	uint64_t gpa;
	struct tlb_ent *e = &c->tlb[c->cpl == 3 ? TLB_USER : TLB_SUP][(lin >> 12) & TLB_MASK];
	uint64_t tag = (lin & ~0xfffULL) | c->tlb_epoch;
	uint8_t *host;
	if (e->tag_x == tag) {
		gpa = e->gpa;
		host = (uint8_t *)(e->addend + (lin & ~0xfffULL));
	} else {
		host = fetch_page(c, lin, &gpa, true);	/* CR2 = the fetch address */
		/* remember the translation for the next lookups */
		struct walk w;
		int acc = ACC_X | (c->cpl == 3 ? ACC_USER : 0);
		if (mmu_translate(c, lin, acc | ACC_NOSET, &w) &&
		    (w.gpa & ~0xfffULL) != lapic_xapic_base(c)) {
			if (e->tag_r != tag && e->tag_w != tag)
				e->tag_r = e->tag_w = TLB_INVALID;
			e->tag_x = tag;
			e->addend = (uintptr_t)host - (lin & ~0xfffULL);
			e->gpa = gpa;
		}
	}

	if (!c->single_step) {
		uint32_t h = bhash_fn(gpa, rip) & vm->bhash_mask;
		for (b = vm->bhash[h]; b; b = b->hnext) {
			if (b->rip == rip && b->phys[0] == gpa && b->cs_base == csb &&
			    b->mode == c->mode && b->off[0] == (lin & 0xfff)) {
				/* the second page must still map the same way */
				if (b->phys[1] != ~0ULL) {
					uint64_t g2;
					uint64_t l2 = ((lin & ~0xfffULL) + 0x1000) & c->lin_mask;
					if (!fetch_page(c, l2, &g2, false) || g2 != b->phys[1])
						continue;
				}
				if (b->vgen != vm->run_gen && !blk_still_valid(vm, b)) {
					blk_kill(vm, b);
					break;
				}
				c->jc[j] = b;
				return b;
			}
		}
	}
	b = blk_build(c, rip, lin, gpa, host);
	if (!c->single_step)
		c->jc[j] = b;
	return b;
}

/*
 * The block after `prev` at the current RIP: one of prev's cached
 * successors when still valid (same RIP, CS base and mode, alive, bytes
 * verified this generation), else a full lookup that refreshes the cache.
 */
struct blk *blk_next(struct cpu *c, struct blk *prev)
{
	uint64_t rip = c->rip;
	/*
	 * A successor is only as good as the translation it was fetched
	 * through: it must still be in the jump cache, which every TLB flush
	 * (MOV CR3, INVLPG, CR0/CR4 changes) empties (SDM 4.10.4).
	 */
	struct blk *cached = c->jc[jc_idx(rip)];
	for (int k = 0; k < 2; k++) {
		struct blk *s = prev->succ[k];
		if (s && s == cached && s->rip == rip && !s->dead && s->vgen == c->vm->run_gen &&
		    s->cs_base == c->seg_ebase[S_CS] && s->mode == c->mode)
			return s;
	}
	struct blk *b = blk_lookup(c);
	if (!prev->dead && !c->single_step) {
		prev->succ[1] = prev->succ[0];
		prev->succ[0] = b;
	}
	return b;
}
