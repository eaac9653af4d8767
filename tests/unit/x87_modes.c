/*
 * x87 environment layouts outside 64-bit mode (SDM Vol. 1 Figures 8-9 to
 * 8-12), driven through the vCPU API: 32-bit protected mode (32- and
 * 16-bit layouts, FCS/FDS selectors), real mode (20-bit linear FIP/FDP
 * split around FOP, both operand sizes), FRSTOR/FLDENV round trips, and
 * the power-on x87 state (FCW 0x40, tag word 5555H, SDM Vol. 3 Table 9-1).
 */
#include <string.h>

#include "vmt.h"

static uint16_t r16(struct vmt *t, uint64_t a)
{
	uint16_t v;
	memcpy(&v, vmt_ptr(t, a), 2);
	return v;
}

static uint32_t r32(struct vmt *t, uint64_t a)
{
	uint32_t v;
	memcpy(&v, vmt_ptr(t, a), 4);
	return v;
}

#define EQ(a, b, what) \
	do { \
		unsigned long long _a = (a), _b = (b); \
		tap_ok(_a == _b, "%s (got %#llx, want %#llx)", what, _a, _b); \
	} while (0)

static void test_power_on(void)
{
	struct vmt t;
	if (vmt_init_mode(&t, NV_ENGINE_EMU, 4 << 20, 32) < 0)
		return;
	/* fnstenv [0x200100]; hlt */
	static const uint8_t code[] = { 0xd9, 0x35, 0x00, 0x01, 0x20, 0x00, 0xf4 };
	vmt_write(&t, VMT_CODE, code, sizeof(code));
	struct kvm_regs r;
	memset(&r, 0, sizeof(r));
	int why = vmt_run(&t, VMT_CODE, &r);
	tap_ok(why == KVM_EXIT_HLT && vmt_exception(&t) < 0, "power-on FNSTENV runs");
	EQ(r16(&t, 0x200100), 0x0040, "power-on FCW = 0x40");
	EQ(r16(&t, 0x200104), 0, "power-on FSW = 0");
	EQ(r16(&t, 0x200108), 0x5555, "power-on tag word = 5555H (eight +0.0)");
	vmt_destroy(&t);
}

static void test_pm32(void)
{
	struct vmt t;
	if (vmt_init_mode(&t, NV_ENGINE_EMU, 4 << 20, 32) < 0) {
		tap_ok(false, "32-bit protected mode VM");
		return;
	}
	static const uint8_t code[] = {
		0xdb, 0xe3,				/* fninit */
		0xd9, 0xe8,				/* fld1 */
		0xdd, 0x05, 0x00, 0x00, 0x20, 0x00,	/* fld qword [0x200000] */
		0xd9, 0xeb,				/* fldpi (at +10) */
		0xd9, 0x35, 0x00, 0x01, 0x20, 0x00,	/* fnstenv [0x200100] */
		0x66, 0xd9, 0x35, 0x00, 0x02, 0x20, 0x00, /* o16 fnstenv [0x200200] */
		0xdd, 0x35, 0x00, 0x03, 0x20, 0x00,	/* fnsave [0x200300] */
		0xdd, 0x25, 0x00, 0x03, 0x20, 0x00,	/* frstor [0x200300] */
		0xdd, 0x35, 0x00, 0x04, 0x20, 0x00,	/* fnsave [0x200400] */
		0xf4,
	};
	double two = 2.0;
	vmt_write(&t, VMT_CODE, code, sizeof(code));
	vmt_write(&t, 0x200000, &two, 8);
	struct kvm_regs r;
	memset(&r, 0, sizeof(r));
	int why = vmt_run(&t, VMT_CODE, &r);
	tap_ok(why == KVM_EXIT_HLT && vmt_exception(&t) < 0, "32-bit PM program runs (exception %d)",
	       vmt_exception(&t));
	uint64_t e = 0x200100;
	EQ(r32(&t, e + 0), 0xffff037f, "PM32 FNSTENV: FCW");
	EQ(r32(&t, e + 4), 0xffff2800, "PM32 FNSTENV: FSW (TOP 5)");
	EQ(r32(&t, e + 8), 0xffff03ff, "PM32 FNSTENV: tags (R5 pi, R6 2, R7 1)");
	EQ(r32(&t, e + 12), VMT_CODE + 10, "PM32 FNSTENV: FIP = EIP of FLDPI");
	EQ(r32(&t, e + 16), 0x01eb0018, "PM32 FNSTENV: FOP D9 EB, FCS 0x18");
	EQ(r32(&t, e + 20), 0x200000, "PM32 FNSTENV: FDP");
	EQ(r32(&t, e + 24), 0xffff0010, "PM32 FNSTENV: FDS 0x10");
	e = 0x200200;
	EQ(r16(&t, e + 0), 0x037f, "PM16 FNSTENV: FCW");
	EQ(r16(&t, e + 2), 0x2800, "PM16 FNSTENV: FSW");
	EQ(r16(&t, e + 4), 0x03ff, "PM16 FNSTENV: tags");
	EQ(r16(&t, e + 6), (VMT_CODE + 10) & 0xffff, "PM16 FNSTENV: FIP offset");
	EQ(r16(&t, e + 8), 0x18, "PM16 FNSTENV: FCS");
	EQ(r16(&t, e + 10), 0x0000, "PM16 FNSTENV: FDP offset");
	EQ(r16(&t, e + 12), 0x10, "PM16 FNSTENV: FDS");
	tap_ok(!memcmp(vmt_ptr(&t, 0x200300), vmt_ptr(&t, 0x200400), 108),
	       "PM32 FNSAVE / FRSTOR / FNSAVE round trip");
	uint64_t m;
	uint16_t se;
	memcpy(&m, vmt_ptr(&t, 0x200300 + 28), 8);
	memcpy(&se, vmt_ptr(&t, 0x200300 + 36), 2);
	tap_ok(m == 0xc90fdaa22168c235ULL && se == 0x4000, "PM32 FNSAVE: ST(0) = pi");
	vmt_destroy(&t);
}

