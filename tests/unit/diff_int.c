/*
 * Differential test of the user-mode integer ISA: every case runs natively
 * on the host and in nestvm (tests/unit/lib/ndiff.h) from the same random
 * registers, flags and memory; all GPRs, the defined flags and the 64 KiB
 * data window must agree, and so must faults (vector, RIP, registers).
 *
 * Flags the SDM leaves undefined are masked per instruction (the host is
 * whatever CPU CI runs on, nestvm's default model is Intel); each mask cites
 * the SDM's "Flags Affected".  nestvm's own fixed rules for them are
 * checked separately by tests against docs/cpu.md ("Undefined flags").
 *
 * Defined flags compared against the host (SDM Vol. 2, "Flags Affected" of
 * each instruction; c = count after masking to 5 or 6 bits, w = width):
 *
 *   ADD ADC SUB SBB CMP NEG INC DEC    all six (INC/DEC: CF unchanged)
 *   AND OR XOR TEST                    CF OF SF ZF PF (AF undefined)
 *   SHL SHR SAL SAR                    c = 0: all unchanged; c >= 1: SF ZF PF,
 *                                      CF (SHL/SHR only if c < w), OF if c = 1
 *   ROL ROR RCL RCR                    c = 0: unchanged; else CF, OF if c = 1,
 *                                      SF ZF AF PF unchanged
 *   SHLD SHRD                          c = 0: unchanged; 1 <= c <= w: CF SF ZF PF,
 *                                      OF if c = 1; c > w: nothing (nor result)
 *   MUL IMUL                           CF OF
 *   DIV IDIV                           none
 *   BT BTS BTR BTC                     CF; ZF unchanged
 *   BSF BSR                            ZF
 *   TZCNT LZCNT                        CF ZF
 *   POPCNT                             all six
 *   ANDN BLSI BLSMSK BLSR BZHI         SF ZF CF OF;  BEXTR: ZF CF OF
 *   ADCX / ADOX                        CF / OF only, the rest unchanged
 *   PDEP PEXT MULX RORX SHLX SARX SHRX none changed
 *   CMPS SCAS CMPXCHG XADD             as CMP / ADD; CMPXCHG8B/16B: ZF
 *   DAA DAS                            CF AF SF ZF PF;  AAA AAS: CF AF;
 *   AAM AAD                            SF ZF PF
 *
 * The rest (undefined) must follow nestvm's rules: rule_flags() below and
 * docs/cpu.md "Undefined flags".
 *
 * Environment: DIFF_SEED (default 1), DIFF_ITERS (cases per family and
 * size, default 100), DIFF_FAMILY (run only families whose name contains
 * it), DIFF_VERBOSE.
 */
#include <stdlib.h>
#include <string.h>

#include "ndiff.h"
#include "vmt.h"

#define CF 0x001ULL
#define PF 0x004ULL
#define AF 0x010ULL
#define ZF 0x040ULL
#define SF 0x080ULL
#define OF 0x800ULL
#define ALL (CF | PF | AF | ZF | SF | OF)

enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 };
#define HI(n) (0x20 | (n))	/* AH, CH, DH, BH */
#define DIG(n) (0x100 | (n))	/* ModRM.reg is an opcode extension */
#define RM_MEM (-1)

struct tc {
	int mode;
	uint8_t code[96];
	int len;
	struct nd_state in;
	uint64_t fmask;		/* flags to compare (defined ones) */
	uint32_t rskip;		/* registers whose result is undefined */
	bool memskip;		/* memory result undefined */
	uint32_t used;		/* registers already given a role */
	bool hi;		/* AH..BH in use: no REX, other registers < 4 */
	bool faulty;		/* a memory operand was placed to fault */
	/* nestvm's rule for the undefined flags (docs/cpu.md), U_* */
	int uk, uop, usz, ureg;
	uint64_t ua, ub;
	unsigned ucnt;
};

/*
 * The fixed rules nestvm follows where the SDM leaves flags (or a result)
 * undefined; docs/cpu.md "Undefined flags" is the same list in prose.
 */
enum {
	U_NONE,
	U_AF0,		/* AND OR XOR TEST: AF = 0 */
	U_KEEP,		/* undefined flags keep their old values */
	U_SHIFT,	/* group 2 by a register count: see rule_flags */
	U_SHXD,		/* SHLD/SHRD */
	U_MUL,		/* MUL/IMUL: SF ZF PF from the low half, AF = 0 */
	U_BEXTR,	/* SF = 0, AF PF kept */
	U_DAA,		/* DAA/DAS: OF = 0 */
	U_AAA,		/* AAA/AAS: OF = 0, SF ZF PF from AL */
	U_AAM,		/* AAM/AAD: OF AF CF = 0 */
	U_BSWAP16,	/* BSWAP r16: the low 16 bits become 0 */
};

static struct nd nd;
static uint64_t seed = 1, rng;
static int iters = 100;
static unsigned fault_rate = 12;	/* 1 in N memory operands placed to fault */
static const char *only;
static bool verbose;
static uint8_t master[ND_DATA_SIZE];

/* per family statistics */
static const char *fam_name;
static long fam_cases, fam_fail, fam_faults, total_cases, total_faults;

static uint64_t rnd(void) { return nd_rand(&rng); }
static uint64_t val(void) { return nd_value(&rng); }
static unsigned rn(unsigned n) { return (unsigned)(rnd() % n); }

/* ---- encoding ---------------------------------------------------------------- */

struct mem {
	int base, index, scale;	/* -1: none */
	int64_t disp;
	int dsz;		/* 0, 1, 4 bytes */
	bool rip;		/* RIP-relative (64-bit) */
	bool abs;		/* no base, no index */
};

static void put(struct tc *t, uint8_t b) { t->code[t->len++] = b; }
static void putn(struct tc *t, uint64_t v, int n)
{
	for (int k = 0; k < n; k++)
		put(t, (uint8_t)(v >> (8 * k)));
}

static bool is_hi(int r) { return r >= 0 && (r & 0x20) && r < 0x100; }

/* the 3-bit register field: AH..BH are 4..7 */
static int rfield(int r) { return is_hi(r) ? 4 + (r & 3) : r & 7; }

/*
 * One instruction: [66] pfx... [REX] op... ModRM [SIB] [disp] [imm].
 * reg: register, HI(n), or DIG(n); rm: register, HI(n), or RM_MEM with m.
 */
static void emit(struct tc *t, const char *pfx, int osz, bool byteop, const char *op, int nop,
		 int reg, int rm, const struct mem *m, uint64_t imm, int isz)
{
	if (osz == 2)
		put(t, 0x66);
	for (const char *p = pfx; p && *p; p++)
		put(t, (uint8_t)*p);
	int rex = 0;
	if (osz == 8)
		rex |= 8;
	if (!(reg & 0x100) && !is_hi(reg) && (reg & 8))
		rex |= 4;
	if (rm == RM_MEM) {
		if (m->index >= 0 && (m->index & 8))
			rex |= 2;
		if (m->base >= 0 && (m->base & 8))
			rex |= 1;
	} else if (!is_hi(rm) && (rm & 8)) {
		rex |= 1;
	}
	bool need40 = byteop && ((!(reg & 0x100) && !is_hi(reg) && reg >= 4 && reg < 8) ||
				 (rm != RM_MEM && !is_hi(rm) && rm >= 4 && rm < 8));
	if ((rex || need40) && t->mode == 64)
		put(t, (uint8_t)(0x40 | rex));
	for (int k = 0; k < nop; k++)
		put(t, (uint8_t)op[k]);
	int regf = rfield(reg);
	if (rm != RM_MEM) {
		put(t, (uint8_t)(0xc0 | (regf << 3) | rfield(rm)));
	} else if (m->rip) {
		put(t, (uint8_t)((regf << 3) | 5));
		putn(t, (uint64_t)m->disp, 4);
	} else if (m->abs) {
		if (t->mode == 64) {
			put(t, (uint8_t)((regf << 3) | 4));
			put(t, 0x25);
		} else {
			put(t, (uint8_t)((regf << 3) | 5));
		}
		putn(t, (uint64_t)m->disp, 4);
	} else {
		int mod = m->dsz == 0 ? 0 : m->dsz == 1 ? 1 : 2;
		bool sib = m->index >= 0 || (m->base & 7) == RSP;
		if (mod == 0 && (m->base & 7) == RBP)
			mod = 1;	/* [rbp]/[r13] need a displacement */
		put(t, (uint8_t)((mod << 6) | (regf << 3) | (sib ? 4 : (m->base & 7))));
		if (sib)
			put(t, (uint8_t)((m->scale << 6) | ((m->index >= 0 ? m->index : RSP) & 7) << 3 |
					 (m->base & 7)));
		if (mod == 1)
			putn(t, (uint64_t)m->disp, 1);
		else if (mod == 2)
			putn(t, (uint64_t)m->disp, 4);
	}
	putn(t, imm, isz);
}

/* plain opcode with optional prefixes and immediate, no ModRM */
static void emit_raw(struct tc *t, int osz, const char *op, int nop, uint64_t imm, int isz)
{
	if (osz == 2)
		put(t, 0x66);
	if (osz == 8)
		put(t, 0x48);
	for (int k = 0; k < nop; k++)
		put(t, (uint8_t)op[k]);
	putn(t, imm, isz);
}

static int nregs(const struct tc *t) { return t->mode == 64 ? 16 : 8; }

/* a register not used yet (never RSP unless allowed); marks it used */
static int pick_reg(struct tc *t, bool allow_sp)
{
	for (;;) {
		int r = (int)rn(t->hi ? 4u : (unsigned)nregs(t));
		if (r == RSP && !allow_sp)
			continue;
		if (t->used & (1u << r))
			continue;
		t->used |= 1u << r;
		return r;
	}
}

/* byte register for an operand: any GPR, or AH..BH when no REX is used */
static int pick_breg(struct tc *t, bool allow_hi)
{
	if (t->mode == 32) {
		/* no REX: byte registers 4..7 are AH..BH */
		for (;;) {
			int r = (int)rn(8);
			if (t->used & (1u << (r & 3)))
				continue;
			t->used |= 1u << (r & 3);
			return r < 4 ? r : HI(r & 3);
		}
	}
	if (allow_hi && rn(4) == 0) {
		for (;;) {
			int n = (int)rn(4);
			if (!(t->used & (1u << n))) {
				t->used |= 1u << n;
				t->hi = true;
				return HI(n);
			}
		}
	}
	return pick_reg(t, false);
}

/* reserve specific registers (implicit operands) */
static void use(struct tc *t, int r) { t->used |= 1u << r; }

/*
 * A memory operand at ND_DATA + a random offset where `size` bytes fit,
 * addressed through registers not used yet.  low: keep registers < 8.
 */
