/*
 * Events in flight across a snapshot restored in a new process.
 *
 * Each scenario sets up a vCPU (vmt kit, 64-bit mode) with an event in
 * flight, runs it a fixed number of instructions, saves the machine, and
 * restores it in a fresh process (fork + exec of this program), which runs
 * to the final HLT.  The outcome (exception vector, registers, CR2, DR6,
 * the frame the handler got) must equal that of the same scenario run
 * without interruption; scenario-specific checks look at the restored
 * state before it runs (e.g. CR2 untouched while a #PF is pending).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmt.h"
#include "vmm/machine.h"
#include "vmm/snapshot.h"

#define MEM (64ULL << 20)

struct outcome {
	int vec;
	uint64_t rip, rcx, rsi, rdi, cr2, dr6, frame_rip, frame_ec, memsum, rflags;
	uint64_t xmm0;
};

static void wrap(struct machine *m, struct vmt *t)
{
	memset(m, 0, sizeof(*m));
	m->cfg.ram_size = t->size;
	m->cfg.smp = 1;
	m->cfg.max_cpus = 1;
	m->cfg.quantum = 100000;
	m->cfg.engine = NV_ENGINE_EMU;
	m->vm = t->vm;
	m->vcpu[0] = t->v;
	m->ncpus = 1;
	m->ram = t->mem;
	m->ram_size = m->low_ram = m->ram_map_size = t->size;
	m->cur_cpu = -1;
}

static void enable_caps(struct vmt *t)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_EXCEPTION_PAYLOAD, .args = { 1 } };
	nv_enable_cap(t->vm, &cap);
	cap.cap = KVM_CAP_X86_TRIPLE_FAULT_EVENT;
	nv_enable_cap(t->vm, &cap);
}

/* ---- scenarios --------------------------------------------------------------- */

enum { SC_PF, SC_NMI, SC_MOVSS, SC_REP, SC_EXTINT, SC_STI, SC_TIMER, SC_SSE, SC_N };
static const char *const sc_name[SC_N] = {
	"pending #PF with payload", "NMI blocked and pending", "single-step over MOV SS",
	"mid REP MOVSB", "ExtINT from KVM_INTERRUPT not yet taken", "STI shadow",
	"LAPIC timer armed (divide 16)", "XMM state with XCR0 = x87 only",
};
/* instructions run before the snapshot */
static const uint64_t sc_steps[SC_N] = { 0, 3, 1, 500, 1, 2, 301, 1 };

static void put(struct vmt *t, uint64_t gpa, const uint8_t *code, size_t n)
{
	vmt_write(t, gpa, code, n);
}

