/*
 * Snapshot refusal: every damaged, foreign or inconsistent stream is
 * refused with a message that names what is wrong, and a refusal found
 * while checking leaves the machine untouched.  The stream is taken apart
 * and rebuilt here from docs/snapshot-format.md with an independent
 * CRC32C, so this also checks the documented layout.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmt.h"
#include "vmm/machine.h"
#include "vmm/snapshot.h"

/* ---- the format, as documented ------------------------------------------------ */

static uint32_t crc32c(const uint8_t *p, size_t n)
{
	uint32_t c = ~0u;
	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82f63b78u & -(c & 1));
	}
	return ~c;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr32(uint8_t *p, uint32_t v)
{
	for (int k = 0; k < 4; k++)
		p[k] = (uint8_t)(v >> (8 * k));
}

struct sec {
	char name[24];
	uint32_t inst, ver;
	uint8_t *p;
	size_t len;
};

struct img {
	uint8_t hdr[24];
	struct sec s[64];
	int n;
};

static void parse(const uint8_t *b, size_t len, struct img *im)
{
	memset(im, 0, sizeof(*im));
	memcpy(im->hdr, b, 24);
	size_t pos = 24;
	while (pos + 48 <= len) {
		struct sec *s = &im->s[im->n++];
		memcpy(s->name, b + pos, 24);
		s->inst = rd32(b + pos + 24);
		s->ver = rd32(b + pos + 28);
		s->len = rd32(b + pos + 32);
		s->p = malloc(s->len + 1);
		memcpy(s->p, b + pos + 48, s->len);
		pos += 48 + s->len;
	}
}

static void img_free(struct img *im)
{
	for (int k = 0; k < im->n; k++)
		free(im->s[k].p);
	im->n = 0;
}

/* serialise with valid CRCs; the 'end' count is fixed up unless keep_end */
static uint8_t *build(struct img *im, size_t *len, bool keep_end)
{
	size_t total = 24;
	for (int k = 0; k < im->n; k++)
		total += 48 + im->s[k].len;
	uint8_t *b = calloc(1, total);
	memcpy(b, im->hdr, 24);
	wr32(b + 20, crc32c(b, 20));
	size_t pos = 24;
	for (int k = 0; k < im->n; k++) {
		struct sec *s = &im->s[k];
		if (!keep_end && !strcmp(s->name, "end") && s->len == 4)
			wr32(s->p, (uint32_t)k);
		uint8_t *h = b + pos;
		memcpy(h, s->name, 24);
		wr32(h + 24, s->inst);
		wr32(h + 28, s->ver);
		wr32(h + 32, (uint32_t)s->len);
		wr32(h + 36, 0);
		wr32(h + 40, crc32c(s->p, s->len));
		wr32(h + 44, crc32c(h, 44));
		memcpy(h + 48, s->p, s->len);
		pos += 48 + s->len;
	}
	*len = total;
	return b;
}

static int find(struct img *im, const char *name, uint32_t inst)
{
	for (int k = 0; k < im->n; k++)
		if (!strcmp(im->s[k].name, name) && im->s[k].inst == inst)
			return k;
	return -1;
}

static void drop(struct img *im, int k)
{
	free(im->s[k].p);
	memmove(&im->s[k], &im->s[k + 1], sizeof(im->s[0]) * (size_t)(im->n - k - 1));
	im->n--;
}

static void insert(struct img *im, int at, const char *name, uint32_t inst, uint32_t ver,
		   const void *p, size_t len)
{
	memmove(&im->s[at + 1], &im->s[at], sizeof(im->s[0]) * (size_t)(im->n - at));
	im->n++;
	struct sec *s = &im->s[at];
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->inst = inst;
	s->ver = ver;
	s->p = malloc(len + 1);
	memcpy(s->p, p, len);
	s->len = len;
}

/* a record of a cpu section: pointer to its data, or NULL */
static uint8_t *cpu_rec(struct sec *s, uint32_t tag, uint32_t *len)
{
	size_t pos = 0;
	while (pos + 8 <= s->len) {
		uint32_t t = rd32(s->p + pos), l = rd32(s->p + pos + 4);
		if (t == tag) {
			if (len)
				*len = l;
			return s->p + pos + 8;
		}
		pos += 8 + l;
	}
	return NULL;
}