static uint64_t pick_mem(struct tc *t, int size, struct mem *m, bool low)
{
	uint64_t off = 0x1000 + rn(ND_DATA_SIZE - 0x2000 - (unsigned)size);
	uint64_t ea = ND_DATA + off;
	memset(m, 0, sizeof(*m));
	m->base = m->index = -1;
	unsigned form = rn(10);
	int lim = low || t->hi || t->mode == 32 ? 8 : 16;
	if (form == 0 && !(t->mode == 64 && ea >> 31)) {
		m->abs = true;
		m->disp = (int64_t)ea;
		return ea;
	}
	if (form == 1 && t->mode == 64) {
		/* RIP-relative: fixed up by the caller once the length is known */
		m->rip = true;
		m->disp = (int64_t)ea;
		return ea;
	}
	for (;;) {
		m->base = (int)rn((unsigned)lim);
		if (!(t->used & (1u << m->base)) && m->base != RSP)
			break;
	}
	t->used |= 1u << m->base;
	if (form >= 6) {
		for (;;) {
			m->index = (int)rn((unsigned)lim);
			if (!(t->used & (1u << m->index)) && m->index != RSP)
				break;
		}
		t->used |= 1u << m->index;
		m->scale = (int)rn(4);
	}
	m->dsz = (int)(rn(3) == 0 ? 0 : rn(2) == 0 ? 1 : 4);
	m->disp = m->dsz == 1 ? (int64_t)(int8_t)rnd() : m->dsz == 4 ? (int64_t)(int32_t)(rnd() & 0xfff) - 0x800 : 0;
	if (m->dsz == 0 && (m->base & 7) == RBP)
		m->dsz = 1;	/* emit() adds disp8 = 0 */
	if (rn(fault_rate) == 0) {
		/* provoke a fault: run off either end, or go non-canonical */
		if (rn(3) == 0) {
			ea = ND_DATA - (uint64_t)size + rn((unsigned)size + 2);
		} else if (rn(2) || t->mode == 32) {
			ea = ND_GUARD - 1 - rn((unsigned)size + 2);
		} else {
			ea ^= 1ULL << (47 + rn(17));
		}
		t->faulty = true;
	}
	uint64_t idx = 0;
	if (m->index >= 0) {
		idx = rnd() & 0x3f;
		if (rn(4) == 0)
			idx = (uint64_t)-(int64_t)(rnd() & 0x3f);
		t->in.r[m->index] = idx;
	}
	t->in.r[m->base] = ea - (idx << m->scale) - (uint64_t)m->disp;
	if (t->mode == 32)
		t->in.r[m->base] &= 0xffffffff;
	return ea;
}

/* RIP-relative operands: disp holds the absolute target until the end */
static void fix_riprel(struct tc *t, int disp_at, int insn_end, uint64_t target)
{
	uint32_t rel = (uint32_t)(target - (ND_CODE + (uint64_t)insn_end));
	memcpy(t->code + disp_at, &rel, 4);
}

/* emit with a memory operand, handling RIP-relative fix-up */
static void emit_m(struct tc *t, const char *pfx, int osz, bool byteop, const char *op, int nop,
		   int reg, const struct mem *mm, uint64_t imm, int isz)
{
	int start = t->len;
	struct mem mc = *mm;
	const struct mem *m = &mc;
	/* GS-relative: same linear address, GS.base taken off the operand */
	if (t->mode == 64 && nd.gs && rn(8) == 0) {
		if (mc.base >= 0)
			t->in.r[mc.base] -= ND_GS_BASE;
		else
			mc.disp -= (int64_t)ND_GS_BASE;
		put(t, 0x65);
	} else
	/*
	 * Sometimes an ES/CS/SS/DS override: flat everywhere, but in 64-bit
	 * mode it decides #SS vs #GP for a non-canonical address, and in
	 * 32-bit mode a CS-override write is a #GP.
	 */
	if (rn(8) == 0) {
		static const uint8_t seg[4] = { 0x26, 0x2e, 0x36, 0x3e };
		put(t, seg[rn(4)]);
	}
	emit(t, pfx, osz, byteop, op, nop, reg, RM_MEM, m, imm, isz);
	if (m->rip) {
		int at = t->len - isz - 4;
		fix_riprel(t, at, t->len, (uint64_t)m->disp);
	}
	(void)start;
}

/* ---- running and comparing ---------------------------------------------------- */

static void tc_init(struct tc *t, int mode)
{
	memset(t, 0, sizeof(*t));
	t->mode = mode;
	for (int r = 0; r < 16; r++)
		t->in.r[r] = val();
	t->in.r[RSP] = ND_DATA + 0x8000 + (rnd() & 0x7f0);
	if (mode == 32)
		for (int r = 0; r < 16; r++)
			t->in.r[r] = r < 8 ? (uint32_t)t->in.r[r] : 0;
	t->in.fl = rnd() & ALL;
	t->fmask = ALL;
	t->used = 0;
}

static const char *rname[16] = { "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15" };

static void dump_case(const struct tc *t, const struct nd_state *h, const struct nd_state *g,
		      const char *why)
{
	printf("# %s: %s mode %d code:", fam_name, why, t->mode);
	for (int k = 0; k < t->len; k++)
		printf(" %02x", t->code[k]);
	printf("\n#   in  fl=%03llx", (unsigned long long)t->in.fl);
	for (int r = 0; r < nregs(t); r++)
		printf(" %s=%llx", rname[r], (unsigned long long)t->in.r[r]);
	printf("\n#   host vec=%d rip=%llx fl=%03llx", h->vec, (unsigned long long)h->rip,
	       (unsigned long long)(h->fl & 0xfff));
	if (h->vec == 14 || g->vec == 14)
		printf(" cr2=%llx/%llx ec=%x/%x", (unsigned long long)h->cr2,
		       (unsigned long long)g->cr2, h->ec, g->ec);
	for (int r = 0; r < nregs(t); r++)
		if (h->r[r] != g->r[r])
			printf(" %s=%llx", rname[r], (unsigned long long)h->r[r]);
	printf("\n#   nvm  vec=%d rip=%llx fl=%03llx", g->vec, (unsigned long long)g->rip,
	       (unsigned long long)(g->fl & 0xfff));
	for (int r = 0; r < nregs(t); r++)
		if (h->r[r] != g->r[r])
			printf(" %s=%llx", rname[r], (unsigned long long)g->r[r]);
	printf("  (fmask %03llx)\n", (unsigned long long)t->fmask);
}

static uint64_t szp(uint64_t v, int sz)
{
	uint64_t m = sz == 8 ? ~0ULL : (1ULL << (sz * 8)) - 1, f = 0;
	v &= m;
	if (!v)
		f |= ZF;
	if (v >> (sz * 8 - 1))
		f |= SF;
	if (!__builtin_parity((unsigned)(v & 0xff)))
		f |= PF;
	return f;
}

static uint64_t rd_reg(const uint64_t *r, int reg, int sz)
{
	if (is_hi(reg))
		return (r[reg & 3] >> 8) & 0xff;
	return sz == 8 ? r[reg] : r[reg] & ((1ULL << (sz * 8)) - 1);
}

/*
 * nestvm's value of all six flags under its rules, from the inputs and the
 * host's (architected) results; only the bits the SDM leaves undefined are
 * compared.  xreg, xval: a register whose undefined value the rule fixes.
 */
static uint64_t rule_flags(const struct tc *t, const struct nd_state *h, int *xreg, uint64_t *xval)
{
	uint64_t in = t->in.fl & ALL, f = h->fl & ALL;
	int sz = t->usz ? t->usz : 8, bits = sz * 8;
	uint64_t msb = 1ULL << (bits - 1), a = t->ua;
	unsigned c = t->ucnt;
	*xreg = -1;
	switch (t->uk) {
	case U_AF0:
		return f & ~AF;
	case U_KEEP:
		return (f & t->fmask) | (in & ~t->fmask);
	case U_SHIFT: {
		uint64_t res = rd_reg(h->r, t->ureg, sz);
		bool cf;
		if (t->uop <= 3) {	/* rotates: only OF can be undefined */
			bool of;
			cf = f & CF;
			switch (t->uop) {
			case 0: of = !!(res & msb) ^ !!(res & 1); break;
			case 1: of = !!(res & msb) ^ !!(res & (msb >> 1)); break;
			case 2: of = !!(res & msb) ^ cf; break;
			default: of = !!(a & msb) ^ !!(in & CF); break;
			}
			return (f & ~OF) | (of ? OF : 0);
		}
		if (t->uop == 5)
			cf = c <= (unsigned)bits ? (a >> (c - 1)) & 1 : 0;
		else if (t->uop == 7)
			cf = f & CF;
		else
			cf = c <= (unsigned)bits ? (a >> (bits - c)) & 1 : 0;
		bool of = t->uop == 5 ? !!(a & msb) : t->uop == 7 ? false : !!(res & msb) ^ cf;
		return szp(res, sz) | (cf ? CF : 0) | (of ? OF : 0);
	}
	case U_SHXD: {
		uint64_t src = t->ub, r;
		bool cf;
		if (bits == 16) {
			uint64_t v = (a << 32) | (src << 16) | a;
			r = t->uop ? (v >> c) & 0xffff : (v >> (32 - c)) & 0xffff;
			cf = t->uop ? (v >> (c - 1)) & 1 : (v >> (48 - c)) & 1;
			*xreg = t->ureg;
			*xval = r;
		} else {
			r = rd_reg(h->r, t->ureg, sz);
			cf = f & CF;
		}
		return szp(r, sz) | (cf ? CF : 0) | (((r ^ a) & msb) ? OF : 0);
	}
	case U_MUL: {
		uint64_t lo = rd_reg(h->r, t->ureg, sz);
		return (f & (CF | OF)) | szp(lo, sz);
	}
	case U_BEXTR:
		return (f & t->fmask) | (in & (AF | PF));
	case U_DAA:
		return f & ~OF;
	case U_AAA:
		return (f & (AF | CF)) | szp(h->r[RAX] & 0xff, 1);
	case U_AAM:
		return f & (SF | ZF | PF);
	case U_BSWAP16:
		*xreg = t->ureg;
		*xval = 0;
		return f;
	default:
		return f;
	}
}

