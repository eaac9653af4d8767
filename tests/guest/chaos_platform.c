/*
 * Platform chaos: the guest is hostile.  Two vCPUs drive every device of
 * the machine with pseudo-random port I/O, MMIO and local APIC MSR
 * accesses (PIC, ELCR, PIT, port 0x61, RTC/CMOS, UART, fw_cfg, ACPI PM,
 * PCI configuration and the pci-testdev BARs, pc-testdev ports, IRQ lines
 * and MMIO, local APIC in xAPIC and x2APIC form, IA32_APIC_BASE, the
 * IOAPIC, the MSI window, unassigned ports and memory), take whatever
 * interrupts and NMIs that produces in short STI windows, and let virtual
 * time pass with PAUSE and busy loops.
 *
 * What must hold whatever the devices were told: the emulator neither
 * crashes nor hangs, every access completes or raises the architected
 * #GP (only MSR accesses may fault), no other exception arrives, guest RAM
 * outside the devices is untouched, and the machine still works afterwards
 * (the UART prints this report, the debug exit ends the run).  The digest
 * of every value read and every interrupt taken is printed: the run is
 * deterministic, so tests/torture and tests/cli/chaos.t compare it across
 * snapshot restores and reruns.
 *
 * The few accesses that would end the run instead of testing a device are
 * left out or defused: the debug-exit, 0x8900, reset (0x92, 0xcf9, 0x64)
 * ports, ACPI SLP_EN, INIT delivery (it would park the BSP in
 * wait-for-SIPI), the UART data port (garbage on the console) and
 * relocations of the APIC page over RAM.
 *
 * -append 'seed=N ops=N' selects the run (tests/cli/chaos.t, make fuzz);
 * 'trace=K' prints the BSP's digest every K operations and 'tracemix=1'
 * every value that goes into it, to find where two runs part.  With more
 * than two vCPUs every AP joins in.
 */
// nestvm-args: -smp 2 -device pci-testdev -append 'seed=1 ops=3000'
#include "smp.h"

#define IST_FRAME 8192
#define MAX_INTS_PER_WINDOW 64
#define GUARD_WORDS 4096

struct chaos_cpu {
	uint64_t rng;
	uint64_t digest;
	volatile uint64_t fixup;	/* resume address of a guarded access, 0 if none */
	uint64_t ops, faults, ints, nmis, window_ints;
	uint64_t unexpected, bad_vec, bad_rip;
};

#define MAX_CPUS 16
static struct chaos_cpu cc[MAX_CPUS];
static uint8_t bsp_ist4[IST_FRAME] __attribute__((aligned(16)));
static uint8_t bsp_ist5[IST_FRAME] __attribute__((aligned(16)));
static uint64_t guard[GUARD_WORDS];
static volatile int aps_ready, aps_done, stop_ap, go;
static unsigned long n_ops = 3000, trace;

extern uint8_t chaos_stubs[];

/*
 * 256 stubs of 16 bytes: push the vector and join chaos_common.  The BSP's
 * gates use IST 4 (IST 5 for NMI), so the frame sits at a known place and
 * the handler can tell whether the CPU pushed an error code: an external
 * interrupt may arrive on an exception vector (the PIC's vector base is
 * random).  chaos_trap returns 1 when there is an error code to drop.
 */
asm(".pushsection .text\n"
    ".align 16\n"
    "chaos_stubs:\n"
    ".set chaos_v, 0\n"
    ".rept 256\n"
    ".align 16\n"
    "pushq $chaos_v\n"
    "jmp chaos_common\n"
    ".set chaos_v, chaos_v + 1\n"
    ".endr\n"
    "chaos_common:\n"
    "push %rax; push %rcx; push %rdx; push %rsi; push %rdi\n"
    "push %r8; push %r9; push %r10; push %r11; push %rbx\n"
    "mov 80(%rsp), %rdi\n"
    "lea 88(%rsp), %rsi\n"
    "mov %rsp, %rbx\n"
    "and $-16, %rsp\n"
    "cld\n"
    "call chaos_trap\n"
    "mov %rbx, %rsp\n"
    "mov %rax, 80(%rsp)\n"
    "pop %rbx; pop %r11; pop %r10; pop %r9; pop %r8\n"
    "pop %rdi; pop %rsi; pop %rdx; pop %rcx; pop %rax\n"
    "cmpq $0, (%rsp)\n"
    "je 1f\n"
    "add $16, %rsp\n"
    "iretq\n"
    "1: add $8, %rsp\n"
    "iretq\n"
    ".popsection\n");

