/*
 * Event delivery in 32-bit protected mode and in real mode (SDM Vol. 3A
 * 6.12, 20.1.4; spec T07), driven through the API: 32- and 16-bit
 * interrupt gates, the frames they push, a privilege change through the
 * TSS (SS0:ESP0), #SS on a too-small new stack, INTO, and the real-mode
 * IVT.
 */
#include <string.h>

#include "vmt.h"

static struct vmt t;

#define GDT 0x800
#define IDT 0x1000
#define TSS 0x2000
#define CODE 0x10000
#define HANDLER 0x11000
#define USERCODE 0x12000
#define STACK0 0x30000
#define STACK3 0x40000
#define REC 0x7000

static void put64(uint64_t a, uint64_t v) { memcpy(t.mem + a, &v, 8); }
static void put32(uint64_t a, uint32_t v) { memcpy(t.mem + a, &v, 4); }
static void put16(uint64_t a, uint16_t v) { memcpy(t.mem + a, &v, 2); }
static uint32_t get32(uint64_t a) { uint32_t v; memcpy(&v, t.mem + a, 4); return v; }
static uint16_t get16(uint64_t a) { uint16_t v; memcpy(&v, t.mem + a, 2); return v; }

static uint64_t desc(uint32_t base, uint32_t limit, int type, int dpl, bool s, bool db, bool g)
{
	return (limit & 0xffff) | ((uint64_t)(base & 0xffffff) << 16) |
	       ((uint64_t)type << 40) | ((uint64_t)s << 44) | ((uint64_t)dpl << 45) | (1ULL << 47) |
	       ((uint64_t)((limit >> 16) & 0xf) << 48) | ((uint64_t)db << 54) | ((uint64_t)g << 55) |
	       ((uint64_t)(base >> 24) << 56);
}

static uint64_t gate(uint32_t off, uint16_t sel, int type, int dpl)
{
	return (off & 0xffff) | ((uint64_t)sel << 16) | ((uint64_t)type << 40) |
	       ((uint64_t)dpl << 45) | (1ULL << 47) | ((uint64_t)(off >> 16) << 48);
}

static void seg(struct kvm_segment *s, uint16_t sel, int type, int dpl, bool code)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = (uint8_t)type;
	s->present = 1;
	s->dpl = (uint8_t)dpl;
	s->db = 1;
	s->s = 1;
	s->g = 1;
	(void)code;
}

/* 32-bit protected mode, flat, CPL 0, IDT of 32-bit interrupt gates to HANDLER */
static void setup32(void)
{
	put64(GDT + 0x00, 0);
	put64(GDT + 0x08, desc(0, 0xfffff, 0xb, 0, 1, 1, 1));	/* code, DPL 0 */
	put64(GDT + 0x10, desc(0, 0xfffff, 0x3, 0, 1, 1, 1));	/* data, DPL 0 */
	put64(GDT + 0x18, desc(0, 0xfffff, 0xb, 3, 1, 1, 1));	/* code, DPL 3 */
	put64(GDT + 0x20, desc(0, 0xfffff, 0x3, 3, 1, 1, 1));	/* data, DPL 3 */
	put64(GDT + 0x28, desc(TSS, 0x67, 0x9, 0, 0, 0, 0));	/* 32-bit TSS */
	put64(GDT + 0x30, desc(0, 0x00fff, 0x3, 0, 1, 1, 0));	/* small 32-bit stack: limit 0xfff */
	for (int v = 0; v < 256; v++)
		put64(IDT + v * 8, gate(HANDLER, 0x08, 0xe, 0));
	memset(t.mem + TSS, 0, 0x68);
	put32(TSS + 4, STACK0);
	put32(TSS + 8, 0x10);
	/* handler: mov %esp, REC; hlt */
	static const uint8_t h[] = { 0x89, 0x25, REC & 0xff, (REC >> 8) & 0xff, 0, 0, 0xf4 };
	memcpy(t.mem + HANDLER, h, sizeof(h));

	struct kvm_sregs s;
	nv_get_sregs(t.v, &s);
	seg(&s.cs, 0x08, 0xb, 0, true);
	seg(&s.ds, 0x10, 0x3, 0, false);
	s.es = s.fs = s.gs = s.ss = s.ds;
	memset(&s.tr, 0, sizeof(s.tr));
	s.tr.selector = 0x28;
	s.tr.base = TSS;
	s.tr.limit = 0x67;
	s.tr.type = 0xb;
	s.tr.present = 1;
	s.gdt.base = GDT;
	s.gdt.limit = 0x37;
	s.idt.base = IDT;
	s.idt.limit = 256 * 8 - 1;
	s.cr0 = 0x11;
	s.cr3 = s.cr4 = s.efer = 0;
	nv_set_sregs(t.v, &s);
}