/* returns true if both sides agree */
static bool run_tc(struct tc *t)
{
	struct nd_state h, g;
	uint8_t *hd = nd_host_data(&nd), *gd = nd_guest_data(&nd, t->mode);
	/* a fresh random window each time (cheap: rotate the master) */
	size_t rot = (rnd() % (ND_DATA_SIZE / 64)) * 64;
	memcpy(hd, master + rot, ND_DATA_SIZE - rot);
	memcpy(hd + ND_DATA_SIZE - rot, master, rot);
	memcpy(gd, hd, ND_DATA_SIZE);

	if (nd_run_host(&nd, t->mode, t->code, t->len, &t->in, &h) < 0)
		return true;	/* not available: counted as skipped by the caller */
	if (nd_run_guest(&nd, t->mode, t->code, t->len, &t->in, &g) < 0) {
		dump_case(t, &h, &h, "guest run failed");
		return false;
	}
	fam_cases++;
	total_cases++;
	const char *why = NULL;
	uint64_t rm = t->mode == 64 ? ~0ULL : 0xffffffffULL;
	if (h.vec != g.vec) {
		why = "exception differs";
	} else if (h.vec >= 0) {
		/* both faulted: nothing may have changed (SDM 6.5: faults restartable) */
		fam_faults++;
		total_faults++;
		if ((h.rip & rm) != (g.rip & rm))
			why = "fault RIP differs";
		for (int r = 0; r < nregs(t) && !why; r++)
			if ((h.r[r] & rm) != (g.r[r] & rm))
				why = "register at fault differs";
		if (!why && ((h.fl ^ g.fl) & (ALL | ND_DF)))
			why = "flags at fault differ";
		if (!why && h.vec == 14 && (h.cr2 != g.cr2 || ((h.ec ^ g.ec) & 3)))
			why = "#PF address or error code differs";
		if (!why) {
			uint64_t lo, hi;
			nd_guest_frame_range(&g, t->mode, &lo, &hi);
			for (uint64_t a = 0; a < ND_DATA_SIZE; a++) {
				if (a + ND_DATA >= lo && a + ND_DATA < hi)
					continue;
				if (hd[a] != gd[a]) {
					why = "memory at fault differs";
					break;
				}
			}
		}
	} else {
		for (int r = 0; r < nregs(t) && !why; r++)
			if (!(t->rskip & (1u << r)) && (h.r[r] & rm) != (g.r[r] & rm))
				why = "register differs";
		if (!why && ((h.fl ^ g.fl) & (t->fmask | ND_DF)))
			why = "flags differ";
		if (!why && t->uk) {
			/* nestvm's own rules where the SDM leaves things undefined */
			int xr;
			uint64_t xv = 0;
			uint64_t want = rule_flags(t, &h, &xr, &xv);
			uint64_t u = ALL & ~t->fmask;
			if ((g.fl ^ want) & u) {
				why = "undefined flags break nestvm's rule (docs/cpu.md)";
				printf("# rule: expected undefined flags %03llx, got %03llx\n",
				       (unsigned long long)(want & u), (unsigned long long)(g.fl & u));
			}
			if (!why && xr >= 0 && rd_reg(g.r, xr, t->usz) != xv)
				why = "undefined result breaks nestvm's rule (docs/cpu.md)";
		}
		if (!why && !t->memskip && memcmp(hd, gd, ND_DATA_SIZE)) {
			why = "memory differs";
			for (int a = 0; a < ND_DATA_SIZE; a++)
				if (hd[a] != gd[a]) {
					printf("# first memory difference at %#llx: host %02x nestvm %02x\n",
					       (unsigned long long)(ND_DATA + a), hd[a], gd[a]);
					break;
				}
		}
	}
	if (why) {
		fam_fail++;
		if (fam_fail <= 6 || verbose)
			dump_case(t, &h, &g, why);
		return false;
	}
	return true;
}

static bool fam_begin(const char *name)
{
	fam_name = name;
	fam_cases = fam_fail = fam_faults = 0;
	if (only && !strstr(name, only))
		return false;
	/* each family gets its own stream: results do not depend on the others */
	rng = seed * 0x9e3779b97f4a7c15ULL;
	for (const char *p = name; *p; p++)
		rng = (rng ^ (uint8_t)*p) * 0x100000001b3ULL;
	rng |= 1;
	return true;
}

static void fam_end(void)
{
	if (only && !strstr(fam_name, only))
		return;
	if (!fam_cases && !fam_fail) {
		printf("ok - %s # SKIP not available on this host\n", fam_name);
		return;
	}
	tap_ok(fam_fail == 0, "%s: %ld cases (%ld faulting), %ld differ", fam_name, fam_cases,
	       fam_faults, fam_fail);
}

static int rand_osz(void)
{
	static const int s[4] = { 1, 2, 4, 8 };
	return s[rn(4)];
}

static int rand_osz_v(int mode)	/* 2, 4, 8 */
{
	int s = 2 << rn(mode == 64 ? 3 : 2);
	return s;
}

/* ---- families ----------------------------------------------------------------- */

/* ADD..CMP in all forms.  SDM: AND/OR/XOR/TEST leave AF undefined. */
static void fam_alu(int mode)
{
	for (int n = 0; n < iters * 24; n++) {
		struct tc t;
		tc_init(&t, mode);
		int op = (int)rn(8), osz = rand_osz(), form = (int)rn(5);
		if (mode == 32 && osz == 8)
			osz = 4;
		bool b = osz == 1;
		if (op == 1 || op == 4 || op == 6) {
			t.fmask = ALL & ~AF;
			t.uk = U_AF0;
		}
		char opc[2] = { (char)(op * 8), 0 };
		bool hi_ok = b && rn(3) == 0;
		struct mem m;
		if (form == 0 || form == 1) {	/* op r/m, r  |  op r, r/m */
			opc[0] = (char)(op * 8 + (form ? 2 : 0) + (b ? 0 : 1));
			int reg = b ? pick_breg(&t, hi_ok) : pick_reg(&t, false);
			if (rn(2)) {
				pick_mem(&t, osz, &m, hi_ok);
				emit_m(&t, NULL, osz, b, opc, 1, reg, &m, 0, 0);
			} else {
				int rm = b ? pick_breg(&t, hi_ok) : pick_reg(&t, false);
				if (!b && rn(8) == 0) {
					rm = reg;
				}
				emit(&t, NULL, osz, b, opc, 1, reg, rm, NULL, 0, 0);
			}
		} else if (form == 2) {		/* op al/eax, imm */
			opc[0] = (char)(op * 8 + (b ? 4 : 5));
			emit_raw(&t, osz, opc, 1, val(), b ? 1 : osz == 2 ? 2 : 4);
		} else {			/* 80 / 81 / 83 /op */
			int grp = b ? 0x80 : (form == 3 ? 0x81 : 0x83);
			if (b && mode == 32 && rn(2))
				grp = 0x82;	/* alias of 80 outside 64-bit mode */
			opc[0] = (char)grp;
			int isz = grp == 0x81 ? (osz == 2 ? 2 : 4) : 1;
			if (rn(2)) {
				pick_mem(&t, osz, &m, false);
				emit_m(&t, NULL, osz, b, opc, 1, DIG(op), &m, val(), isz);
			} else {
				int rm = b ? pick_breg(&t, hi_ok) : pick_reg(&t, false);
				emit(&t, NULL, osz, b, opc, 1, DIG(op), rm, NULL, val(), isz);
			}
		}
		run_tc(&t);
	}
}

/* TEST (84/85, A8/A9, F6/F7 /0 and its alias /1): AF undefined */
static void fam_test(int mode)
{
	for (int n = 0; n < iters * 6; n++) {
		struct tc t;
		tc_init(&t, mode);
		int osz = rand_osz();
		if (mode == 32 && osz == 8)
			osz = 4;
		bool b = osz == 1;
		t.fmask = ALL & ~AF;
		t.uk = U_AF0;
		struct mem m;
		int form = (int)rn(3);
		if (form == 0) {
			char op[1] = { (char)(b ? 0x84 : 0x85) };
			int reg = b ? pick_breg(&t, false) : pick_reg(&t, false);
			if (rn(2)) {
				pick_mem(&t, osz, &m, false);
				emit_m(&t, NULL, osz, b, op, 1, reg, &m, 0, 0);
			} else {
				emit(&t, NULL, osz, b, op, 1, reg, b ? pick_breg(&t, false) : pick_reg(&t, false), NULL, 0, 0);
			}
		} else if (form == 1) {
			char op[1] = { (char)(b ? 0xa8 : 0xa9) };
			emit_raw(&t, osz, op, 1, val(), b ? 1 : osz == 2 ? 2 : 4);
		} else {
			char op[1] = { (char)(b ? 0xf6 : 0xf7) };
			int isz = b ? 1 : osz == 2 ? 2 : 4;
			int dig = (int)rn(2);
			if (rn(2)) {
				pick_mem(&t, osz, &m, false);
				emit_m(&t, NULL, osz, b, op, 1, DIG(dig), &m, val(), isz);
			} else {
				emit(&t, NULL, osz, b, op, 1, DIG(dig), b ? pick_breg(&t, false) : pick_reg(&t, false), NULL, val(), isz);
			}
		}
		run_tc(&t);
	}
}

/* INC/DEC/NEG/NOT: all flags defined (INC/DEC keep CF; NOT changes none) */
static void fam_unary(int mode)
{
	for (int n = 0; n < iters * 10; n++) {
		struct tc t;
		tc_init(&t, mode);
		int osz = rand_osz();
		if (mode == 32 && osz == 8)
			osz = 4;
		bool b = osz == 1;
		int kind = (int)rn(mode == 32 ? 5 : 4);
		struct mem m;
		if (kind == 4) {	/* 40+r / 48+r short forms (not in 64-bit mode) */
			if (b)
				osz = 4;
			char op[1] = { (char)((rn(2) ? 0x40 : 0x48) + rn(8)) };
			emit_raw(&t, osz, op, 1, 0, 0);
			run_tc(&t);
			continue;
		}
		char op[1];
		int dig;
		if (kind < 2) {
			op[0] = (char)(b ? 0xfe : 0xff);
			dig = kind;
		} else {
			op[0] = (char)(b ? 0xf6 : 0xf7);
			dig = kind;	/* 2 NOT, 3 NEG */
		}
		if (rn(2)) {
			pick_mem(&t, osz, &m, false);
			emit_m(&t, NULL, osz, b, op, 1, DIG(dig), &m, 0, 0);
		} else {
			emit(&t, NULL, osz, b, op, 1, DIG(dig), b ? pick_breg(&t, true) : pick_reg(&t, false), NULL, 0, 0);
		}
		run_tc(&t);
	}
}

/*
 * Shifts and rotates (SDM "SAL/SAR/SHL/SHR", "RCL/RCR/ROL/ROR" Flags
 * Affected).  Masked count 0: no flag changes.  Shifts: SF ZF PF from the
 * result, AF undefined, OF only for count 1, CF undefined for SHL/SHR when
 * count >= width.  Rotates: only CF and OF change, OF only for count 1.
 */
static void fam_shift(int mode)
{
	for (int n = 0; n < iters * 24; n++) {
		struct tc t;
		tc_init(&t, mode);
		int osz = rand_osz();
		if (mode == 32 && osz == 8)
			osz = 4;
		bool b = osz == 1;
		int op = (int)rn(8), src = (int)rn(3);	/* 0 imm8, 1 one, 2 CL */
		unsigned cnt = rn(8) == 0 ? (unsigned)rnd() & 0xff : rn(71);
		if (src == 1)
			cnt = 1;
		use(&t, RCX);
		if (src == 2)
			t.in.r[RCX] = (t.in.r[RCX] & ~0xffULL) | cnt;
		unsigned mc = cnt & (osz == 8 ? 63 : 31), bits = osz * 8;
		if (mc == 0)
			t.fmask = ALL;
		else if (op <= 3)
			t.fmask = CF | (mc == 1 ? OF : 0);
		else
			t.fmask = SF | ZF | PF | (mc == 1 ? OF : 0) |
				  ((op == 7 || mc < bits) ? CF : 0);
		/* rotates through carry by a multiple of width+1 leave CF as is */
		char opc[1] = { (char)(src == 0 ? (b ? 0xc0 : 0xc1) : src == 1 ? (b ? 0xd0 : 0xd1) : (b ? 0xd2 : 0xd3)) };
		struct mem m;
		int isz = src == 0 ? 1 : 0;
		if (rn(3) == 0) {
			pick_mem(&t, osz, &m, false);
			emit_m(&t, NULL, osz, b, opc, 1, DIG(op), &m, cnt, isz);
		} else {
			int r = b ? pick_breg(&t, true) : pick_reg(&t, false);
			emit(&t, NULL, osz, b, opc, 1, DIG(op), r, NULL, cnt, isz);
			if (mc) {
				t.uk = U_SHIFT;
				t.uop = op;
				t.usz = osz;
				t.ureg = r;
				t.ua = rd_reg(t.in.r, r, osz);
				t.ucnt = mc;
			}
		}
		run_tc(&t);
	}
}