static uint64_t rnd(struct chaos_cpu *c)
{
	/* xorshift64* */
	c->rng ^= c->rng >> 12;
	c->rng ^= c->rng << 25;
	c->rng ^= c->rng >> 27;
	return c->rng * 0x2545f4914f6cdd1dULL;
}

static uint64_t below(struct chaos_cpu *c, uint64_t n)
{
	return rnd(c) % n;
}

static unsigned long trace_mix;

static void mix(struct chaos_cpu *c, uint64_t v)
{
	if (trace_mix)
		diag("vCPU %d mixes %#lx", (int)(c - cc), v);
	c->digest = (c->digest ^ v) * 0x100000001b3ULL;
	c->digest ^= c->digest >> 29;
}

static bool has_error_code(uint64_t vec)
{
	return vec == 8 || (vec >= 10 && vec <= 14) || vec == 17 || vec == 21 ||
	       vec == 29 || vec == 30;
}

static void restore_machine(void);

/* an exception the accesses cannot cause: report it and end the run */
static void __attribute__((noreturn)) unexpected(struct chaos_cpu *c, uint64_t vec,
						   uint64_t err, uint64_t rip)
{
	restore_machine();
	report(false, "vCPU %d: unexpected exception %lu (error code %#lx) at %#lx",
	       (int)(c - cc), vec, err, rip);
	exit(1);
}

uint64_t chaos_trap(uint64_t vec, uint64_t *frame);
uint64_t chaos_trap(uint64_t vec, uint64_t *frame)
{
	uintptr_t f = (uintptr_t)frame;
	uintptr_t t4 = (uintptr_t)(bsp_ist4 + IST_FRAME), t5 = (uintptr_t)(bsp_ist5 + IST_FRAME);
	struct chaos_cpu *c;
	uint64_t err;

	if (f == t4 - 48 || f == t4 - 40 || f == t5 - 40) {
		c = &cc[0];
		err = f == t4 - 48;
	} else {
		/* an AP: no IST, IF = 0, so only exceptions and NMIs come */
		uint32_t id = smp_id();
		c = &cc[id < MAX_CPUS ? id : MAX_CPUS - 1];
		err = has_error_code(vec);
	}
	uint64_t *rip = frame + err, *rflags = frame + err + 2;

	/*
	 * A guarded access faulted: resume after it.  Only #GP is architected
	 * for the MSR accesses we guard.  (An external interrupt on vector 13
	 * cannot be taken there: IF = 0 around guarded accesses.)
	 */
	if (c->fixup && vec < 32 && vec != 2) {
		if (vec != 13 || (err && frame[0] != 0)) {
			c->unexpected++;
			c->bad_vec = vec;
			c->bad_rip = *rip;
		}
		*rip = c->fixup;
		c->fixup = 0;
		c->faults++;
		mix(c, vec << 8 | 0xfa);
		return err;
	}
	if (vec == 2) {
		c->nmis++;
		mix(c, 0x4e4d49);
		/*
		 * Inside an STI window vector 2 may also be an external interrupt
		 * (a PIC vector base of 0): acknowledge and count it like one, or
		 * a level-triggered line would be taken forever.
		 */
		if (!(*rflags & 0x200))
			return 0;
	} else if (!(*rflags & 0x200)) {
		/* interrupted with IF = 0: an exception nobody expected */
		unexpected(c, vec, err ? frame[0] : 0, *rip);
	} else {
		c->ints++;
		mix(c, vec);
	}
	/* acknowledge only sometimes: unacknowledged vectors block others */
	uint64_t r = rnd(c);
	if (r & 1) {
		uint64_t base = rdmsr(APIC_BASE_MSR);
		if ((base & (APIC_EN | APIC_EXTD)) == APIC_EN)
			*(volatile uint32_t *)(uintptr_t)((base & ~0xfffULL) + APIC_EOI) = 0;
		else if ((base & (APIC_EN | APIC_EXTD)) == (APIC_EN | APIC_EXTD))
			wrmsr(0x80b, 0);
	}
	if (r & 2)
		outb(0x20, 0x20);
	if (r & 4)
		outb(0xa0, 0x20);
	/* an interrupt storm must not starve the guest */
	if (++c->window_ints >= MAX_INTS_PER_WINDOW)
		*rflags &= ~0x200ULL;
	return err;
}