static int go(uint64_t eip, uint32_t esp, uint32_t eflags, struct kvm_regs *r)
{
	memset(r, 0, sizeof(*r));
	r->rip = eip;
	r->rsp = esp;
	r->rflags = eflags | 2;
	nv_set_regs(t.v, r);
	struct kvm_mp_state mp = { KVM_MP_STATE_RUNNABLE };
	nv_set_mp_state(t.v, &mp);
	for (int k = 0; k < 1000; k++) {
		int ret = nv_run(t.v);
		if (ret < 0)
			return -1;
		if (t.run->exit_reason != KVM_EXIT_IO)
			break;
	}
	nv_get_regs(t.v, r);
	return (int)t.run->exit_reason;
}

int main(void)
{
	struct kvm_regs r;
	if (vmt_init_mode(&t, NV_ENGINE_EMU, 16 << 20, 32) < 0) {
		tap_skip_all("cannot create a VM");
		return 0;
	}
	setup32();

	/* #DE through a 32-bit interrupt gate at CPL 0: EIP, CS, EFLAGS */
	static const uint8_t de[] = { 0x31, 0xc9, 0xf7, 0xf1, 0xf4 };	/* xor ecx,ecx; div ecx */
	memcpy(t.mem + CODE, de, sizeof(de));
	go(CODE, STACK0, 0x200, &r);
	uint32_t sp = get32(REC);
	tap_ok(sp == STACK0 - 12, "32-bit gate, same privilege: 3 dwords pushed (esp %#x)", sp);
	tap_ok(get32(sp) == CODE + 2, "saved EIP = the DIV (fault)");
	tap_ok(get32(sp + 4) == 0x08, "saved CS");
	tap_ok((get32(sp + 8) & 0x10200) == 0x10200, "saved EFLAGS with IF and RF = 1 (%#x)", get32(sp + 8));
	tap_ok(!(r.rflags & 0x200), "interrupt gate cleared IF");

	/* #GP with an error code */
	static const uint8_t gp[] = { 0x66, 0xb8, 0x40, 0x00, 0x8e, 0xd8, 0xf4 };	/* mov $0x40,%ax; mov %ax,%ds */
	memcpy(t.mem + CODE, gp, sizeof(gp));
	go(CODE, STACK0, 0, &r);
	sp = get32(REC);
	tap_ok(sp == STACK0 - 16, "#GP: 4 dwords with the error code");
	tap_ok(get32(sp) == 0x40, "#GP error code = the selector beyond the GDT limit (got %#x)", get32(sp));
	tap_ok(get32(sp + 4) == CODE + 4, "#GP saved EIP = the MOV DS");

	/* 16-bit interrupt gate: 16-bit pushes (the gate holds a 16-bit offset) */
	static const uint8_t h16[] = { 0x89, 0x25, REC & 0xff, (REC >> 8) & 0xff, 0, 0, 0xf4 };
	memcpy(t.mem + 0x9000, h16, sizeof(h16));
	put64(IDT + 0x30 * 8, gate(0x9000, 0x08, 0x6, 0));
	static const uint8_t int30[] = { 0xcd, 0x30, 0xf4 };
	memcpy(t.mem + CODE, int30, sizeof(int30));
	go(CODE, STACK0, 0, &r);
	sp = get32(REC);
	tap_ok(sp == STACK0 - 6, "16-bit gate: 3 words pushed (esp %#x)", sp);
	tap_ok(get16(sp) == (uint16_t)(CODE + 2) && get16(sp + 2) == 0x08, "16-bit frame: IP after INT (low 16 bits), CS");

	/* INTO with OF = 1 in 32-bit mode: trap, EIP after INTO (T07) */
	static const uint8_t into[] = { 0xce, 0xf4 };
	memcpy(t.mem + CODE, into, sizeof(into));
	go(CODE, STACK0, 0x800, &r);
	sp = get32(REC);
	tap_ok(sp == STACK0 - 12 && get32(sp) == CODE + 1, "INTO with OF = 1: #OF, saved EIP after INTO");
	go(CODE, STACK0, 0, &r);
	tap_ok(r.rip == CODE + 2 && get32(REC) == sp, "INTO with OF = 0: no exception");

	/* CPL 3 -> 0 through a DPL 3 gate: SS0:ESP0 from the TSS, SS:ESP pushed */
	put64(IDT + 0x80 * 8, gate(HANDLER, 0x08, 0xe, 3));
	static const uint8_t uint80[] = { 0xcd, 0x80, 0xf4 };
	memcpy(t.mem + USERCODE, uint80, sizeof(uint80));
	struct kvm_sregs s;
	nv_get_sregs(t.v, &s);
	seg(&s.cs, 0x18 | 3, 0xb, 3, true);
	seg(&s.ss, 0x20 | 3, 0x3, 3, false);
	s.ds = s.es = s.ss;
	nv_set_sregs(t.v, &s);
	go(USERCODE, STACK3, 0x200, &r);
	sp = get32(REC);
	tap_ok(sp == STACK0 - 20, "privilege change: 5 dwords on the TSS stack (esp %#x)", sp);
	tap_ok(get32(sp) == USERCODE + 2 && get32(sp + 4) == (0x18 | 3), "frame EIP, CS (user)");
	tap_ok(get32(sp + 12) == STACK3 && get32(sp + 16) == (0x20 | 3), "frame ESP, SS (user)");
	nv_get_sregs(t.v, &s);
	tap_ok(s.ss.selector == 0x10 && s.cs.selector == 0x08, "handler runs with SS0 and the gate's CS");

	/* INT n from CPL 3 through a DPL 0 gate: #GP(n*8+2) */
	nv_get_sregs(t.v, &s);
	seg(&s.cs, 0x18 | 3, 0xb, 3, true);
	seg(&s.ss, 0x20 | 3, 0x3, 3, false);
	s.ds = s.es = s.ss;
	nv_set_sregs(t.v, &s);
	put64(IDT + 0x81 * 8, gate(HANDLER, 0x08, 0xe, 0));
	static const uint8_t uint81[] = { 0xcd, 0x81, 0xf4 };
	memcpy(t.mem + USERCODE, uint81, sizeof(uint81));
	go(USERCODE, STACK3, 0, &r);
	sp = get32(REC);
	tap_ok(sp == STACK0 - 24 && get32(sp) == 0x81 * 8 + 2, "INT 0x81 from CPL 3 through DPL 0: #GP(0x40a)");

	/* the new stack segment cannot hold the frame: #SS(SS0 selector + EXT) */
	put32(TSS + 4, 0x2000);		/* ESP0 beyond the small segment's limit */
	put32(TSS + 8, 0x30);
	nv_get_sregs(t.v, &s);
	seg(&s.cs, 0x18 | 3, 0xb, 3, true);
	seg(&s.ss, 0x20 | 3, 0x3, 3, false);
	s.ds = s.es = s.ss;
	nv_set_sregs(t.v, &s);
	memcpy(t.mem + USERCODE, uint80, sizeof(uint80));
	put64(IDT + 12 * 8, gate(HANDLER, 0x08, 0xe, 0));
	put64(GDT + 0x38, desc(0, 0xfffff, 0x3, 0, 1, 1, 1));
	/* #SS is delivered on the same broken stack: make its gate a task-free
	 * path by giving it a CPL 0 code segment: the delivery from CPL 3 needs
	 * SS0 too, so expect escalation; check the error code via GET_VCPU_EVENTS */
	nv_set_budget(t.v, 1);
	struct kvm_mp_state mp = { KVM_MP_STATE_RUNNABLE };
	nv_set_mp_state(t.v, &mp);
	memset(&r, 0, sizeof(r));
	r.rip = USERCODE;
	r.rsp = STACK3;
	r.rflags = 2;
	nv_set_regs(t.v, &r);
	struct kvm_enable_cap cap = { .cap = KVM_CAP_EXCEPTION_PAYLOAD, .args = { 1 } };
	nv_enable_cap(t.vm, &cap);
	nv_run(t.v);
	struct kvm_vcpu_events ev;
	nv_get_vcpu_events(t.v, &ev);
	tap_ok(ev.exception.pending && ev.exception.nr == 12 && ev.exception.error_code == 0x30,
	       "frame beyond the new stack's limit: #SS(SS0 selector), EXT = 0 for INT n (nr %d ec %#x)",
	       ev.exception.nr, ev.exception.error_code);
	nv_set_budget(t.v, 0);
	put32(TSS + 4, STACK0);
	put32(TSS + 8, 0x10);
	vmt_destroy(&t);

	/* ---- real mode: the IVT ---- */
	if (vmt_init_mode(&t, NV_ENGINE_EMU, 16 << 20, 32) < 0)
		return tap_done();
	nv_get_sregs(t.v, &s);
	struct kvm_segment rs = { .base = 0, .limit = 0xffff, .selector = 0, .type = 3,
				  .present = 1, .s = 1 };
	s.cs = rs;
	s.cs.type = 0xb;
	s.ds = s.es = s.fs = s.gs = s.ss = rs;
	s.idt.base = 0;
	s.idt.limit = 0x3ff;
	s.cr0 = 0x10;
	nv_set_sregs(t.v, &s);
	/* IVT entry 0x21 -> 0000:0600 (mov %sp,REC; hlt), entry 0 -> same */
	put16(0x21 * 4, 0x600);
	put16(0x21 * 4 + 2, 0);
	put16(0, 0x600);
	put16(2, 0);
	static const uint8_t rh[] = { 0x89, 0x26, REC & 0xff, (REC >> 8) & 0xff, 0xf4 };
	memcpy(t.mem + 0x600, rh, sizeof(rh));
	static const uint8_t rint[] = { 0xcd, 0x21, 0xf4 };
	memcpy(t.mem + 0x500, rint, sizeof(rint));
	go(0x500, 0x8000, 0x202, &r);
	uint16_t rsp = get16(REC);
	tap_ok(rsp == 0x8000 - 6, "real mode INT 0x21: 3 words pushed (sp %#x)", rsp);
	tap_ok(get16(rsp) == 0x502 && get16(rsp + 2) == 0 && get16(rsp + 4) == 0x202,
	       "real mode frame: IP after INT, CS, FLAGS");
	tap_ok(!(r.rflags & 0x200), "real mode delivery clears IF");
	/* single-stepping INT n: a #DB before the handler's first instruction */
	put16(1 * 4, 0x700);
	put16(1 * 4 + 2, 0);
	static const uint8_t dbh[] = { 0x89, 0x26, (REC + 2) & 0xff, ((REC + 2) >> 8) & 0xff, 0xf4 };
	memcpy(t.mem + 0x700, dbh, sizeof(dbh));
	go(0x500, 0x8000, 0x302, &r);
	rsp = get16(REC + 2);
	tap_ok(rsp == 0x8000 - 12, "TF + INT 0x21: the #DB frame sits on the INT frame (sp %#x)", rsp);
	tap_ok(get16(rsp) == 0x600 && !(get16(rsp + 4) & 0x100),
	       "the #DB points at the handler's first instruction, TF clear in its FLAGS");
	tap_ok(get16(rsp + 6 + 4) & 0x100, "the INT frame keeps TF = 1");
	/* #DE in real mode: no error code, IP = the DIV */
	static const uint8_t rde[] = { 0x31, 0xc9, 0xf7, 0xf1, 0xf4 };
	memcpy(t.mem + 0x500, rde, sizeof(rde));
	go(0x500, 0x8000, 0, &r);
	rsp = get16(REC);
	tap_ok(rsp == 0x8000 - 6 && get16(rsp) == 0x502, "real mode #DE: no error code, IP = the DIV");
	/* a vector beyond the IVT limit: #GP, then the #GP vector beyond too -> #DF -> shutdown */
	nv_get_sregs(t.v, &s);
	s.idt.limit = 0x3;
	nv_set_sregs(t.v, &s);
	memcpy(t.mem + 0x500, rint, sizeof(rint));
	int why = go(0x500, 0x8000, 0, &r);
	tap_ok(why == KVM_EXIT_SHUTDOWN, "real mode: vector beyond the IVT limit ends in shutdown (%d)", why);
	vmt_destroy(&t);
	return tap_done();
}
