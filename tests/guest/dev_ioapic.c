/*
 * I/O APIC (82093AA data sheet; version 0x20) driven through the
 * pc-testdev IRQ lines (port 0x2000 + N): registers, edge and level
 * interrupts, remote IRR and the EOI broadcast of the local APIC,
 * directed EOI through the IOAPIC's EOI register, masking, TMR, physical,
 * logical (several vCPUs) and lowest-priority destinations, NMI delivery,
 * the ISA IRQ 0 -> pin 2 wiring.
 */
// nestvm-args: -smp 4
#include "smp.h"

#define NCPU 4
#define IOAPIC 0xfec00000UL
#define V_EDGE 0x76
#define V_LEVEL 0x77
#define RE_MASKED (1u << 16)
#define RE_LEVEL (1u << 15)
#define RE_REMOTE_IRR (1u << 14)
#define RE_LOW (1u << 13)
#define RE_LOGICAL (1u << 11)

static uint32_t io_read(unsigned r)
{
	*(volatile uint32_t *)IOAPIC = r;
	return *(volatile uint32_t *)(IOAPIC + 0x10);
}

static void io_write(unsigned r, uint32_t v)
{
	*(volatile uint32_t *)IOAPIC = r;
	*(volatile uint32_t *)(IOAPIC + 0x10) = v;
}

static void redir(int pin, uint32_t lo, uint8_t dest)
{
	io_write(0x11 + 2 * pin, (uint32_t)dest << 24);
	io_write(0x10 + 2 * pin, lo);
}

static uint32_t redir_lo(int pin)
{
	return io_read(0x10 + 2 * pin);
}

static void line(int n, int v)
{
	outb((uint16_t)(0x2000 + n), (uint8_t)v);
}

/* the OUT that sets a line; returns the TSC of the OUT instruction */
static uint64_t line_at(int n, int v)
{
	uint32_t lo, hi;
	asm volatile("rdtsc\n\t"
		     "movl %%eax, %0\n\t"
		     "movl %%edx, %1\n\t"
		     "movl %2, %%eax\n\t"
		     "movl %3, %%edx\n\t"
		     "outb %%al, %%dx"
		     : "=&r"(lo), "=&r"(hi)
		     : "r"(v), "r"(0x2000 + n)
		     : "rax", "rdx", "memory");
	return (((uint64_t)hi << 32) | lo) + 5;
}

static volatile int cnt[NCPU], total;
static volatile uint64_t last_tsc;
static volatile uint32_t seen_remote_irr, seen_tmr;
/* what the level handler does: 0 lower the line; 1 lower it from the 2nd
 * time on; 2 coalesce test; 3 no EOI at all; 4 EOI without lowering the
 * line (directed EOI test) */
static volatile int level_mode;
static volatile int level_pin = 14;

static void edge_isr(int vec, struct irq_frame *f, uint64_t tsc)
{
	cnt[smp_id() % NCPU]++;
	total++;
	last_tsc = tsc - IRQ_TSC_SKEW;
	seen_tmr = apic_read(APIC_TMR + (V_EDGE / 32) * 0x10) & (1u << (V_EDGE % 32));
	apic_eoi();
}

static void level_isr(int vec, struct irq_frame *f, uint64_t tsc)
{
	int n = ++total;
	cnt[smp_id() % NCPU]++;
	last_tsc = tsc - IRQ_TSC_SKEW;
	seen_remote_irr = redir_lo(level_pin) & RE_REMOTE_IRR;
	seen_tmr = apic_read(APIC_TMR + (V_LEVEL / 32) * 0x10) & (1u << (V_LEVEL % 32));
	switch (level_mode) {
	case 0:
		line(level_pin, 0);
		break;
	case 1:
		if (n >= 2)
			line(level_pin, 0);
		break;
	case 2:
		if (n == 1) {
			line(level_pin, 0);
			line(level_pin, 1);	/* while remote IRR is set: no new message */
		}
		line(level_pin, 0);
		break;
	case 3:
		return;
	default:
		break;
	}
	apic_eoi();
}

static volatile int nmis[NCPU];

static void nmi_isr(int vec, struct irq_frame *f, uint64_t tsc)
{
	nmis[smp_id() % NCPU]++;
}

static void clear(void)
{
	total = 0;
	for (int k = 0; k < NCPU; k++)
		cnt[k] = nmis[k] = 0;
	seen_remote_irr = seen_tmr = 0;
}

static void settle(void)
{
	uint64_t t0 = rdtsc();
	sti();
	while (rdtsc() - t0 < 400000)
		pause();
	cli();
}

