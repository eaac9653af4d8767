// SPDX-License-Identifier: MIT
/*
 * Machine snapshots: the file format of docs/snapshot-format.md.
 *
 * A snapshot is a header and a list of sections (name, instance, version,
 * length, CRC32C): the machine configuration, VM-wide private state, the
 * scheduler, RAM (zero pages left out, optionally zstd-compressed), one
 * section per device and one per vCPU.  A vCPU section is the KVM structs
 * of the public API plus a small emulator-private record
 * (struct nv_private_state).
 *
 * Restoring is all-or-nothing as far as the run is concerned: the whole
 * stream is parsed and checked (structure, CRCs, configuration, every
 * section present, known and of the right size) before anything is
 * applied; a vCPU state the API's set functions reject is reported and
 * the caller does not start the machine.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef NV_HAVE_ZSTD
#include <zstd.h>
#endif

#include "snapshot_int.h"

#define PAGE 4096ULL
#define MAGIC "NESTVMSN"
#define HDR_SIZE 24
#define SEC_HDR_SIZE 48
#define MAX_SECTIONS (SNAP_MAX_DEV + MAX_CPUS + 16)

/* vCPU section records (docs/snapshot-format.md, "cpu") */
enum {
	REC_REGS = 1, REC_SREGS2, REC_XSAVE, REC_XCRS, REC_DEBUGREGS, REC_MSRS,
	REC_EVENTS, REC_LAPIC, REC_MP_STATE, REC_NESTED, REC_CPUID, REC_PRIVATE,
	REC_RUN, REC_MAX
};

static const char *const rec_name[REC_MAX] = {
	[REC_REGS] = "regs", [REC_SREGS2] = "sregs2", [REC_XSAVE] = "xsave",
	[REC_XCRS] = "xcrs", [REC_DEBUGREGS] = "debugregs", [REC_MSRS] = "msrs",
	[REC_EVENTS] = "vcpu_events", [REC_LAPIC] = "lapic", [REC_MP_STATE] = "mp_state",
	[REC_NESTED] = "nested_state", [REC_CPUID] = "cpuid", [REC_PRIVATE] = "private",
	[REC_RUN] = "run",
};

/*
 * MSRs saved besides KVM_GET_MSR_INDEX_LIST: state the emulator keeps that
 * the index list does not name yet (MTRRs, machine-check banks, AMD
 * performance counters and SVM MSRs).  An MSR the CPU model lacks fails
 * KVM_GET_MSRS and is simply not saved.  TSC_ADJUST is written before the
 * TSC (a write to it moves the TSC); the exact TSC offset is in the
 * private record anyway.
 */
static const uint32_t extra_msrs[] = {
	0x200, 0x201, 0x202, 0x203, 0x204, 0x205, 0x206, 0x207,
	0x208, 0x209, 0x20a, 0x20b, 0x20c, 0x20d, 0x20e, 0x20f,
	0x250, 0x258, 0x259, 0x268, 0x269, 0x26a, 0x26b, 0x26c, 0x26d, 0x26e, 0x26f,
	0xda0, 0xc0000103,
	0xc0010000, 0xc0010001, 0xc0010002, 0xc0010003,
	0xc0010004, 0xc0010005, 0xc0010006, 0xc0010007,
	0xc0010200, 0xc0010201, 0xc0010202, 0xc0010203, 0xc0010204, 0xc0010205,
	0xc0010206, 0xc0010207, 0xc0010208, 0xc0010209, 0xc001020a, 0xc001020b,
	0xc0010010, 0xc0010015, 0xc0010114, 0xc0010117,
};
#define MSR_TSC_IDX 0x10
#define MSR_MC_FIRST 0x400
#define MSR_MC_COUNT 40
#define MAX_SAVED_MSRS 512

/* ---- CRC32C (Castagnoli), as iSCSI / ext4 use it ----------------------------- */

static uint32_t crc_table[8][256];
static bool crc_hw, crc_init_done;
#define CRC_BLK 1024
/* shifting a CRC over CRC_BLK zero bytes, one table per byte of the CRC */
static uint32_t crc_shift_tab[4][256];

static void crc_init(void)
{
	if (crc_init_done)
		return;
	for (uint32_t n = 0; n < 256; n++) {
		uint32_t c = n;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[0][n] = c;
	}
	for (uint32_t n = 0; n < 256; n++)
		for (int t = 1; t < 8; t++)
			crc_table[t][n] = (crc_table[t - 1][n] >> 8) ^ crc_table[0][crc_table[t - 1][n] & 0xff];
	/* the shift by CRC_BLK zero bytes, bit by bit, with the table method */
	uint32_t bit_shift[32];
	for (int b = 0; b < 32; b++) {
		uint32_t c = 1u << b;
		for (int k = 0; k < CRC_BLK; k++)
			c = (c >> 8) ^ crc_table[0][c & 0xff];
		bit_shift[b] = c;
	}
	for (int t = 0; t < 4; t++) {
		for (uint32_t v = 0; v < 256; v++) {
			uint32_t x = 0;
			for (int j = 0; j < 8; j++)
				if (v & (1u << j))
					x ^= bit_shift[t * 8 + j];
			crc_shift_tab[t][v] = x;
		}
	}
#if defined(__x86_64__)
	__builtin_cpu_init();
	crc_hw = __builtin_cpu_supports("sse4.2");
#endif
	crc_init_done = true;
}