/*
 * SHLD/SHRD (SDM "SHLD", "SHRD"): count 0 changes nothing; otherwise CF is
 * the last bit out, SF ZF PF from the result, OF only for count 1, AF
 * undefined.  A count greater than the operand size (16-bit forms) leaves
 * the result and all flags undefined.
 */
static void fam_shxd(int mode)
{
	for (int n = 0; n < iters * 12; n++) {
		struct tc t;
		tc_init(&t, mode);
		int osz = rand_osz_v(mode);
		bool right = rn(2), cl = rn(2);
		unsigned cnt = rn(8) == 0 ? (unsigned)rnd() & 0xff : rn(71);
		use(&t, RCX);
		if (cl)
			t.in.r[RCX] = (t.in.r[RCX] & ~0xffULL) | cnt;
		unsigned mc = cnt & (osz == 8 ? 63 : 31);
		char op[2] = { 0x0f, (char)((right ? 0xac : 0xa4) + (cl ? 1 : 0)) };
		int reg = pick_reg(&t, false);
		struct mem m;
		int dst;
		if (rn(3) == 0) {
			pick_mem(&t, osz, &m, false);
			emit_m(&t, NULL, osz, false, op, 2, reg, &m, cnt, cl ? 0 : 1);
			dst = -1;
		} else {
			dst = pick_reg(&t, false);
			emit(&t, NULL, osz, false, op, 2, reg, dst, NULL, cnt, cl ? 0 : 1);
			if (mc) {
				t.uk = U_SHXD;
				t.uop = right;
				t.usz = osz;
				t.ureg = dst;
				t.ua = rd_reg(t.in.r, dst, osz);
				t.ub = rd_reg(t.in.r, reg, osz);
				t.ucnt = mc;
				if (dst == reg)
					t.ub = t.ua;
			}
		}
		if (mc == 0) {
			t.fmask = ALL;
		} else if (mc > (unsigned)osz * 8) {
			t.fmask = 0;
			if (dst >= 0)
				t.rskip |= 1u << dst;
			else
				t.memskip = true;
		} else {
			t.fmask = CF | SF | ZF | PF | (mc == 1 ? OF : 0);
		}
		run_tc(&t);
	}
}

/* MUL/IMUL: CF OF defined; SF ZF AF PF undefined (SDM "MUL", "IMUL") */
static void fam_mul(int mode)
{
	for (int n = 0; n < iters * 16; n++) {
		struct tc t;
		tc_init(&t, mode);
		int osz = rand_osz();
		if (mode == 32 && osz == 8)
			osz = 4;
		bool b = osz == 1;
		t.fmask = CF | OF;
		t.uk = U_MUL;
		t.usz = osz;
		t.ureg = RAX;
		int form = (int)rn(4);
		struct mem m;
		use(&t, RAX);
		use(&t, RDX);
		if (form == 0 || (b && form >= 2)) {	/* F6/F7 /4 /5 */
			char op[1] = { (char)(b ? 0xf6 : 0xf7) };
			int dig = 4 + (int)rn(2);
			if (rn(3) == 0) {
				pick_mem(&t, osz, &m, false);
				emit_m(&t, NULL, osz, b, op, 1, DIG(dig), &m, 0, 0);
			} else {
				int r = rn(4) ? (b ? pick_breg(&t, true) : pick_reg(&t, false)) : RAX;
				emit(&t, NULL, osz, b, op, 1, DIG(dig), r, NULL, 0, 0);
			}
		} else if (form == 1) {			/* 0F AF */
			if (b)
				osz = 4;
			char op[2] = { 0x0f, (char)0xaf };
			int reg = pick_reg(&t, false);
			t.usz = osz;
			t.ureg = reg;
			if (rn(3) == 0) {
				pick_mem(&t, osz, &m, false);
				emit_m(&t, NULL, osz, false, op, 2, reg, &m, 0, 0);
			} else {
				emit(&t, NULL, osz, false, op, 2, reg, rn(6) ? pick_reg(&t, false) : reg, NULL, 0, 0);
			}
		} else {				/* 69 iz / 6B ib */
			bool ib = form == 3;
			char op[1] = { (char)(ib ? 0x6b : 0x69) };
			int isz = ib ? 1 : osz == 2 ? 2 : 4;
			int reg = pick_reg(&t, false);
			t.ureg = reg;
			if (rn(3) == 0) {
				pick_mem(&t, osz, &m, false);
				emit_m(&t, NULL, osz, false, op, 1, reg, &m, val(), isz);
			} else {
				emit(&t, NULL, osz, false, op, 1, reg, pick_reg(&t, false), NULL, val(), isz);
			}
		}
		run_tc(&t);
	}
}

/* DIV/IDIV: all flags undefined; #DE on zero divisor and quotient overflow */
static void fam_div(int mode)
{
	for (int n = 0; n < iters * 16; n++) {
		struct tc t;
		tc_init(&t, mode);
		int osz = rand_osz();
		if (mode == 32 && osz == 8)
			osz = 4;
		bool b = osz == 1;
		t.fmask = 0;
		t.uk = U_KEEP;
		use(&t, RAX);
		use(&t, RDX);
		bool sgn = rn(2);
		uint64_t d = val();
		unsigned k = rn(6);
		if (k == 0)
			d = 0;
		else if (k == 1)
			d = ~0ULL;
		if (rn(2)) {
			/* keep the dividend's high part small: mostly no overflow */
			uint64_t hi = rn(2) ? 0 : rnd() & 0xff;
			if (sgn && rn(2))
				hi = ~0ULL;
			if (b)
				t.in.r[RAX] = (t.in.r[RAX] & ~0xff00ULL) | ((hi & 0xff) << 8);
			else
				t.in.r[RDX] = hi;
		}
		if (mode == 32)
			t.in.r[RDX] &= 0xffffffff;
		char op[1] = { (char)(b ? 0xf6 : 0xf7) };
		struct mem m;
		int dig = sgn ? 7 : 6;
		if (rn(3) == 0) {
			pick_mem(&t, osz, &m, false);	/* the divisor is the random window */
			emit_m(&t, NULL, osz, b, op, 1, DIG(dig), &m, 0, 0);
		} else {
			int r = b ? pick_breg(&t, true) : pick_reg(&t, false);
			if (is_hi(r))
				t.in.r[r & 3] = (t.in.r[r & 3] & ~0xff00ULL) | ((d & 0xff) << 8);
			else
				t.in.r[r] = mode == 32 ? (uint32_t)d : d;
			if (rn(10) == 0)
				r = RAX;
			emit(&t, NULL, osz, b, op, 1, DIG(dig), r, NULL, 0, 0);
		}
		run_tc(&t);
	}
}

/*
 * BT/BTS/BTR/BTC (SDM "BT"): CF = the bit; ZF unchanged; OF SF AF PF
 * undefined.  Register bit offsets address memory beyond the operand.
 */
static void fam_bt(int mode)
{
	for (int n = 0; n < iters * 16; n++) {
		struct tc t;
		tc_init(&t, mode);
		int osz = rand_osz_v(mode);
		t.fmask = CF | ZF;
		t.uk = U_KEEP;
		int op = (int)rn(4);
		struct mem m;
		if (rn(2)) {		/* 0F A3/AB/B3/BB: bit offset in a register */
			static const char ops[4] = { (char)0xa3, (char)0xab, (char)0xb3, (char)0xbb };
			char opc[2] = { 0x0f, ops[op] };
			int reg = pick_reg(&t, false);
			if (rn(2)) {
				uint64_t ea = pick_mem(&t, osz, &m, false);
				/* bit offsets reaching anywhere in the data window */
				if (t.faulty)
					ea = ND_DATA + ND_DATA_SIZE / 2;	/* faults anyway */
				int64_t lo = ((int64_t)ND_DATA + 0x100 - (int64_t)ea) * 8;
				int64_t hi = ((int64_t)ND_DATA + ND_DATA_SIZE - 0x100 - (int64_t)ea) * 8;
				if (osz == 2) {
					lo = lo < -32768 ? -32768 : lo;
					hi = hi > 32767 ? 32767 : hi;
				}
				int64_t off = lo + (int64_t)(rnd() % (uint64_t)(hi - lo));
				if (rn(3) == 0)
					off = (int64_t)(rnd() & 0x3f);
				if (osz == 2) {
					off = (int16_t)off;
					t.in.r[reg] = (t.in.r[reg] & ~0xffffULL) | ((uint64_t)off & 0xffff);
				} else {
					t.in.r[reg] = osz == 4 ? (t.in.r[reg] & ~0xffffffffULL) | (uint32_t)off : (uint64_t)off;
				}
				if (mode == 32)
					t.in.r[reg] &= 0xffffffff;
				emit_m(&t, NULL, osz, false, opc, 2, reg, &m, 0, 0);
			} else {
				emit(&t, NULL, osz, false, opc, 2, reg, pick_reg(&t, false), NULL, 0, 0);
			}
		} else {		/* 0F BA /4-7 ib */
			char opc[2] = { 0x0f, (char)0xba };
			uint64_t imm = rnd() & 0xff;
			if (rn(2)) {
				pick_mem(&t, osz, &m, false);
				emit_m(&t, NULL, osz, false, opc, 2, DIG(4 + op), &m, imm, 1);
			} else {
				emit(&t, NULL, osz, false, opc, 2, DIG(4 + op), pick_reg(&t, false), NULL, imm, 1);
			}
		}
		run_tc(&t);
	}
}

/*
 * BSF/BSR: ZF defined, others undefined; destination unchanged for a zero
 * source on both vendors (AMD documents it; Intel hardware does it).
 * TZCNT/LZCNT: CF ZF defined.  POPCNT: all six defined.
 */
static void fam_bitscan(int mode)
{
	for (int n = 0; n < iters * 16; n++) {
		struct tc t;
		tc_init(&t, mode);
		int osz = rand_osz_v(mode);
		int kind = (int)rn(5);
		if ((kind == 2 && !nd.feat.bmi1) || (kind == 3 && !nd.feat.lzcnt) ||
		    (kind == 4 && !nd.feat.popcnt))
			continue;
		static const char ops[5] = { (char)0xbc, (char)0xbd, (char)0xbc, (char)0xbd, (char)0xb8 };
		char opc[2] = { 0x0f, ops[kind] };
		const char *pfx = kind >= 2 ? "\xf3" : NULL;
		t.fmask = kind < 2 ? ZF : kind < 4 ? CF | ZF : ALL;
		t.uk = U_KEEP;
		int reg = pick_reg(&t, false);
		struct mem m;
		uint64_t v = rn(6) == 0 ? 0 : val();
		if (rn(3) == 0) {
			uint64_t ea = pick_mem(&t, osz, &m, false);
			(void)ea;
			emit_m(&t, pfx, osz, false, opc, 2, reg, &m, 0, 0);
		} else {
			int rm = pick_reg(&t, false);
			t.in.r[rm] = mode == 32 ? (uint32_t)v : v;
			emit(&t, pfx, osz, false, opc, 2, reg, rm, NULL, 0, 0);
		}
		run_tc(&t);
	}
}