static void test_registers(void)
{
	uint32_t ver = io_read(0x01);
	CHECK_EQ(ver, 0x00170020, "version 0x20, 24 redirection entries");
	io_write(0x01, ~ver);
	CHECK_EQ(io_read(0x01), ver, "version register is read-only");
	uint32_t id = io_read(0x00);
	io_write(0x00, ~id);
	CHECK_EQ(io_read(0x00) ^ id, 0x0f000000, "ID: only bits 27:24 writable");
	io_write(0x00, 0x0f000000);
	CHECK_EQ(io_read(0x02), 0x0f000000, "arbitration ID follows the ID");
	io_write(0x02, 0);
	CHECK_EQ(io_read(0x02), 0x0f000000, "arbitration register is read-only");
	io_write(0x00, 0);
	CHECK_EQ(redir_lo(5), RE_MASKED, "entries reset masked");
	io_write(0x10 + 2 * 5, 0xffffffff);
	io_write(0x11 + 2 * 5, 0xffffffff);
	CHECK_EQ(redir_lo(5), 0x0001afff, "entry low word: RO delivery status and remote IRR");
	CHECK_EQ(io_read(0x11 + 2 * 5), 0xff000000, "entry high word: destination bits 63:56");
	redir(5, RE_MASKED, 0);
	CHECK_EQ(*(volatile uint32_t *)IOAPIC & 0xff, 0x10 + 2 * 5, "IOREGSEL reads back");
}

static void test_edge(void)
{
	clear();
	redir(14, V_EDGE, 0);
	sti();
	uint64_t t = line_at(14, 1);
	line(14, 0);
	cli();
	report(total == 1, "edge interrupt on pin 14");
	report(last_tsc == t + 1, "taken at the boundary after the OUT (%lld)", (long long)(last_tsc - t));
	line(14, 1);
	line(14, 1);
	sti();
	asm volatile("nop");
	cli();
	report(total == 2, "a line held high is one edge");
	line(14, 0);
	CHECK_EQ(seen_tmr, 0, "edge: TMR clear");
	/* masked edge requests are lost */
	clear();
	redir(14, V_EDGE | RE_MASKED, 0);
	line(14, 1);
	line(14, 0);
	redir(14, V_EDGE, 0);
	settle();
	report(total == 0, "an edge on a masked pin is not latched");
	line(14, 1);
	line(14, 0);
	settle();
	report(total == 1, "edge after unmasking delivered");
	/* active low: the polarity bit is kept, inputs are logical levels (QEMU) */
	clear();
	redir(14, V_EDGE | RE_LOW, 0);
	CHECK_EQ(redir_lo(14), V_EDGE | RE_LOW, "polarity bit reads back");
	line(14, 1);
	line(14, 0);
	settle();
	report(total == 1, "active-low entry: an asserted line still interrupts");
	redir(14, RE_MASKED, 0);
}

static void test_level(void)
{
	clear();
	level_mode = 0;
	redir(14, V_LEVEL | RE_LEVEL, 0);
	sti();
	line(14, 1);
	asm volatile("nop");
	cli();
	report(total == 1, "level interrupt");
	report(seen_remote_irr, "remote IRR set while the interrupt is in service");
	report(seen_tmr, "level: TMR set");
	CHECK_EQ(redir_lo(14) & RE_REMOTE_IRR, 0, "the EOI broadcast cleared remote IRR");

	/* still asserted at EOI: delivered again */
	clear();
	level_mode = 1;
	line(14, 1);
	for (int k = 0; k < 10 && total < 2; k++)
		asm volatile("sti; hlt; cli" ::: "memory");
	report(total == 2, "level line still asserted at EOI: delivered again");

	/* a new edge while remote IRR is set coalesces */
	clear();
	level_mode = 2;
	sti();
	line(14, 1);
	asm volatile("nop");
	cli();
	settle();
	report(total == 1, "raising the line again while in service coalesces");

	/* masked level: delivered when unmasked */
	clear();
	level_mode = 0;
	redir(14, V_LEVEL | RE_LEVEL | RE_MASKED, 0);
	line(14, 1);
	settle();
	report(total == 0, "masked level interrupt waits");
	sti();
	redir(14, V_LEVEL | RE_LEVEL, 0);
	asm volatile("nop");
	cli();
	report(total == 1, "unmasking delivers the asserted level");

	/* level -> edge clears remote IRR */
	clear();
	level_mode = 3;
	line(14, 1);
	settle();
	report(total == 1 && (redir_lo(14) & RE_REMOTE_IRR), "no EOI yet: remote IRR stays set");
	redir(14, V_LEVEL | RE_MASKED, 0);
	CHECK_EQ(redir_lo(14) & RE_REMOTE_IRR, 0, "switching to edge clears remote IRR");
	line(14, 0);
	apic_eoi();
	redir(14, RE_MASKED, 0);
}