static void setup(struct vmt *t, int sc)
{
	struct kvm_regs r;
	memset(&r, 0, sizeof(r));
	r.rip = VMT_CODE;
	r.rsp = VMT_STACK;
	r.rflags = 2;
	uint32_t zero = 0;
	vmt_write(t, VMT_EXC_VEC, &zero, 4);
	struct kvm_vcpu_events ev;
	switch (sc) {
	case SC_PF: {
		static const uint8_t code[] = { 0x90, 0xf4 };	/* nop; hlt */
		put(t, VMT_CODE, code, sizeof(code));
		nv_set_regs(t->v, &r);
		struct kvm_sregs s;
		nv_get_sregs(t->v, &s);
		s.cr2 = 0x1111;
		nv_set_sregs(t->v, &s);
		nv_get_vcpu_events(t->v, &ev);
		ev.exception.pending = 1;
		ev.exception.injected = 0;
		ev.exception.nr = 14;
		ev.exception.has_error_code = 1;
		ev.exception.error_code = 2;
		ev.exception_has_payload = 1;
		ev.exception_payload = 0xdead000;
		ev.flags |= KVM_VCPUEVENT_VALID_PAYLOAD;
		nv_set_vcpu_events(t->v, &ev);
		break;
	}
	case SC_NMI: {
		/* nop; nop; nop; nop; iretq -> label: hlt */
		static const uint8_t code[] = { 0x90, 0x90, 0x90, 0x90, 0x48, 0xcf, 0xf4 };
		put(t, VMT_CODE, code, sizeof(code));
		uint64_t frame[5] = { VMT_CODE + 6, 0x08, 2, VMT_STACK, 0x10 };
		r.rsp = VMT_STACK - sizeof(frame);
		vmt_write(t, r.rsp, frame, sizeof(frame));
		nv_set_regs(t->v, &r);
		nv_get_vcpu_events(t->v, &ev);
		ev.nmi.masked = 1;
		ev.nmi.pending = 1;
		ev.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING;
		nv_set_vcpu_events(t->v, &ev);
		break;
	}
	case SC_MOVSS: {
		/* mov %eax,%ss; nop; nop; hlt, with TF: #DB after the nop */
		static const uint8_t code[] = { 0x8e, 0xd0, 0x90, 0x90, 0xf4 };
		put(t, VMT_CODE, code, sizeof(code));
		r.rax = 0x10;
		r.rflags = 2 | 0x100;
		nv_set_regs(t->v, &r);
		break;
	}
	case SC_REP: {
		/* rep movsb; hlt */
		static const uint8_t code[] = { 0xf3, 0xa4, 0xf4 };
		put(t, VMT_CODE, code, sizeof(code));
		for (int k = 0; k < 1000; k++) {
			uint8_t b = (uint8_t)(k * 7 + 3);
			vmt_write(t, VMT_DATA + (uint64_t)k, &b, 1);
		}
		r.rsi = VMT_DATA;
		r.rdi = VMT_DATA + 0x10000;
		r.rcx = 1000;
		nv_set_regs(t->v, &r);
		break;
	}
	case SC_EXTINT:
	case SC_STI: {
		/* nop; sti; nop; nop; hlt: vector 0x40 arrives after the STI shadow */
		static const uint8_t code[] = { 0x90, 0xfb, 0x90, 0x90, 0xf4 };
		put(t, VMT_CODE, code, sizeof(code));
		nv_set_regs(t->v, &r);
		struct kvm_interrupt irq = { .irq = 0x40 };
		nv_interrupt(t->v, &irq);
		break;
	}
	case SC_SSE: {
		/* nop; nop; hlt: XMM0 must survive (legacy SSE needs no XCR0 bit) */
		static const uint8_t code[] = { 0x90, 0x90, 0xf4 };
		put(t, VMT_CODE, code, sizeof(code));
		nv_set_regs(t->v, &r);
		struct kvm_fpu f;
		nv_get_fpu(t->v, &f);
		uint64_t x = 0x0123456789abcdefULL;
		memcpy(f.xmm[0], &x, 8);
		nv_set_fpu(t->v, &f);
		break;
	}
	case SC_TIMER: {
		/* sti; mov $5000,%ecx; 1: dec %ecx; jnz 1b; hlt */
		static const uint8_t code[] = { 0xfb, 0xb9, 0x88, 0x13, 0x00, 0x00, 0xff, 0xc9,
						0x75, 0xfc, 0xf4 };
		put(t, VMT_CODE, code, sizeof(code));
		nv_set_regs(t->v, &r);
		struct kvm_lapic_state l;
		nv_get_lapic(t->v, &l);
		uint32_t v;
		v = 0x1ff; memcpy(l.regs + 0xf0, &v, 4);	/* SVR: enabled */
		v = 0x50; memcpy(l.regs + 0x320, &v, 4);	/* LVTT: one-shot, vector 0x50 */
		v = 0x3; memcpy(l.regs + 0x3e0, &v, 4);	/* TDCR: divide by 16 */
		v = 77; memcpy(l.regs + 0x380, &v, 4);	/* TMICT */
		memcpy(l.regs + 0x390, &v, 4);			/* TMCCT: counting from 77 */
		nv_set_lapic(t->v, &l);
		break;
	}
	}
}