/* ---- guarded MSR accesses ------------------------------------------------------ */

static uint64_t safe_rdmsr(struct chaos_cpu *c, uint32_t msr)
{
	uint32_t lo = 0xdead, hi = 0xbeef;
	asm volatile("leaq 1f(%%rip), %%r11\n\t"
		     "movq %%r11, %[fx]\n\t"
		     "rdmsr\n\t"
		     "movq $0, %[fx]\n"
		     "1:"
		     : "+a"(lo), "+d"(hi), [fx] "+m"(c->fixup)
		     : "c"(msr) : "r11", "memory");
	return lo | (uint64_t)hi << 32;
}

static void safe_wrmsr(struct chaos_cpu *c, uint32_t msr, uint64_t v)
{
	asm volatile("leaq 1f(%%rip), %%r11\n\t"
		     "movq %%r11, %[fx]\n\t"
		     "wrmsr\n\t"
		     "movq $0, %[fx]\n"
		     "1:"
		     : [fx] "+m"(c->fixup)
		     : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "r11", "memory");
}

/* ---- what is sent where -------------------------------------------------------- */

/* INIT (delivery mode 5) in an ICR, LVT, redirection entry or MSI: make it fixed */
static uint64_t no_init(uint64_t v)
{
	for (int k = 0; k < 64; k += 32)
		if (((v >> (k + 8)) & 7) == 5)
			v &= ~(7ULL << (k + 8));
	return v;
}

static uint64_t rnd_value(struct chaos_cpu *c)
{
	switch (below(c, 6)) {
	case 0: return 0;
	case 1: return ~0ULL;
	case 2: return below(c, 256);
	case 3: return 1ULL << below(c, 64);
	case 4: return rnd(c) & 0xffffffffULL;
	default: return rnd(c);
	}
}

static int rnd_size(struct chaos_cpu *c)
{
	return 1 << below(c, 3);	/* 1, 2, 4 */
}

struct port_range {
	uint16_t base, len;
};

static const struct port_range ports[] = {
	{ 0x20, 2 }, { 0xa0, 2 }, { 0x4d0, 2 },		/* PIC pair, ELCR */
	{ 0x40, 4 }, { 0x61, 1 },			/* PIT, port 0x61 */
	{ 0x70, 2 },					/* RTC/CMOS */
	{ 0x3f9, 7 },					/* UART but THR/DLL */
	{ 0x510, 2 },					/* fw_cfg */
	{ 0x600, 4 }, { 0x608, 8 },			/* ACPI PM1a event, timer */
	{ 0xcf8, 1 }, { 0xcfc, 4 },			/* PCI configuration */
	{ 0xc000, 0x100 },				/* pci-testdev I/O BAR */
	{ 0xe0, 12 },					/* pc-testdev */
	{ 0x2000, 0x18 },				/* pc-testdev IRQ lines */
	{ 0x80, 1 }, { 0x3e8, 8 }, { 0x1ce, 2 },	/* POST port, nothing */
};

static bool port_forbidden(uint16_t p, int size)
{
	for (int k = 0; k < size; k++) {
		uint16_t q = (uint16_t)(p + k);
		if ((q >= 0xf4 && q <= 0xf7) || q == 0x8900 || q == 0x92 || q == 0x64 ||
		    q == 0x3f8 || (q >= 0x600 && q <= 0x60f))
			return true;
	}
	return p == 0xcf9;
}

