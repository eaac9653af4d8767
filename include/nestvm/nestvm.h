/* SPDX-License-Identifier: MIT */
/*
 * nestvm public vCPU API.
 *
 * One function per KVM ioctl that a VMM uses, with KVM's own structs from
 * <linux/kvm.h>.  Every function returns 0 (or a non-negative value where
 * the ioctl does) or a negative errno, exactly where KVM would.  A VM is
 * created on an engine (the emulator or /dev/kvm); everything after that
 * is engine independent.
 */
#ifndef NESTVM_NESTVM_H
#define NESTVM_NESTVM_H

#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NESTVM_VERSION "0.1.0"

/*
 * Definitions newer than the system's <linux/kvm.h>.  Values are those of
 * the upstream ABI (or of the seed patch where upstream has none yet); they
 * live here and nowhere else.
 */
#ifndef KVM_CAP_X86_GUEST_MODE
#define KVM_CAP_X86_GUEST_MODE 238
#endif
/*
 * FRED exception "nested" flag (seed 000, KVM FRED series v4 12/19).  Not
 * merged upstream; the capability number moved between revisions, so it is
 * configurable at run time (nv_set_nested_flag_cap) and this is the default.
 */
#define NV_CAP_EXCEPTION_NESTED_FLAG_DEFAULT 240
#define KVM_VCPUEVENT_VALID_NESTED_FLAG 0x00000040
/*
 * nestvm's own capability (no KVM number): args[0] = 1 makes the VM follow
 * the SDM/APM where KVM differs ("strict mode" of the event spec: any
 * benign exception while delivering #DF is handled serially instead of
 * shutting down; SET_REGS keeps a pending exception restored by
 * SET_VCPU_EVENTS since the last run).  Emulator engine only; the default,
 * 0, is KVM-compatible.  Outside KVM's capability range on purpose.
 */
#define NV_CAP_STRICT_SDM 0x4e560001
/* byte 54 of struct kvm_vcpu_events: reserved[25] in older headers */
#define NV_EVENTS_NESTED_OFFSET 54
#define nv_events_is_nested(ev) (((uint8_t *)(ev))[NV_EVENTS_NESTED_OFFSET])

#ifndef KVM_RUN_X86_GUEST_MODE
#define KVM_RUN_X86_GUEST_MODE (1 << 2)
#endif

/* Engines. */
enum nv_engine {
	NV_ENGINE_EMU = 0,	/* the software CPU */
	NV_ENGINE_KVM = 1,	/* /dev/kvm */
};

/* CPU models understood by nv_set_cpu_model (and the -cpu option). */
struct nv_vm;
struct nv_vcpu;

/*
 * VM lifetime.  nv_create_vm returns NULL and sets *err to a negative errno
 * on failure; a message for the user is in nv_last_error().
 */
struct nv_vm *nv_create_vm(enum nv_engine engine, int *err);
void nv_destroy_vm(struct nv_vm *vm);
const char *nv_last_error(void);
enum nv_engine nv_vm_engine(const struct nv_vm *vm);

/* KVM_CHECK_EXTENSION / KVM_ENABLE_CAP (VM scope). */
int nv_check_extension(struct nv_vm *vm, long cap);
int nv_enable_cap(struct nv_vm *vm, const struct kvm_enable_cap *cap);
/* The capability number used for the FRED nested flag (seed 000). */
int nv_set_nested_flag_cap(struct nv_vm *vm, uint32_t cap_number);
uint32_t nv_nested_flag_cap(const struct nv_vm *vm);

/* KVM_SET_USER_MEMORY_REGION */
int nv_set_user_memory_region(struct nv_vm *vm,
			      const struct kvm_userspace_memory_region *r);

/* KVM_SIGNAL_MSI: an MSI (IOAPIC redirection, PCI) to the local APICs. */
int nv_signal_msi(struct nv_vm *vm, const struct kvm_msi *msi);