/* BSWAP (16-bit form undefined: not compared), MOVZX/MOVSX/MOVSXD, CBW.. */
static void fam_moves(int mode)
{
	for (int n = 0; n < iters * 16; n++) {
		struct tc t;
		tc_init(&t, mode);
		int kind = (int)rn(5);
		struct mem m;
		if (kind == 0) {	/* BSWAP */
			int osz = mode == 64 && rn(2) ? 8 : 4;
			int r = pick_reg(&t, true);
			if (r == RSP)
				t.in.r[RSP] = val() | 1;	/* vmt_run treats RSP 0 as "default" */
			if (rn(8) == 0) {
				/* 16-bit: undefined (SDM BSWAP); nestvm's rule */
				osz = 4;
				put(&t, 0x66);
				t.rskip |= 1u << r;
				t.uk = U_BSWAP16;
				t.usz = 2;
				t.ureg = r;
			}
			char op[2] = { 0x0f, (char)(0xc8 + (r & 7)) };
			if (osz == 8 || r >= 8)
				put(&t, (uint8_t)(0x40 | (osz == 8 ? 8 : 0) | (r >= 8 ? 1 : 0)));
			put(&t, (uint8_t)op[0]);
			put(&t, (uint8_t)op[1]);
		} else if (kind == 1 || kind == 2) {	/* MOVZX / MOVSX */
			int osz = rand_osz_v(mode), ssz = rn(2) ? 1 : 2;
			if (ssz == 2 && osz == 2)
				osz = 4;
			char op[2] = { 0x0f, (char)((kind == 1 ? 0xb6 : 0xbe) + (ssz == 2)) };
			int reg = pick_reg(&t, false);
			if (rn(3) == 0) {
				pick_mem(&t, ssz, &m, false);
				emit_m(&t, NULL, osz, false, op, 2, reg, &m, 0, 0);
			} else {
				bool hi = ssz == 1 && reg < 8 && rn(3) == 0;
				int rm = ssz == 1 ? pick_breg(&t, hi) : pick_reg(&t, false);
				emit(&t, NULL, osz, ssz == 1, op, 2, reg, rm, NULL, 0, 0);
			}
		} else if (kind == 3 && mode == 64) {	/* MOVSXD */
			int osz = rand_osz_v(mode);
			char op[1] = { 0x63 };
			int reg = pick_reg(&t, false);
			/*
			 * 66 63 /r: Intel reads 16 bits (MOVSXD r16, r/m16), AMD
			 * 32; nestvm follows its Intel model, so an AMD host can
			 * only compare the register form.
			 */
			if (rn(3) == 0 && !(osz == 2 && nd.feat.amd)) {
				pick_mem(&t, 4, &m, false);
				emit_m(&t, NULL, osz, false, op, 1, reg, &m, 0, 0);
			} else {
				emit(&t, NULL, osz, false, op, 1, reg, pick_reg(&t, false), NULL, 0, 0);
			}
		} else {		/* CBW/CWDE/CDQE, CWD/CDQ/CQO */
			int osz = rand_osz_v(mode);
			char op[1] = { (char)(rn(2) ? 0x98 : 0x99) };
			emit_raw(&t, osz, op, 1, 0, 0);
		}
		run_tc(&t);
	}
}

/* CMOVcc / SETcc for all conditions with random flags */
static void fam_cond(int mode)
{
	for (int n = 0; n < iters * 16; n++) {
		struct tc t;
		tc_init(&t, mode);
		int cc = (int)rn(16);
		struct mem m;
		if (rn(2)) {
			int osz = rand_osz_v(mode);
			char op[2] = { 0x0f, (char)(0x40 + cc) };
			int reg = pick_reg(&t, false);
			if (rn(3) == 0) {
				pick_mem(&t, osz, &m, false);
				emit_m(&t, NULL, osz, false, op, 2, reg, &m, 0, 0);
			} else {
				emit(&t, NULL, osz, false, op, 2, reg, pick_reg(&t, false), NULL, 0, 0);
			}
		} else {
			char op[2] = { 0x0f, (char)(0x90 + cc) };
			if (rn(3) == 0) {
				pick_mem(&t, 1, &m, false);
				emit_m(&t, NULL, 4, true, op, 2, DIG(0), &m, 0, 0);
			} else {
				emit(&t, NULL, 4, true, op, 2, DIG(0), pick_breg(&t, true), NULL, 0, 0);
			}
		}
		/* prefix a flag-setting instruction half the time (lazy flags) */
		if (rn(2)) {
			struct tc u = t;
			u.len = 0;
			static const uint8_t pre[][3] = {
				{ 0x48, 0x39, 0xc8 },	/* cmp rax, rcx */
				{ 0x48, 0x29, 0xd3 },	/* sub rbx, rdx */
				{ 0x48, 0x85, 0xf6 },	/* test rsi, rsi */
				{ 0x38, 0xe1, 0x90 },	/* cmp cl, ah; nop */
				{ 0x66, 0x39, 0xc1 },	/* cmp cx, ax */
				{ 0x39, 0xfe, 0x90 },	/* cmp esi, edi */
				{ 0x48, 0xff, 0xc7 },	/* inc rdi */
				{ 0x48, 0x01, 0xc8 },	/* add rax, rcx */
			};
			static const int writes[8] = { -1, RBX, -1, -1, -1, -1, RDI, RAX };
			int k = (int)rn(8);
			if (writes[k] >= 0 && (t.used & (1u << writes[k])))
				k = 0;	/* do not move a memory operand's base */
			if (mode == 32 && pre[k][0] == 0x48)
				k = 5;
			memcpy(u.code, pre[k], 3);
			memcpy(u.code + 3, t.code, t.len);
			u.len = t.len + 3;
			t = u;
		}
		run_tc(&t);
	}
}

/* XADD, XCHG, CMPXCHG, CMPXCHG8B/16B */
static void fam_xchg(int mode)
{
	for (int n = 0; n < iters * 16; n++) {
		struct tc t;
		tc_init(&t, mode);
		int kind = (int)rn(6);
		struct mem m;
		int osz = rand_osz();
		if (mode == 32 && osz == 8)
			osz = 4;
		bool b = osz == 1;
		const char *lock = rn(3) == 0 ? "\xf0" : NULL;
		if (kind == 0 || kind == 1) {	/* XADD 0F C0/C1, CMPXCHG 0F B0/B1 */
			char op[2] = { 0x0f, (char)((kind ? 0xb0 : 0xc0) + !b) };
			use(&t, RAX);
			int reg = b ? pick_breg(&t, false) : pick_reg(&t, false);
			if (rn(2)) {
				/* equal memory compares: fam_cmpxchg_eq */
				pick_mem(&t, osz, &m, false);
				emit_m(&t, lock, osz, b, op, 2, reg, &m, 0, 0);
			} else {
				int rm = b ? pick_breg(&t, false) : (rn(8) ? pick_reg(&t, false) : RAX);
				if (kind == 1 && rn(2) && !is_hi(rm))
					t.in.r[RAX] = t.in.r[rm];
				emit(&t, NULL, osz, b, op, 2, reg, rm, NULL, 0, 0);
			}
		} else if (kind == 2) {		/* XCHG 86/87 */
			char op[1] = { (char)(b ? 0x86 : 0x87) };
			int reg = b ? pick_breg(&t, true) : pick_reg(&t, false);
			if (rn(2)) {
				pick_mem(&t, osz, &m, false);
				emit_m(&t, lock, osz, b, op, 1, reg, &m, 0, 0);
			} else {
				/* sometimes with itself: a 32-bit XCHG still zero-extends */
				int rm = rn(8) == 0 ? reg : b ? pick_breg(&t, true) : pick_reg(&t, false);
				emit(&t, NULL, osz, b, op, 1, reg, rm, NULL, 0, 0);
			}
		} else if (kind == 3) {		/* XCHG 90+r */
			if (b)
				osz = 4;
			int r = (int)rn((unsigned)nregs(&t));
			if (r == RSP)
				r = RBX;
			char op[1] = { (char)(0x90 + (r & 7)) };
			if (r >= 8 || osz == 8) {
				if (osz == 2)
					put(&t, 0x66);
				put(&t, (uint8_t)(0x40 | (osz == 8 ? 8 : 0) | (r >= 8 ? 1 : 0)));
				put(&t, (uint8_t)op[0]);
			} else {
				emit_raw(&t, osz, op, 1, 0, 0);
			}
		} else {			/* CMPXCHG8B / CMPXCHG16B */
			bool q = mode == 64 && rn(2);
			if (q && !nd.feat.cx16)
				continue;
			use(&t, RAX); use(&t, RDX); use(&t, RBX); use(&t, RCX);
			char op[2] = { 0x0f, (char)0xc7 };
			uint64_t ea = pick_mem(&t, 16, &m, false);
			if (q && rn(4)) {
				/* 16-byte aligned unless we want the #GP */
				uint64_t fix = ea & 15;
				if (m.base >= 0)
					t.in.r[m.base] -= fix;
				else
					m.disp -= (int64_t)fix;
			}
			emit_m(&t, lock, q ? 8 : 4, false, op, 2, DIG(1), &m, 0, 0);
		}
		run_tc(&t);
	}
}

/* CMPXCHG with a matching accumulator: store the value first, then compare */
static void fam_cmpxchg_eq(int mode)
{
	for (int n = 0; n < iters * 4; n++) {
		struct tc t;
		tc_init(&t, mode);
		struct mem m;
		bool wide = rn(2);
		bool q = mode == 64 && rn(2);
		if (wide && q && !nd.feat.cx16)
			continue;
		use(&t, RAX); use(&t, RDX); use(&t, RBX); use(&t, RCX);
		int tmp = pick_reg(&t, false);
		uint64_t ea = pick_mem(&t, 16, &m, true);
		if (wide && q) {
			uint64_t fix = ea & 15;
			if (m.base >= 0)
				t.in.r[m.base] -= fix;
			else
				m.disp -= (int64_t)fix;
		}
		if (m.rip)
			m.rip = false, m.abs = true;
		/* mov [m], rax/eax; mov [m+4/8], rdx/edx (when wide); cmpxchg */
		int osz = wide ? (q ? 8 : 4) : rand_osz();
		if (mode == 32 && osz == 8)
			osz = 4;
		(void)tmp;
		char mov[1] = { (char)(osz == 1 ? 0x88 : 0x89) };
		emit_m(&t, NULL, osz, osz == 1, mov, 1, RAX, &m, 0, 0);
		if (wide) {
			struct mem m2 = m;
			m2.disp += q ? 8 : 4;
			if (m2.dsz == 0)
				m2.dsz = 4;
			if (m2.dsz == 1 && (m2.disp > 127 || m2.disp < -128))
				m2.dsz = 4;
			emit_m(&t, NULL, q ? 8 : 4, false, mov, 1, RDX, &m2, 0, 0);
			char op[2] = { 0x0f, (char)0xc7 };
			emit_m(&t, rn(2) ? "\xf0" : NULL, q ? 8 : 4, false, op, 2, DIG(1), &m, 0, 0);
		} else {
			char op[2] = { 0x0f, (char)(osz == 1 ? 0xb0 : 0xb1) };
			emit_m(&t, rn(2) ? "\xf0" : NULL, osz, osz == 1, op, 2, RBX, &m, 0, 0);
		}
		run_tc(&t);
	}
}