static uint16_t pick_port(struct chaos_cpu *c, int size)
{
	uint16_t p;
	do {
		if (below(c, 8) == 0) {
			p = (uint16_t)rnd(c);
		} else {
			const struct port_range *r = &ports[below(c, sizeof(ports) / sizeof(ports[0]))];
			/* ACPI registers: aligned accesses that stay off PM1a control */
			if (r->base == 0x600 || r->base == 0x608)
				return (uint16_t)(r->base + (below(c, r->len) & ~(uint64_t)(size - 1)));
			p = (uint16_t)(r->base + below(c, r->len));
		}
	} while (port_forbidden(p, size));
	return p;
}

static void op_pio(struct chaos_cpu *c)
{
	int size = rnd_size(c);
	uint16_t p = pick_port(c, size);
	if (below(c, 2)) {
		uint32_t v = size == 1 ? inb(p) : size == 2 ? inw(p) : inl(p);
		mix(c, (uint64_t)p << 32 | v);
		return;
	}
	uint32_t v = (uint32_t)rnd_value(c);
	if (p == 0xcf8 && below(c, 2)) {
		/* a configuration address of a present function, a random register */
		static const uint8_t devfn[] = { 0x00, 0x08, 0x0b, 0x10 };
		v = 0x80000000u | (uint32_t)devfn[below(c, 4)] << 8 | (uint32_t)below(c, 64) << 2;
		size = 4;
	}
	if (size == 1)
		outb(p, (uint8_t)v);
	else if (size == 2)
		outw(p, (uint16_t)v);
	else
		outl(p, v);
}

/* ACPI PM1a control: anything but SLP_EN (which would power the machine off) */
static void op_acpi_cnt(struct chaos_cpu *c)
{
	if (below(c, 2)) {
		mix(c, inw(0x604));
		return;
	}
	outw(0x604, (uint16_t)(rnd_value(c) & ~0x2000u));
}

struct mmio_range {
	uint64_t base, len;
};

static const struct mmio_range mmio[] = {
	{ 0xfee00000, 0x1000 },		/* local APIC (or the MSI window) */
	{ 0xfec00000, 0x50 },		/* IOAPIC */
	{ 0xfebf0000, 0x1000 },		/* pci-testdev memory BAR */
	{ 0xff000000, 0x10000 },	/* pc-testdev scratch */
	{ 0xfed00000, 0x1000 },		/* nothing (HPET hole) */
	{ 0xe0000000, 0x1000 },		/* nothing (PCI hole) */
};

static void op_mmio(struct chaos_cpu *c)
{
	const struct mmio_range *r = &mmio[below(c, sizeof(mmio) / sizeof(mmio[0]))];
	int size = 1 << below(c, 4);
	uint64_t off = below(c, r->len);
	/* registers are mostly accessed at their own alignment */
	if (below(c, 4))
		off &= ~(uint64_t)(r->base == 0xfec00000 ? 0xf : 3);
	if (off + size > r->len)
		off = r->len - size;
	uintptr_t a = (uintptr_t)(r->base + off);
	if (below(c, 2)) {
		uint64_t v;
		switch (size) {
		case 1: v = *(volatile uint8_t *)a; break;
		case 2: v = *(volatile uint16_t *)a; break;
		case 4: v = *(volatile uint32_t *)a; break;
		default: v = *(volatile uint64_t *)a; break;
		}
		if (trace_mix)
			diag("read %d bytes at %#lx: %#lx", size, (unsigned long)a, v);
		mix(c, a ^ v << 7);
		return;
	}
	uint64_t v = rnd_value(c);
	if (r->base == 0xfee00000 && below(c, 3) == 0) {
		/* an IPI: random destination and shorthand, fixed/lowest/NMI/ExtINT */
		static const uint32_t modes[] = { ICR_FIXED, ICR_LOWEST, ICR_NMI, 0x700, ICR_SIPI };
		uint32_t lo = (uint32_t)(0x20 + below(c, 0xe0)) | modes[below(c, 5)] |
			      (uint32_t)below(c, 4) << 18 | (below(c, 2) ? ICR_LOGICAL : 0) |
			      ICR_ASSERT;
		*(volatile uint32_t *)(uintptr_t)(r->base + APIC_ICR2) =
			(uint32_t)below(c, 4) << 24;
		*(volatile uint32_t *)(uintptr_t)(r->base + APIC_ICR) = lo;
		return;
	}
	if (r->base == 0xfee00000 || r->base == 0xfec00000) {
		v = no_init(v);
		if (size < 4 && (a & 3) == 1 && (v & 7) == 5)
			v &= ~7ULL;
	}
	switch (size) {
	case 1: *(volatile uint8_t *)a = (uint8_t)v; break;
	case 2: *(volatile uint16_t *)a = (uint16_t)v; break;
	case 4: *(volatile uint32_t *)a = (uint32_t)v; break;
	default: *(volatile uint64_t *)a = v; break;
	}
}

