// SPDX-License-Identifier: MIT
/*
 * Multiboot v1 loader (Multiboot Specification 0.6.96; platform.md §1).
 *
 * ELF32 or ELF64 images are loaded by their program headers, whatever the
 * ELF class says about the code inside; .bss is zeroed.  The Multiboot
 * information structure and memory map live at 0x9000 (as QEMU puts them);
 * the strings, the module list and the modules (the -initrd file) follow
 * the image, page aligned.  The boot GDT sits in the reserved BIOS area.
 * The vCPU starts in 32-bit protected mode as QEMU's loader leaves it.
 */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "machine.h"

#define MB_MAGIC 0x1badb002u
#define MB_BOOT_MAGIC 0x2badb002u
#define MB_AOUT_KLUDGE (1u << 16)

#define GDT_ADDR 0xfe000u
#define MMAP_ADDR 0x9000u
#define MBI_ADDR 0x9500u
#define BUF_SIZE 0x2000u	/* strings and module list after the image */

struct file {
	uint8_t *data;
	size_t size;
};

static int read_file(const char *path, struct file *f, char *err, size_t errlen)
{
	FILE *fp = fopen(path, "rb");
	if (!fp) {
		snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
		return -1;
	}
	if (fseek(fp, 0, SEEK_END) < 0) {
		snprintf(err, errlen, "cannot read '%s': %s", path, strerror(errno));
		fclose(fp);
		return -1;
	}
	long sz = ftell(fp);
	rewind(fp);
	if (sz < 0) {
		snprintf(err, errlen, "cannot read '%s'", path);
		fclose(fp);
		return -1;
	}
	f->size = (size_t)sz;
	f->data = malloc(f->size ? f->size : 1);
	if (!f->data || fread(f->data, 1, f->size, fp) != f->size) {
		snprintf(err, errlen, "cannot read '%s'", path);
		free(f->data);
		fclose(fp);
		return -1;
	}
	fclose(fp);
	return 0;
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static void wr32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void wr64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

/* copy [off, off+filesz) of the file to gpa and zero up to memsz */
static int load_seg(struct machine *m, const struct file *f, uint64_t off, uint64_t filesz,
		    uint64_t memsz, uint64_t paddr, const char *path, char *err, size_t errlen)
{
	if (filesz > memsz || off + filesz < off || off + filesz > f->size) {
		snprintf(err, errlen, "'%s': a segment lies outside the file (truncated image?)", path);
		return -1;
	}
	uint8_t *dst = machine_gpa(m, paddr, memsz);
	if (!dst || paddr + memsz > m->low_ram) {
		snprintf(err, errlen, "'%s': a segment at 0x%llx (+0x%llx) lies outside guest RAM (-m)",
			 path, (unsigned long long)paddr, (unsigned long long)memsz);
		return -1;
	}
	memcpy(dst, f->data + off, filesz);
	memset(dst + filesz, 0, memsz - filesz);
	return 0;
}

static int load_elf(struct machine *m, const struct file *f, const char *path,
		    uint64_t *entry, uint64_t *end, char *err, size_t errlen)
{
	const uint8_t *d = f->data;
	if (f->size < EI_NIDENT || memcmp(d, ELFMAG, SELFMAG)) {
		snprintf(err, errlen, "'%s' is not an ELF file", path);
		return -1;
	}
	*end = 0;
	if (d[EI_CLASS] == ELFCLASS32) {
		Elf32_Ehdr eh;
		if (f->size < sizeof(eh)) {
			snprintf(err, errlen, "'%s': truncated ELF header", path);
			return -1;
		}
		memcpy(&eh, d, sizeof(eh));
		if (eh.e_phentsize != sizeof(Elf32_Phdr) || !eh.e_phnum ||
		    (uint64_t)eh.e_phoff + (uint64_t)eh.e_phnum * sizeof(Elf32_Phdr) > f->size) {
			snprintf(err, errlen, "'%s': bad or truncated program headers", path);
			return -1;
		}
		for (int k = 0; k < eh.e_phnum; k++) {
			Elf32_Phdr ph;
			memcpy(&ph, d + eh.e_phoff + k * sizeof(ph), sizeof(ph));
			if (ph.p_type != PT_LOAD || !ph.p_memsz)
				continue;
			if (load_seg(m, f, ph.p_offset, ph.p_filesz, ph.p_memsz, ph.p_paddr, path,
				     err, errlen) < 0)
				return -1;
			if ((uint64_t)ph.p_paddr + ph.p_memsz > *end)
				*end = (uint64_t)ph.p_paddr + ph.p_memsz;
		}
		*entry = eh.e_entry;
	} else if (d[EI_CLASS] == ELFCLASS64) {
		Elf64_Ehdr eh;
		if (f->size < sizeof(eh)) {
			snprintf(err, errlen, "'%s': truncated ELF header", path);
			return -1;
		}
		memcpy(&eh, d, sizeof(eh));
		if (eh.e_phentsize != sizeof(Elf64_Phdr) || !eh.e_phnum ||
		    eh.e_phoff > f->size ||
		    eh.e_phoff + (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > f->size) {
			snprintf(err, errlen, "'%s': bad or truncated program headers", path);
			return -1;
		}
		for (int k = 0; k < eh.e_phnum; k++) {
			Elf64_Phdr ph;
			memcpy(&ph, d + eh.e_phoff + k * sizeof(ph), sizeof(ph));
			if (ph.p_type != PT_LOAD || !ph.p_memsz)
				continue;
			if (load_seg(m, f, ph.p_offset, ph.p_filesz, ph.p_memsz, ph.p_paddr, path,
				     err, errlen) < 0)
				return -1;
			if (ph.p_paddr + ph.p_memsz > *end)
				*end = ph.p_paddr + ph.p_memsz;
		}
		*entry = eh.e_entry;
	} else {
		snprintf(err, errlen, "'%s': unknown ELF class", path);
		return -1;
	}
	if (!*end) {
		snprintf(err, errlen, "'%s': no loadable segments", path);
		return -1;
	}
	return 0;
}

/* the e820-style map of platform.md §1 */
static uint32_t build_mmap(struct machine *m, uint8_t *p)
{
	struct { uint64_t base, len; uint32_t type; } e[6];
	int n = 0;
	e[n++] = (typeof(e[0])){ 0, 0x9fc00, 1 };
	e[n++] = (typeof(e[0])){ 0x9fc00, 0x400, 2 };
	e[n++] = (typeof(e[0])){ 0xf0000, 0x10000, 2 };
	if (m->low_ram > 0x100000)
		e[n++] = (typeof(e[0])){ 0x100000, m->low_ram - 0x100000, 1 };
	e[n++] = (typeof(e[0])){ 0xfffc0000ULL, 0x40000, 2 };
	if (m->ram_size > m->low_ram)
		e[n++] = (typeof(e[0])){ 0x100000000ULL, m->ram_size - m->low_ram, 1 };
	uint32_t off = 0;
	for (int k = 0; k < n; k++) {
		wr32(p + off, 20);
		wr64(p + off + 4, e[k].base);
		wr64(p + off + 12, e[k].len);
		wr32(p + off + 20, e[k].type);
		off += 24;
	}
	return off;
}

static void set_boot_state(struct machine *m, uint32_t entry)
{
	struct nv_vcpu *v = m->vcpu[0];
	struct kvm_sregs s;
	struct kvm_regs r;

	/* GDT: null, null, flat code (0x10), flat data (0x18) */
	uint8_t *g = machine_gpa(m, GDT_ADDR, 32);
	uint64_t gdt[4] = { 0, 0, 0x00cf9b000000ffffULL, 0x00cf93000000ffffULL };
	memcpy(g, gdt, sizeof(gdt));

	nv_get_sregs(v, &s);
	struct kvm_segment code = {
		.base = 0, .limit = 0xffffffff, .selector = 0x10, .type = 0xb, .present = 1,
		.dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1,
	};
	struct kvm_segment data = code;
	data.selector = 0x18;
	data.type = 3;
	s.cs = code;
	s.ds = s.es = s.fs = s.gs = s.ss = data;
	s.tr.selector = 0;
	s.tr.base = 0;
	s.tr.limit = 0xffff;
	s.tr.type = 0xb;
	s.tr.present = 1;
	s.tr.s = 0;
	s.ldt.selector = 0;
	s.ldt.base = 0;
	s.ldt.limit = 0xffff;
	s.ldt.type = 2;
	s.ldt.present = 1;
	s.ldt.s = 0;
	s.gdt.base = GDT_ADDR;
	s.gdt.limit = 31;
	s.idt.base = 0;
	s.idt.limit = 0x3ff;
	s.cr0 = 0x11;	/* PE | ET */
	s.cr2 = s.cr3 = s.cr4 = 0;
	s.efer = 0;
	nv_set_sregs(v, &s);
	memset(&r, 0, sizeof(r));
	r.rax = MB_BOOT_MAGIC;
	r.rbx = MBI_ADDR;
	r.rip = entry;
	r.rflags = 2;
	nv_set_regs(v, &r);
}

int load_multiboot(struct machine *m, char *err, size_t errlen)
{
	struct file f = { 0 }, initrd = { 0 };
	const char *path = m->cfg.kernel;
	int ret = -1;

	if (read_file(path, &f, err, errlen) < 0)
		return -1;
	/* the header: 4-byte aligned, within the first 8 KiB */
	size_t lim = f.size < 8192 ? f.size : 8192;
	int64_t hoff = -1;
	for (size_t o = 0; o + 12 <= lim; o += 4) {
		uint32_t mg = rd32(f.data + o), fl = rd32(f.data + o + 4), ck = rd32(f.data + o + 8);
		if (mg == MB_MAGIC && (uint32_t)(mg + fl + ck) == 0) {
			hoff = (int64_t)o;
			break;
		}
	}
	if (hoff < 0) {
		snprintf(err, errlen, "'%s' has no Multiboot header in its first 8 KiB", path);
		goto out;
	}
	uint32_t flags = rd32(f.data + hoff + 4);
	uint64_t entry, end;
	if (flags & MB_AOUT_KLUDGE) {
		if ((size_t)hoff + 32 > f.size) {
			snprintf(err, errlen, "'%s': truncated Multiboot header", path);
			goto out;
		}
		uint32_t header_addr = rd32(f.data + hoff + 12);
		uint32_t load_addr = rd32(f.data + hoff + 16);
		uint32_t load_end = rd32(f.data + hoff + 20);
		uint32_t bss_end = rd32(f.data + hoff + 24);
		uint32_t ent = rd32(f.data + hoff + 28);
		if (header_addr < load_addr || header_addr - load_addr > hoff) {
			snprintf(err, errlen, "'%s': inconsistent Multiboot a.out addresses", path);
			goto out;
		}
		uint64_t foff = (uint64_t)hoff - (header_addr - load_addr);
		uint64_t fsz = load_end ? (uint64_t)load_end - load_addr : f.size - foff;
		uint64_t msz = bss_end > load_end && load_end ? (uint64_t)bss_end - load_addr : fsz;
		if (load_end && load_end < load_addr) {
			snprintf(err, errlen, "'%s': inconsistent Multiboot a.out addresses", path);
			goto out;
		}
		if (load_seg(m, &f, foff, fsz, msz, load_addr, path, err, errlen) < 0)
			goto out;
		entry = ent;
		end = load_addr + msz;
	} else if (load_elf(m, &f, path, &entry, &end, err, errlen) < 0) {
		goto out;
	}
	if (entry >> 32) {
		snprintf(err, errlen, "'%s': entry point 0x%llx is above 4 GiB", path,
			 (unsigned long long)entry);
		goto out;
	}

	/* strings: "<kernel path> <append>", the loader name, module strings */
	uint8_t *mbi = machine_gpa(m, MBI_ADDR, 88);
	uint64_t buf = (end + 0xfff) & ~0xfffULL;
	uint64_t strp = buf;
	char cmd[4096];
	int cl = snprintf(cmd, sizeof(cmd), "%s%s%s", path, m->cfg.append ? " " : "",
			  m->cfg.append ? m->cfg.append : "");
	if (cl < 0 || (size_t)cl >= sizeof(cmd)) {
		snprintf(err, errlen, "-append: the command line is too long");
		goto out;
	}
	uint8_t *bp = machine_gpa(m, buf, BUF_SIZE);
	if (!bp || buf + BUF_SIZE > m->low_ram || buf + BUF_SIZE > 0xffffffffULL) {
		snprintf(err, errlen, "'%s': no guest RAM left after the image for the boot information (-m)", path);
		goto out;
	}
	memset(mbi, 0, 88);
	memset(bp, 0, BUF_SIZE);
	memcpy(machine_gpa(m, strp, (uint64_t)cl + 1), cmd, (size_t)cl + 1);
	uint32_t cmdline = (uint32_t)strp;
	strp += (uint32_t)cl + 1;
	const char *lname = "nestvm " NESTVM_VERSION;
	memcpy(machine_gpa(m, strp, strlen(lname) + 1), lname, strlen(lname) + 1);
	uint32_t name = (uint32_t)strp;
	strp += strlen(lname) + 1;

	uint32_t mflags = 0x1 | 0x4 | 0x40 | 0x200;	/* mem, cmdline, mmap, loader name */
	uint64_t modbase = buf + BUF_SIZE;
	if (m->cfg.initrd) {
		if (read_file(m->cfg.initrd, &initrd, err, errlen) < 0)
			goto out;
		uint8_t *dst = machine_gpa(m, modbase, initrd.size + 1);
		if (!dst || modbase + initrd.size + 1 > m->low_ram || modbase + initrd.size > 0xffffffffULL) {
			snprintf(err, errlen, "-initrd: '%s' does not fit in guest RAM after the kernel (-m)",
				 m->cfg.initrd);
			goto out;
		}
		memcpy(dst, initrd.data, initrd.size);
		dst[initrd.size] = 0;
		const char *ms = m->cfg.initrd;
		size_t msl = strlen(ms) + 1;
		if (strp - buf + msl + 32 > BUF_SIZE) {
			snprintf(err, errlen, "-initrd: path too long");
			goto out;
		}
		memcpy(machine_gpa(m, strp, msl), ms, msl);
		uint32_t modstr = (uint32_t)strp;
		strp += msl;
		strp = (strp + 15) & ~15ULL;
		uint8_t *mod = machine_gpa(m, strp, 16);
		wr32(mod, (uint32_t)modbase);
		wr32(mod + 4, (uint32_t)(modbase + initrd.size));
		wr32(mod + 8, modstr);
		wr32(mod + 12, 0);
		wr32(mbi + 20, 1);
		wr32(mbi + 24, (uint32_t)strp);
		strp += 16;
		mflags |= 0x8;
	}
	uint32_t mlen = build_mmap(m, machine_gpa(m, MMAP_ADDR, 0x400));
	uint64_t upper = (m->low_ram > 0x100000 ? m->low_ram - 0x100000 : 0) >> 10;
	wr32(mbi + 0, mflags);
	wr32(mbi + 4, 0x9fc00 >> 10);			/* mem_lower: KiB below 640K */
	wr32(mbi + 8, (uint32_t)(upper > 0xffffffffULL ? 0xffffffff : upper));
	wr32(mbi + 16, cmdline);
	wr32(mbi + 44, mlen);
	wr32(mbi + 48, MMAP_ADDR);
	wr32(mbi + 64, name);
	set_boot_state(m, (uint32_t)entry);
	ret = 0;
out:
	free(f.data);
	free(initrd.data);
	return ret;
}
