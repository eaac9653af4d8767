/*
 * API suite: KVM_RUN and its exits — port I/O in and out (data in the run
 * page), string I/O, MMIO reads and writes, HLT, shutdown on a triple
 * fault, immediate_exit, the interrupt window and the kvm_run status
 * fields — on the emulator and on /dev/kvm.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmt.h"

#define X(v) ((unsigned long long)(v))
#define MMIO_GPA 0x30000000ULL	/* mapped by the page tables, no memory slot */

static void start(struct vmt *t, const uint8_t *code, size_t n, struct kvm_regs *r)
{
	vmt_write(t, VMT_CODE, code, n);
	memset(r, 0, sizeof(*r));
	r->rip = VMT_CODE;
	r->rsp = VMT_STACK;
	r->rflags = 2;
	nv_set_regs(t->v, r);
	struct kvm_mp_state mp = { KVM_MP_STATE_RUNNABLE };
	nv_set_mp_state(t->v, &mp);
}

static uint8_t *io_data(struct vmt *t)
{
	return (uint8_t *)t->run + t->run->io.data_offset;
}

static void test_pio(struct vmt *t)
{
	struct kvm_regs r;
	static const uint8_t code[] = {
		0xb0, 0x5a,			/* mov $0x5a, %al */
		0xe6, 0x80,			/* out %al, $0x80 */
		0x66, 0xba, 0x34, 0x12,		/* mov $0x1234, %dx */
		0x66, 0xb8, 0xcd, 0xab,		/* mov $0xabcd, %ax */
		0x66, 0xef,			/* out %ax, (%dx) */
		0xb8, 0x78, 0x56, 0x34, 0x12,	/* mov $0x12345678, %eax */
		0xef,				/* out %eax, (%dx) */
		0xe4, 0x71,			/* in $0x71, %al */
		0x89, 0xc3,			/* mov %eax, %ebx */
		0x66, 0xed,			/* in (%dx), %ax */
		0x89, 0xc1,			/* mov %eax, %ecx */
		0xed,				/* in (%dx), %eax */
		0xf4,
	};
	start(t, code, sizeof(code), &r);
	int ret = vmt_nv_run(t);
	struct kvm_run *run = t->run;
	tap_ok(ret == 0 && run->exit_reason == KVM_EXIT_IO && run->io.direction == KVM_EXIT_IO_OUT &&
	       run->io.port == 0x80 && run->io.size == 1 && run->io.count == 1 &&
	       io_data(t)[0] == 0x5a, "OUT imm8, AL: port 80, size 1, count 1, data 5a");
	ret = vmt_nv_run(t);
	uint16_t w;
	memcpy(&w, io_data(t), 2);
	tap_ok(ret == 0 && run->exit_reason == KVM_EXIT_IO && run->io.port == 0x1234 &&
	       run->io.size == 2 && w == 0xabcd, "OUT DX, AX: port 1234, size 2, data abcd (%x)", w);
	ret = vmt_nv_run(t);
	uint32_t d;
	memcpy(&d, io_data(t), 4);
	tap_ok(ret == 0 && run->io.size == 4 && d == 0x12345678,
	       "OUT DX, EAX: size 4, data 12345678 (%x)", d);
	ret = vmt_nv_run(t);
	tap_ok(ret == 0 && run->exit_reason == KVM_EXIT_IO && run->io.direction == KVM_EXIT_IO_IN &&
	       run->io.port == 0x71 && run->io.size == 1 && run->io.count == 1,
	       "IN AL, imm8: direction in, port 71, size 1");
	io_data(t)[0] = 0x9c;
	ret = vmt_nv_run(t);
	tap_ok(ret == 0 && run->io.direction == KVM_EXIT_IO_IN && run->io.size == 2 &&
	       run->io.port == 0x1234, "IN AX, DX: size 2");
	w = 0xbeef;
	memcpy(io_data(t), &w, 2);
	ret = vmt_nv_run(t);
	tap_ok(ret == 0 && run->io.size == 4, "IN EAX, DX: size 4");
	d = 0xfeedface;
	memcpy(io_data(t), &d, 4);
	int why = vmt_run_continue(t, &r);
	tap_ok(why == KVM_EXIT_HLT && (r.rbx & 0xff) == 0x9c && (r.rcx & 0xffff) == 0xbeef &&
	       r.rax == 0xfeedface, "the guest got the data of each IN (%llx %llx %llx)",
	       X(r.rbx), X(r.rcx), X(r.rax));
}