/* ---- machines -------------------------------------------------------------------- */

static struct config base_cfg(void)
{
	struct config c = {
		.ram_size = 32ULL << 20, .smp = 1, .max_cpus = 1, .serial = "none",
		.engine = NV_ENGINE_EMU, .quantum = 100000, .debug_exit = true,
		.debug_exit_base = 0xf4, .debug_exit_size = 4,
	};
	return c;
}

static uint8_t *snap_of(struct machine *m, size_t *len)
{
	char err[300];
	int fd = memfd_create("t", 0);
	if (fd < 0 || snapshot_save_fd(m, fd, err, sizeof(err)) < 0) {
		fprintf(stderr, "save failed: %s\n", err);
		exit(1);
	}
	off_t n = lseek(fd, 0, SEEK_END);
	uint8_t *b = malloc((size_t)n);
	if (pread(fd, b, (size_t)n, 0) != n)
		exit(1);
	close(fd);
	*len = (size_t)n;
	return b;
}

static struct machine target;
static uint64_t target_sum;

static uint64_t machine_sum(struct machine *m)
{
	struct kvm_regs r;
	nv_get_regs(m->vcpu[0], &r);
	uint64_t s = r.rip * 7 + r.rax * 13 + r.rsp;
	for (uint64_t k = 0; k < m->ram_size; k += 4096)
		s = s * 31 + m->ram[k + 8];
	return s;
}

/* expect a refusal whose message contains `want`; `early`: check the machine is untouched */
static void refuse(const uint8_t *b, size_t len, const char *want, bool early, const char *what)
{
	char err[400] = "";
	int r = snapshot_restore(&target, b, len, err, sizeof(err));
	bool msg = strstr(err, want) != NULL;
	tap_ok(r < 0 && msg, "%s: refused with \"%s\"", what, err);
	if (!msg && r < 0)
		printf("# expected the message to contain \"%s\"\n", want);
	if (early)
		tap_ok(machine_sum(&target) == target_sum, "%s: machine untouched", what);
}