static int run_to_hlt(struct vmt *t)
{
	for (int guard = 0; guard < 100000; guard++) {
		int r = nv_run(t->v);
		if (r < 0 && r != -EINTR)
			return -1;
		if (r == 0 && t->run->exit_reason == KVM_EXIT_HLT)
			return 0;
		if (r == 0 && t->run->exit_reason != KVM_EXIT_IO)
			return -1;
	}
	return -1;
}

static void outcome(struct vmt *t, struct outcome *o)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	struct kvm_debugregs d;
	nv_get_regs(t->v, &r);
	nv_get_sregs(t->v, &s);
	nv_get_debugregs(t->v, &d);
	memset(o, 0, sizeof(*o));
	o->vec = vmt_exception(t);
	o->rip = r.rip;
	o->rcx = r.rcx;
	o->rsi = r.rsi;
	o->rdi = r.rdi;
	o->rflags = r.rflags;
	o->cr2 = s.cr2;
	o->dr6 = d.dr6;
	if (o->vec >= 0) {
		o->frame_rip = vmt_exc_rip(t, &r);
		o->frame_ec = vmt_exc_errcode(t, &r);
	}
	struct kvm_fpu f;
	nv_get_fpu(t->v, &f);
	memcpy(&o->xmm0, f.xmm[0], 8);
	for (uint64_t k = 0; k < 0x20000; k += 8) {
		uint64_t q;
		memcpy(&q, t->mem + VMT_DATA + k, 8);
		o->memsum = o->memsum * 31 + q;
	}
	o->memsum ^= o->xmm0;
}

static bool same(const struct outcome *a, const struct outcome *b)
{
	return a->vec == b->vec && a->rip == b->rip && a->rcx == b->rcx && a->rsi == b->rsi &&
	       a->rdi == b->rdi && a->cr2 == b->cr2 && a->dr6 == b->dr6 &&
	       a->frame_rip == b->frame_rip && a->frame_ec == b->frame_ec &&
	       a->memsum == b->memsum && a->rflags == b->rflags;
}

static void describe(const char *who, const struct outcome *o)
{
	printf("# %s: vec %d rip %#" PRIx64 " rcx %#" PRIx64 " rsi %#" PRIx64 " rdi %#" PRIx64
	       " rflags %#" PRIx64 " cr2 %#" PRIx64 " dr6 %#" PRIx64 " frame rip %#" PRIx64
	       " ec %#" PRIx64 " mem %#" PRIx64 "\n", who, o->vec, o->rip, o->rcx, o->rsi, o->rdi,
	       o->rflags, o->cr2, o->dr6, o->frame_rip, o->frame_ec, o->memsum);
}