static void test_string_pio(struct vmt *t)
{
	struct kvm_regs r;
	memcpy(vmt_ptr(t, VMT_DATA), "nestvm!!", 8);
	static const uint8_t code[] = {
		0xbe, 0x00, 0x00, 0x20, 0x00,	/* mov $0x200000, %esi */
		0xb9, 0x06, 0x00, 0x00, 0x00,	/* mov $6, %ecx */
		0x66, 0xba, 0xe9, 0x00,		/* mov $0xe9, %dx */
		0xf3, 0x6e,			/* rep outsb */
		0xbf, 0x00, 0x01, 0x20, 0x00,	/* mov $0x200100, %edi */
		0xb9, 0x03, 0x00, 0x00, 0x00,	/* mov $3, %ecx */
		0xf3, 0x6c,			/* rep insb */
		0xf4,
	};
	start(t, code, sizeof(code), &r);
	char got[16] = { 0 };
	int n = 0, exits = 0, ins = 0;
	uint8_t feed = 'a';
	for (;;) {
		int ret = vmt_nv_run(t);
		if (ret != 0 || t->run->exit_reason != KVM_EXIT_IO)
			break;
		exits++;
		uint8_t *p = io_data(t);
		for (uint32_t k = 0; k < t->run->io.count; k++) {
			if (t->run->io.direction == KVM_EXIT_IO_OUT) {
				if (n < 15)
					got[n++] = (char)p[k];
			} else {
				p[k] = feed++;
				ins++;
			}
		}
	}
	tap_ok(strcmp(got, "nestvm") == 0, "REP OUTSB: the six bytes arrive in order (%s, %d exits)",
	       got, exits);
	tap_ok(ins == 3 && memcmp(vmt_ptr(t, VMT_DATA + 0x100), "abc", 3) == 0,
	       "REP INSB: three bytes stored in order (%d)", ins);
	nv_get_regs(t->v, &r);
	tap_ok(r.rcx == 0 && r.rsi == VMT_DATA + 6 && r.rdi == VMT_DATA + 0x103,
	       "RCX, RSI, RDI after the string instructions (%llx %llx %llx)", X(r.rcx), X(r.rsi),
	       X(r.rdi));
}

static void test_mmio(struct vmt *t)
{
	struct kvm_regs r;
	static const uint8_t code[] = {
		0xb8, 0x44, 0x33, 0x22, 0x11,			/* mov $0x11223344, %eax */
		0x89, 0x04, 0x25, 0x10, 0x00, 0x00, 0x30,	/* mov %eax, 0x30000010 */
		0x66, 0x89, 0x04, 0x25, 0x20, 0x00, 0x00, 0x30,	/* mov %ax, 0x30000020 */
		0x48, 0x8b, 0x1c, 0x25, 0x08, 0x00, 0x00, 0x30,	/* mov 0x30000008, %rbx */
		0x0f, 0xb6, 0x0c, 0x25, 0x01, 0x00, 0x00, 0x30,	/* movzbl 0x30000001, %ecx */
		0xf4,
	};
	start(t, code, sizeof(code), &r);
	struct kvm_run *run = t->run;
	int ret = vmt_nv_run(t);
	uint32_t d = 0;
	memcpy(&d, run->mmio.data, 4);
	tap_ok(ret == 0 && run->exit_reason == KVM_EXIT_MMIO && run->mmio.is_write &&
	       run->mmio.phys_addr == MMIO_GPA + 0x10 && run->mmio.len == 4 && d == 0x11223344,
	       "MMIO write dword: exit MMIO, address, len 4, data (%u %llx %u %x)", run->exit_reason,
	       X(run->mmio.phys_addr), run->mmio.len, d);
	ret = vmt_nv_run(t);
	tap_ok(ret == 0 && run->exit_reason == KVM_EXIT_MMIO && run->mmio.is_write &&
	       run->mmio.len == 2 && run->mmio.phys_addr == MMIO_GPA + 0x20,
	       "MMIO write word: len 2");
	ret = vmt_nv_run(t);
	tap_ok(ret == 0 && run->exit_reason == KVM_EXIT_MMIO && !run->mmio.is_write &&
	       run->mmio.len == 8 && run->mmio.phys_addr == MMIO_GPA + 8, "MMIO read qword: len 8");
	uint64_t q = 0x8877665544332211ULL;
	memcpy(run->mmio.data, &q, 8);
	ret = vmt_nv_run(t);
	tap_ok(ret == 0 && run->exit_reason == KVM_EXIT_MMIO && !run->mmio.is_write &&
	       run->mmio.len == 1 && run->mmio.phys_addr == MMIO_GPA + 1, "MMIO read byte: len 1");
	run->mmio.data[0] = 0xe7;
	int why = vmt_run_continue(t, &r);
	tap_ok(why == KVM_EXIT_HLT && r.rbx == q && r.rcx == 0xe7,
	       "the guest got the data of each MMIO read (%llx %llx)", X(r.rbx), X(r.rcx));
}

