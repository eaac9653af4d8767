/*
 * I/O permission (SDM Vol. 1 19.5): IN/OUT/INS/OUTS at CPL > IOPL consult
 * the TSS I/O bitmap; every bit of a multi-byte access must be clear (a
 * word or dword access can straddle two bitmap bytes), the processor reads
 * two bitmap bytes (both inside the TSS limit), no bitmap means #GP(0),
 * CPL <= IOPL skips the bitmap; INS checks the port before the memory.
 */
#include "sys.h"

#define SEL_IOTSS 0x60		/* 16-byte TSS descriptor */

static struct {
	struct tss64 t;
	uint8_t map[8192];
	uint8_t end;
} __attribute__((packed, aligned(16))) iotss;
static uint8_t ustack[4096] __attribute__((aligned(4096)));
uint8_t ubuf[4096] __attribute__((aligned(4096)));

asm(".pushsection .text\n\t.balign 4096\n"
"u_io:\n"
"u_inb:\n\tmovl %edi, %edx\n\tinb %dx, %al\n\tint $0x81\n"
"u_inw:\n\tmovl %edi, %edx\n\tinw %dx, %ax\n\tint $0x81\n"
"u_inl:\n\tmovl %edi, %edx\n\tinl %dx, %eax\n\tint $0x81\n"
"u_outw:\n\tmovl %edi, %edx\n\toutw %ax, %dx\n\tint $0x81\n"
"u_inb_imm:\n\tinb $0xe0, %al\n\tint $0x81\n"
"u_insb:\n\tmovl %edi, %edx\n\tleaq ubuf(%rip), %rdi\n\tmovl $4, %ecx\n\tcld\n\trep insb\n\tmovq %rdi, %rax\n\tint $0x81\n"
"u_outsw:\n\tmovl %edi, %edx\n\tleaq ubuf(%rip), %rsi\n\tmovl $2, %ecx\n\tcld\n\trep outsw\n\tmovq %rsi, %rax\n\tint $0x81\n"
	".balign 4096\n\t"
	".popsection");
extern char u_io[], u_inb[], u_inw[], u_inl[], u_outw[], u_inb_imm[], u_insb[], u_outsw[];

static int user(void *fn, uint64_t port)
{
	exc_clear();
	run_user64(fn, port, ustack + sizeof(ustack));
	return exc_last.vector;
}

static void deny(unsigned port)
{
	iotss.map[port / 8] |= 1 << (port % 8);
}

static void ltr_io(uint32_t limit)
{
	uint64_t b = (uint64_t)(uintptr_t)&iotss;
	gdt_set16(SEL_IOTSS, sys_desc64_lo(b, limit, 9, 0), b >> 32);
	asm volatile("ltr %w0" :: "r"((uint16_t)SEL_IOTSS) : "memory");
}

static void ltr_lib(void)
{
	gdt64[SEL_TSS / 8] &= ~(2ULL << 40);
	asm volatile("ltr %w0" :: "r"((uint16_t)SEL_TSS) : "memory");
}

static void gp0(int v, const char *what)
{
	report(v == 13 && exc_last.error_code == 0, "%s: #GP(0) (%d)", what, v);
}

/* random bitmaps, limits, IOPL, ports and sizes against the SDM 19.5 rule */
static void fuzz(void)
{
	static void *const fn[3] = { u_inb, u_inw, u_inl };
	uint64_t seed = 0x2545f4914f6cdd1dULL;
	int bad = 0;
	uint32_t base = offsetof(typeof(iotss), map);
	for (int n = 0; n < 1500; n++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		uint16_t port = (uint16_t)(0xe0 + (seed % 24));
		int sz = 1 << ((seed >> 8) % 3);
		bool iopl3 = (seed >> 12) % 5 == 0;
		uint32_t limit = base + (uint32_t)((seed >> 16) % 0x24);
		for (int k = 0x18; k < 0x24; k++)
			iotss.map[k] = (uint8_t)(seed >> (20 + k));
		ltr_lib();
		ltr_io(limit);
		/* the rule: two bitmap bytes inside the limit, all size bits clear */
		uint32_t byte = base + port / 8;
		uint16_t bits = iotss.map[port / 8] | iotss.map[port / 8 + 1] << 8;
		uint16_t mask = (uint16_t)(((1u << sz) - 1) << (port & 7));
		bool allowed = iopl3 || (byte + 1 <= limit && !(bits & mask));
		user_rflags = iopl3 ? 0x3002 : 2;
		int v = user(fn[sz == 1 ? 0 : sz == 2 ? 1 : 2], port);
		if ((allowed ? v != -1 : v != 13) && bad++ < 5)
			diag("port %#x size %d iopl3 %d limit %#x bits %#x: got %d", port, sz, iopl3,
			     limit - base, bits, v);
	}
	user_rflags = 2;
	ltr_lib();
	report(bad == 0, "I/O permission of random bitmaps, limits, ports and sizes (%d mismatches)", bad);
}