/* vCPUs.  KVM_CREATE_VCPU; the kvm_run page is nv_vcpu_run_page(). */
struct nv_vcpu *nv_create_vcpu(struct nv_vm *vm, unsigned int id, int *err);
struct kvm_run *nv_vcpu_run_page(struct nv_vcpu *vcpu);
unsigned int nv_vcpu_id(const struct nv_vcpu *vcpu);

/*
 * KVM_RUN.  Returns 0 with run->exit_reason set, or a negative errno.
 * -EINTR with KVM_EXIT_INTR means the instruction budget ran out (emulator)
 * or a signal arrived (KVM), as KVM_RUN reports a signal.  The emulator also
 * returns it when the guest delivers exceptions over and over without
 * retiring an instruction (a handler that faults at once), so a hostile
 * guest cannot keep nv_run from returning; calling nv_run again resumes.
 */
int nv_run(struct nv_vcpu *vcpu);

/*
 * Instruction budget (emulator extension; the KVM engine ignores it and
 * reports -ENOTSUP): nv_run returns -EINTR after at most `n` more executed
 * instructions (one REP iteration counts as one).  0 = unlimited.
 */
int nv_set_budget(struct nv_vcpu *vcpu, uint64_t n);
/* Instructions executed by this vCPU so far (emulator), -ENOTSUP on KVM. */
int nv_get_icount(struct nv_vcpu *vcpu, uint64_t *count);
/*
 * Deterministic time (emulator): the vCPU's virtual clock in ns (TSC ticks
 * at NV_TSC_HZ; one instruction = one tick, idle time jumps).  The budget
 * can be given as an absolute clock value; nv_next_deadline reports the
 * local APIC timer's next expiry (~0 if none).
 */
int nv_get_clock(struct nv_vcpu *vcpu, uint64_t *ns);
int nv_set_clock(struct nv_vcpu *vcpu, uint64_t ns);
int nv_set_budget_until(struct nv_vcpu *vcpu, uint64_t clock);
int nv_next_deadline(struct nv_vcpu *vcpu, uint64_t *ns);

/*
 * Emulator-private state (emulator extension; -ENOTSUP on KVM), for
 * snapshots: what the KVM structs cannot carry exactly.  The caller sets
 * .version = NV_PRIVATE_STATE_VERSION and .size = sizeof(the struct); an
 * unknown version, a wrong size or non-zero reserved fields are -EINVAL.
 * nv_get_private_state sets NV_PRIV_IO_BUSY while an I/O or EOI exit is
 * not yet completed (the state is mid-instruction and not to be saved):
 * as with KVM, run once with kvm_run.immediate_exit = 1 first.
 * Field by field (docs/snapshot-format.md, "private section"):
 */