/* real mode: CS = 0x1700, IP = 0x1000 (linear 0x18000), DS = 0x1100 */
static void test_real(void)
{
	struct vmt t;
	if (vmt_init_mode(&t, NV_ENGINE_EMU, 4 << 20, 32) < 0) {
		tap_ok(false, "real-mode VM");
		return;
	}
	static const uint8_t code[] = {
		0xdb, 0xe3,				/* fninit */
		0xd9, 0xe8,				/* fld1 */
		0xdd, 0x06, 0x00, 0x90,			/* fld qword [0x9000] */
		0xdd, 0xd8,				/* fstp st(0) */
		0xd9, 0xeb,				/* fldpi (IP 0x100a) */
		0xd9, 0x36, 0x00, 0x91,			/* fnstenv [0x9100] (14 bytes) */
		0x66, 0xd9, 0x36, 0x00, 0x92,		/* o32 fnstenv [0x9200] (28 bytes) */
		0x66, 0xdd, 0x36, 0x00, 0x93,		/* o32 fnsave [0x9300] */
		0x66, 0xdd, 0x26, 0x00, 0x93,		/* o32 frstor [0x9300] */
		0x66, 0xdd, 0x36, 0x00, 0x94,		/* o32 fnsave [0x9400] */
		0xd9, 0x26, 0x00, 0x91,			/* fldenv [0x9100] */
		0xd9, 0x36, 0x00, 0x95,			/* fnstenv [0x9500] */
		0xf4,
	};
	double two = 2.0;
	vmt_write(&t, 0x18000, code, sizeof(code));
	vmt_write(&t, 0x11000 + 0x9000, &two, 8);
	struct kvm_sregs s;
	nv_get_sregs(t.v, &s);
	struct kvm_segment rs = { .base = 0, .limit = 0xffff, .selector = 0, .type = 3,
				  .present = 1, .dpl = 0, .db = 0, .s = 1 };
	s.ss = s.es = s.fs = s.gs = rs;
	s.ds = rs;
	s.ds.selector = 0x1100;
	s.ds.base = 0x11000;
	s.cs = rs;
	s.cs.type = 0xb;
	s.cs.selector = 0x1700;
	s.cs.base = 0x17000;
	s.cr0 = 0x30;		/* ET NE, PE = 0 */
	s.cr4 = 0;
	s.efer = 0;
	if (nv_set_sregs(t.v, &s) < 0) {
		tap_ok(false, "enter real mode");
		vmt_destroy(&t);
		return;
	}
	struct kvm_regs r;
	memset(&r, 0, sizeof(r));
	r.rsp = 0x7000;
	int why = vmt_run(&t, 0x1000, &r);
	tap_ok(why == KVM_EXIT_HLT && vmt_exception(&t) < 0, "real-mode program runs");
	uint64_t d = 0x11000, e = d + 0x9100;
	uint32_t fip = 0x17000 + 0x100a, fdp = 0x11000 + 0x9000;
	EQ(r16(&t, e + 0), 0x037f, "real16 FNSTENV: FCW");
	EQ(r16(&t, e + 2), 0x3000, "real16 FNSTENV: FSW (TOP 6)");
	EQ(r16(&t, e + 4), 0x0fff, "real16 FNSTENV: tags (R6 pi, R7 1)");
	EQ(r16(&t, e + 6), fip & 0xffff, "real16 FNSTENV: FIP[15:0] (linear)");
	EQ(r16(&t, e + 8), (fip >> 16) << 12 | 0x1eb, "real16 FNSTENV: FIP[19:16], FOP");
	EQ(r16(&t, e + 10), fdp & 0xffff, "real16 FNSTENV: FDP[15:0] (linear)");
	EQ(r16(&t, e + 12), (fdp >> 16) << 12, "real16 FNSTENV: FDP[19:16]");
	e = d + 0x9200;
	EQ(r32(&t, e + 0), 0xffff037f, "real32 FNSTENV: FCW");
	EQ(r32(&t, e + 12), 0xffff0000 | (fip & 0xffff), "real32 FNSTENV: FIP[15:0]");
	EQ(r32(&t, e + 16), (fip >> 16) << 12 | 0x1eb, "real32 FNSTENV: FIP[31:16], FOP");
	EQ(r32(&t, e + 20), 0xffff0000 | (fdp & 0xffff), "real32 FNSTENV: FDP[15:0]");
	EQ(r32(&t, e + 24), (fdp >> 16) << 12, "real32 FNSTENV: FDP[31:16]");
	tap_ok(!memcmp(vmt_ptr(&t, d + 0x9300), vmt_ptr(&t, d + 0x9400), 108),
	       "real32 FNSAVE / FRSTOR / FNSAVE round trip");
	tap_ok(!memcmp(vmt_ptr(&t, d + 0x9100), vmt_ptr(&t, d + 0x9500), 14),
	       "real16 FLDENV / FNSTENV round trip");
	vmt_destroy(&t);
}

