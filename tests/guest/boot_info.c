/*
 * boot_info: the Multiboot contract of platform.md §1 — entry state, the
 * information structure, the command line "<kernel> <append>", module 0 =
 * -initrd, the memory map.
 */
// nestvm-args: -m 200 -initrd tests/guest/data/env.txt -append 'alpha  beta gamma'
#include "libguest.h"

static const char *ends_with(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && !strcmp(s + a - b, suf) ? s : NULL;
}

int main(int argc, char **argv)
{
	uint32_t *mbi = (uint32_t *)(uintptr_t)mb_info;

	CHECK_EQ(mb_magic, 0x2badb002, "EAX holds the Multiboot magic");
	CHECK_EQ(entry_cr0, 0x11, "CR0 = PE | ET at entry");
	CHECK_EQ(entry_cr4, 0, "CR4 = 0 at entry");
	CHECK_EQ(entry_efer, 0, "EFER = 0 at entry");
	CHECK_EQ(entry_eflags & ~0x0ULL, 0x2, "EFLAGS = 0x2 at entry (IF = 0)");
	report(entry_cs && entry_ds == entry_ss && entry_ds == entry_es,
	       "flat code and data selectors loaded (cs %#x ds %#x)", entry_cs, entry_ds);
	uint16_t idt_lim;
	uint32_t idt_base;
	memcpy(&idt_lim, entry_idtr, 2);
	memcpy(&idt_base, entry_idtr + 2, 4);
	CHECK_EQ(idt_lim, 0x3ff, "IDTR limit = 0x3ff");
	CHECK_EQ(idt_base, 0, "IDTR base = 0");

	/* flags: memory, cmdline, modules, mmap, loader name */
	report((mbi[0] & 0x24d) == 0x24d, "MBI flags %#x have mem, cmdline, mods, mmap, name", mbi[0]);
	CHECK_EQ(mbi[1], 639, "mem_lower = 639 KiB");
	CHECK_EQ(mbi[2], 200 * 1024 - 1024, "mem_upper = RAM above 1 MiB in KiB (-m 200)");

	report(argc == 4, "argc = 4 (got %d)", argc);
	report(argc > 0 && ends_with(argv[0], "boot_info.elf"), "argv[0] is the kernel path (%s)",
	       argc > 0 ? argv[0] : "");
	report(argc > 3 && !strcmp(argv[1], "alpha") && !strcmp(argv[2], "beta") &&
	       !strcmp(argv[3], "gamma"), "-append words follow argv[0]");
	const char *cmd = (const char *)(uintptr_t)mbi[4];
	report(ends_with(cmd, "boot_info.elf alpha  beta gamma") != NULL,
	       "cmdline is \"<kernel> <append>\" verbatim");

	/* module 0 = -initrd */
	CHECK_EQ(mbi[5], 1, "one module");
	uint32_t *mod = (uint32_t *)(uintptr_t)mbi[6];
	const char *data = (const char *)(uintptr_t)mod[0];
	CHECK_EQ(mod[1] - mod[0], 47, "module size = the file's size");
	report(!strncmp(data, "TESTNAME=boot_info\n", 19), "module 0 holds the -initrd file");
	report(mod[0] % 4096 == 0, "module is page aligned (flag bit 0)");
	const char *g = getenv("GREETING");
	report(g && !strcmp(g, "hello world"), "initrd environment: GREETING=%s", g ? g : "(none)");
	const char *e = getenv("EMPTY");
	report(e && !*e, "initrd environment: EMPTY is set and empty");
	report(getenv("NOPE") == NULL, "initrd environment: unknown name is absent");

	/* memory map: e820-style entries, next = +size+4 */
	uint32_t len = mbi[11], addr = mbi[12];
	uint64_t avail_hi = 0;
	int n = 0, ok_size = 1;
	for (uint32_t off = 0; off < len; n++) {
		uint8_t *ent = (uint8_t *)(uintptr_t)(addr + off);
		uint32_t sz;
		uint64_t base, l;
		uint32_t type;
		memcpy(&sz, ent, 4);
		memcpy(&base, ent + 4, 8);
		memcpy(&l, ent + 12, 8);
		memcpy(&type, ent + 20, 4);
		if (sz != 20)
			ok_size = 0;
		if (type == 1 && base == 0x100000)
			avail_hi = base + l;
		off += sz + 4;
	}
	report(ok_size && n >= 4, "memory map has %d entries of size 20", n);
	CHECK_EQ(avail_hi, 200ULL << 20, "RAM from 1 MiB ends at the -m size");
	const char *name = (const char *)(uintptr_t)mbi[16];
	report(!strncmp(name, "nestvm", 6), "boot loader name (%s)", name);
	return report_summary();
}