/* LEA: every addressing form, 64/32(/16 in compat) address sizes */
static void fam_lea(int mode)
{
	for (int n = 0; n < iters * 16; n++) {
		struct tc t;
		tc_init(&t, mode);
		int osz = rand_osz_v(mode);
		bool a67 = rn(3) == 0;
		int reg = pick_reg(&t, false);
		t.used = 1u << reg;
		int mod = (int)rn(3), rm = (int)rn(8), lim = mode == 64 ? 16 : 8;
		int ext = mode == 64 ? (int)rn(8) : 0;	/* REX.X/B bits */
		if (osz == 2)
			put(&t, 0x66);
		if (a67)
			put(&t, 0x67);
		int rex = (osz == 8 ? 8 : 0) | ((reg & 8) ? 4 : 0) | (ext & 3);
		if (rex)
			put(&t, (uint8_t)(0x40 | rex));
		put(&t, 0x8d);
		put(&t, (uint8_t)((mod << 6) | ((reg & 7) << 3) | rm));
		bool a16 = mode == 32 && a67;
		if (!a16 && rm == 4)
			put(&t, (uint8_t)rnd());
		int dsz;
		if (a16)
			dsz = mod == 1 ? 1 : mod == 2 || (mod == 0 && rm == 6) ? 2 : 0;
		else if (mod == 1)
			dsz = 1;
		else if (mod == 2 || (mod == 0 && rm == 5) ||
			 (mod == 0 && rm == 4 && (t.code[t.len - 1] & 7) == 5))
			dsz = 4;
		else
			dsz = 0;
		putn(&t, rnd(), dsz);
		(void)lim;
		run_tc(&t);
	}
}

/*
 * BMI1/BMI2 (SDM per instruction): ANDN SF ZF, CF=OF=0; BEXTR ZF, CF=OF=0;
 * BLSI/BLSMSK/BLSR SF ZF CF, OF=0 (ZF per SDM); BZHI SF ZF CF, OF=0;
 * AF and PF undefined throughout; PDEP PEXT MULX RORX SHLX SARX SHRX
 * change no flags.
 */
static void fam_bmi(int mode)
{
	for (int n = 0; n < iters * 16; n++) {
		struct tc t;
		tc_init(&t, mode);
		int kind = (int)rn(13);
		bool w = mode == 64 && rn(2);
		static const struct { uint8_t map, op, pp, dig; bool b2; uint64_t f; } k[13] = {
			{ 2, 0xf2, 0, 0, false, SF | ZF | CF | OF },	/* ANDN */
			{ 2, 0xf7, 0, 0, false, ZF | CF | OF },		/* BEXTR */
			{ 2, 0xf3, 0, 3, false, SF | ZF | CF | OF },	/* BLSI */
			{ 2, 0xf3, 0, 2, false, SF | ZF | CF | OF },	/* BLSMSK */
			{ 2, 0xf3, 0, 1, false, SF | ZF | CF | OF },	/* BLSR */
			{ 2, 0xf5, 0, 0, true, SF | ZF | CF | OF },	/* BZHI */
			{ 2, 0xf5, 3, 0, true, ALL },			/* PDEP */
			{ 2, 0xf5, 2, 0, true, ALL },			/* PEXT */
			{ 2, 0xf6, 3, 0, true, ALL },			/* MULX */
			{ 3, 0xf0, 3, 0, true, ALL },			/* RORX */
			{ 2, 0xf7, 2, 0, true, ALL },			/* SARX */
			{ 2, 0xf7, 1, 0, true, ALL },			/* SHLX */
			{ 2, 0xf7, 3, 0, true, ALL },			/* SHRX */
		};
		if ((k[kind].b2 && !nd.feat.bmi2) || (!k[kind].b2 && !nd.feat.bmi1))
			continue;
		t.fmask = k[kind].f;
		t.uk = kind == 1 ? U_BEXTR : U_KEEP;
		if (kind == 8)
			use(&t, RDX);
		int reg = pick_reg(&t, false), v = pick_reg(&t, false);
		if (kind == 1 || kind == 5) {
			/* control operand: small start/length or index */
			t.in.r[v] = (t.in.r[v] & ~0xffffULL) | (rnd() & (rn(2) ? 0x4f4f : 0xffff));
		}
		int lim = mode == 64 ? 16 : 8;
		(void)lim;
		/* VEX3: C4 RXB.mmmmm W.vvvv.L.pp */
		struct mem m;
		bool mem = rn(3) == 0;
		int rm = 0;
		if (mem)
			pick_mem(&t, 8, &m, false);
		else
			rm = pick_reg(&t, false);
		if (k[kind].dig)
			reg = DIG(k[kind].dig);
		int R = (reg & 0x100) ? 0 : (reg >> 3) & 1;
		int X = mem && m.index >= 0 ? (m.index >> 3) & 1 : 0;
		int B = mem ? (m.base >= 0 ? (m.base >> 3) & 1 : 0) : (rm >> 3) & 1;
		put(&t, 0xc4);
		put(&t, (uint8_t)(((!R) << 7) | ((!X) << 6) | ((!B) << 5) | k[kind].map));
		int vv = kind == 9 ? 0 : v;
		put(&t, (uint8_t)((w ? 0x80 : 0) | ((~vv & 15) << 3) | k[kind].pp));
		put(&t, k[kind].op);
		/* ModRM etc. without prefixes or REX */
		struct tc tmp = t;
		tmp.len = 0;
		if (mem)
			emit(&tmp, NULL, 4, false, "", 0, reg & 0x107, RM_MEM, &m, 0, 0);
		else
			emit(&tmp, NULL, 4, false, "", 0, reg & 0x107, rm & 7, NULL, 0, 0);
		/* drop a REX that emit() may have added for the low bits */
		int skip = mem && (m.base >= 8 || m.index >= 8) ? 1 : 0;
		int start = t.len;
		memcpy(t.code + t.len, tmp.code + skip, tmp.len - skip);
		t.len += tmp.len - skip;
		if (kind == 9)
			put(&t, (uint8_t)rnd());
		if (mem && m.rip)
			fix_riprel(&t, start + 1, t.len, (uint64_t)m.disp);
		run_tc(&t);
	}
}

/* ADCX/ADOX (only CF resp. OF), MOVBE, CRC32 */
static void fam_misc_ext(int mode)
{
	for (int n = 0; n < iters * 12; n++) {
		struct tc t;
		tc_init(&t, mode);
		int kind = (int)rn(3);
		struct mem m;
		int reg = pick_reg(&t, false);
		bool mem = rn(2);
		if (kind == 0) {
			if (!nd.feat.adx)
				continue;
			int osz = mode == 64 && rn(2) ? 8 : 4;
			char op[3] = { 0x0f, 0x38, (char)0xf6 };
			const char *pfx = rn(2) ? "\x66" : "\xf3";
			if (mem) {
				pick_mem(&t, osz, &m, false);
				emit_m(&t, pfx, osz, false, op, 3, reg, &m, 0, 0);
			} else {
				emit(&t, pfx, osz, false, op, 3, reg, pick_reg(&t, false), NULL, 0, 0);
			}
			/* chain a second one to see the carry flow */
			if (rn(2)) {
				int r2 = pick_reg(&t, false), r3 = pick_reg(&t, false);
				emit(&t, pfx, osz, false, op, 3, r2, r3, NULL, 0, 0);
			}
		} else if (kind == 1) {
			if (!nd.feat.movbe)
				continue;
			int osz = rand_osz_v(mode);
			char op[3] = { 0x0f, 0x38, (char)(rn(2) ? 0xf0 : 0xf1) };
			pick_mem(&t, osz, &m, false);
			emit_m(&t, NULL, osz, false, op, 3, reg, &m, 0, 0);
		} else {
			if (!nd.feat.sse42)
				continue;
			bool byte = rn(2);
			int osz = byte ? (mode == 64 && rn(2) ? 8 : 4) : rand_osz_v(mode);
			char op[3] = { 0x0f, 0x38, (char)(byte ? 0xf0 : 0xf1) };
			if (mem) {
				pick_mem(&t, osz, &m, false);
				emit_m(&t, "\xf2", osz, byte, op, 3, reg, &m, 0, 0);
			} else {
				emit(&t, "\xf2", osz, byte, op, 3, reg, byte ? pick_breg(&t, false) : pick_reg(&t, false), NULL, 0, 0);
			}
		}
		run_tc(&t);
	}
}

/*
 * String instructions: MOVS/STOS/LODS/CMPS/SCAS in every size with no
 * prefix, REP, REPE, REPNE; DF 0/1; counts 0..300; overlapping MOVS.
 * CMPS/SCAS set all six flags like CMP.
 */
static void fam_string(int mode)
{
	for (int n = 0; n < iters * 16; n++) {
		struct tc t;
		tc_init(&t, mode);
		int osz = rand_osz();
		if (mode == 32 && osz == 8)
			osz = 4;
		int kind = (int)rn(5);
		static const uint8_t base[5] = { 0xa4, 0xaa, 0xac, 0xa6, 0xae };
		bool df = rn(2);
		t.in.fl = (t.in.fl & ALL) | (df ? ND_DF : 0);
		int pfx = (int)rn(4);	/* 0 none, 1 F3, 2 F2, 3 F3 (again) */
		uint64_t cnt = rn(4) == 0 ? rn(4) : rn(301);
		if (kind == 2 && pfx)
			cnt = rn(20);
		t.in.r[RCX] = cnt;
		bool a32 = mode == 64 && rn(6) == 0;	/* 67: ECX/ESI/EDI, upper halves ignored */
		uint64_t span = (cnt + 2) * (uint64_t)osz;
		uint64_t lo = 0x1000 + span, hi = ND_DATA_SIZE - 0x1000 - span;
		uint64_t si = ND_DATA + lo + rn((unsigned)(hi - lo));
		uint64_t di = ND_DATA + lo + rn((unsigned)(hi - lo));
		if (kind == 0 && rn(3) == 0)
			di = si + (uint64_t)(int64_t)((int)rn(17) - 8) * (rn(2) ? 1 : osz);	/* overlap */
		if (rn(fault_rate) == 0) {
			/* run into a guard part way: partial progress, then #PF */
			bool down = rn(2);
			uint64_t near = down ? ND_DATA + rn((unsigned)(cnt * osz + 16)) :
				    ND_GUARD - rn((unsigned)(cnt * osz + 16));
			if (rn(2))
				di = near;
			else
				si = near;
			t.in.fl = (t.in.fl & ~ND_DF) | (down ? ND_DF : 0);
		}
		t.in.r[RSI] = si;
		t.in.r[RDI] = di;
		if (pfx == 3)
			pfx = 1;
		if (osz == 2)
			put(&t, 0x66);
		if (pfx == 1)
			put(&t, 0xf3);
		else if (pfx == 2)
			put(&t, 0xf2);
		if (a32) {
			put(&t, 0x67);
			t.in.r[RCX] |= rnd() << 32;
			t.in.r[RSI] |= rnd() << 32;
			t.in.r[RDI] |= rnd() << 32;
		}
		if (osz == 8)
			put(&t, 0x48);
		put(&t, (uint8_t)(base[kind] + (osz != 1)));
		if (kind == 3 || kind == 4) {
			/* compares: sparse equality so REPE/REPNE stop at varied places */
			t.in.r[RAX] = rn(2) ? 0 : t.in.r[RAX];
		}
		run_tc(&t);
	}
}

