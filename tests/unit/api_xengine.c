/*
 * Cross-engine state transfer: a guest stopped under one engine continues
 * under the other (emulator -> /dev/kvm and /dev/kvm -> emulator; also
 * within each engine) and
 * prints exactly what an uninterrupted run prints.  The whole vCPU state
 * goes through vcpu_state_get / vcpu_state_set (src/vmm/vcpu_state.c),
 * guest RAM is copied.  Transfer points: in the middle of the computation
 * (an instruction budget on the emulator, a signal on KVM) and with a #PF
 * pending whose payload (CR2) is not yet written.
 *
 * The guest mixes GPRs, flags, the stack, an FS-relative memory operand,
 * SWAPGS with KERNEL_GS_BASE, and a #PF handler that prints CR2 and the
 * error code; it writes one character per outer iteration to port 0xe9
 * and marks each fault with a write to port 0x80 just before it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vmt.h"
#include "../../src/vmm/vcpu_state.h"

#define X(v) ((unsigned long long)(v))
#define MEM (8ULL << 20)
#define OUTER 48
#define INNER 1000

extern const uint8_t xe_prog[], xe_prog_end[], xe_pf_handler[], xe_fault_insn[];

__asm__(
	".pushsection .rodata\n"
	".code64\n"
	".globl xe_prog, xe_prog_end, xe_pf_handler, xe_fault_insn\n"
	"xe_prog:\n"
	"	movabs $0x0123456789abcdef, %rbx\n"
	"	mov $" "48" ", %r12d\n"
	"1:	mov $" "1000" ", %ecx\n"
	"2:	rol $13, %rbx\n"
	"	xor %rcx, %rbx\n"
	"	add $0x1e3779b9, %rbx\n"
	"	add %rbx, %fs:0x10\n"
	"	push %rbx\n"
	"	pop %rdx\n"
	"	dec %ecx\n"
	"	jnz 2b\n"
	"	swapgs\n"
	"	mov %gs:0, %rax\n"
	"	swapgs\n"
	"	add %rax, %rbx\n"
	"	mov %ebx, %eax\n"
	"	and $0x3f, %eax\n"
	"	add $0x30, %eax\n"
	"	out %al, $0xe9\n"
	"	mov %r12d, %eax\n"
	"	and $7, %eax\n"
	"	jnz 3f\n"
	"	mov %r12, %rdx\n"
	"	shl $12, %rdx\n"
	"	add $0x40000000, %rdx\n"
	"	out %al, $0x80\n"
	"xe_fault_insn:\n"
	"	mov (%rdx), %rax\n"
	"3:	dec %r12d\n"
	"	jnz 1b\n"
	"	mov %fs:0x10, %rax\n"
	"	hlt\n"
	"xe_pf_handler:\n"
	"	push %rax\n"
	"	mov %cr2, %rax\n"
	"	shr $12, %eax\n"
	"	and $0x3f, %eax\n"
	"	add $0x40, %eax\n"
	"	out %al, $0xe9\n"
	"	mov 8(%rsp), %rax\n"
	"	add $0x61, %eax\n"
	"	out %al, $0xe9\n"
	"	addq $3, 16(%rsp)\n"
	"	pop %rax\n"
	"	add $8, %rsp\n"
	"	iretq\n"
	"xe_prog_end:\n"
	".popsection\n");

struct run {
	struct vmt t;
	char out[512];
	size_t nout;
	int markers;
};

static void set_gate(struct vmt *t, int vec, uint64_t h)
{
	uint64_t lo = (h & 0xffff) | (0x08ULL << 16) | (0x8eULL << 40) |
		      ((h >> 16 & 0xffff) << 48);
	uint64_t hi = h >> 32;
	vmt_write(t, VMT_IDT + vec * 16, &lo, 8);
	vmt_write(t, VMT_IDT + vec * 16 + 8, &hi, 8);
}

/* the CPUID both engines can give the guest: the KVM engine's for the model */
static struct kvm_cpuid2 *common_cpuid;