int main(void)
{
	struct config c = base_cfg();
	struct machine src;
	if (machine_init(&src, &c) < 0 || machine_init(&target, &c) < 0) {
		tap_skip_all("cannot create a machine");
		return 0;
	}
	/* some state worth restoring: RAM contents and registers */
	for (uint64_t k = 0; k < 64; k++)
		src.ram[0x100000 + k * 4096 + 8] = (uint8_t)(k + 1);
	struct kvm_regs r;
	nv_get_regs(src.vcpu[0], &r);
	r.rax = 0x1234;
	nv_set_regs(src.vcpu[0], &r);
	target.ram[0x300008] = 0x55;
	target_sum = machine_sum(&target);

	size_t len;
	uint8_t *good = snap_of(&src, &len);
	struct img im;
	size_t blen;
	uint8_t *b;

	/* the round trip itself */
	{
		struct machine t2;
		char err[300] = "";
		machine_init(&t2, &c);
		int rr = snapshot_restore(&t2, good, len, err, sizeof(err));
		tap_ok(rr == 0, "an intact snapshot restores (%s)", err);
		tap_ok(machine_sum(&t2) == machine_sum(&src), "RAM and registers round-trip");
		machine_destroy(&t2);
	}
	/* our rebuild of an intact stream is identical: the documented layout */
	parse(good, len, &im);
	b = build(&im, &blen, true);
	tap_ok(blen == len && !memcmp(b, good, len), "the stream follows docs/snapshot-format.md");
	free(b);
	img_free(&im);

	/* truncation anywhere */
	size_t cuts[] = { 0, 7, 23, 24, 30, 24 + 48 + 3, len / 2, len - 53, len - 52, len - 1 };
	for (size_t k = 0; k < sizeof(cuts) / sizeof(cuts[0]); k++) {
		char what[64];
		snprintf(what, sizeof(what), "truncated to %zu bytes", cuts[k]);
		refuse(good, cuts[k], cuts[k] < 24 ? "truncated" : "", true, what);
		char err[400] = "";
		snapshot_restore(&target, good, cuts[k], err, sizeof(err));
		tap_ok(cuts[k] < 8 || strstr(err, "truncated") || strstr(err, "corrupt"),
		       "truncated to %zu bytes: the message says so (%s)", cuts[k], err);
	}

	/* a flipped bit in every section's payload, in a section header, in the header */
	parse(good, len, &im);
	size_t off = 24;
	for (int k = 0; k < im.n; k++) {
		char what[96], want[64];
		uint8_t *x = malloc(len);
		memcpy(x, good, len);
		if (im.s[k].len) {
			x[off + 48 + im.s[k].len / 2] ^= 0x10;
			snprintf(what, sizeof(what), "bit flip in section '%s' %u", im.s[k].name, im.s[k].inst);
			snprintf(want, sizeof(want), "'%s'", im.s[k].name);
			refuse(x, len, want, true, what);
			x[off + 48 + im.s[k].len / 2] ^= 0x10;
		}
		x[off + 33] ^= 0x01;	/* the length field */
		snprintf(what, sizeof(what), "bit flip in the header of section '%s'", im.s[k].name);
		refuse(x, len, "corrupt (CRC mismatch)", true, what);
		free(x);
		off += 48 + im.s[k].len;
	}
	img_free(&im);
	{
		uint8_t *x = malloc(len);
		memcpy(x, good, len);
		x[2] ^= 1;
		refuse(x, len, "bad magic", true, "bit flip in the magic");
		memcpy(x, good, len);
		x[9] ^= 1;
		refuse(x, len, "header is corrupt", true, "bit flip in the format version");
		free(x);
	}

	/* an unknown format version, with a valid header CRC */
	parse(good, len, &im);
	wr32(im.hdr + 8, 2);
	b = build(&im, &blen, true);
	refuse(b, blen, "unsupported snapshot format version 2", true, "format version 2");
	free(b);
	img_free(&im);

	/* sections that do not belong */
	struct { const char *what, *want; int op; } cases[] = {
		{ "state for a device this machine lacks", "device 'bogus'", 0 },
		{ "state for a vCPU this machine lacks", "state for vCPU 1", 1 },
		{ "an unknown section", "unknown section 'frob'", 2 },
		{ "a section twice", "appears twice", 3 },
		{ "a missing device section", "no state for device 'uart'", 4 },
		{ "a missing vCPU section", "no state for vCPU 0", 5 },
		{ "garbage after the end", "garbage after the 'end' section", 6 },
		{ "a newer device section version", "version 9", 7 },
		{ "no 'end' section", "truncated", 8 },
		{ "a RAM run beyond RAM", "section 'ram' is malformed", 9 },
		{ "an unknown vCPU record", "unknown record 99", 10 },
		{ "a vCPU record of the wrong size", "record 'regs' has", 11 },
		{ "a missing vCPU record", "no 'lapic' record", 12 },
		{ "private state of an unknown version", "private state version 7", 13 },
		{ "sregs2 the API rejects (CR0.PG without PE)", "vCPU 0: the sregs2 state is rejected", 14 },
		{ "vcpu_events the API rejects (NMI as an exception)", "vCPU 0: the vcpu_events state is rejected", 15 },
		{ "an MSR the API rejects (PAT)", "vCPU 0: MSR 0x277", 16 },
		{ "a device section with a malformed payload", "device 'misc'", 17 },
		{ "a malformed config section", "section 'config' is malformed", 18 },
		{ "an 'end' count that does not match", "does not match the sections", 19 },
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		parse(good, len, &im);
		int at = find(&im, "end", 0);
		int cpu = find(&im, "cpu", 0);
		bool keep_end = false;
		uint32_t rl;
		uint8_t *p;
		switch (cases[k].op) {
		case 0: insert(&im, at, "dev:bogus", 0, 1, "x", 1); break;
		case 1: insert(&im, at, "cpu", 1, 1, im.s[cpu].p, im.s[cpu].len); break;
		case 2: insert(&im, at, "frob", 0, 1, "x", 1); break;
		case 3: insert(&im, at, "vm", 0, 1, im.s[find(&im, "vm", 0)].p, 8); break;
		case 4: drop(&im, find(&im, "dev:uart", 0)); break;
		case 5: drop(&im, cpu); break;
		case 6: insert(&im, im.n, "x", 0, 1, "", 0); break;
		case 7: im.s[find(&im, "dev:uart", 0)].ver = 9; break;
		case 8: drop(&im, at); break;
		case 9: {
			struct sec *s = &im.s[find(&im, "ram", 0)];
			/* first run header: start page = 0x7fff */
			s->p[16] = 0xff;
			s->p[17] = 0x7f;
			break;
		}
		case 10:
			p = cpu_rec(&im.s[cpu], 1, &rl);
			wr32(p - 8, 99);
			break;
		case 11:
			p = cpu_rec(&im.s[cpu], 1, &rl);
			wr32(p - 4, rl - 8);
			/* keep the section parseable: shift the rest down */
			memmove(p + rl - 8, p + rl, im.s[cpu].len - (size_t)(p + rl - im.s[cpu].p));
			im.s[cpu].len -= 8;
			break;
		case 12: {
			p = cpu_rec(&im.s[cpu], 8, &rl);
			size_t start = (size_t)(p - 8 - im.s[cpu].p);
			memmove(p - 8, p + rl, im.s[cpu].len - start - 8 - rl);
			im.s[cpu].len -= 8 + rl;
			break;
		}
		case 13:
			p = cpu_rec(&im.s[cpu], 12, &rl);
			wr32(p, 7);
			break;
		case 14: {
			p = cpu_rec(&im.s[cpu], 2, &rl);
			struct kvm_sregs2 s2;
			memcpy(&s2, p, sizeof(s2));
			s2.cr0 = 0x80000000;
			memcpy(p, &s2, sizeof(s2));
			break;
		}
		case 15: {
			p = cpu_rec(&im.s[cpu], 7, &rl);
			struct kvm_vcpu_events ev;
			memcpy(&ev, p, sizeof(ev));
			ev.exception.injected = 1;
			ev.exception.nr = 2;
			memcpy(p, &ev, sizeof(ev));
			break;
		}
		case 16: {
			p = cpu_rec(&im.s[cpu], 6, &rl);
			uint32_t n = rd32(p);
			for (uint32_t j = 0; j < n; j++)
				if (rd32(p + 4 + j * 16) == 0x277)
					p[4 + j * 16 + 8] = 0x02;	/* PAT type 2 is reserved */
			break;
		}
		case 17: {
			struct sec *s = &im.s[find(&im, "dev:misc", 0)];
			s->p[0] = 9;	/* shutdown-port progress beyond "Shutdown" */
			break;
		}
		case 18: im.s[0].len = 3; break;
		case 19: wr32(im.s[at].p, 77); keep_end = true; break;
		}
		b = build(&im, &blen, keep_end);
		refuse(b, blen, cases[k].want, true, cases[k].what);
		free(b);
		img_free(&im);
	}

	/* machines that differ from the snapshot's */
	struct { const char *what, *want; } conf[] = {
		{ "another RAM size", "MiB of RAM" },
		{ "another vCPU count", "the snapshot has 1 vCPUs, this machine 2" },
		{ "another CPU model", "CPU model 'intel', this machine 'amd'" },
		{ "another device set", "pc-testdev" },
		{ "no debug-exit device", "isa-debug-exit" },
		{ "another quantum", "-quantum" },
	};
	for (size_t k = 0; k < sizeof(conf) / sizeof(conf[0]); k++) {
		struct config c2 = base_cfg();
		switch (k) {
		case 0: c2.ram_size = 64ULL << 20; break;
		case 1: c2.smp = c2.max_cpus = 2; break;
		case 2: c2.cpu_model = "amd"; break;
		case 3: c2.pc_testdev = true; break;
		case 4: c2.debug_exit = false; break;
		case 5: c2.quantum = 5000; break;
		}
		struct machine m2;
		char err[400] = "";
		if (machine_init(&m2, &c2) < 0) {
			tap_ok(false, "%s: cannot create the machine", conf[k].what);
			continue;
		}
		int rr = snapshot_restore(&m2, good, len, err, sizeof(err));
		tap_ok(rr < 0 && strstr(err, conf[k].want), "%s: refused with \"%s\"", conf[k].what, err);
		machine_destroy(&m2);
	}
	free(good);
	machine_destroy(&src);
	machine_destroy(&target);
	return tap_done();
}