static void test_directed_eoi(void)
{
	/* SPIV bit 12: the LAPIC does not broadcast; the IOAPIC EOI register does */
	clear();
	level_mode = 4;
	apic_write(APIC_SPIV, 0x11ff);
	redir(14, V_LEVEL | RE_LEVEL, 0);
	line(14, 1);
	settle();
	report(total == 1 && (redir_lo(14) & RE_REMOTE_IRR),
	       "with EOI broadcast suppressed, remote IRR stays set after the EOI");
	level_mode = 0;
	sti();
	*(volatile uint32_t *)(IOAPIC + 0x40) = V_LEVEL;
	asm volatile("nop");
	cli();
	report(total == 2, "IOAPIC EOI register: remote IRR cleared, the line fires again");
	*(volatile uint32_t *)(IOAPIC + 0x40) = V_LEVEL;
	CHECK_EQ(redir_lo(14) & RE_REMOTE_IRR, 0, "remote IRR clear at the end");
	apic_write(APIC_SPIV, 0x1ff);
	redir(14, RE_MASKED, 0);
}

static void set_ldr(void *arg)
{
	apic_write(APIC_LDR, (uint32_t)(uintptr_t)arg);
}

static void set_tpr(void *arg)
{
	write_cr8((uint64_t)(uintptr_t)arg);
}

static void test_destinations(void)
{
	/* physical destination 2, level: handled and EOIed on CPU 2 */
	clear();
	level_mode = 0;
	redir(14, V_LEVEL | RE_LEVEL, 2);
	line(14, 1);
	settle();
	report(cnt[2] == 1 && total == 1, "physical destination 2: CPU 2 took it");
	CHECK_EQ(redir_lo(14) & RE_REMOTE_IRR, 0, "CPU 2's EOI broadcast cleared remote IRR");

	/* logical flat destination 0x0d: CPUs 0, 2, 3 */
	apic_write(APIC_LDR, 0x01000000);
	for (int k = 1; k < NCPU; k++)
		on_cpu(k, set_ldr, (void *)(uintptr_t)(0x01000000u << k));
	clear();
	redir(14, V_EDGE | RE_LOGICAL, 0x0d);
	line(14, 1);
	line(14, 0);
	settle();
	report(cnt[0] == 1 && cnt[1] == 0 && cnt[2] == 1 && cnt[3] == 1,
	       "logical destination 0x0d: CPUs 0, 2 and 3 each once");

	/* logical destination with a level entry: EOIs from several CPUs */
	clear();
	level_mode = 0;
	level_pin = 15;
	redir(15, V_LEVEL | RE_LEVEL | RE_LOGICAL, 0x06);
	line(15, 1);
	settle();
	report(cnt[1] + cnt[2] >= 1 && cnt[0] == 0 && cnt[3] == 0,
	       "level, logical destination 0x06: only CPUs 1 and 2");
	CHECK_EQ(redir_lo(15) & RE_REMOTE_IRR, 0, "remote IRR cleared by their EOI");
	line(15, 0);
	level_pin = 14;
	redir(15, RE_MASKED, 0);

	/* lowest priority among CPUs 1-3 */
	on_cpu(1, set_tpr, (void *)2);
	on_cpu(2, set_tpr, (void *)0);
	on_cpu(3, set_tpr, (void *)1);
	clear();
	redir(14, V_EDGE | RE_LOGICAL | (1u << 8), 0x0e);
	line(14, 1);
	line(14, 0);
	settle();
	report(cnt[2] == 1 && total == 1, "lowest priority through the IOAPIC: CPU 2 (TPR 0)");
	on_cpu(1, set_tpr, (void *)0);
	on_cpu(3, set_tpr, (void *)0);

	/* NMI delivery mode */
	clear();
	redir(14, 2 | (4u << 8), 3);
	line(14, 1);
	line(14, 0);
	settle();
	report(nmis[3] == 1 && nmis[0] == 0, "delivery mode NMI to CPU 3");
	redir(14, RE_MASKED, 0);
}

static void test_wiring(void)
{
	/* ISA IRQ 0 is IOAPIC pin 2 (interrupt source override); pin 0 unused */
	clear();
	redir(2, V_EDGE, 0);
	redir(0, 0x78, 0);
	sti();
	line(0, 1);
	line(0, 0);
	cli();
	report(total == 1, "ISA IRQ 0 arrives on pin 2");
	redir(2, RE_MASKED, 0);
	redir(0, RE_MASKED, 0);
	/* GSIs 16-23 exist only on the IOAPIC */
	clear();
	redir(20, V_EDGE, 0);
	sti();
	line(20, 1);
	line(20, 0);
	cli();
	report(total == 1, "line 20 -> pin 20");
	redir(20, RE_MASKED, 0);
}

int main(int argc, char **argv)
{
	CHECK_EQ(smp_init(), NCPU, "4 CPUs online");
	set_irq(V_EDGE, edge_isr);
	set_irq(V_LEVEL, level_isr);
	set_irq(2, nmi_isr);
	test_registers();
	test_edge();
	test_level();
	test_directed_eoi();
	test_destinations();
	test_wiring();
	return report_summary();
}