int main(int argc, char **argv)
{
	set_user((uint64_t)(uintptr_t)u_io);
	set_user((uint64_t)(uintptr_t)ustack);
	set_user((uint64_t)(uintptr_t)ubuf);
	memcpy(&iotss.t, &tss, sizeof(tss));

	/* no bitmap: the lib TSS has its map base at the limit */
	gp0(user(u_inb, 0xe0), "CPL 3, IOPL 0, no I/O bitmap");
	user_rflags = 0x3002;
	report(user(u_inb, 0xe0) == -1, "CPL 3, IOPL 3: no bitmap needed");
	user_rflags = 2;
	report(inb(0xe0) == inb(0xe0), "CPL 0: always allowed");

	/* a full bitmap */
	iotss.t.iomap = offsetof(typeof(iotss), map);
	memset(iotss.map, 0, sizeof(iotss.map));
	iotss.end = 0xff;
	deny(0xe1);
	deny(0xe8);
	ltr_io(sizeof(iotss) - 1);
	report(user(u_inb, 0xe0) == -1, "bitmap: allowed port");
	report(user(u_inb_imm, 0) == -1, "bitmap: IN AL, imm8");
	gp0(user(u_inb, 0xe1), "bitmap: denied port");
	gp0(user(u_inw, 0xe0), "word access covering a denied port");
	report(user(u_inb, 0xe7) == -1, "byte at the last bit of a bitmap byte");
	gp0(user(u_inw, 0xe7), "word straddling into the next bitmap byte (denied bit)");
	gp0(user(u_inl, 0xe5), "dword straddling two bitmap bytes");
	report(user(u_inl, 0xe9) == -1, "dword of allowed ports after the denied one");
	gp0(user(u_outw, 0xe8), "OUT to a denied port");
	memset(ubuf, 0x5a, 16);
	gp0(user(u_insb, 0xe1), "INS from a denied port");
	CHECK_EQ(ubuf[0], 0x5a, "INS from a denied port writes no memory");
	exc_clear();
	uint64_t r = run_user64(u_insb, 0xe0, ustack + sizeof(ustack));
	report(exc_last.vector == -1 && r == (uint64_t)(uintptr_t)ubuf + 4, "REP INSB from an allowed port");
	exc_clear();
	r = run_user64(u_outsw, 0xe2, ustack + sizeof(ustack));
	report(exc_last.vector == -1 && r == (uint64_t)(uintptr_t)ubuf + 4, "REP OUTSW to allowed ports");
	gp0(user(u_outsw, 0xe7), "OUTSW straddling into a denied port");
	deny(0xffff);
	gp0(user(u_inb, 0xffff), "port 0xffff denied");

	/* the two bytes read must be inside the TSS limit */
	memset(iotss.map, 0, sizeof(iotss.map));
	ltr_lib();
	ltr_io(offsetof(typeof(iotss), map) + 0x1f);	/* bitmap bytes 0..0x1f */
	report(user(u_inb, 0xf0) == -1, "port 0xf0: bitmap bytes 0x1e/0x1f inside the limit");
	gp0(user(u_inb, 0xf8), "port 0xf8: second bitmap byte beyond the limit");
	gp0(user(u_inb, 0x100), "port 0x100: beyond the limit");
	ltr_lib();
	fuzz();
	return report_summary();
}