/* IOAPIC: select a register, then read or write it */
static void op_ioapic(struct chaos_cpu *c)
{
	volatile uint32_t *sel = (volatile uint32_t *)0xfec00000UL;
	volatile uint32_t *win = (volatile uint32_t *)0xfec00010UL;
	*sel = (uint32_t)below(c, 0x40);
	if (below(c, 2)) {
		mix(c, *win);
		return;
	}
	uint32_t v = (uint32_t)rnd_value(c);
	if (below(c, 2))
		v = (v & ~0xffu) | (uint32_t)(0x20 + below(c, 0xe0));
	*win = (uint32_t)no_init(v);
}

/* IA32_APIC_BASE bits that are reserved: 0-7, 9 and MAXPHYADDR-63 (set up in main) */
static uint8_t reserved_bits[64];
static int n_reserved;

static void init_reserved_bits(void)
{
	uint32_t r[4];
	cpuid2(0x80000008, 0, r);
	for (int b = 0; b < 64; b++)
		if (b < 8 || b == 9 || b >= (int)(r[0] & 0xff))
			reserved_bits[n_reserved++] = (uint8_t)b;
}

static uint32_t pick_msr(struct chaos_cpu *c)
{
	switch (below(c, 8)) {
	case 0: return APIC_BASE_MSR;
	case 1: return 0x6e0;			/* TSC deadline */
	case 2: return 0x800 + (uint32_t)below(c, 0x100);
	default: {
		static const uint16_t regs[] = { 0x802, 0x803, 0x808, 0x80a, 0x80b, 0x80d,
			0x80f, 0x828, 0x830, 0x832, 0x833, 0x834, 0x835, 0x836, 0x837,
			0x838, 0x839, 0x83e, 0x83f };
		return regs[below(c, sizeof(regs) / sizeof(regs[0]))];
	}
	}
}

static void op_msr(struct chaos_cpu *c)
{
	uint32_t msr = pick_msr(c);
	if (below(c, 2)) {
		mix(c, (uint64_t)msr << 40 ^ safe_rdmsr(c, msr));
		return;
	}
	uint64_t v = rnd_value(c);
	if (msr == APIC_BASE_MSR) {
		/* xAPIC/x2APIC/disabled, BSP flag; never over RAM; rarely a reserved bit */
		v = (below(c, 4) ? 0xfee00000ULL : 0xfed00000ULL) | (below(c, 2) ? APIC_EN : 0) |
		    (below(c, 2) ? APIC_EXTD : 0) | (c == &cc[0] ? 0x100 : 0);
		if (below(c, 16) == 0)
			v |= 1ULL << reserved_bits[below(c, n_reserved)];
	} else if (msr == 0x6e0) {
		v = rdtsc() + below(c, 200000);
	} else if (msr == 0x830) {
		static const uint32_t modes[] = { ICR_FIXED, ICR_LOWEST, ICR_NMI, 0x700 };
		v = (uint64_t)below(c, 4) << 32 | (uint32_t)(0x20 + below(c, 0xe0)) |
		    modes[below(c, 4)] | (uint32_t)below(c, 4) << 18 |
		    (below(c, 2) ? ICR_LOGICAL : 0) | ICR_ASSERT;
	} else if (below(c, 2)) {
		v &= 0xffffffffULL;
	}
	safe_wrmsr(c, msr, no_init(v));
}