/* checks of the restored state before it runs */
static void pre_checks(struct vmt *t, int sc)
{
	struct kvm_vcpu_events ev;
	struct kvm_sregs s;
	struct nv_private_state p = { .version = NV_PRIVATE_STATE_VERSION, .size = sizeof(p) };
	nv_get_vcpu_events(t->v, &ev);
	nv_get_sregs(t->v, &s);
	nv_get_private_state(t->v, &p);
	switch (sc) {
	case SC_PF:
		tap_ok(s.cr2 == 0x1111, "#PF: CR2 untouched while the #PF is pending (%#llx)",
		       (unsigned long long)s.cr2);
		tap_ok(ev.exception.pending && !ev.exception.injected && ev.exception.nr == 14 &&
		       ev.exception.error_code == 2 && ev.exception_has_payload &&
		       ev.exception_payload == 0xdead000, "#PF: still pending with its payload");
		break;
	case SC_NMI:
		tap_ok(ev.nmi.masked && ev.nmi.pending == 1, "NMI: masked with one pending (%d/%d)",
		       ev.nmi.masked, ev.nmi.pending);
		break;
	case SC_MOVSS:
		tap_ok(ev.interrupt.shadow == KVM_X86_SHADOW_INT_MOV_SS,
		       "MOV SS: shadow restored (%#x)", ev.interrupt.shadow);
		tap_ok(p.pending_dbg == (1ULL << 14), "MOV SS: single-step #DB held pending (%#llx)",
		       (unsigned long long)p.pending_dbg);
		break;
	case SC_REP: {
		struct kvm_regs r;
		nv_get_regs(t->v, &r);
		tap_ok(r.rcx == 500 && r.rip == VMT_CODE, "REP: stopped between iterations (rcx %llu)",
		       (unsigned long long)r.rcx);
		break;
	}
	case SC_EXTINT:
		tap_ok((p.flags & NV_PRIV_EXTINT_PENDING) && p.extint_vector == 0x40,
		       "ExtINT: vector 0x40 still waiting for IF");
		break;
	case SC_STI:
		tap_ok(ev.interrupt.shadow == KVM_X86_SHADOW_INT_STI, "STI: shadow restored (%#x)",
		       ev.interrupt.shadow);
		break;
	case SC_TIMER:
		tap_ok(p.timer_deadline != ~0ULL && (p.timer_deadline - p.clock) % 16 != 0,
		       "timer: armed, deadline not on an APIC tick boundary (%llu ns left)",
		       (unsigned long long)(p.timer_deadline - p.clock));
		break;
	}
}

/* the architectural outcome each scenario must have (SDM references inline) */
static bool expected(int sc, const struct outcome *o)
{
	switch (sc) {
	case SC_PF:	/* CR2 written at delivery (SDM 6.15 "Interrupt 14") */
		return o->vec == 14 && o->cr2 == 0xdead000 && o->frame_ec == 2 &&
		       o->frame_rip == VMT_CODE;
	case SC_NMI:	/* NMI blocking ends with IRET (SDM 6.7.1) */
		return o->vec == 2 && o->frame_rip == VMT_CODE + 6;
	case SC_MOVSS:	/* the single-step trap waits one instruction after MOV SS (SDM 6.8.3) */
		return o->vec == 1 && o->frame_rip == VMT_CODE + 3 && (o->dr6 & (1ULL << 14));
	case SC_REP:
		return o->rcx == 0 && o->rsi == VMT_DATA + 1000 && o->rdi == VMT_DATA + 0x10000 + 1000;
	case SC_EXTINT:
	case SC_STI:	/* STI blocks interrupts for one instruction (SDM 6.8.3) */
		return o->vec == 0x40 && o->frame_rip == VMT_CODE + 3;
	case SC_TIMER:
		return o->vec == 0x50 && o->rcx != 0;
	case SC_SSE:
		return o->vec == -1 && o->xmm0 == 0x0123456789abcdefULL;	/* the child computes xmm0 */
	}
	return false;
}

/* ---- the restoring process ------------------------------------------------------- */