/* string compares over memory with runs of equal bytes */
static void fam_string_cmp_eq(int mode)
{
	for (int n = 0; n < iters * 4; n++) {
		struct tc t;
		tc_init(&t, mode);
		int osz = rand_osz();
		if (mode == 32 && osz == 8)
			osz = 4;
		bool df = rn(2);
		t.in.fl = (t.in.fl & ALL) | (df ? ND_DF : 0);
		uint64_t cnt = rn(64);
		uint64_t si = ND_DATA + 0x2000 + rn(0x1000), di = ND_DATA + 0x6000 + rn(0x1000);
		/* fill: rep movsb copies [si] to [di] first (DF=0 part done by cld) */
		int len = (int)(cnt * osz + 16);
		uint64_t s0 = df ? si - (uint64_t)len + (uint64_t)osz : si;
		uint64_t d0 = df ? di - (uint64_t)len + (uint64_t)osz : di;
		/* mov rsi,s0; mov rdi,d0; mov rcx,len; pushf; cld; rep movsb; popf */
		t.in.r[RSI] = si;
		t.in.r[RDI] = di;
		t.in.r[RCX] = cnt;
		t.in.r[RAX] = 0;
		use(&t, RSI); use(&t, RDI); use(&t, RCX);
		int r1 = RBX, r2 = RDX, r3 = RBP;
		t.in.r[r1] = s0;
		t.in.r[r2] = d0;
		t.in.r[r3] = (uint64_t)len;
		if (mode == 64) {
			static const uint8_t setup[] = {
				0x56, 0x57, 0x51,		/* push rsi, rdi, rcx */
				0x48, 0x89, 0xde,		/* mov rsi, rbx */
				0x48, 0x89, 0xd7,		/* mov rdi, rdx */
				0x48, 0x89, 0xe9,		/* mov rcx, rbp */
				0x9c, 0xfc, 0xf3, 0xa4, 0x9d,	/* pushf cld rep movsb popf */
				0x59, 0x5f, 0x5e,		/* pop rcx, rdi, rsi */
			};
			memcpy(t.code, setup, sizeof(setup));
			t.len = sizeof(setup);
		} else {
			static const uint8_t setup[] = {
				0x56, 0x57, 0x51, 0x89, 0xde, 0x89, 0xd7, 0x89, 0xe9,
				0x9c, 0xfc, 0xf3, 0xa4, 0x9d, 0x59, 0x5f, 0x5e,
			};
			memcpy(t.code, setup, sizeof(setup));
			t.len = sizeof(setup);
		}
		/* one differing byte somewhere (or none): xor byte [rdx+k], 1 */
		if (rn(3)) {
			put(&t, 0x80);
			put(&t, 0xb2);	/* xor byte [rdx+disp32], imm8 */
			putn(&t, rn((unsigned)len), 4);
			put(&t, 1);
		}
		bool scas = rn(3) == 0;
		if (osz == 2)
			put(&t, 0x66);
		put(&t, rn(2) ? 0xf3 : 0xf2);
		if (osz == 8)
			put(&t, 0x48);
		put(&t, (uint8_t)((scas ? 0xae : 0xa6) + (osz != 1)));
		run_tc(&t);
	}
}

/* LAHF/SAHF, CLC/STC/CMC, XLAT, SALC (32-bit) */
static void fam_flagops(int mode)
{
	for (int n = 0; n < iters * 8; n++) {
		struct tc t;
		tc_init(&t, mode);
		static const uint8_t ops[6] = { 0x9f, 0x9e, 0xf8, 0xf9, 0xf5, 0xd7 };
		int k = (int)rn(mode == 32 ? 7 : 6);
		if (k <= 1 && mode == 64 && !nd.feat.lahf64)
			continue;
		if (k == 5) {
			/* XLAT: [rbx + al] */
			t.in.r[RBX] = ND_DATA + 0x1000 + rn(0x8000);
			if (mode == 64 && rn(2))
				put(&t, 0x67), t.in.r[RBX] |= 0xabcd00000000ULL;
			if (mode == 64 && rn(2))
				put(&t, 0x48);
			put(&t, 0xd7);
		} else if (k == 6) {
			put(&t, 0xd6);	/* SALC */
		} else {
			put(&t, ops[k]);
		}
		run_tc(&t);
	}
}

/* PUSH/POP forms, PUSHF/POPF (arith flags), ENTER/LEAVE levels 0..31 */
static void fam_stack(int mode)
{
	for (int n = 0; n < iters * 16; n++) {
		struct tc t;
		tc_init(&t, mode);
		use(&t, RSP);
		int kind = (int)rn(9);
		int osz = mode == 64 ? (rn(4) == 0 ? 2 : 8) : (rn(4) == 0 ? 2 : 4);
		struct mem m;
		switch (kind) {
		case 0: {	/* push r / pop r */
			int r = (int)rn((unsigned)nregs(&t));
			char op[1] = { (char)((rn(2) ? 0x50 : 0x58) + (r & 7)) };
			if (osz == 2)
				put(&t, 0x66);
			if (r >= 8)
				put(&t, 0x41);
			put(&t, (uint8_t)op[0]);
			break;
		}
		case 1: {	/* push imm8 / imm32 */
			bool ib = rn(2);
			char op[1] = { (char)(ib ? 0x6a : 0x68) };
			emit_raw(&t, osz == 2 ? 2 : 4, op, 1, val(), ib ? 1 : osz == 2 ? 2 : 4);
			break;
		}
		case 2: {	/* push r/m (FF /6) */
			char op[1] = { (char)0xff };
			if (rn(2)) {
				pick_mem(&t, osz, &m, false);
				emit_m(&t, osz == 2 ? "\x66" : NULL, 4, false, op, 1, DIG(6), &m, 0, 0);
			} else {
				emit(&t, osz == 2 ? "\x66" : NULL, 4, false, op, 1, DIG(6), pick_reg(&t, true), NULL, 0, 0);
			}
			break;
		}
		case 3: {	/* pop r/m (8F /0), incl. an RSP-based destination */
			char op[1] = { (char)0x8f };
			if (rn(2)) {
				if (rn(3) == 0) {
					m = (struct mem){ .base = RSP, .index = -1, .dsz = 1,
							  .disp = (int8_t)(rn(64) - 32) };
				} else {
					pick_mem(&t, osz, &m, false);
				}
				emit_m(&t, osz == 2 ? "\x66" : NULL, 4, false, op, 1, DIG(0), &m, 0, 0);
			} else {
				emit(&t, osz == 2 ? "\x66" : NULL, 4, false, op, 1, DIG(0), pick_reg(&t, true), NULL, 0, 0);
			}
			break;
		}
		case 4:		/* pushf; popf with random arithmetic bits */
			if (osz == 2)
				put(&t, 0x66);
			put(&t, 0x9c);
			/* and byte [rsp+1], 0xf8 (no TF/IF/DF changes); popf */
			put(&t, 0x80); put(&t, 0x64); put(&t, 0x24); put(&t, 1); put(&t, 0xf8);
			if (osz == 2)
				put(&t, 0x66);
			put(&t, 0x9d);
			break;
		case 5: case 6: {	/* enter imm16, level; leave */
			int level = (int)rn(32);
			uint64_t alloc = rn(4) ? rn(64) * 8 : rn(0x400);
			use(&t, RBP);
			t.in.r[RBP] = ND_DATA + 0xa000 + (rnd() & 0xff8);
			if (mode == 32)
				t.in.r[RBP] &= 0xffffffff;
			if (osz == 2)
				put(&t, 0x66);
			put(&t, 0xc8);
			putn(&t, alloc, 2);
			put(&t, (uint8_t)(level | (rn(8) == 0 ? 0x20 * rn(8) : 0)));
			if (kind == 6) {
				if (osz == 2)
					put(&t, 0x66);
				put(&t, 0xc9);
			}
			break;
		}
		case 7:		/* leave alone */
			use(&t, RBP);
			t.in.r[RBP] = ND_DATA + 0xa000 + (rnd() & 0xff8);
			if (osz == 2)
				put(&t, 0x66);
			put(&t, 0xc9);
			break;
		default: {	/* push/pop sequences through memory */
			static const uint8_t seq[] = { 0x50, 0x53, 0x51, 0x58, 0x5b, 0x59 };
			memcpy(t.code, seq, sizeof(seq));
			t.len = sizeof(seq);
			break;
		}
		}
		if (mode == 64 && rn(fault_rate) == 0) {
			/* the stack at the guard (#PF) or non-canonical (#SS) */
			switch (rn(4)) {
			case 0: t.in.r[RSP] = ND_GUARD + rn(16); break;
			case 1: t.in.r[RSP] = ND_GUARD - rn(12); break;
			case 2: t.in.r[RSP] = ND_DATA + rn(64); break;	/* overflows down */
			default: t.in.r[RSP] ^= 1ULL << (47 + rn(17)); break;
			}
		} else if (mode == 32 && rn(fault_rate) == 0) {
			/* overflow into the lower guard; the 16-byte #PF frame still fits above */
			t.in.r[RSP] = ND_DATA + 16 + rn(48);
		}
		run_tc(&t);
	}
}

/*
 * BCD and other instructions valid only outside 64-bit mode, run natively
 * in compatibility mode.  SDM Flags Affected: DAA/DAS OF undefined;
 * AAA/AAS OF SF ZF PF undefined; AAM/AAD OF AF CF undefined.
 */