static void op_apic_timer(struct chaos_cpu *c)
{
	uint64_t base = rdmsr(APIC_BASE_MSR);
	uint32_t lvt = (uint32_t)(0x20 + below(c, 0xe0)) | (uint32_t)below(c, 3) << 17 |
		       (below(c, 4) == 0 ? 1u << 16 : 0);
	uint32_t div = (uint32_t)below(c, 16), cnt = (uint32_t)below(c, 1 << (4 + below(c, 16)));
	if ((base & (APIC_EN | APIC_EXTD)) == (APIC_EN | APIC_EXTD)) {
		safe_wrmsr(c, 0x832, lvt);
		safe_wrmsr(c, 0x83e, div);
		safe_wrmsr(c, 0x838, cnt);
	} else if ((base & (APIC_EN | APIC_EXTD)) == APIC_EN) {
		volatile uint32_t *apic = (volatile uint32_t *)(uintptr_t)(base & ~0xfffULL);
		apic[APIC_LVTT / 4] = lvt;
		apic[APIC_TDCR / 4] = div;
		apic[APIC_TMICT / 4] = cnt;
	}
}

static void op_time(struct chaos_cpu *c)
{
	if (below(c, 2)) {
		pause();
		return;
	}
	for (uint64_t n = below(c, 2000); n; n--)
		asm volatile("" ::: "memory");
}

/* BSP only: a short window in which interrupts are taken */
static void op_window(struct chaos_cpu *c)
{
	c->window_ints = 0;
	asm volatile("sti; nop; nop; cli" ::: "memory");
}

static void chaos_run(struct chaos_cpu *c, bool bsp)
{
	for (unsigned long n = 0; n < n_ops; n++) {
		if (!bsp && stop_ap)
			break;
		if (bsp && trace && n % trace == 0) {
			restore_machine();
			diag("op %lu: digest %016lx", n, c->digest);
		}
		c->ops++;
		switch (below(c, bsp ? 16 : 14)) {
		case 0: case 1: case 2: case 3: op_pio(c); break;
		case 4: case 5: case 6: op_mmio(c); break;
		case 7: op_ioapic(c); break;
		case 8: case 9: op_msr(c); break;
		case 10: op_apic_timer(c); break;
		case 11: op_acpi_cnt(c); break;
		case 12: case 13: op_time(c); break;
		default: op_window(c); break;
		}
	}
}

/* ---- set-up and the verdict ------------------------------------------------------ */

static void ap_chaos(void *arg)
{
	(void)arg;
	static struct { uint16_t lim; uint64_t base; } __attribute__((packed)) d;
	static uint64_t ap_idt[512] __attribute__((aligned(16)));
	for (int v = 0; v < 256; v++) {
		uint64_t a = (uint64_t)(chaos_stubs + 16 * v);
		ap_idt[2 * v] = (a & 0xffff) | (uint64_t)SEL_KCODE64 << 16 | 0x8eULL << 40 |
				((a >> 16) & 0xffff) << 48;
		ap_idt[2 * v + 1] = a >> 32;
	}
	d.lim = sizeof(ap_idt) - 1;
	d.base = (uint64_t)ap_idt;
	asm volatile("lidt %0" :: "m"(d));
	atomic_inc(&aps_ready);
	while (!go)
		pause();
	uint32_t id = smp_id();
	if (id < MAX_CPUS)
		chaos_run(&cc[id], false);
	atomic_inc(&aps_done);
	/*
	 * Park with IF = 0: back in the idle loop (IF = 1) the interrupts the
	 * chaos left pending would arrive on exception vectors, which the AP
	 * (no IST) cannot tell from exceptions.  NMIs still come and return.
	 */
	for (;;)
		asm volatile("cli; hlt" ::: "memory");
}