static bool setup(struct run *r, enum nv_engine eng, bool fresh_state)
{
	memset(r, 0, sizeof(*r));
	if (vmt_init(&r->t, eng, MEM) < 0)
		return false;
	if (fresh_state && common_cpuid && nv_set_cpuid2(r->t.v, common_cpuid) < 0)
		return false;
	struct kvm_enable_cap cap = { .cap = KVM_CAP_EXCEPTION_PAYLOAD, .args = { 1 } };
	nv_enable_cap(r->t.vm, &cap);
	if (!fresh_state)
		return true;
	size_t n = (size_t)(xe_prog_end - xe_prog);
	vmt_write(&r->t, VMT_CODE, xe_prog, n);
	set_gate(&r->t, 14, VMT_CODE + (uint64_t)(xe_pf_handler - xe_prog));
	uint64_t k = 0x1111222233334444ULL;
	vmt_write(&r->t, VMT_DATA + 0x100, &k, 8);
	struct kvm_sregs s;
	nv_get_sregs(r->t.v, &s);
	s.fs.base = VMT_DATA;
	s.gs.base = 0;
	nv_set_sregs(r->t.v, &s);
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} m = { .h.nmsrs = 1, .e.index = 0xc0000102, .e.data = VMT_DATA + 0x100 };
	nv_set_msrs(r->t.v, &m.h);
	struct kvm_regs g;
	memset(&g, 0, sizeof(g));
	g.rip = VMT_CODE;
	g.rsp = VMT_STACK;
	g.rflags = 2;
	nv_set_regs(r->t.v, &g);
	return true;
}

enum stop { STOP_HLT, STOP_MARKER, STOP_BUDGET, STOP_KICK, STOP_ERROR };

/*
 * Run, collecting port 0xe9; stop at HLT, at marker number `marker`
 * (port 0x80; 0 = never), or when nv_run returns -EINTR (budget, kick).
 */
static enum stop go(struct run *r, int marker)
{
	for (;;) {
		int ret = nv_run(r->t.v);
		if (ret == -EAGAIN)
			continue;
		if (ret == -EINTR) {
			struct kvm_mp_state mp;
			nv_get_mp_state(r->t.v, &mp);
			if (mp.mp_state == KVM_MP_STATE_HALTED)
				return STOP_HLT;
			return r->t.eng == NV_ENGINE_KVM ? STOP_KICK : STOP_BUDGET;
		}
		if (ret < 0)
			return STOP_ERROR;
		struct kvm_run *run = r->t.run;
		if (run->exit_reason == KVM_EXIT_HLT)
			return STOP_HLT;
		if (run->exit_reason != KVM_EXIT_IO) {
			tap_diag("unexpected exit %u", run->exit_reason);
			return STOP_ERROR;
		}
		uint8_t *d = (uint8_t *)run + run->io.data_offset;
		if (run->io.port == 0xe9 && r->nout < sizeof(r->out) - 1)
			r->out[r->nout++] = (char)d[0];
		if (run->io.port == 0x80 && ++r->markers == marker)
			return STOP_MARKER;
	}
}

/* run to HLT, a kick ending a KVM_RUN of a halted vCPU included */
static enum stop finish(struct run *r)
{
	enum stop st;
	if (r->t.eng == NV_ENGINE_KVM)
		vmt_kick(r->t.run, VMT_KICK_US);
	do {
		st = go(r, 0);
		r->t.run->immediate_exit = 0;
	} while (st == STOP_KICK);
	vmt_kick(NULL, 0);
	r->t.run->immediate_exit = 0;
	return st;
}