#define NV_PRIVATE_STATE_VERSION 2
#define NV_PRIV_EXTINT_PENDING	0x0001	/* KVM_INTERRUPT vector not yet taken */
#define NV_PRIV_INIT_PENDING	0x0002	/* INIT IPI received, not yet processed */
#define NV_PRIV_SIPI_PENDING	0x0004	/* SIPI received, not yet processed */
#define NV_PRIV_MWAIT_ARMED	0x0008	/* MONITOR armed */
#define NV_PRIV_SOFT_EXC	0x0010	/* exception slot: injected INT3/INTO/INT1 */
#define NV_PRIV_SOFT_INTR	0x0020	/* interrupt slot: injected INT n */
#define NV_PRIV_EXC_FROM_USER	0x0040	/* pending exception set by SET_VCPU_EVENTS */
#define NV_PRIV_MWAIT_WAIT	0x0080	/* waiting in MWAIT (needs NV_PRIV_MWAIT_ARMED) */
#define NV_PRIV_MWAIT_BREAK	0x0100	/* that MWAIT had ECX[0]: interrupts end it with IF = 0 */
#define NV_PRIV_IO_BUSY		0x8000	/* get only: an I/O or EOI exit is in flight */
struct nv_private_state {
	uint32_t version;
	uint32_t size;
	uint64_t clock;		/* vCPU virtual clock (ns = TSC ticks) */
	uint64_t icount;	/* instructions executed */
	uint64_t budget_until;	/* nv_set_budget_until value (~0 = none) */
	uint64_t tsc_offset;	/* guest TSC = clock + tsc_offset */
	uint64_t timer_deadline; /* LAPIC timer expiry on the vCPU clock, ~0 = none */
	uint64_t timer_period;	/* LAPIC timer period in ns (periodic mode) */
	uint64_t pending_dbg;	/* trap-like #DB bits held across a MOV SS shadow */
	uint64_t monitor_addr;	/* MONITOR address (with NV_PRIV_MWAIT_ARMED) */
	uint32_t flags;		/* NV_PRIV_* */
	uint8_t extint_vector;	/* with NV_PRIV_EXTINT_PENDING */
	uint8_t sipi_vector;	/* last SIPI vector */
	uint8_t exc_vector;	/* with NV_PRIV_SOFT_EXC: vector (1, 3 or 4) */
	uint8_t exc_type;	/* with NV_PRIV_SOFT_EXC: 5 INT1, 6 INT3/INTO */
	uint8_t exc_inst_len;	/* with NV_PRIV_SOFT_EXC */
	uint8_t intr_inst_len;	/* with NV_PRIV_SOFT_INTR (vector: events' interrupt.nr) */
	uint8_t pad[2];
	uint16_t fpu_fcs;	/* x87 FCS / FDS selectors: the 64-bit XSAVE layout drops them */
	uint16_t fpu_fds;
	uint32_t pad2;
	uint64_t reserved[7];	/* must be zero */
	/* version 2 */
	uint8_t monitor_line[64]; /* the monitored line as MONITOR read it (MWAIT_ARMED) */
	uint64_t pause_until;	/* PAUSE delay (SMP): idle until this clock, 0 = none */
	uint32_t esr_pending;	/* local APIC errors not yet latched into ESR */
	uint32_t nmsgs;		/* local APIC messages in flight, <= NV_PRIV_MAX_MSGS */
	/*
	 * A message (IPI, MSI) sent at a virtual time this vCPU has not
	 * reached yet: it takes effect when the vCPU's clock gets to `at`.
	 */
	struct nv_lapic_msg {
		uint64_t at;
		uint8_t delivery;	/* 0 fixed, 1 lowest priority, 2 SMI, 4 NMI, 5 INIT, 6 SIPI */
		uint8_t vector;
		uint8_t level;		/* 0 or 1: the message's level (assert) bit */
		uint8_t trig_level;	/* 0 or 1: level-triggered */
		uint32_t pad;		/* must be zero */
	} msgs[64];
};
#define NV_PRIV_MAX_MSGS 64
int nv_get_private_state(struct nv_vcpu *vcpu, struct nv_private_state *st);
int nv_set_private_state(struct nv_vcpu *vcpu, const struct nv_private_state *st);

/* VM-wide private state (emulator): the RDRAND/RDSEED generator. */
#define NV_VM_PRIVATE_STATE_VERSION 1
struct nv_vm_private_state {
	uint32_t version;
	uint32_t size;
	uint64_t rng_state;
	uint64_t reserved[6];	/* must be zero */
};
int nv_get_vm_private_state(struct nv_vm *vm, struct nv_vm_private_state *st);
int nv_set_vm_private_state(struct nv_vm *vm, const struct nv_vm_private_state *st);