/* FISTTP needs SSE3; without it DB/DD/DF /1 is reserved: #UD (#NM first) */
static void test_fisttp_sse3(void)
{
	static const uint8_t code[] = {
		0xdb, 0xe3,				/* fninit */
		0xd9, 0xe8,				/* fld1 */
		0xdd, 0x0d, 0x00, 0x00, 0x20, 0x00,	/* fisttp qword [0x200000] */
		0xf4,
	};
	for (int k = 0; k < 2; k++) {
		struct vmt t;
		vmt_cpu_model = k ? "intel,-pni" : "intel";
		int r = vmt_init_mode(&t, NV_ENGINE_EMU, 4 << 20, 32);
		vmt_cpu_model = NULL;
		if (r < 0) {
			tap_ok(false, "VM for the FISTTP test");
			return;
		}
		vmt_write(&t, VMT_CODE, code, sizeof(code));
		uint64_t junk = 0x5555;
		vmt_write(&t, 0x200000, &junk, 8);
		struct kvm_regs regs;
		memset(&regs, 0, sizeof(regs));
		vmt_run(&t, VMT_CODE, &regs);
		uint64_t v;
		memcpy(&v, vmt_ptr(&t, 0x200000), 8);
		if (k)
			tap_ok(vmt_exception(&t) == 6 && v == 0x5555,
			       "FISTTP without SSE3: #UD (vector %d)", vmt_exception(&t));
		else
			tap_ok(vmt_exception(&t) < 0 && v == 1, "FISTTP with SSE3 stores 1 (%llu)",
			       (unsigned long long)v);
		vmt_destroy(&t);
	}
}

int main(void)
{
	test_fisttp_sse3();
	test_power_on();
	test_pm32();
	test_real();
	return tap_done();
}