static bool reference(enum nv_engine eng, struct run *ref, struct kvm_regs *fin)
{
	if (!setup(ref, eng, true))
		return false;
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	enum stop st = finish(ref);
	clock_gettime(CLOCK_MONOTONIC, &b);
	nv_get_regs(ref->t.v, fin);
	tap_diag("%s reference run: %d, %zu characters, %.1f ms", vmt_engine_name(eng), st,
		 ref->nout, (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6);
	return st == STOP_HLT;
}

/* move src's vCPU and RAM into a fresh VM of engine `to`; false on failure */
static bool transfer(struct run *src, struct run *dst, enum nv_engine to, struct vcpu_state *s)
{
	char err[200];
	int r = vcpu_state_sync(src->t.v);
	if (r != 0) {
		tap_diag("vcpu_state_sync: %d", r);
		return false;
	}
	if ((r = vcpu_state_get(src->t.vm, src->t.v, s, err, sizeof(err))) < 0) {
		tap_diag("vcpu_state_get: %s", err);
		return false;
	}
	if (!setup(dst, to, false))
		return false;
	memcpy(dst->t.mem, src->t.mem, MEM);
	memcpy(dst->out, src->out, src->nout);
	dst->nout = src->nout;
	dst->markers = src->markers;
	vcpu_state_enable_caps(dst->t.vm, s);
	r = vcpu_state_set(dst->t.v, s, VCPU_STATE_MSR_BEST_EFFORT, err, sizeof(err));
	if (r < 0) {
		tap_diag("vcpu_state_set: %s", err);
		return false;
	}
	if (r > 0)
		tap_diag("%s", err);
	/* the guest's own MSR state must not be among those skipped */
	static const uint32_t arch[] = { 0x174, 0x175, 0x176, 0x277, 0xc0000081, 0xc0000082,
					 0xc0000083, 0xc0000084, 0xc0000102 };
	for (size_t k = 0; k < sizeof(arch) / sizeof(arch[0]); k++) {
		char name[16];
		snprintf(name, sizeof(name), "%#x=", arch[k]);
		if (r > 0 && strstr(err, name)) {
			tap_diag("architectural MSR %#x was skipped", arch[k]);
			return false;
		}
	}
	return true;
}

static void check_end(struct run *dst, const struct run *ref, const struct kvm_regs *fin,
		      const char *what)
{
	enum stop st = finish(dst);
	struct kvm_regs g;
	nv_get_regs(dst->t.v, &g);
	dst->out[dst->nout] = 0;
	tap_ok(st == STOP_HLT && dst->nout == ref->nout && !memcmp(dst->out, ref->out, ref->nout),
	       "%s: the output is identical (%zu characters)", what, dst->nout);
	tap_ok(g.rax == fin->rax && g.rbx == fin->rbx && g.rip == fin->rip && g.rsp == fin->rsp,
	       "%s: the final registers are identical (rax %llx rbx %llx)", what, X(g.rax),
	       X(g.rbx));
}

static void mid_emu_to(enum nv_engine to, const struct run *ref, const struct kvm_regs *fin,
		       uint64_t budget)
{
	struct run src, dst;
	struct vcpu_state *s = calloc(1, sizeof(*s));
	char what[96];
	snprintf(what, sizeof(what), "emu -> %s after %llu instructions", vmt_engine_name(to),
		 X(budget));
	setup(&src, NV_ENGINE_EMU, true);
	nv_set_budget(src.t.v, budget);
	enum stop st = go(&src, 0);
	nv_set_budget(src.t.v, 0);
	uint64_t ic = 0;
	nv_get_icount(src.t.v, &ic);
	tap_ok(st == STOP_BUDGET && ic == budget, "%s: the emulator stops there (%d, icount %llu)",
	       what, st, X(ic));
	if (transfer(&src, &dst, to, s))
		check_end(&dst, ref, fin, what);
	else
		tap_ok(false, "%s: transfer", what);
	vmt_destroy(&src.t);
	vmt_destroy(&dst.t);
	free(s);
}

static void mid_kvm_to(enum nv_engine to, const struct run *ref, const struct kvm_regs *fin,
		       unsigned usec)
{
	struct run src, dst;
	struct vcpu_state *s = calloc(1, sizeof(*s));
	char what[96];
	snprintf(what, sizeof(what), "kvm -> %s after a signal at %u us", vmt_engine_name(to), usec);
	setup(&src, NV_ENGINE_KVM, true);
	vmt_kick(src.t.run, usec);
	enum stop st = go(&src, 0);
	vmt_kick(NULL, 0);
	src.t.run->immediate_exit = 0;
	struct kvm_regs g;
	nv_get_regs(src.t.v, &g);
	tap_ok(st == STOP_KICK, "%s: KVM_RUN returns -EINTR mid-computation (%d, %zu chars, rip %llx)",
	       what, st, src.nout, X(g.rip));
	if (st == STOP_KICK && transfer(&src, &dst, to, s))
		check_end(&dst, ref, fin, what);
	else
		tap_ok(false, "%s: transfer", what);
	vmt_destroy(&src.t);
	vmt_destroy(&dst.t);
	free(s);
}

/*
 * Stop at the n-th fault marker; the next instruction is the faulting
 * load.  Make the #PF pending on the source as the CPU would have
 * recognised it (error code 0: not present, read, supervisor; payload =
 * the address, CR2 not yet written) and move the state across.
 */
static void pending_pf(enum nv_engine from, enum nv_engine to, const struct run *ref,
		       const struct kvm_regs *fin, int marker)
{
	struct run src, dst;
	struct vcpu_state *s = calloc(1, sizeof(*s));
	char what[96];
	snprintf(what, sizeof(what), "%s -> %s with a #PF pending", vmt_engine_name(from),
		 vmt_engine_name(to));
	setup(&src, from, true);
	if (from == NV_ENGINE_KVM)
		vmt_kick(src.t.run, VMT_KICK_US);
	enum stop st;
	do {
		st = go(&src, marker);
		src.t.run->immediate_exit = 0;
	} while (st == STOP_KICK);
	vmt_kick(NULL, 0);
	vcpu_state_sync(src.t.v);
	struct kvm_regs g;
	nv_get_regs(src.t.v, &g);
	tap_ok(st == STOP_MARKER && g.rip == VMT_CODE + (uint64_t)(xe_fault_insn - xe_prog),
	       "%s: stopped at the faulting load (%d, rip %llx)", what, st, X(g.rip));
	struct kvm_sregs sr;
	nv_get_sregs(src.t.v, &sr);
	uint64_t cr2_before = sr.cr2;
	struct kvm_vcpu_events ev;
	nv_get_vcpu_events(src.t.v, &ev);
	ev.flags = KVM_VCPUEVENT_VALID_PAYLOAD;
	ev.exception.pending = 1;
	ev.exception.injected = 0;
	ev.exception.nr = 14;
	ev.exception.has_error_code = 1;
	ev.exception.error_code = 0;
	ev.exception_has_payload = 1;
	ev.exception_payload = g.rdx;
	tap_ok(nv_set_vcpu_events(src.t.v, &ev) == 0, "%s: #PF(0) pending, payload %llx", what,
	       X(g.rdx));
	if (!transfer(&src, &dst, to, s)) {
		tap_ok(false, "%s: transfer", what);
	} else {
		tap_ok(s->events.exception.pending && !s->events.exception.injected &&
		       s->events.exception.nr == 14 && s->events.exception_has_payload &&
		       s->events.exception_payload == g.rdx && s->sregs2.cr2 == cr2_before &&
		       s->sregs2.cr2 != g.rdx,
		       "%s: the saved state has it pending with its payload, CR2 unwritten (%llx)",
		       what, X(s->sregs2.cr2));
		struct kvm_vcpu_events de;
		nv_get_vcpu_events(dst.t.v, &de);
		tap_ok(de.exception.pending && de.exception_payload == g.rdx,
		       "%s: the destination reports it pending", what);
		check_end(&dst, ref, fin, what);
	}
	vmt_destroy(&src.t);
	vmt_destroy(&dst.t);
	free(s);
}

int main(void)
{
	char why[256];
	struct run *emu = calloc(1, sizeof(*emu)), *kvm = calloc(1, sizeof(*kvm));
	struct kvm_regs fe, fk;
	tap_ok(reference(NV_ENGINE_EMU, emu, &fe), "the guest runs to completion on the emulator");
	emu->out[emu->nout] = 0;
	tap_ok(emu->nout == OUTER + 2 * (OUTER / 8), "it prints %d characters (%zu): %s",
	       OUTER + 2 * (OUTER / 8), emu->nout, emu->out);
	if (!vmt_kvm_usable(why, sizeof(why))) {
		tap_skip("cross-engine tests need /dev/kvm: %s", why);
		vmt_destroy(&emu->t);
		free(emu);
		free(kvm);
		return tap_done();
	}
	vmt_destroy(&emu->t);
	/* migration needs a CPU the destination can be: use KVM's view of the model */
	struct vmt k;
	if (vmt_init(&k, NV_ENGINE_KVM, MEM) == 0) {
		common_cpuid = calloc(1, sizeof(*common_cpuid) + 256 * sizeof(common_cpuid->entries[0]));
		common_cpuid->nent = 256;
		if (nv_get_supported_cpuid(k.vm, common_cpuid) < 0) {
			free(common_cpuid);
			common_cpuid = NULL;
		}
		vmt_destroy(&k);
	}
	tap_ok(common_cpuid != NULL, "the KVM engine's CPUID for the model (%u entries)",
	       common_cpuid ? common_cpuid->nent : 0);
	tap_ok(reference(NV_ENGINE_EMU, emu, &fe), "with it, the emulator run is unchanged");
	tap_ok(reference(NV_ENGINE_KVM, kvm, &fk), "the guest runs to completion on KVM");
	kvm->out[kvm->nout] = 0;
	tap_ok(kvm->nout == emu->nout && !memcmp(kvm->out, emu->out, emu->nout),
	       "KVM prints the same (%s)", kvm->out);
	tap_ok(fk.rax == fe.rax && fk.rbx == fe.rbx && fk.rip == fe.rip,
	       "and ends with the same registers");
	/* instruction budgets: early, inside the loop, late */
	mid_emu_to(NV_ENGINE_KVM, emu, &fe, 1000);
	mid_emu_to(NV_ENGINE_KVM, emu, &fe, 123457);
	mid_emu_to(NV_ENGINE_KVM, emu, &fe, 300001);
	mid_kvm_to(NV_ENGINE_EMU, emu, &fe, 30000);
	mid_kvm_to(NV_ENGINE_EMU, emu, &fe, 120000);
	/* the same function within one engine (what a snapshot does) */
	mid_emu_to(NV_ENGINE_EMU, emu, &fe, 200003);
	mid_kvm_to(NV_ENGINE_KVM, emu, &fe, 60000);
	pending_pf(NV_ENGINE_EMU, NV_ENGINE_KVM, emu, &fe, 2);
	pending_pf(NV_ENGINE_KVM, NV_ENGINE_EMU, emu, &fe, 3);
	vmt_destroy(&emu->t);
	vmt_destroy(&kvm->t);
	free(emu);
	free(kvm);
	free(common_cpuid);
	return tap_done();
}