static void fam_legacy(void)
{
	for (int n = 0; n < iters * 24; n++) {
		struct tc t;
		tc_init(&t, 32);
		int k = (int)rn(9);
		uint64_t f;
		switch (k) {
		case 0: put(&t, 0x27); f = ALL & ~OF; break;		/* DAA */
		case 1: put(&t, 0x2f); f = ALL & ~OF; break;		/* DAS */
		case 2: put(&t, 0x37); f = AF | CF; break;		/* AAA */
		case 3: put(&t, 0x3f); f = AF | CF; break;		/* AAS */
		case 4: put(&t, 0xd4); put(&t, rn(6) ? 10 : (uint8_t)rnd()); f = SF | ZF | PF; break;
		case 5: put(&t, 0xd5); put(&t, rn(6) ? 10 : (uint8_t)rnd()); f = SF | ZF | PF; break;
		case 6: put(&t, rn(2) ? 0x60 : 0x61); f = ALL; break;	/* PUSHA / POPA */
		case 7: put(&t, 0x66); put(&t, rn(2) ? 0x60 : 0x61); f = ALL; break;
		default: put(&t, 0xd6); f = ALL; break;			/* SALC */
		}
		if (k <= 5 && rn(2))
			t.in.r[RAX] = (t.in.r[RAX] & ~0xffffULL) | (rnd() & 0xffff);
		if (k == 4 && (t.code[1] == 0))
			f = ALL;	/* #DE: all compared at the fault */
		if (k >= 6 && k <= 7 && rn(4) == 0)
			t.in.r[RSP] = ND_DATA + 16 + rn(40);	/* PUSHA across the lower guard */
		t.fmask = f;
		t.uk = k <= 1 ? U_DAA : k <= 3 ? U_AAA : k <= 5 ? U_AAM : U_NONE;
		run_tc(&t);
	}
}

/*
 * Chains of 2..6 register instructions, so that flag consumers (ADC, SBB,
 * RCL/RCR, INC/DEC keeping CF, CMC, SETcc, CMOVcc) read flags another
 * instruction left in nestvm's lazy form.  Producers define every flag the
 * consumers read; AF is compared only if the last writer defines it.
 */
static void fam_chain(int mode)
{
	for (int n = 0; n < iters * 16; n++) {
		struct tc t;
		tc_init(&t, mode);
		bool af_def = true;
		int len = 2 + (int)rn(5);
		for (int k = 0; k < len; k++) {
			int osz = rand_osz();
			if (mode == 32 && osz == 8)
				osz = 4;
			bool b = osz == 1;
			t.used = 1u << RSP;
			t.hi = false;
			int r1 = b ? pick_breg(&t, true) : pick_reg(&t, false);
			int r2 = b ? pick_breg(&t, !t.hi) : pick_reg(&t, false);
			switch (rn(10)) {
			case 0: case 1: case 2: {	/* ADD ADC SUB SBB CMP, or logic */
				int op = (int)rn(8);
				char opc[1] = { (char)(op * 8 + (b ? 0 : 1)) };
				emit(&t, NULL, osz, b, opc, 1, r2, r1, NULL, 0, 0);
				af_def = !(op == 1 || op == 4 || op == 6);
				break;
			}
			case 3: {			/* INC DEC NEG */
				int dig = (int)rn(3);
				char opc[1] = { (char)(dig == 2 ? (b ? 0xf6 : 0xf7) : (b ? 0xfe : 0xff)) };
				emit(&t, NULL, osz, b, opc, 1, DIG(dig == 2 ? 3 : dig), r1, NULL, 0, 0);
				af_def = true;
				break;
			}
			case 4: {			/* shifts and rotates by 1 */
				int op = (int)rn(8);
				char opc[1] = { (char)(b ? 0xd0 : 0xd1) };
				emit(&t, NULL, osz, b, opc, 1, DIG(op), r1, NULL, 0, 0);
				if (op >= 4)
					af_def = false;
				break;
			}
			case 5: {			/* SETcc */
				char opc[2] = { 0x0f, (char)(0x90 + rn(16)) };
				t.used = 1u << RSP;
				t.hi = false;
				emit(&t, NULL, 4, true, opc, 2, DIG(0), pick_breg(&t, true), NULL, 0, 0);
				break;
			}
			case 6: {			/* CMOVcc */
				char opc[2] = { 0x0f, (char)(0x40 + rn(16)) };
				if (b)
					osz = 4;
				emit(&t, NULL, osz, false, opc, 2, r2 & 15, r1 & 15, NULL, 0, 0);
				break;
			}
			case 7:				/* CLC STC CMC */
				put(&t, (uint8_t)(rn(3) == 0 ? 0xf8 : rn(2) ? 0xf9 : 0xf5));
				break;
			case 8: {			/* ADC/SBB with an immediate */
				char opc[1] = { (char)(b ? 0x80 : 0x83) };
				emit(&t, NULL, osz, b, opc, 1, DIG(rn(2) ? 2 : 3), r1, NULL, val(), 1);
				af_def = true;
				break;
			}
			default: {			/* RCL/RCR by 1 */
				char opc[1] = { (char)(b ? 0xd0 : 0xd1) };
				emit(&t, NULL, osz, b, opc, 1, DIG(2 + (int)rn(2)), r1, NULL, 0, 0);
				break;
			}
			}
		}
		t.fmask = af_def ? ALL : ALL & ~AF;
		run_tc(&t);
	}
}

/* Jcc / LOOP / JCXZ / JMP / CALL / RET: the path taken and the stack */
static void fam_branch(int mode)
{
	for (int n = 0; n < iters * 8; n++) {
		struct tc t;
		tc_init(&t, mode);
		int k = (int)rn(8);
		/* both paths end at a saver: fall-through at +0, target at +8 */
		if (k >= 6) {
			/*
			 * Indirect: the target (after the marker) in RAX; k = 6:
			 * JMP/CALL RAX, k = 7: stored at ND_DATA+0x20 first, then
			 * JMP/CALL through memory.
			 */
			bool call = rn(2);
			int len = k == 6 ? 2 : (mode == 64 ? 8 : 6) + (mode == 64 ? 7 : 6);
			t.in.r[RAX] = ND_CODE + (uint64_t)len + 8;
			if (mode == 64 && rn(fault_rate) == 0)
				t.in.r[RAX] ^= 1ULL << (47 + rn(17));	/* #GP at the branch */
			if (k == 6) {
				put(&t, 0xff);
				put(&t, call ? 0xd0 : 0xe0);
			} else if (mode == 64) {
				put(&t, 0x48); put(&t, 0x89); put(&t, 0x04); put(&t, 0x25);
				putn(&t, ND_DATA + 0x20, 4);
				put(&t, 0xff); put(&t, call ? 0x14 : 0x24); put(&t, 0x25);
				putn(&t, ND_DATA + 0x20, 4);
			} else {
				put(&t, 0x89); put(&t, 0x05);
				putn(&t, ND_DATA + 0x20, 4);
				put(&t, 0xff); put(&t, call ? 0x15 : 0x25);
				putn(&t, ND_DATA + 0x20, 4);
			}
		} else if (k == 0) {
			put(&t, (uint8_t)(0x70 + rn(16)));
			put(&t, 8);
		} else if (k == 1) {
			put(&t, 0x0f);
			put(&t, (uint8_t)(0x80 + rn(16)));
			putn(&t, 8, 4);
		} else if (k == 2) {
			if (rn(2))
				put(&t, 0x67);
			put(&t, (uint8_t)(0xe0 + rn(4)));	/* LOOPNE LOOPE LOOP JCXZ */
			put(&t, 8);
			if (rn(2))
				t.in.r[RCX] = rn(3);
		} else if (k == 3) {
			put(&t, 0xe8);				/* call +8 */
			putn(&t, 8, 4);
		} else if (k == 4) {
			put(&t, 0xe9);
			putn(&t, 8, 4);
		} else {
			/* push target; ret [imm16] */
			uint64_t target = ND_CODE + 16;	/* after push(5) ret(3) marker(8) */
			put(&t, 0x68);
			putn(&t, target, 4);
			if (rn(2)) {
				put(&t, 0xc2);
				putn(&t, rn(4) * 8, 2);
			} else {
				put(&t, 0xc3);
				put(&t, 0x90);
				put(&t, 0x90);
			}
		}
		/*
		 * Fall-through: mov byte [ND_DATA+0x10], 1; nop (8 bytes), then
		 * the end, which is also the branch target: the marker in
		 * memory tells which path ran.
		 */
		int ft = t.len;
		put(&t, 0xc6); put(&t, 0x05);
		if (mode == 64) {
			/* RIP-relative to ND_DATA+0x10 */
			uint32_t rel = (uint32_t)(ND_DATA + 0x10 - (ND_CODE + (uint64_t)ft + 7));
			putn(&t, rel, 4);
		} else {
			putn(&t, ND_DATA + 0x10, 4);
		}
		put(&t, 1);
		put(&t, 0x90);
		run_tc(&t);
	}
}

int main(void)
{
	const char *e;
	if ((e = getenv("DIFF_SEED")))
		seed = strtoull(e, NULL, 0);
	if ((e = getenv("DIFF_ITERS")))
		iters = atoi(e);
	only = getenv("DIFF_FAMILY");
	verbose = getenv("DIFF_VERBOSE") != NULL;
	if (nd_init(&nd) < 0) {
		tap_skip_all("cannot create a VM");
		return 0;
	}
	if (!nd.host64) {
		tap_skip_all("cannot map the native test area");
		return 0;
	}
	printf("# seed %llu, %d iterations per family unit; host %s%s%s%s%s\n",
	       (unsigned long long)seed, iters, nd.feat.amd ? "AMD" : "Intel",
	       nd.feat.bmi1 ? " bmi1" : "", nd.feat.bmi2 ? " bmi2" : "", nd.feat.adx ? " adx" : "",
	       nd.compat ? " compat32" : "");
	rng = seed | 1;
	for (size_t k = 0; k < sizeof(master); k += 8) {
		uint64_t v = nd_rand(&rng);
		if (((v >> 60) & 3) == 0)
			v &= 0x0101010101010101ULL;	/* runs of small bytes */
		memcpy(master + k, &v, 8);
	}

	static const struct { const char *name; void (*fn)(int); } fams[] = {
		{ "alu", fam_alu }, { "test", fam_test }, { "unary", fam_unary },
		{ "shift", fam_shift }, { "shxd", fam_shxd }, { "mul", fam_mul },
		{ "div", fam_div }, { "bt", fam_bt }, { "bitscan", fam_bitscan },
		{ "moves", fam_moves }, { "cond", fam_cond }, { "xchg", fam_xchg },
		{ "cmpxchg-eq", fam_cmpxchg_eq }, { "lea", fam_lea }, { "bmi", fam_bmi },
		{ "adx-movbe-crc32", fam_misc_ext }, { "string", fam_string },
		{ "string-cmp", fam_string_cmp_eq }, { "flagops", fam_flagops },
		{ "stack", fam_stack }, { "branch", fam_branch }, { "chain", fam_chain },
	};
	for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
		char name[64];
		snprintf(name, sizeof(name), "%s/64", fams[f].name);
		if (fam_begin(name)) {
			fams[f].fn(64);
		}
		fam_end();
		snprintf(name, sizeof(name), "%s/32", fams[f].name);
		if (fam_begin(name)) {
			if (nd.compat && nd.guest32)
				fams[f].fn(32);
		}
		fam_end();
	}
	if (fam_begin("legacy/32") && nd.compat && nd.guest32)
		fam_legacy();
	fam_end();
	printf("# %ld cases (%ld with matching faults), %llu native runs, %llu nestvm runs\n",
	       total_cases, total_faults, (unsigned long long)nd.host_runs,
	       (unsigned long long)nd.guest_runs);
	nd_fini(&nd);
	return tap_done();
}