static int child(int argc, char **argv)
{
	for (int a = 1; a + 2 < argc; a += 3) {
		int sc = atoi(argv[a]);
		const char *file = argv[a + 1];
		struct outcome want, got;
		if (sc < 0 || sc >= SC_N ||
		    sscanf(argv[a + 2], "%d:%" SCNx64 ":%" SCNx64 ":%" SCNx64 ":%" SCNx64 ":%" SCNx64
			   ":%" SCNx64 ":%" SCNx64 ":%" SCNx64 ":%" SCNx64 ":%" SCNx64,
			   &want.vec, &want.rip, &want.rcx, &want.rsi, &want.rdi, &want.cr2, &want.dr6,
			   &want.frame_rip, &want.frame_ec, &want.memsum, &want.rflags) != 11) {
			tap_ok(false, "bad arguments");
			continue;
		}
		struct vmt t;
		struct machine m;
		if (vmt_init(&t, NV_ENGINE_EMU, MEM) < 0) {
			tap_ok(false, "%s: cannot create a VM", sc_name[sc]);
			continue;
		}
		enable_caps(&t);
		wrap(&m, &t);
		char err[400];
		int r = snapshot_load_file(&m, file, err, sizeof(err));
		tap_ok(r == 0, "%s: restored in a new process%s%s", sc_name[sc], r ? ": " : "",
		       r ? err : "");
		unlink(file);
		if (r == 0) {
			pre_checks(&t, sc);
			bool ran = run_to_hlt(&t) == 0;
			outcome(&t, &got);
			tap_ok(ran && same(&got, &want), "%s: same outcome as without the snapshot",
			       sc_name[sc]);
			tap_ok(expected(sc, &got), "%s: the architectural outcome", sc_name[sc]);
			if (!same(&got, &want) || !expected(sc, &got)) {
				describe("want", &want);
				describe("got ", &got);
			}
		}
		snapshot_destroy(&m);
		vmt_destroy(&t);
	}
	return tap_done();
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--restore"))
		return child(argc - 1, argv + 1);

	char *av[3 * SC_N + 3];
	static char files[SC_N][64], wants[SC_N][512], scs[SC_N][16];
	int n = 0;
	av[n++] = argv[0];
	av[n++] = "--restore";
	for (int sc = 0; sc < SC_N; sc++) {
		struct vmt t;
		struct outcome want;
		/* the reference: the scenario without interruption */
		if (vmt_init(&t, NV_ENGINE_EMU, MEM) < 0) {
			tap_skip_all("cannot create a VM");
			return 0;
		}
		enable_caps(&t);
		setup(&t, sc);
		if (run_to_hlt(&t) < 0)
			fprintf(stderr, "reference run of '%s' failed\n", sc_name[sc]);
		outcome(&t, &want);
		vmt_destroy(&t);
		if (sc == SC_PF && (want.vec != 14 || want.cr2 != 0xdead000 || want.frame_ec != 2))
			fprintf(stderr, "reference #PF run is wrong\n");

		/* the same, stopped after sc_steps[sc] instructions and saved */
		struct machine m;
		vmt_init(&t, NV_ENGINE_EMU, MEM);
		enable_caps(&t);
		setup(&t, sc);
		wrap(&m, &t);
		if (sc_steps[sc]) {
			nv_set_budget(t.v, sc_steps[sc]);
			int r = nv_run(t.v);
			uint64_t ic = 0;
			nv_get_icount(t.v, &ic);
			if (r != -EINTR || ic != sc_steps[sc])
				fprintf(stderr, "'%s': stop after %llu instructions failed (%d, %llu)\n",
					sc_name[sc], (unsigned long long)sc_steps[sc], r,
					(unsigned long long)ic);
			nv_set_budget(t.v, 0);
		}
		snprintf(files[sc], sizeof(files[sc]), "/tmp/nestvm-snapev-%d-%d.snap", (int)getpid(), sc);
		char err[400];
		if (snapshot_save_file(&m, files[sc], err, sizeof(err)) < 0) {
			fprintf(stderr, "save: %s\n", err);
			return 1;
		}
		snapshot_destroy(&m);
		vmt_destroy(&t);
		snprintf(scs[sc], sizeof(scs[sc]), "%d", sc);
		snprintf(wants[sc], sizeof(wants[sc]),
			 "%d:%" PRIx64 ":%" PRIx64 ":%" PRIx64 ":%" PRIx64 ":%" PRIx64 ":%" PRIx64
			 ":%" PRIx64 ":%" PRIx64 ":%" PRIx64 ":%" PRIx64, want.vec, want.rip, want.rcx,
			 want.rsi, want.rdi, want.cr2, want.dr6, want.frame_rip, want.frame_ec,
			 want.memsum, want.rflags);
		av[n++] = scs[sc];
		av[n++] = files[sc];
		av[n++] = wants[sc];
	}
	av[n] = NULL;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		execv("/proc/self/exe", av);
		_exit(127);
	}
	int ws;
	waitpid(pid, &ws, 0);
	return WIFEXITED(ws) ? WEXITSTATUS(ws) : 1;
}