int nv_get_regs(struct nv_vcpu *vcpu, struct kvm_regs *regs);
int nv_set_regs(struct nv_vcpu *vcpu, const struct kvm_regs *regs);
int nv_get_sregs(struct nv_vcpu *vcpu, struct kvm_sregs *sregs);
int nv_set_sregs(struct nv_vcpu *vcpu, const struct kvm_sregs *sregs);
int nv_get_sregs2(struct nv_vcpu *vcpu, struct kvm_sregs2 *sregs);
int nv_set_sregs2(struct nv_vcpu *vcpu, const struct kvm_sregs2 *sregs);
int nv_get_fpu(struct nv_vcpu *vcpu, struct kvm_fpu *fpu);
int nv_set_fpu(struct nv_vcpu *vcpu, const struct kvm_fpu *fpu);
int nv_get_xsave(struct nv_vcpu *vcpu, struct kvm_xsave *xsave);
int nv_set_xsave(struct nv_vcpu *vcpu, const struct kvm_xsave *xsave);
int nv_get_xcrs(struct nv_vcpu *vcpu, struct kvm_xcrs *xcrs);
int nv_set_xcrs(struct nv_vcpu *vcpu, const struct kvm_xcrs *xcrs);
int nv_get_debugregs(struct nv_vcpu *vcpu, struct kvm_debugregs *dbg);
int nv_set_debugregs(struct nv_vcpu *vcpu, const struct kvm_debugregs *dbg);
/* KVM_GET/SET_MSRS: return the number of MSRs processed. */
int nv_get_msrs(struct nv_vcpu *vcpu, struct kvm_msrs *msrs);
int nv_set_msrs(struct nv_vcpu *vcpu, const struct kvm_msrs *msrs);
/* KVM_GET_MSR_INDEX_LIST semantics: -E2BIG with nmsrs updated if short. */
int nv_get_msr_index_list(struct nv_vm *vm, struct kvm_msr_list *list);
int nv_get_vcpu_events(struct nv_vcpu *vcpu, struct kvm_vcpu_events *ev);
int nv_set_vcpu_events(struct nv_vcpu *vcpu, const struct kvm_vcpu_events *ev);
int nv_get_mp_state(struct nv_vcpu *vcpu, struct kvm_mp_state *mp);
int nv_set_mp_state(struct nv_vcpu *vcpu, const struct kvm_mp_state *mp);
int nv_get_lapic(struct nv_vcpu *vcpu, struct kvm_lapic_state *lapic);
int nv_set_lapic(struct nv_vcpu *vcpu, const struct kvm_lapic_state *lapic);
/* KVM_GET/SET_NESTED_STATE: size semantics as KVM (-E2BIG, size written). */
int nv_get_nested_state(struct nv_vcpu *vcpu, struct kvm_nested_state *st);
int nv_set_nested_state(struct nv_vcpu *vcpu, const struct kvm_nested_state *st);
/* KVM_SET_CPUID2 / KVM_GET_SUPPORTED_CPUID (for the selected model). */
int nv_set_cpuid2(struct nv_vcpu *vcpu, const struct kvm_cpuid2 *cpuid);
int nv_get_cpuid2(struct nv_vcpu *vcpu, struct kvm_cpuid2 *cpuid);
int nv_get_supported_cpuid(struct nv_vm *vm, struct kvm_cpuid2 *cpuid);
/* KVM_INTERRUPT (ExtINT from a userspace PIC) and KVM_NMI. */
int nv_interrupt(struct nv_vcpu *vcpu, const struct kvm_interrupt *irq);
int nv_nmi(struct nv_vcpu *vcpu);
/* KVM_SET_GUEST_DEBUG */
int nv_set_guest_debug(struct nv_vcpu *vcpu, const struct kvm_guest_debug *dbg);
/* KVM_TRANSLATE */
int nv_translate(struct nv_vcpu *vcpu, struct kvm_translation *tr);

/*
 * CPU model (emulator): "intel" / "amd" family names accepted by -cpu, with
 * "+feat,-feat" modifiers.  Returns -EINVAL with a message in
 * nv_last_error() for an unknown model or feature.  Call before creating
 * vCPUs; it fills what KVM_GET_SUPPORTED_CPUID reports.
 */
int nv_set_cpu_model(struct nv_vm *vm, const char *spec);

/*
 * Virtual time (emulator): the VM's clock in nanoseconds; TSC frequency is
 * fixed (NV_TSC_HZ).  The VMM advances every vCPU's clock; see vmm/sched.
 */
#define NV_TSC_HZ 1000000000ULL

#ifdef __cplusplus
}
#endif
#endif