static unsigned long arg_value(int argc, char **argv, const char *key, unsigned long dflt)
{
	size_t n = strlen(key);
	for (int k = 1; k < argc; k++)
		if (!strncmp(argv[k], key, n) && argv[k][n] == '=')
			return (unsigned long)strtol(argv[k] + n + 1, NULL, 0);
	return dflt;
}

static uint64_t guard_sum(void)
{
	uint64_t s = 0;
	for (int k = 0; k < GUARD_WORDS; k++)
		s = (s ^ guard[k]) * 0x100000001b3ULL;
	return s;
}

/* put back what the report needs: UART, PCI BARs, interrupts off */
static void restore_machine(void)
{
	outb(0x3f9, 0x00);
	outb(0x3fb, 0x80);
	outb(0x3f8, 0x01);
	outb(0x3f9, 0x00);
	outb(0x3fb, 0x03);
	outb(0x3fc, 0x03);	/* no loopback */
	outb(0x3fa, 0xc7);
	outl(0xcf8, 0x80001010);
	outl(0xcfc, 0xfebf0000);
	outl(0xcf8, 0x80001014);
	outl(0xcfc, 0xc001);
	outl(0xcf8, 0x80001004);
	outl(0xcfc, 0x0007);
}

int main(int argc, char **argv)
{
	unsigned long seed = arg_value(argc, argv, "seed", 1);
	n_ops = arg_value(argc, argv, "ops", n_ops);
	trace = arg_value(argc, argv, "trace", 0);
	trace_mix = arg_value(argc, argv, "tracemix", 0);
	for (int k = 0; k < MAX_CPUS; k++) {
		cc[k].rng = seed * MAX_CPUS + (unsigned long)k + 0x9e3779b97f4a7c15ULL;
		cc[k].digest = 0xcbf29ce484222325ULL;
	}
	for (int k = 0; k < GUARD_WORDS; k++)
		guard[k] = rnd(&cc[0]);
	uint64_t sum0 = guard_sum();
	init_reserved_bits();

	int want = fwcfg_cpus(), cpus = smp_init();
	report(cpus == want, "%d vCPUs online (%d)", want, cpus);
	if (cpus > MAX_CPUS)
		cpus = MAX_CPUS;

	/* the APs switch to their own IDT before the BSP's gates change */
	for (int k = 1; k < cpus; k++)
		on_cpu_async(k, ap_chaos, NULL);
	while (aps_ready < cpus - 1)
		pause();
	/* every vector through IST 4 (NMI: IST 5); tss is the BSP's TSS */
	tss.ist[3] = (uint64_t)(bsp_ist4 + IST_FRAME);
	tss.ist[4] = (uint64_t)(bsp_ist5 + IST_FRAME);
	for (int v = 0; v < 256; v++)
		set_idt_entry(v, chaos_stubs + 16 * v, SEL_KCODE64, 0, 0xe, v == 2 ? 5 : 4);
	go = 1;
	cli();
	chaos_run(&cc[0], true);
	stop_ap = 1;
	uint64_t t0 = rdtsc();
	while (aps_done < cpus - 1 && rdtsc() - t0 < 2000000000ULL)
		pause();
	cli();
	restore_machine();

	report(aps_done == cpus - 1, "%d APs finished their operations", aps_done);
	for (int k = 0; k < cpus; k++) {
		struct chaos_cpu *c = &cc[k];
		report(c->unexpected == 0,
		       "vCPU %d: %lu operations, %lu #GP on MSR accesses, %lu interrupts, %lu NMIs; "
		       "no other exception (last: vector %lu at %#lx)",
		       k, c->ops, c->faults, c->ints, c->nmis, c->bad_vec, c->bad_rip);
	}
	report(guard_sum() == sum0, "guest RAM untouched by the devices");
	for (int k = 0; k < cpus; k++)
		diag("vCPU %d digest %016lx", k, cc[k].digest);
	return report_summary();
}