static void test_hlt(struct vmt *t, enum nv_engine eng)
{
	struct kvm_regs r;
	static const uint8_t code[] = { 0xfa, 0xf4, 0x90 };	/* cli; hlt; nop */
	start(t, code, sizeof(code), &r);
	int ret = vmt_nv_run(t);
	struct kvm_mp_state mp;
	nv_get_mp_state(t->v, &mp);
	nv_get_regs(t->v, &r);
	if (eng == NV_ENGINE_EMU) {
		tap_ok(ret == 0 && t->run->exit_reason == KVM_EXIT_HLT,
		       "HLT with nothing to wake the vCPU: KVM_EXIT_HLT (%d, exit %u)", ret,
		       t->run->exit_reason);
	} else {
		/* the in-kernel LAPIC halts the vCPU in KVM_RUN (docs/kvm.md D1) */
		tap_ok(ret == -EINTR && t->run->exit_reason == KVM_EXIT_INTR,
		       "HLT blocks in KVM_RUN until a signal: -EINTR, KVM_EXIT_INTR (%d, %u)", ret,
		       t->run->exit_reason);
	}
	tap_ok(mp.mp_state == KVM_MP_STATE_HALTED && r.rip == VMT_CODE + 2,
	       "mp_state HALTED, RIP after the HLT (%u, %llx)", mp.mp_state, X(r.rip));
	/* an NMI wakes it */
	nv_nmi(t->v);
	uint32_t zero = 0;
	vmt_write(t, VMT_EXC_VEC, &zero, 4);
	vmt_nv_run(t);
	tap_ok(vmt_exception(t) == 2, "an NMI wakes the halted vCPU into its handler (%d)",
	       vmt_exception(t));
}

static void test_shutdown(struct vmt *t)
{
	/* #UD with an empty IDT: #GP, #DF, triple fault */
	struct kvm_sregs s;
	nv_get_sregs(t->v, &s);
	struct kvm_sregs keep = s;
	s.idt.limit = 0;
	nv_set_sregs(t->v, &s);
	struct kvm_regs r;
	static const uint8_t code[] = { 0x0f, 0x0b };
	start(t, code, sizeof(code), &r);
	int ret = vmt_nv_run(t);
	tap_ok(ret == 0 && t->run->exit_reason == KVM_EXIT_SHUTDOWN,
	       "a triple fault exits with KVM_EXIT_SHUTDOWN (%d, %u)", ret, t->run->exit_reason);
	nv_set_sregs(t->v, &keep);
}

static void test_immediate_exit(struct vmt *t)
{
	struct kvm_regs r;
	static const uint8_t code[] = { 0x48, 0xff, 0xc0, 0xf4 };	/* inc %rax; hlt */
	start(t, code, sizeof(code), &r);
	t->run->immediate_exit = 1;
	t->run->exit_reason = 77;
	int ret = nv_run(t->v);
	t->run->immediate_exit = 0;
	nv_get_regs(t->v, &r);
	tap_ok(ret == -EINTR && r.rip == VMT_CODE && r.rax == 0,
	       "immediate_exit: -EINTR, nothing executed (%d, %llx)", ret, X(r.rip));
	tap_ok(t->run->exit_reason == 77, "immediate_exit leaves exit_reason alone (%u)",
	       t->run->exit_reason);
	/* an IN is completed by a KVM_RUN with immediate_exit */
	static const uint8_t in[] = { 0xe4, 0x42, 0xf4 };	/* in $0x42, %al; hlt */
	start(t, in, sizeof(in), &r);
	vmt_nv_run(t);
	io_data(t)[0] = 0x77;
	t->run->immediate_exit = 1;
	ret = nv_run(t->v);
	t->run->immediate_exit = 0;
	nv_get_regs(t->v, &r);
	tap_ok(ret == -EINTR && (r.rax & 0xff) == 0x77 && r.rip == VMT_CODE + 2,
	       "a pending IN completes in an immediate_exit KVM_RUN (%d, al %llx, rip %llx)", ret,
	       X(r.rax & 0xff), X(r.rip));
}

static void test_window(struct vmt *t)
{
	struct kvm_regs r;
	/* cli; out %al, $0x80; sti; nop; nop; hlt */
	static const uint8_t code[] = { 0xfa, 0xe6, 0x80, 0xfb, 0x90, 0x90, 0xf4 };
	start(t, code, sizeof(code), &r);
	int ret = vmt_nv_run(t);
	tap_ok(ret == 0 && t->run->exit_reason == KVM_EXIT_IO && !t->run->if_flag &&
	       !t->run->ready_for_interrupt_injection,
	       "exit with IF = 0: if_flag 0, ready_for_interrupt_injection 0");
	tap_ok(t->run->apic_base == 0xfee00900ULL && t->run->cr8 == 0,
	       "kvm_run reports apic_base and cr8 (%llx %llx)", X(t->run->apic_base),
	       X(t->run->cr8));
	t->run->request_interrupt_window = 1;
	ret = vmt_nv_run(t);
	t->run->request_interrupt_window = 0;
	nv_get_regs(t->v, &r);
	tap_ok(ret == 0 && t->run->exit_reason == KVM_EXIT_IRQ_WINDOW_OPEN && t->run->if_flag &&
	       t->run->ready_for_interrupt_injection,
	       "request_interrupt_window: KVM_EXIT_IRQ_WINDOW_OPEN once IF = 1 (%u)",
	       t->run->exit_reason);
	if (t->eng == NV_ENGINE_KVM && r.rip != VMT_CODE + 5)
		tap_skip("host KVM reports the window at its next exit (rip %llx, docs/kvm.md K9)",
			 X(r.rip));
	else
		tap_ok(r.rip == VMT_CODE + 5,
		       "the window opens after the instruction following STI (rip %llx)", X(r.rip));
}