static uint32_t crc_shift(uint32_t c)
{
	return crc_shift_tab[0][c & 0xff] ^ crc_shift_tab[1][(c >> 8) & 0xff] ^
	       crc_shift_tab[2][(c >> 16) & 0xff] ^ crc_shift_tab[3][c >> 24];
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t crc_hw_update(uint32_t crc, const uint8_t *p, size_t n)
{
	uint64_t c = crc;
	while (n && ((uintptr_t)p & 7)) {
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
		n--;
	}
	/*
	 * Three independent streams hide the instruction's latency; the CRC
	 * is linear, so crc(A|B|C) = shift(shift(crc(A)) ^ crc0(B)) ^ crc0(C)
	 * where shift() runs the CRC over CRC_BLK zero bytes.
	 */
	while (n >= 3 * CRC_BLK) {
		uint64_t c1 = 0, c2 = 0;
		const uint64_t *q = (const uint64_t *)p;
		for (int k = 0; k < CRC_BLK / 8; k++) {
			c = __builtin_ia32_crc32di(c, q[k]);
			c1 = __builtin_ia32_crc32di(c1, q[k + CRC_BLK / 8]);
			c2 = __builtin_ia32_crc32di(c2, q[k + 2 * CRC_BLK / 8]);
		}
		c = crc_shift(crc_shift((uint32_t)c) ^ (uint32_t)c1) ^ (uint32_t)c2;
		p += 3 * CRC_BLK;
		n -= 3 * CRC_BLK;
	}
	while (n >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
		p += 8;
		n -= 8;
	}
	while (n--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return (uint32_t)c;
}
#endif

/* raw update (no pre/post inversion) */
static uint32_t crc_update(uint32_t crc, const void *data, size_t n)
{
	const uint8_t *p = data;
#if defined(__x86_64__)
	if (crc_hw)
		return crc_hw_update(crc, p, n);
#endif
	while (n >= 8) {
		uint32_t lo, hi;
		memcpy(&lo, p, 4);
		memcpy(&hi, p + 4, 4);
		lo ^= crc;
		crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		      crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		      crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
		      crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
		p += 8;
		n -= 8;
	}
	while (n--)
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
	return crc;
}

static uint32_t crc32c(const void *data, size_t n)
{
	crc_init();
	return ~crc_update(~0u, data, n);
}

/* ---- the serialisation kit ----------------------------------------------------------- */

void snap_put_bytes(struct snap_buf *b, const void *p, size_t n)
{
	if (b->oom || !n)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		uint8_t *q = realloc(b->p, cap);
		if (!q) {
			b->oom = true;
			return;
		}
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

void snap_put_u8(struct snap_buf *b, uint8_t v)
{
	snap_put_bytes(b, &v, 1);
}

void snap_put_u16(struct snap_buf *b, uint16_t v)
{
	uint8_t x[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
	snap_put_bytes(b, x, 2);
}

void snap_put_u32(struct snap_buf *b, uint32_t v)
{
	snap_put_u16(b, (uint16_t)v);
	snap_put_u16(b, (uint16_t)(v >> 16));
}

void snap_put_u64(struct snap_buf *b, uint64_t v)
{
	snap_put_u32(b, (uint32_t)v);
	snap_put_u32(b, (uint32_t)(v >> 32));
}

static void put_str(struct snap_buf *b, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	snap_put_u8(b, s != NULL);
	snap_put_u32(b, (uint32_t)n);
	snap_put_bytes(b, s ? s : "", n);
}

void snap_get_bytes(struct snap_in *in, void *p, size_t n)
{
	if (!n)
		return;
	if (in->bad || n > in->len - in->pos) {
		in->bad = true;
		memset(p, 0, n);
		return;
	}
	memcpy(p, in->p + in->pos, n);
	in->pos += n;
}

uint8_t snap_get_u8(struct snap_in *in)
{
	uint8_t v;
	snap_get_bytes(in, &v, 1);
	return v;
}

uint16_t snap_get_u16(struct snap_in *in)
{
	uint8_t x[2];
	snap_get_bytes(in, x, 2);
	return (uint16_t)(x[0] | (x[1] << 8));
}

uint32_t snap_get_u32(struct snap_in *in)
{
	uint32_t lo = snap_get_u16(in);
	return lo | ((uint32_t)snap_get_u16(in) << 16);
}

uint64_t snap_get_u64(struct snap_in *in)
{
	uint64_t lo = snap_get_u32(in);
	return lo | ((uint64_t)snap_get_u32(in) << 32);
}

bool snap_get_bool(struct snap_in *in)
{
	uint8_t v = snap_get_u8(in);
	if (v > 1)
		in->bad = true;
	return v == 1;
}

bool snap_in_done(const struct snap_in *in)
{
	return !in->bad && in->pos == in->len;
}

/* a string as put_str wrote it; NULL if absent; malloc'd */
static char *get_str(struct snap_in *in)
{
	bool present = snap_get_bool(in);
	uint32_t n = snap_get_u32(in);
	if (in->bad || n > 65536 || n > in->len - in->pos) {
		in->bad = true;
		return NULL;
	}
	char *s = malloc(n + 1);
	if (!s) {
		in->bad = true;
		return NULL;
	}
	snap_get_bytes(in, s, n);
	s[n] = 0;
	if (!present || strlen(s) != n) {
		if (present)
			in->bad = true;	/* embedded NUL */
		free(s);
		return NULL;
	}
	return s;
}

/* ---- registration ---------------------------------------------------------------- */

struct snapshot_state *snap_state(struct machine *m)
{
	if (!m->snap) {
		m->snap = calloc(1, sizeof(*m->snap));
		if (!m->snap) {
			fprintf(stderr, "nestvm: out of memory\n");
			exit(1);
		}
		m->snap->resume_cpu = -1;
		m->snap->torture_fd = -1;
	}
	return m->snap;
}

void snapshot_register(struct machine *m, const char *name, uint32_t version, void *opaque,
		       snap_save_fn save, snap_load_fn load)
{
	struct snapshot_state *s = snap_state(m);
	char full[SNAP_NAME_LEN + 8];
	snprintf(full, sizeof(full), "dev:%s", name);
	if (s->ndev >= SNAP_MAX_DEV || strlen(full) >= SNAP_NAME_LEN) {
		fprintf(stderr, "nestvm: cannot register snapshot section '%s'\n", full);
		exit(1);
	}
	for (int k = 0; k < s->ndev; k++) {
		if (!strcmp(s->dev[k].name, full)) {
			/* re-registration (device re-initialised): update in place */
			s->dev[k] = (struct snap_dev){ .version = version, .opaque = opaque,
						       .save = save, .load = load };
			memcpy(s->dev[k].name, full, strlen(full) + 1);	/* fits: checked */
			return;
		}
	}
	struct snap_dev *d = &s->dev[s->ndev++];
	memcpy(d->name, full, strlen(full) + 1);
	d->version = version;
	d->opaque = opaque;
	d->save = save;
	d->load = load;
}

/* ---- writing ------------------------------------------------------------------------ */

struct wout {
	int fd;
	uint64_t off;		/* file offset of buf[0] */
	uint8_t *buf;
	size_t n, cap;
	int err;		/* errno of the first failure */
	uint32_t crc;		/* running CRC of the open section */
	uint64_t sec_off;	/* header offset of the open section */
	uint64_t sec_len;
	char sec_name[SNAP_NAME_LEN];
	uint32_t sec_inst, sec_ver;
	int nsec;
};

static void w_flush(struct wout *w)
{
	size_t done = 0;
	while (!w->err && done < w->n) {
		ssize_t r = pwrite(w->fd, w->buf + done, w->n - done, (off_t)(w->off + done));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			w->err = errno;
			break;
		}
		if (r == 0) {
			w->err = EIO;
			break;
		}
		done += (size_t)r;
	}
	w->off += w->n;
	w->n = 0;
}

/* large blocks go straight to the file */
static void w_write_direct(struct wout *w, const void *p, size_t n)
{
	w_flush(w);
	size_t done = 0;
	while (!w->err && done < n) {
		ssize_t r = pwrite(w->fd, (const uint8_t *)p + done, n - done, (off_t)(w->off + done));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			w->err = errno;
			break;
		}
		if (r == 0) {
			w->err = EIO;
			break;
		}
		done += (size_t)r;
	}
	w->off += n;
}

static void w_data(struct wout *w, const void *p, size_t n)
{
	if (!n)
		return;
	w->crc = crc_update(w->crc, p, n);
	w->sec_len += n;
	if (n >= 64 * 1024) {
		w_write_direct(w, p, n);
		return;
	}
	if (w->n + n > w->cap)
		w_flush(w);
	memcpy(w->buf + w->n, p, n);
	w->n += n;
}

static void w_begin(struct wout *w, const char *name, uint32_t inst, uint32_t ver)
{
	uint8_t zero[SEC_HDR_SIZE] = { 0 };
	w_flush(w);
	w->sec_off = w->off;
	w_write_direct(w, zero, sizeof(zero));
	w->crc = ~0u;
	w->sec_len = 0;
	snprintf(w->sec_name, sizeof(w->sec_name), "%s", name);
	w->sec_inst = inst;
	w->sec_ver = ver;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int k = 0; k < 4; k++)
		p[k] = (uint8_t)(v >> (8 * k));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int k = 0; k < 8; k++)
		p[k] = (uint8_t)(v >> (8 * k));
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint64_t le64(const uint8_t *p)
{
	return le32(p) | ((uint64_t)le32(p + 4) << 32);
}

/*
 * Section header (48 bytes): name[24] (NUL padded), instance u32,
 * version u32, length u64, payload CRC32C u32, header CRC32C u32 (of the
 * first 44 bytes, so a damaged length is reported as damage).
 */
static void sec_header(uint8_t *h, const char *name, uint32_t inst, uint32_t ver, uint64_t len,
		       uint32_t crc)
{
	memset(h, 0, SEC_HDR_SIZE);
	size_t nl = strlen(name);
	memcpy(h, name, nl < SNAP_NAME_LEN - 1 ? nl : SNAP_NAME_LEN - 1);
	put_le32(h + 24, inst);
	put_le32(h + 28, ver);
	put_le64(h + 32, len);
	put_le32(h + 40, crc);
	put_le32(h + 44, crc32c(h, 44));
}

static void w_end(struct wout *w)
{
	uint8_t h[SEC_HDR_SIZE];
	w_flush(w);
	sec_header(h, w->sec_name, w->sec_inst, w->sec_ver, w->sec_len, ~w->crc);
	if (!w->err && pwrite(w->fd, h, sizeof(h), (off_t)w->sec_off) != (ssize_t)sizeof(h))
		w->err = errno ? errno : EIO;
	w->nsec++;
}

static void w_section(struct wout *w, const char *name, uint32_t inst, uint32_t ver,
		      const struct snap_buf *b)
{
	w_begin(w, name, inst, ver);
	w_data(w, b->p ? b->p : (const uint8_t *)"", b->len);
	w_end(w);
}

static void save_config(struct machine *m, struct snap_buf *b)
{
	const struct config *c = &m->cfg;
	snap_put_u64(b, m->ram_size);
	snap_put_u32(b, (uint32_t)m->ncpus);
	snap_put_u32(b, (uint32_t)c->max_cpus);
	snap_put_u32(b, (uint32_t)c->engine);
	snap_put_u64(b, c->quantum);
	snap_put_u8(b, c->no_reboot);
	snap_put_u8(b, c->debug_exit);
	snap_put_u16(b, c->debug_exit ? c->debug_exit_base : 0);
	snap_put_u16(b, c->debug_exit ? c->debug_exit_size : 0);
	snap_put_u8(b, c->pc_testdev);
	snap_put_u8(b, c->pci_testdev);
	put_str(b, c->cpu_model ? c->cpu_model : "intel");
	put_str(b, c->kernel);
	put_str(b, c->append);
	put_str(b, c->initrd);
	snap_put_u8(b, c->strict);	/* version 2 */
}

static void save_sched(struct machine *m, struct snap_buf *b)
{
	snap_put_u64(b, m->clock);
	snap_put_u64(b, m->slice_end);
	snap_put_u32(b, (uint32_t)m->cur_cpu);
	snap_put_u32(b, MAX_TIMERS);
	for (int k = 0; k < MAX_TIMERS; k++) {
		snap_put_u8(b, m->timers[k].used);
		snap_put_u64(b, m->timers[k].deadline);
	}
}

/* ---- RAM ------------------------------------------------------------------------------ */

static bool page_zero(const uint8_t *p)
{
	const uint64_t *q = (const uint64_t *)p;
	for (size_t k = 0; k < PAGE / 8; k += 8) {
		if (q[k] | q[k + 1] | q[k + 2] | q[k + 3] | q[k + 4] | q[k + 5] | q[k + 6] | q[k + 7])
			return false;
	}
	return true;
}

/*
 * Which pages were ever touched: /proc/self/pagemap says present or
 * swapped; a page that is neither was never written and reads as zero, so
 * a large, mostly untouched guest is not scanned page by page.  Returns a
 * bitmap (1 = may hold data) or NULL if pagemap cannot be read.
 */
static uint8_t *touched_pages(const uint8_t *base, uint64_t npages)
{
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	uint8_t *map = calloc((npages + 7) / 8, 1);
	uint64_t *ent = malloc(4096 * sizeof(uint64_t));
	if (!map || !ent)
		goto fail;
	uint64_t first = (uintptr_t)base / PAGE;
	for (uint64_t p = 0; p < npages;) {
		uint64_t n = npages - p < 4096 ? npages - p : 4096;
		ssize_t r = pread(fd, ent, n * 8, (off_t)((first + p) * 8));
		if (r != (ssize_t)(n * 8))
			goto fail;
		for (uint64_t k = 0; k < n; k++)
			if (ent[k] & (3ULL << 62))
				map[(p + k) / 8] |= (uint8_t)(1u << ((p + k) % 8));
		p += n;
	}
	free(ent);
	close(fd);
	return map;
fail:
	free(map);
	free(ent);
	close(fd);
	return NULL;
}

/* RAM payload: u64 ram_size, u32 page size, u32 encoding, then runs */
enum { RAM_RAW = 0, RAM_ZSTD = 1 };

struct ram_writer {
	struct wout *w;
	struct snap_buf zin;	/* zstd: the raw run stream, compressed at the end */
	bool zstd;
};

static void ram_emit(struct ram_writer *rw, const void *p, size_t n)
{
	if (rw->zstd)
		snap_put_bytes(&rw->zin, p, n);
	else
		w_data(rw->w, p, n);
}

static void ram_run(struct ram_writer *rw, const uint8_t *ram, uint64_t first, uint64_t n)
{
	uint8_t h[16];
	put_le64(h, first);
	put_le64(h + 8, n);
	ram_emit(rw, h, 16);
	ram_emit(rw, ram + first * PAGE, n * PAGE);
}

static int save_ram(struct machine *m, struct wout *w, bool use_zstd, char *err, size_t errlen)
{
	uint64_t npages = m->ram_size / PAGE;
	uint8_t *touched = touched_pages(m->ram, npages);
	struct ram_writer rw = { .w = w, .zstd = use_zstd };
	uint8_t h[16];

	w_begin(w, "ram", 0, 1);
	put_le64(h, m->ram_size);
	put_le32(h + 8, (uint32_t)PAGE);
	put_le32(h + 12, use_zstd ? RAM_ZSTD : RAM_RAW);
	w_data(w, h, 16);
	uint64_t run_start = 0, run_len = 0;
	for (uint64_t p = 0; p < npages;) {
		bool skip8 = touched && (p % 8) == 0 && p + 8 <= npages && !touched[p / 8];
		if (skip8 || (touched && !(touched[p / 8] & (1u << (p % 8)))) ||
		    page_zero(m->ram + p * PAGE)) {
			if (run_len) {
				ram_run(&rw, m->ram, run_start, run_len);
				run_len = 0;
			}
			p += skip8 ? 8 : 1;
			continue;
		}
		if (!run_len)
			run_start = p;
		run_len++;
		p++;
	}
	if (run_len)
		ram_run(&rw, m->ram, run_start, run_len);
	free(touched);
	if (use_zstd) {
#ifdef NV_HAVE_ZSTD
		if (rw.zin.oom) {
			snprintf(err, errlen, "out of memory compressing RAM");
			return -1;
		}
		size_t cap = ZSTD_compressBound(rw.zin.len);
		void *out = malloc(cap ? cap : 1);
		if (!out) {
			free(rw.zin.p);
			snprintf(err, errlen, "out of memory compressing RAM");
			return -1;
		}
		size_t zn = ZSTD_compress(out, cap, rw.zin.p, rw.zin.len, 1);
		free(rw.zin.p);
		if (ZSTD_isError(zn)) {
			free(out);
			snprintf(err, errlen, "zstd: %s", ZSTD_getErrorName(zn));
			return -1;
		}
		put_le64(h, rw.zin.len);
		w_data(w, h, 8);
		w_data(w, out, zn);
		free(out);
#else
		snprintf(err, errlen, "this nestvm was built without zstd");
		return -1;
#endif
	}
	w_end(w);
	return 0;
}

/* ---- vCPUs ------------------------------------------------------------------------------ */

static void rec(struct snap_buf *b, uint32_t tag, const void *p, size_t n)
{
	snap_put_u32(b, tag);
	snap_put_u32(b, (uint32_t)n);
	snap_put_bytes(b, p, n);
}

static int msr_list(struct machine *m, uint32_t *out, int max)
{
	int n = 0;
	struct kvm_msr_list probe = { .nmsrs = 0 };
	nv_get_msr_index_list(m->vm, &probe);
	struct kvm_msr_list *l = calloc(1, sizeof(*l) + probe.nmsrs * sizeof(uint32_t));
	if (l) {
		l->nmsrs = probe.nmsrs;
		if (nv_get_msr_index_list(m->vm, l) == 0) {
			/* TSC_ADJUST (0x3b) before TSC (0x10): see extra_msrs */
			for (uint32_t k = 0; k < l->nmsrs && n < max; k++)
				if (l->indices[k] != MSR_TSC_IDX)
					out[n++] = l->indices[k];
			for (uint32_t k = 0; k < l->nmsrs && n < max; k++)
				if (l->indices[k] == MSR_TSC_IDX)
					out[n++] = MSR_TSC_IDX;
		}
		free(l);
	}
	for (size_t k = 0; k < sizeof(extra_msrs) / sizeof(extra_msrs[0]) && n < max; k++)
		out[n++] = extra_msrs[k];
	for (uint32_t k = 0; k < MSR_MC_COUNT && n < max; k++)
		out[n++] = MSR_MC_FIRST + k;
	/* drop duplicates (an index list that grows to cover the extras) */
	int o = 0;
	for (int k = 0; k < n; k++) {
		bool dup = false;
		for (int j = 0; j < o; j++)
			if (out[j] == out[k])
				dup = true;
		if (!dup)
			out[o++] = out[k];
	}
	return o;
}

static int save_vcpu(struct machine *m, int k, struct snap_buf *b, char *err, size_t errlen)
{
	struct nv_vcpu *v = m->vcpu[k];
	int r;
#define GET(fn, obj, what) \
	do { \
		r = fn(v, obj); \
		if (r < 0) { \
			snprintf(err, errlen, "vCPU %d: cannot read %s: %s", k, what, strerror(-r)); \
			return -1; \
		} \
	} while (0)
	struct nv_private_state priv = { .version = NV_PRIVATE_STATE_VERSION, .size = sizeof(priv) };
	GET(nv_get_private_state, &priv, "private state");
	if (priv.flags & NV_PRIV_IO_BUSY) {
		snprintf(err, errlen, "vCPU %d is in the middle of an I/O exit", k);
		return -1;
	}
	struct kvm_regs regs;
	GET(nv_get_regs, &regs, "regs");
	rec(b, REC_REGS, &regs, sizeof(regs));
	struct kvm_sregs2 sregs;
	GET(nv_get_sregs2, &sregs, "sregs2");
	rec(b, REC_SREGS2, &sregs, sizeof(sregs));
	struct kvm_xcrs xcrs;
	GET(nv_get_xcrs, &xcrs, "xcrs");
	rec(b, REC_XCRS, &xcrs, sizeof(xcrs));
	struct kvm_xsave *xs = calloc(1, sizeof(*xs));
	if (!xs) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	r = nv_get_xsave(v, xs);
	if (r < 0) {
		free(xs);
		snprintf(err, errlen, "vCPU %d: cannot read xsave: %s", k, strerror(-r));
		return -1;
	}
	rec(b, REC_XSAVE, xs, sizeof(*xs));
	free(xs);
	struct kvm_debugregs dbg;
	GET(nv_get_debugregs, &dbg, "debugregs");
	rec(b, REC_DEBUGREGS, &dbg, sizeof(dbg));
	struct kvm_lapic_state lapic;
	GET(nv_get_lapic, &lapic, "lapic");
	rec(b, REC_LAPIC, &lapic, sizeof(lapic));

	/* MSRs: one at a time, keeping the ones this CPU model has */
	uint32_t idx[MAX_SAVED_MSRS];
	int n = msr_list(m, idx, MAX_SAVED_MSRS);
	struct snap_buf mb = { 0 };
	uint32_t nsaved = 0;
	snap_put_u32(&mb, 0);
	for (int j = 0; j < n; j++) {
		struct { struct kvm_msrs h; struct kvm_msr_entry e; } one;
		memset(&one, 0, sizeof(one));
		one.h.nmsrs = 1;
		one.e.index = idx[j];
		if (nv_get_msrs(v, &one.h) != 1)
			continue;
		snap_put_u32(&mb, idx[j]);
		snap_put_u32(&mb, 0);
		snap_put_u64(&mb, one.e.data);
		nsaved++;
	}
	if (mb.oom) {
		free(mb.p);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	put_le32(mb.p, nsaved);
	rec(b, REC_MSRS, mb.p, mb.len);
	free(mb.p);

	struct kvm_vcpu_events ev;
	GET(nv_get_vcpu_events, &ev, "vcpu_events");
	rec(b, REC_EVENTS, &ev, sizeof(ev));
	struct kvm_mp_state mp;
	GET(nv_get_mp_state, &mp, "mp_state");
	rec(b, REC_MP_STATE, &mp, sizeof(mp));

	/* nested state: the slot exists; empty while the CPU has no VMX/SVM */
	int nsize = nv_check_extension(m->vm, KVM_CAP_NESTED_STATE);
	if (nsize > 0) {
		struct kvm_nested_state *ns = calloc(1, (size_t)nsize);
		if (!ns) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		ns->size = (uint32_t)nsize;
		r = nv_get_nested_state(v, ns);
		if (r < 0) {
			free(ns);
			snprintf(err, errlen, "vCPU %d: cannot read nested_state: %s", k, strerror(-r));
			return -1;
		}
		uint32_t sz = ns->size <= (uint32_t)nsize ? ns->size : (uint32_t)nsize;
		rec(b, REC_NESTED, ns, sz);
		free(ns);
	} else {
		rec(b, REC_NESTED, NULL, 0);
	}

	struct kvm_cpuid2 *cp = calloc(1, sizeof(*cp) + 256 * sizeof(struct kvm_cpuid_entry2));
	if (!cp) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	cp->nent = 256;
	r = nv_get_cpuid2(v, cp);
	if (r < 0) {
		free(cp);
		snprintf(err, errlen, "vCPU %d: cannot read cpuid: %s", k, strerror(-r));
		return -1;
	}
	rec(b, REC_CPUID, cp, sizeof(*cp) + cp->nent * sizeof(struct kvm_cpuid_entry2));
	free(cp);

	rec(b, REC_PRIVATE, &priv, sizeof(priv));
	struct kvm_run *run = nv_vcpu_run_page(v);
	uint8_t runin[8] = { run->request_interrupt_window };
	rec(b, REC_RUN, runin, sizeof(runin));
#undef GET
	if (b->oom) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

int snapshot_save_fd(struct machine *m, int fd, char *err, size_t errlen)
{
	struct snapshot_state *s = snap_state(m);
	struct wout w = { .fd = fd, .cap = 1 << 16 };
	struct snap_buf b = { 0 };
	struct timespec t0, t1;
	int ret = -1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	crc_init();
	if (nv_vm_engine(m->vm) != NV_ENGINE_EMU) {
		snprintf(err, errlen, "snapshots need the emulator engine (accel=tcg)");
		return -1;
	}
	w.buf = malloc(w.cap);
	if (!w.buf) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	uint8_t hdr[HDR_SIZE] = { 0 };
	memcpy(hdr, MAGIC, 8);
	put_le32(hdr + 8, SNAP_FORMAT_VERSION);
	put_le32(hdr + 12, HDR_SIZE);
	put_le32(hdr + 16, 0);
	put_le32(hdr + 20, crc32c(hdr, 20));
	w_write_direct(&w, hdr, sizeof(hdr));

	save_config(m, &b);
	w_section(&w, "config", 0, 2, &b);

	struct nv_vm_private_state vp = { .version = NV_VM_PRIVATE_STATE_VERSION, .size = sizeof(vp) };
	int r = nv_get_vm_private_state(m->vm, &vp);
	if (r < 0) {
		snprintf(err, errlen, "cannot read the VM's private state: %s", strerror(-r));
		goto out;
	}
	b.len = 0;
	snap_put_u64(&b, vp.rng_state);
	w_section(&w, "vm", 0, 1, &b);

	b.len = 0;
	save_sched(m, &b);
	w_section(&w, "sched", 0, 1, &b);

	bool use_zstd = false;
#ifdef NV_HAVE_ZSTD
	use_zstd = m->cfg.snapshot_zstd;
#endif
	if (save_ram(m, &w, use_zstd, err, errlen) < 0)
		goto out;

	for (int k = 0; k < s->ndev; k++) {
		b.len = 0;
		s->dev[k].save(m, s->dev[k].opaque, &b);
		w_section(&w, s->dev[k].name, 0, s->dev[k].version, &b);
	}
	for (int k = 0; k < m->ncpus; k++) {
		b.len = 0;
		if (save_vcpu(m, k, &b, err, errlen) < 0)
			goto out;
		w_section(&w, "cpu", (uint32_t)k, 1, &b);
	}
	b.len = 0;
	snap_put_u32(&b, (uint32_t)w.nsec);
	w_section(&w, "end", 0, 1, &b);
	w_flush(&w);
	if (b.oom) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (w.err) {
		snprintf(err, errlen, "write error: %s", strerror(w.err));
		goto out;
	}
	if (ftruncate(fd, (off_t)w.off) < 0 && errno != EINVAL) {
		snprintf(err, errlen, "write error: %s", strerror(errno));
		goto out;
	}
	ret = 0;
	s->nsaves++;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	s->save_ms += (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
out:
	free(b.p);
	free(w.buf);
	return ret;
}

int snapshot_save_file(struct machine *m, const char *path, char *err, size_t errlen)
{
	char tmp[4096];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		return -1;
	}
	char e2[256];
	if (snapshot_save_fd(m, fd, e2, sizeof(e2)) < 0) {
		close(fd);
		unlink(tmp);
		snprintf(err, errlen, "%s: %s", path, e2);
		return -1;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* ---- reading ------------------------------------------------------------------------------ */

struct sec {
	char name[SNAP_NAME_LEN];
	uint32_t inst, ver;
	const uint8_t *p;
	uint64_t len;
	bool used;
};

struct image {
	struct sec sec[MAX_SECTIONS];
	int nsec;
	/* config */
	uint64_t ram_size, quantum;
	uint32_t ncpus, max_cpus, engine;
	bool no_reboot, debug_exit, pc_testdev, pci_testdev, strict;
	uint16_t debug_exit_base, debug_exit_size;
	char *cpu_model, *kernel, *append, *initrd;
};

static void image_free(struct image *im)
{
	free(im->cpu_model);
	free(im->kernel);
	free(im->append);
	free(im->initrd);
	im->cpu_model = im->kernel = im->append = im->initrd = NULL;
}

static struct sec *find_sec(struct image *im, const char *name, uint32_t inst)
{
	for (int k = 0; k < im->nsec; k++)
		if (!strcmp(im->sec[k].name, name) && im->sec[k].inst == inst)
			return &im->sec[k];
	return NULL;
}

static bool known_section(const char *name)
{
	return !strcmp(name, "config") || !strcmp(name, "vm") || !strcmp(name, "sched") ||
	       !strcmp(name, "ram") || !strcmp(name, "cpu") || !strcmp(name, "end") ||
	       !strncmp(name, "dev:", 4);
}

static int parse_config(struct image *im, struct sec *s, char *err, size_t errlen)
{
	if (s->ver != 1 && s->ver != 2) {
		snprintf(err, errlen, "section 'config' has version %u; this nestvm reads versions 1-2",
			 s->ver);
		return -1;
	}
	struct snap_in in = { .p = s->p, .len = s->len };
	im->ram_size = snap_get_u64(&in);
	im->ncpus = snap_get_u32(&in);
	im->max_cpus = snap_get_u32(&in);
	im->engine = snap_get_u32(&in);
	im->quantum = snap_get_u64(&in);
	im->no_reboot = snap_get_bool(&in);
	im->debug_exit = snap_get_bool(&in);
	im->debug_exit_base = snap_get_u16(&in);
	im->debug_exit_size = snap_get_u16(&in);
	im->pc_testdev = snap_get_bool(&in);
	im->pci_testdev = snap_get_bool(&in);
	im->cpu_model = get_str(&in);
	im->kernel = get_str(&in);
	im->append = get_str(&in);
	im->initrd = get_str(&in);
	if (s->ver >= 2)
		im->strict = snap_get_bool(&in);	/* version 1: KVM-compatible */
	if (!snap_in_done(&in) || !im->cpu_model) {
		snprintf(err, errlen, "section 'config' is malformed");
		return -1;
	}
	if (!im->ncpus || im->ncpus > MAX_CPUS || im->max_cpus < im->ncpus ||
	    im->ram_size < (2ULL << 20) || (im->ram_size & (PAGE - 1)) ||
	    im->ram_size > (1ULL << 46)) {
		snprintf(err, errlen, "section 'config' holds impossible values");
		return -1;
	}
	s->used = true;
	return 0;
}

/* header, section table, CRCs and the config section */
static int parse_image(struct image *im, const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	crc_init();
	memset(im, 0, sizeof(*im));
	if (len < HDR_SIZE) {
		snprintf(err, errlen, "truncated: %zu bytes, not even a header", len);
		return -1;
	}
	if (memcmp(buf, MAGIC, 8)) {
		snprintf(err, errlen, "not a nestvm snapshot (bad magic)");
		return -1;
	}
	if (crc32c(buf, 20) != le32(buf + 20)) {
		snprintf(err, errlen, "header is corrupt (CRC mismatch)");
		return -1;
	}
	uint32_t ver = le32(buf + 8);
	if (ver != SNAP_FORMAT_VERSION) {
		snprintf(err, errlen, "unsupported snapshot format version %u (this nestvm reads version %u)",
			 ver, SNAP_FORMAT_VERSION);
		return -1;
	}
	if (le32(buf + 12) != HDR_SIZE || le32(buf + 16) != 0) {
		snprintf(err, errlen, "header is corrupt (size or flags)");
		return -1;
	}
	size_t pos = HDR_SIZE;
	bool ended = false;
	while (!ended) {
		if (len - pos < SEC_HDR_SIZE) {
			snprintf(err, errlen, "truncated: the file ends %s",
				 pos == len ? "after a section, without the 'end' section"
					    : "inside a section header");
			return -1;
		}
		const uint8_t *h = buf + pos;
		if (crc32c(h, 44) != le32(h + 44)) {
			snprintf(err, errlen, "section header %d at offset %zu is corrupt (CRC mismatch)",
				 im->nsec, pos);
			return -1;
		}
		if (im->nsec >= MAX_SECTIONS) {
			snprintf(err, errlen, "too many sections");
			return -1;
		}
		struct sec *s = &im->sec[im->nsec];
		memcpy(s->name, h, SNAP_NAME_LEN);
		if (s->name[SNAP_NAME_LEN - 1] || !s->name[0]) {
			snprintf(err, errlen, "section %d has a malformed name", im->nsec);
			return -1;
		}
		for (int k = (int)strlen(s->name); k < SNAP_NAME_LEN; k++) {
			if (h[k]) {
				snprintf(err, errlen, "section %d has a malformed name", im->nsec);
				return -1;
			}
		}
		s->inst = le32(h + 24);
		s->ver = le32(h + 28);
		s->len = le64(h + 32);
		pos += SEC_HDR_SIZE;
		if (s->len > len - pos) {
			snprintf(err, errlen, "truncated: section '%s' needs %llu bytes, %zu are left",
				 s->name, (unsigned long long)s->len, len - pos);
			return -1;
		}
		s->p = buf + pos;
		if (crc32c(s->p, s->len) != le32(h + 40)) {
			if (!strcmp(s->name, "cpu"))
				snprintf(err, errlen, "section 'cpu' %u is corrupt (CRC mismatch)", s->inst);
			else
				snprintf(err, errlen, "section '%s' is corrupt (CRC mismatch)", s->name);
			return -1;
		}
		if (!known_section(s->name)) {
			snprintf(err, errlen, "unknown section '%s' (from a newer nestvm?)", s->name);
			return -1;
		}
		if (im->nsec == 0 && strcmp(s->name, "config")) {
			snprintf(err, errlen, "the first section is '%s', not 'config'", s->name);
			return -1;
		}
		for (int k = 0; k < im->nsec; k++) {
			if (!strcmp(im->sec[k].name, s->name) && im->sec[k].inst == s->inst) {
				snprintf(err, errlen, "section '%s' %u appears twice", s->name, s->inst);
				return -1;
			}
		}
		pos += s->len;
		im->nsec++;
		if (!strcmp(s->name, "end")) {
			struct snap_in in = { .p = s->p, .len = s->len };
			uint32_t n = snap_get_u32(&in);
			if (!snap_in_done(&in) || n != (uint32_t)im->nsec - 1) {
				snprintf(err, errlen, "the 'end' section does not match the sections before it");
				return -1;
			}
			s->used = true;
			ended = true;
		}
	}
	if (pos != len) {
		snprintf(err, errlen, "%zu bytes of garbage after the 'end' section", len - pos);
		return -1;
	}
	return parse_config(im, &im->sec[0], err, errlen);
}

bool snapshot_have_zstd(void)
{
#ifdef NV_HAVE_ZSTD
	return true;
#else
	return false;
#endif
}

int snapshot_check(const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	struct image *im = malloc(sizeof(*im));
	if (!im) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	int r = parse_image(im, buf, len, err, errlen);
	image_free(im);
	free(im);
	return r;
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* the snapshot's configuration against this machine's: what must match */
static int check_config(struct machine *m, struct image *im, char *err, size_t errlen)
{
	const struct config *c = &m->cfg;
	if (im->ram_size != m->ram_size) {
		snprintf(err, errlen, "the snapshot has %llu MiB of RAM, this machine %llu MiB (-m)",
			 (unsigned long long)(im->ram_size >> 20), (unsigned long long)(m->ram_size >> 20));
		return -1;
	}
	if (im->ncpus != (uint32_t)m->ncpus) {
		snprintf(err, errlen, "the snapshot has %u vCPUs, this machine %d (-smp)", im->ncpus,
			 m->ncpus);
		return -1;
	}
	if (im->max_cpus != (uint32_t)c->max_cpus) {
		snprintf(err, errlen, "the snapshot has maxcpus=%u, this machine maxcpus=%d (-smp)",
			 im->max_cpus, c->max_cpus);
		return -1;
	}
	if (im->engine != (uint32_t)c->engine) {
		snprintf(err, errlen, "the snapshot was taken with another accelerator");
		return -1;
	}
	if (strcmp(im->cpu_model, c->cpu_model ? c->cpu_model : "intel")) {
		snprintf(err, errlen, "the snapshot has CPU model '%s', this machine '%s' (-cpu)",
			 im->cpu_model, c->cpu_model ? c->cpu_model : "intel");
		return -1;
	}
	if (im->quantum != c->quantum) {
		snprintf(err, errlen, "the snapshot was taken with -quantum %llu, this machine has %llu",
			 (unsigned long long)im->quantum, (unsigned long long)c->quantum);
		return -1;
	}
	if (im->strict != c->strict) {
		snprintf(err, errlen, "the snapshot was taken with -machine strict=%s, this machine has strict=%s",
			 im->strict ? "on" : "off", c->strict ? "on" : "off");
		return -1;
	}
	if (im->no_reboot != c->no_reboot) {
		snprintf(err, errlen, "the snapshot was taken %s -no-reboot", im->no_reboot ? "with" : "without");
		return -1;
	}
	if (im->debug_exit != c->debug_exit ||
	    (c->debug_exit && (im->debug_exit_base != c->debug_exit_base ||
			       im->debug_exit_size != c->debug_exit_size))) {
		if (im->debug_exit)
			snprintf(err, errlen, "the snapshot has -device isa-debug-exit,iobase=0x%x,iosize=0x%x; "
				 "this machine %s", im->debug_exit_base, im->debug_exit_size,
				 c->debug_exit ? "has other iobase/iosize" : "does not have it");
		else
			snprintf(err, errlen, "the snapshot has no isa-debug-exit device; this machine has one");
		return -1;
	}
	if (im->pc_testdev != c->pc_testdev) {
		snprintf(err, errlen, "the snapshot was taken %s -device pc-testdev",
			 im->pc_testdev ? "with" : "without");
		return -1;
	}
	if (im->pci_testdev != c->pci_testdev) {
		snprintf(err, errlen, "the snapshot was taken %s -device pci-testdev",
			 im->pci_testdev ? "with" : "without");
		return -1;
	}
	if (c->kernel && !str_eq(im->kernel, c->kernel)) {
		snprintf(err, errlen, "the snapshot was taken with -kernel %s, not %s",
			 im->kernel ? im->kernel : "(none)", c->kernel);
		return -1;
	}
	if (c->kernel && (!str_eq(im->append, c->append) || !str_eq(im->initrd, c->initrd))) {
		snprintf(err, errlen, "the snapshot was taken with another -append or -initrd");
		return -1;
	}
	return 0;
}

/* RAM section: check the run list, optionally copy it into guest RAM */
static int ram_runs(struct machine *m, const uint8_t *p, size_t n, bool apply, char *err,
		    size_t errlen)
{
	uint64_t npages = m->ram_size / PAGE;
	uint64_t next = 0;
	size_t pos = 0;
	while (pos < n) {
		if (n - pos < 16) {
			snprintf(err, errlen, "section 'ram' is malformed (run header)");
			return -1;
		}
		uint64_t first = le64(p + pos), cnt = le64(p + pos + 8);
		pos += 16;
		if (!cnt || first < next || first > npages || cnt > npages - first ||
		    cnt * PAGE > n - pos) {
			snprintf(err, errlen, "section 'ram' is malformed (run at page %llu)",
				 (unsigned long long)first);
			return -1;
		}
		if (apply) {
#ifdef MADV_POPULATE_WRITE
			/* allocate the run's pages in one call, not one fault each */
			madvise(m->ram + first * PAGE, cnt * PAGE, MADV_POPULATE_WRITE);
#endif
			memcpy(m->ram + first * PAGE, p + pos, cnt * PAGE);
		}
		pos += cnt * PAGE;
		next = first + cnt;
	}
	return 0;
}

static int load_ram(struct machine *m, struct sec *s, bool apply, char *err, size_t errlen)
{
	if (s->ver != 1) {
		snprintf(err, errlen, "section 'ram' has version %u; this nestvm reads version 1", s->ver);
		return -1;
	}
	if (s->len < 16 || le64(s->p) != m->ram_size || le32(s->p + 8) != PAGE) {
		snprintf(err, errlen, "section 'ram' does not match the configured RAM size");
		return -1;
	}
	uint32_t enc = le32(s->p + 12);
	const uint8_t *p = s->p + 16;
	size_t n = s->len - 16;
	if (enc == RAM_RAW)
		return ram_runs(m, p, n, apply, err, errlen);
	if (enc != RAM_ZSTD) {
		snprintf(err, errlen, "section 'ram' has unknown encoding %u", enc);
		return -1;
	}
#ifdef NV_HAVE_ZSTD
	if (n < 8) {
		snprintf(err, errlen, "section 'ram' is malformed (zstd header)");
		return -1;
	}
	uint64_t raw = le64(p);
	uint64_t maxraw = (m->ram_size / PAGE) * (PAGE + 16);
	if (raw > maxraw) {
		snprintf(err, errlen, "section 'ram' is malformed (size)");
		return -1;
	}
	unsigned long long fsz = ZSTD_getFrameContentSize(p + 8, n - 8);
	if (fsz != raw) {
		snprintf(err, errlen, "section 'ram' is malformed (zstd frame)");
		return -1;
	}
	uint8_t *out = malloc(raw ? raw : 1);
	if (!out) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	size_t got = ZSTD_decompress(out, raw, p + 8, n - 8);
	if (ZSTD_isError(got) || got != raw) {
		free(out);
		snprintf(err, errlen, "section 'ram' is malformed (zstd data)");
		return -1;
	}
	int r = ram_runs(m, out, raw, apply, err, errlen);
	free(out);
	return r;
#else
	snprintf(err, errlen, "section 'ram' is zstd-compressed and this nestvm was built without zstd");
	return -1;
#endif
}

static int load_sched(struct machine *m, struct sec *s, bool apply, char *err, size_t errlen)
{
	if (s->ver != 1) {
		snprintf(err, errlen, "section 'sched' has version %u; this nestvm reads version 1", s->ver);
		return -1;
	}
	struct snap_in in = { .p = s->p, .len = s->len };
	uint64_t clock = snap_get_u64(&in), slice_end = snap_get_u64(&in);
	int32_t cur = (int32_t)snap_get_u32(&in);
	uint32_t nt = snap_get_u32(&in);
	if (in.bad || nt != MAX_TIMERS) {
		snprintf(err, errlen, "section 'sched' is malformed");
		return -1;
	}
	bool used[MAX_TIMERS];
	uint64_t dl[MAX_TIMERS];
	for (int k = 0; k < MAX_TIMERS; k++) {
		used[k] = snap_get_bool(&in);
		dl[k] = snap_get_u64(&in);
	}
	if (!snap_in_done(&in) || cur < -1 || cur > m->ncpus || slice_end < clock) {
		snprintf(err, errlen, "section 'sched' is malformed");
		return -1;
	}
	for (int k = 0; k < MAX_TIMERS; k++) {
		if (used[k] != m->timers[k].used) {
			snprintf(err, errlen, "section 'sched': device timer %d %s in the snapshot but %s here "
				 "(different devices?)", k, used[k] ? "exists" : "does not exist",
				 m->timers[k].used ? "exists" : "does not");
			return -1;
		}
	}
	if (!apply)
		return 0;
	m->clock = clock;
	m->slice_end = slice_end;
	m->cur_cpu = cur >= m->ncpus ? -1 : cur;
	for (int k = 0; k < MAX_TIMERS; k++)
		m->timers[k].deadline = dl[k];
	return 0;
}

/* a vCPU section: records, each checked for presence and size before use */
struct vrec {
	const uint8_t *p;
	uint32_t len;
};

static int parse_vcpu(struct sec *s, struct vrec *r, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r) * REC_MAX);
	if (s->ver != 1) {
		snprintf(err, errlen, "section 'cpu' %u has version %u; this nestvm reads version 1",
			 s->inst, s->ver);
		return -1;
	}
	bool seen[REC_MAX] = { false };
	size_t pos = 0;
	while (pos < s->len) {
		if (s->len - pos < 8) {
			snprintf(err, errlen, "section 'cpu' %u is malformed", s->inst);
			return -1;
		}
		uint32_t tag = le32(s->p + pos), len = le32(s->p + pos + 4);
		pos += 8;
		if (len > s->len - pos) {
			snprintf(err, errlen, "section 'cpu' %u is malformed", s->inst);
			return -1;
		}
		if (tag == 0 || tag >= REC_MAX) {
			snprintf(err, errlen, "section 'cpu' %u has an unknown record %u", s->inst, tag);
			return -1;
		}
		if (seen[tag]) {
			snprintf(err, errlen, "section 'cpu' %u has two '%s' records", s->inst, rec_name[tag]);
			return -1;
		}
		seen[tag] = true;
		r[tag].p = s->p + pos;
		r[tag].len = len;
		pos += len;
	}
	static const size_t fixed[REC_MAX] = {
		[REC_REGS] = sizeof(struct kvm_regs), [REC_SREGS2] = sizeof(struct kvm_sregs2),
		[REC_XSAVE] = sizeof(struct kvm_xsave), [REC_XCRS] = sizeof(struct kvm_xcrs),
		[REC_DEBUGREGS] = sizeof(struct kvm_debugregs),
		[REC_EVENTS] = sizeof(struct kvm_vcpu_events),
		[REC_LAPIC] = sizeof(struct kvm_lapic_state),
		[REC_MP_STATE] = sizeof(struct kvm_mp_state),
		[REC_PRIVATE] = sizeof(struct nv_private_state), [REC_RUN] = 8,
	};
	for (int t = 1; t < REC_MAX; t++) {
		if (!seen[t]) {
			snprintf(err, errlen, "section 'cpu' %u has no '%s' record", s->inst, rec_name[t]);
			return -1;
		}
		if (fixed[t] && r[t].len != fixed[t]) {
			snprintf(err, errlen, "section 'cpu' %u: record '%s' has %u bytes, expected %zu",
				 s->inst, rec_name[t], r[t].len, fixed[t]);
			return -1;
		}
	}
	if (r[REC_MSRS].len < 4 || (r[REC_MSRS].len - 4) % 16 ||
	    le32(r[REC_MSRS].p) != (r[REC_MSRS].len - 4) / 16) {
		snprintf(err, errlen, "section 'cpu' %u: record 'msrs' is malformed", s->inst);
		return -1;
	}
	if (r[REC_CPUID].len < sizeof(struct kvm_cpuid2) ||
	    (r[REC_CPUID].len - sizeof(struct kvm_cpuid2)) % sizeof(struct kvm_cpuid_entry2) ||
	    le32(r[REC_CPUID].p) != (r[REC_CPUID].len - sizeof(struct kvm_cpuid2)) /
					 sizeof(struct kvm_cpuid_entry2)) {
		snprintf(err, errlen, "section 'cpu' %u: record 'cpuid' is malformed", s->inst);
		return -1;
	}
	if (r[REC_NESTED].len && (r[REC_NESTED].len < sizeof(struct kvm_nested_state) ||
				  le32(r[REC_NESTED].p + 4) != r[REC_NESTED].len)) {
		snprintf(err, errlen, "section 'cpu' %u: record 'nested_state' is malformed", s->inst);
		return -1;
	}
	return 0;
}

/* copy a record into an aligned struct */
static void *rec_copy(const struct vrec *r, size_t n)
{
	void *p = calloc(1, n > r->len ? n : r->len);
	if (p)
		memcpy(p, r->p, r->len);
	return p;
}

static int load_vcpu(struct nv_vcpu *v, int k, const struct vrec *r, char *err, size_t errlen)
{
	int ret = -1, e;
	void *obj = NULL;
#define SET(tag, type, fn, what) \
	do { \
		free(obj); \
		obj = rec_copy(&r[tag], sizeof(type)); \
		if (!obj) { \
			snprintf(err, errlen, "out of memory"); \
			goto out; \
		} \
		e = fn(v, (const type *)obj); \
		if (e < 0) { \
			snprintf(err, errlen, "vCPU %d: the %s state is rejected (%s)", k, what, \
				 strerror(-e)); \
			goto out; \
		} \
	} while (0)

	struct nv_private_state priv;
	memcpy(&priv, r[REC_PRIVATE].p, sizeof(priv));
	/* the clock first: LAPIC and TSC restores read it */
	e = nv_set_clock(v, priv.clock);
	if (e < 0) {
		snprintf(err, errlen, "vCPU %d: cannot set the clock (%s)", k, strerror(-e));
		goto out;
	}
	SET(REC_CPUID, struct kvm_cpuid2, nv_set_cpuid2, "cpuid");
	/* regs before sregs: the emulator derives CPL from RFLAGS.VM and SS */
	SET(REC_REGS, struct kvm_regs, nv_set_regs, "regs");
	SET(REC_SREGS2, struct kvm_sregs2, nv_set_sregs2, "sregs2");
	SET(REC_XCRS, struct kvm_xcrs, nv_set_xcrs, "xcrs");
	SET(REC_XSAVE, struct kvm_xsave, nv_set_xsave, "xsave");
	SET(REC_DEBUGREGS, struct kvm_debugregs, nv_set_debugregs, "debugregs");
	/* the LAPIC before the MSRs: TSC_DEADLINE needs the timer mode */
	SET(REC_LAPIC, struct kvm_lapic_state, nv_set_lapic, "lapic");
	{
		uint32_t n = le32(r[REC_MSRS].p);
		const uint8_t *p = r[REC_MSRS].p + 4;
		for (uint32_t j = 0; j < n; j++, p += 16) {
			struct { struct kvm_msrs h; struct kvm_msr_entry e; } one;
			memset(&one, 0, sizeof(one));
			one.h.nmsrs = 1;
			one.e.index = le32(p);
			one.e.data = le64(p + 8);
			if (le32(p + 4)) {
				snprintf(err, errlen, "section 'cpu' %d: record 'msrs' is malformed", k);
				goto out;
			}
			if (nv_set_msrs(v, &one.h) == 1)
				continue;
			/* a read-only MSR (MTRRCAP, MCG_CAP) is fine if it already matches */
			uint64_t want = one.e.data;
			if (nv_get_msrs(v, &one.h) != 1 || one.e.data != want) {
				one.e.data = want;
				snprintf(err, errlen, "vCPU %d: MSR 0x%x = 0x%llx is rejected", k, one.e.index,
					 (unsigned long long)one.e.data);
				goto out;
			}
			one.e.data = want;
		}
	}
	/* events after regs: KVM_SET_REGS drops a pending exception (spec §6.12 O4) */
	SET(REC_EVENTS, struct kvm_vcpu_events, nv_set_vcpu_events, "vcpu_events");
	SET(REC_MP_STATE, struct kvm_mp_state, nv_set_mp_state, "mp_state");
	if (r[REC_NESTED].len) {
		free(obj);
		obj = rec_copy(&r[REC_NESTED], r[REC_NESTED].len);
		if (!obj) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		e = nv_set_nested_state(v, obj);
		if (e < 0) {
			snprintf(err, errlen, "vCPU %d: the nested_state is rejected (%s)", k, strerror(-e));
			goto out;
		}
	}
	/* last: the exact values the KVM structs round or cannot carry */
	SET(REC_PRIVATE, struct nv_private_state, nv_set_private_state, "private");
	nv_vcpu_run_page(v)->request_interrupt_window = r[REC_RUN].p[0];
	ret = 0;
out:
	free(obj);
	return ret;
#undef SET
}

/* structural checks of the vCPU sections before anything is applied */
static int check_vcpus(struct machine *m, struct image *im, struct vrec (*recs)[REC_MAX],
		       char *err, size_t errlen)
{
	uint32_t ncpu = 0;
	for (int k = 0; k < im->nsec; k++) {
		struct sec *s = &im->sec[k];
		if (strcmp(s->name, "cpu"))
			continue;
		ncpu++;
		if (s->inst >= (uint32_t)m->ncpus) {
			snprintf(err, errlen, "the snapshot has state for vCPU %u; this machine has %d vCPU%s (-smp)",
				 s->inst, m->ncpus, m->ncpus == 1 ? "" : "s");
			return -1;
		}
		if (parse_vcpu(s, recs[s->inst], err, errlen) < 0)
			return -1;
		struct nv_private_state p;
		memcpy(&p, recs[s->inst][REC_PRIVATE].p, sizeof(p));
		if (p.version != NV_PRIVATE_STATE_VERSION || p.size != sizeof(p)) {
			snprintf(err, errlen, "vCPU %u: private state version %u is not supported", s->inst,
				 p.version);
			return -1;
		}
		s->used = true;
	}
	for (int k = 0; k < m->ncpus; k++) {
		if (!find_sec(im, "cpu", (uint32_t)k)) {
			snprintf(err, errlen, "the snapshot has no state for vCPU %d (it has %u; -smp %d here)",
				 k, ncpu, m->ncpus);
			return -1;
		}
	}
	return 0;
}

static int check_devices(struct machine *m, struct image *im, char *err, size_t errlen)
{
	struct snapshot_state *s = snap_state(m);
	for (int k = 0; k < im->nsec; k++) {
		struct sec *sc = &im->sec[k];
		if (strncmp(sc->name, "dev:", 4))
			continue;
		int d;
		for (d = 0; d < s->ndev; d++)
			if (!strcmp(s->dev[d].name, sc->name))
				break;
		if (d == s->ndev || sc->inst) {
			snprintf(err, errlen, "the snapshot has state for device '%s', which this machine "
				 "does not have (different -device options?)", sc->name + 4);
			return -1;
		}
		if (sc->ver > s->dev[d].version || sc->ver == 0) {
			snprintf(err, errlen, "section '%s' has version %u; this nestvm reads up to version %u",
				 sc->name, sc->ver, s->dev[d].version);
			return -1;
		}
	}
	for (int d = 0; d < s->ndev; d++) {
		if (!find_sec(im, s->dev[d].name, 0)) {
			snprintf(err, errlen, "the snapshot has no state for device '%s' of this machine "
				 "(different -device options?)", s->dev[d].name + 4);
			return -1;
		}
	}
	return 0;
}

/*
 * Apply every vCPU's state to a scratch VM of the same model first, so a
 * state the API's set functions reject is found before the machine is
 * touched.
 */
static int dry_run_vcpus(struct machine *m, struct vrec (*recs)[REC_MAX], char *err, size_t errlen)
{
	int e;
	struct nv_vm *vm = nv_create_vm(NV_ENGINE_EMU, &e);
	int ret = -1;
	if (!vm) {
		snprintf(err, errlen, "cannot create a scratch VM: %s", strerror(-e));
		return -1;
	}
	if (nv_set_cpu_model(vm, m->cfg.cpu_model ? m->cfg.cpu_model : "intel") < 0) {
		snprintf(err, errlen, "cannot set the CPU model: %s", nv_last_error());
		goto out;
	}
	/* the capabilities machine_init enables */
	nv_set_nested_flag_cap(vm, nv_nested_flag_cap(m->vm));
	machine_enable_caps(vm, &m->cfg);
	for (int k = 0; k < m->ncpus; k++) {
		struct nv_vcpu *v = nv_create_vcpu(vm, (unsigned)k, &e);
		if (!v) {
			snprintf(err, errlen, "cannot create a scratch vCPU: %s", strerror(-e));
			goto out;
		}
		if (load_vcpu(v, k, recs[k], err, errlen) < 0)
			goto out;
	}
	ret = 0;
out:
	nv_destroy_vm(vm);
	return ret;
}

int snapshot_restore(struct machine *m, const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	struct image *im = calloc(1, sizeof(*im));
	struct vrec (*recs)[REC_MAX] = calloc((size_t)MAX_CPUS, sizeof(*recs));
	struct snapshot_state *ss = snap_state(m);
	struct snap_buf *saved = NULL;
	struct timespec t0, t1;
	int ret = -1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!im || !recs) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (nv_vm_engine(m->vm) != NV_ENGINE_EMU) {
		snprintf(err, errlen, "snapshots need the emulator engine (accel=tcg)");
		goto out;
	}
	/* 1: everything that can be checked without changing the machine */
	if (parse_image(im, buf, len, err, errlen) < 0)
		goto out;
	if (check_config(m, im, err, errlen) < 0)
		goto out;
	struct sec *s_vm = find_sec(im, "vm", 0), *s_sched = find_sec(im, "sched", 0);
	struct sec *s_ram = find_sec(im, "ram", 0);
	if (!s_vm || !s_sched || !s_ram) {
		snprintf(err, errlen, "the snapshot has no '%s' section",
			 !s_vm ? "vm" : !s_sched ? "sched" : "ram");
		goto out;
	}
	struct snap_in vin = { .p = s_vm->p, .len = s_vm->len };
	uint64_t rng = snap_get_u64(&vin);
	if (s_vm->ver != 1 || !snap_in_done(&vin)) {
		snprintf(err, errlen, "section 'vm' is malformed or of an unknown version");
		goto out;
	}
	s_vm->used = s_sched->used = s_ram->used = true;
	if (load_sched(m, s_sched, false, err, errlen) < 0 || load_ram(m, s_ram, false, err, errlen) < 0)
		goto out;
	if (check_devices(m, im, err, errlen) < 0 || check_vcpus(m, im, recs, err, errlen) < 0)
		goto out;
	for (int k = 0; k < im->nsec; k++) {
		if (!im->sec[k].used && strncmp(im->sec[k].name, "dev:", 4)) {
			snprintf(err, errlen, "section '%s' %u is not understood here", im->sec[k].name,
				 im->sec[k].inst);
			goto out;
		}
	}

	if (dry_run_vcpus(m, recs, err, errlen) < 0)
		goto out;

	/*
	 * 2: apply.  Devices validate their own data before changing anything;
	 * if one refuses, the ones loaded before it get their old state back.
	 */
	saved = calloc((size_t)ss->ndev, sizeof(*saved));
	if (!saved) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (int d = 0; d < ss->ndev; d++)
		ss->dev[d].save(m, ss->dev[d].opaque, &saved[d]);
	for (int k = 0; k < im->nsec; k++) {
		struct sec *sc = &im->sec[k];
		if (strncmp(sc->name, "dev:", 4))
			continue;
		for (int d = 0; d < ss->ndev; d++) {
			if (strcmp(ss->dev[d].name, sc->name))
				continue;
			struct snap_in in = { .p = sc->p, .len = sc->len };
			char e2[200] = "";
			if (ss->dev[d].load(m, ss->dev[d].opaque, &in, sc->ver, e2, sizeof(e2)) < 0) {
				snprintf(err, errlen, "device '%s': %s", sc->name + 4,
					 e2[0] ? e2 : "malformed state");
				for (int j = 0; j < ss->ndev; j++) {
					struct snap_in old = { .p = saved[j].p, .len = saved[j].len };
					ss->dev[j].load(m, ss->dev[j].opaque, &old, ss->dev[j].version,
							e2, sizeof(e2));
				}
				goto out;
			}
		}
	}
	/* guest RAM: drop whatever is there (zero-filled on next touch), then the runs */
	if (madvise(m->ram, m->ram_size, MADV_DONTNEED) < 0)
		memset(m->ram, 0, m->ram_size);
	if (load_ram(m, s_ram, true, err, errlen) < 0)
		goto out;
	struct nv_vm_private_state vp = { .version = NV_VM_PRIVATE_STATE_VERSION, .size = sizeof(vp),
					  .rng_state = rng };
	int e = nv_set_vm_private_state(m->vm, &vp);
	if (e < 0) {
		snprintf(err, errlen, "the VM's private state is rejected (%s)", strerror(-e));
		goto out;
	}
	for (int k = 0; k < m->ncpus; k++)
		if (load_vcpu(m->vcpu[k], k, recs[k], err, errlen) < 0)
			goto out;
	load_sched(m, s_sched, true, err, errlen);
	/* the image's paths, for a guest reset (it reloads the kernel) */
	if (!m->cfg.kernel && im->kernel) {
		m->cfg.kernel = ss->kept[0] = im->kernel;
		m->cfg.append = ss->kept[1] = im->append;
		m->cfg.initrd = ss->kept[2] = im->initrd;
		im->kernel = im->append = im->initrd = NULL;
	}
	ss->resume_cpu = m->cur_cpu;
	ss->restored = true;
	ss->restored_icount = snapshot_machine_icount(m);
	ret = 0;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ss->load_ms += (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
out:
	if (saved)
		for (int d = 0; d < ss->ndev; d++)
			free(saved[d].p);
	free(saved);
	if (im)
		image_free(im);
	free(im);
	free(recs);
	return ret;
}

int snapshot_load_file(struct machine *m, const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err, errlen, "%s: not a regular file", path);
		return -1;
	}
	size_t len = (size_t)st.st_size;
	void *map = NULL;
	if (len) {
		/* populated in one go: cheaper than a fault per page */
		map = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
		if (map == MAP_FAILED) {
			close(fd);
			snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
			return -1;
		}
	}
	close(fd);
	char e2[300];
	int r = snapshot_restore(m, map ? map : (const uint8_t *)"", len, e2, sizeof(e2));
	if (map)
		munmap(map, len);
	if (r < 0)
		snprintf(err, errlen, "%s: %s", path, e2);
	return r;
}