/* the capabilities the API uses, and the emulator-only extensions */
static void test_caps(struct vmt *t, enum nv_engine eng)
{
	static const struct { long cap; const char *name; bool need; } caps[] = {
		{ KVM_CAP_USER_MEMORY, "USER_MEMORY", true },
		{ KVM_CAP_EXT_CPUID, "EXT_CPUID", true },
		{ KVM_CAP_SPLIT_IRQCHIP, "SPLIT_IRQCHIP", true },
		{ KVM_CAP_SIGNAL_MSI, "SIGNAL_MSI", true },
		{ KVM_CAP_IMMEDIATE_EXIT, "IMMEDIATE_EXIT", true },
		{ KVM_CAP_MP_STATE, "MP_STATE", true },
		{ KVM_CAP_VCPU_EVENTS, "VCPU_EVENTS", true },
		{ KVM_CAP_XSAVE, "XSAVE", false },
		{ KVM_CAP_XCRS, "XCRS", false },
		{ KVM_CAP_DEBUGREGS, "DEBUGREGS", false },
		{ KVM_CAP_SREGS2, "SREGS2", false },
		{ KVM_CAP_SET_GUEST_DEBUG, "SET_GUEST_DEBUG", false },
		{ KVM_CAP_EXCEPTION_PAYLOAD, "EXCEPTION_PAYLOAD", false },
		{ KVM_CAP_X86_TRIPLE_FAULT_EVENT, "X86_TRIPLE_FAULT_EVENT", false },
		{ KVM_CAP_TSC_DEADLINE_TIMER, "TSC_DEADLINE_TIMER", false },
		{ KVM_CAP_X86_GUEST_MODE, "X86_GUEST_MODE", false },
		{ KVM_CAP_NESTED_STATE, "NESTED_STATE", false },
		{ KVM_CAP_X86_SMM, "X86_SMM", false },
		{ KVM_CAP_MAX_VCPUS, "MAX_VCPUS", false },
		{ KVM_CAP_NR_MEMSLOTS, "NR_MEMSLOTS", false },
	};
	char line[600];
	size_t o = 0;
	bool all = true;
	for (size_t k = 0; k < sizeof(caps) / sizeof(caps[0]); k++) {
		int v = nv_check_extension(t->vm, caps[k].cap);
		if (caps[k].need && v <= 0)
			all = false;
		o += (size_t)snprintf(line + o, sizeof(line) - o, " %s=%d", caps[k].name, v);
	}
	tap_diag("capabilities:%s", line);
	tap_ok(all, "every capability the VMM needs is there");
	tap_ok(nv_check_extension(t->vm, nv_nested_flag_cap(t->vm)) >= 0,
	       "the FRED nested-flag capability answers under its configured number");
	uint64_t n;
	int want = eng == NV_ENGINE_EMU ? 0 : -ENOTSUP;
	tap_ok(nv_set_budget(t->v, 0) == want && nv_get_icount(t->v, &n) == want &&
	       nv_get_clock(t->v, &n) == want && nv_set_budget_until(t->v, ~0ULL) == want &&
	       nv_next_deadline(t->v, &n) == want,
	       "budget, icount, clock, deadline: %s", eng == NV_ENGINE_EMU ? "0" : "-ENOTSUP");
}

static void suite(enum nv_engine eng)
{
	struct vmt t;
	if (vmt_init(&t, eng, 64 << 20) < 0) {
		tap_ok(false, "vmt_init");
		return;
	}
	test_caps(&t, eng);
	test_pio(&t);
	test_string_pio(&t);
	test_mmio(&t);
	test_hlt(&t, eng);
	test_shutdown(&t);
	vmt_destroy(&t);
	if (vmt_init(&t, eng, 64 << 20) < 0) {
		tap_ok(false, "vmt_init");
		return;
	}
	test_immediate_exit(&t);
	test_window(&t);
	vmt_destroy(&t);
}

int main(void)
{
	vmt_each_engine(suite);
	return tap_done();
}
