// SPDX-License-Identifier: MIT
/*
 * CMOS RAM and real-time clock (Motorola MC146818A data sheet) at ports
 * 0x70 (index, bit 7 = NMI disable) and 0x71 (data), ISA IRQ 8.
 *
 * The clock is deterministic: it runs on the machine's virtual time and
 * starts at RTC_EPOCH (2024-01-01 00:00:00, a Monday) at virtual time 0,
 * so the same run reads the same dates.  Register C's flags (periodic,
 * alarm, update-ended) are computed exactly from virtual time: the 32.768
 * kHz divider chain is aligned with the seconds, periodic events fall on
 * its ticks.  A machine timer runs only while an enabled interrupt can
 * still raise IRQF.
 *
 * CMOS contents as QEMU's pc machine: memory sizes (0x15-0x18, 0x30/0x31,
 * 0x34/0x35, 0x5b-0x5d), number of CPUs - 1 at 0x5f, century at 0x32,
 * the shutdown status byte at 0x0f.
 */
#include <string.h>

#include "devices.h"
#include "snapshot.h"

#define NS 1000000000LL
#define RTC_EPOCH 1704067200LL	/* 2024-01-01 00:00:00 UTC */
#define UIP_NS 244140LL		/* UIP is high for 8 cycles of 32.768 kHz before an update */

enum {
	R_SEC = 0x00, R_SEC_ALARM = 0x01, R_MIN = 0x02, R_MIN_ALARM = 0x03, R_HOUR = 0x04,
	R_HOUR_ALARM = 0x05, R_WDAY = 0x06, R_MDAY = 0x07, R_MONTH = 0x08, R_YEAR = 0x09,
	R_A = 0x0a, R_B = 0x0b, R_C = 0x0c, R_D = 0x0d, R_CENTURY = 0x32,
};

#define B_SET 0x80
#define B_PIE 0x40
#define B_AIE 0x20
#define B_UIE 0x10
#define B_DM 0x04	/* binary */
#define B_24H 0x02
#define C_IRQF 0x80
#define C_PF 0x40
#define C_AF 0x20
#define C_UF 0x10

static struct rtc *rtc(struct machine *m)
{
	return &m->dev->rtc;
}

static int64_t floordiv(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* ---- calendar (proleptic Gregorian, days since 1970-01-01) --------------- */

static int64_t days_from_date(int64_t y, int mon, int day)
{
	/* count years from March so that the leap day is the last day */
	if (mon <= 2)
		y--;
	int64_t era = floordiv(y, 400);
	int64_t yoe = y - era * 400;
	int64_t mp = mon > 2 ? mon - 3 : mon + 9;
	int64_t doy = (153 * mp + 2) / 5 + day - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

struct tm_rtc {
	int sec, min, hour, wday, mday, mon;
	int64_t year;
};

static void date_from_secs(int64_t t, struct tm_rtc *tm)
{
	int64_t days = floordiv(t, 86400), s = t - days * 86400;
	tm->hour = (int)(s / 3600);
	tm->min = (int)(s / 60 % 60);
	tm->sec = (int)(s % 60);
	tm->wday = (int)((days % 7 + 7 + 4) % 7) + 1;	/* 1970-01-01 was a Thursday; Sunday = 1 */
	int64_t z = days + 719468;
	int64_t era = floordiv(z, 146097);
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	tm->mday = (int)(doy - (153 * mp + 2) / 5 + 1);
	tm->mon = (int)(mp < 10 ? mp + 3 : mp - 9);
	tm->year = yoe + era * 400 + (tm->mon <= 2);
}

/* ---- register formats (register B: binary/BCD, 12/24 hours) ------------------- */

static uint8_t to_reg(const struct rtc *r, int v)
{
	if (r->cmos[R_B] & B_DM)
		return (uint8_t)v;
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static int from_reg(const struct rtc *r, uint8_t v)
{
	if (r->cmos[R_B] & B_DM)
		return v;
	return (v >> 4) * 10 + (v & 0xf);
}

static uint8_t hour_to_reg(const struct rtc *r, int h)
{
	if (r->cmos[R_B] & B_24H)
		return to_reg(r, h);
	int h12 = h % 12 ? h % 12 : 12;
	return (uint8_t)(to_reg(r, h12) | (h >= 12 ? 0x80 : 0));
}

static int hour_from_reg(const struct rtc *r, uint8_t v)
{
	if (r->cmos[R_B] & B_24H)
		return from_reg(r, v);
	int h = from_reg(r, v & 0x7f) % 12;
	return (v & 0x80) ? h + 12 : h;
}

static uint8_t field(const struct rtc *r, int reg, const struct tm_rtc *tm)
{
	switch (reg) {
	case R_SEC: return to_reg(r, tm->sec);
	case R_MIN: return to_reg(r, tm->min);
	case R_HOUR: return hour_to_reg(r, tm->hour);
	case R_WDAY: return to_reg(r, tm->wday);
	case R_MDAY: return to_reg(r, tm->mday);
	case R_MONTH: return to_reg(r, tm->mon);
	case R_YEAR: return to_reg(r, (int)(tm->year % 100));
	default: return to_reg(r, (int)(tm->year / 100));	/* century */
	}
}

static bool is_time_reg(int reg)
{
	return reg == R_SEC || reg == R_MIN || reg == R_HOUR || reg == R_WDAY ||
	       reg == R_MDAY || reg == R_MONTH || reg == R_YEAR || reg == R_CENTURY;
}

/* the divider chain runs (DV = 010) and updates are not inhibited (SET = 0) */
static bool running(const struct rtc *r)
{
	return (r->cmos[R_A] & 0x70) == 0x20 && !(r->cmos[R_B] & B_SET);
}

static bool divider_on(const struct rtc *r)
{
	return (r->cmos[R_A] & 0x70) == 0x20;
}

static int64_t sec_index(const struct rtc *r, int64_t t)
{
	return floordiv(t - r->base_ns, NS);
}

static int64_t now_secs(const struct rtc *r, int64_t t)
{
	return r->base_sec + sec_index(r, t);
}

/* periodic interrupt: 32.768 kHz ticks per period, 0 = off (data sheet table 4) */
static int64_t period_ticks(const struct rtc *r)
{
	int rs = r->cmos[R_A] & 0xf;
	if (!rs || !divider_on(r))
		return 0;
	if (rs <= 2)
		rs += 7;	/* 256 Hz and 128 Hz */
	return 1LL << (rs - 1);
}

/* 32.768 kHz divider ticks since base_ns (floor) */
static int64_t tick32(const struct rtc *r, int64_t t)
{
	__int128 x = (__int128)(t - r->base_ns) * 32768;
	__int128 q = x / NS;
	if (x % NS && x < 0)
		q--;
	return (int64_t)q;
}

static bool alarm_match(const struct rtc *r, int64_t secs)
{
	struct tm_rtc tm;
	date_from_secs(secs, &tm);
	static const int pairs[3][2] = { { R_SEC_ALARM, R_SEC }, { R_MIN_ALARM, R_MIN },
					 { R_HOUR_ALARM, R_HOUR } };
	for (int k = 0; k < 3; k++) {
		uint8_t a = r->cmos[pairs[k][0]];
		if ((a & 0xc0) == 0xc0)
			continue;	/* don't care */
		if (a != field(r, pairs[k][1], &tm))
			return false;
	}
	return true;
}

/* fold the events of (flags_ns, t] into register C */
static void update_flags(struct rtc *r, int64_t t)
{
	int64_t a = r->flags_ns;
	if (t <= a)
		return;
	r->flags_ns = t;
	if (!divider_on(r))
		return;
	int64_t p = period_ticks(r);
	if (p && floordiv(tick32(r, t), p) > floordiv(tick32(r, a), p))
		r->regc |= C_PF;
	if (r->cmos[R_B] & B_SET)
		return;		/* updates inhibited: no update-ended or alarm */
	int64_t s0 = sec_index(r, a), s1 = sec_index(r, t);
	if (s1 > s0) {
		r->regc |= C_UF;
		/* an alarm matches at most once a second; a day covers every pattern */
		int64_t from = s1 - s0 > 86401 ? s1 - 86401 : s0;
		for (int64_t k = from + 1; k <= s1 && !(r->regc & C_AF); k++)
			if (alarm_match(r, r->base_sec + k))
				r->regc |= C_AF;
	}
}

static bool irqf(const struct rtc *r)
{
	uint8_t en = r->cmos[R_B] & (B_PIE | B_AIE | B_UIE);
	return (r->regc & en & (C_PF | C_AF | C_UF)) != 0;
}

/* IRQF and IRQ 8 follow the flags; arm the timer for the next event */
static void update_irq(struct machine *m)
{
	struct rtc *r = rtc(m);
	int64_t now = (int64_t)machine_now(m);
	update_flags(r, now);
	bool on = irqf(r);
	if (on)
		r->regc |= C_IRQF;
	if (on != r->irq) {
		r->irq = on;
		machine_set_irq(m, 8, on);
	}
	uint64_t next = ~0ULL;
	uint8_t b = r->cmos[R_B];
	if (!on && divider_on(r)) {
		int64_t p = period_ticks(r);
		if ((b & B_PIE) && p) {
			int64_t j = floordiv(tick32(r, now), p) + 1;
			int64_t tt = r->base_ns +
				     (int64_t)(((__int128)j * p * NS + 32767) / 32768);
			next = (uint64_t)tt;
		}
		if ((b & (B_UIE | B_AIE)) && !(b & B_SET)) {
			int64_t tt = r->base_ns + (sec_index(r, now) + 1) * NS;
			if ((uint64_t)tt < next)
				next = (uint64_t)tt;
		}
	}
	machine_timer_mod(m, r->timer, next);
}

static void rtc_timer(void *opaque, uint64_t now)
{
	(void)now;
	update_irq(opaque);
}

/* the time registers as the clock shows them now */
static void store_time(struct rtc *r, int64_t secs)
{
	struct tm_rtc tm;
	date_from_secs(secs, &tm);
	static const int regs[] = { R_SEC, R_MIN, R_HOUR, R_WDAY, R_MDAY, R_MONTH, R_YEAR, R_CENTURY };
	for (size_t k = 0; k < sizeof(regs) / sizeof(regs[0]); k++)
		r->cmos[regs[k]] = field(r, regs[k], &tm);
}

/* the clock restarts from the time in the registers, keeping its phase */
static void load_time(struct rtc *r, int64_t now, bool new_phase)
{
	int64_t y = from_reg(r, r->cmos[R_CENTURY]) * 100 + from_reg(r, r->cmos[R_YEAR]);
	int mon = from_reg(r, r->cmos[R_MONTH]), day = from_reg(r, r->cmos[R_MDAY]);
	if (mon < 1 || mon > 12)
		mon = 1;
	if (day < 1 || day > 31)
		day = 1;
	int64_t secs = days_from_date(y, mon, day) * 86400 +
		       (int64_t)hour_from_reg(r, r->cmos[R_HOUR]) * 3600 +
		       (int64_t)from_reg(r, r->cmos[R_MIN]) * 60 + from_reg(r, r->cmos[R_SEC]);
	if (new_phase)
		r->base_ns = now;
	else
		r->base_ns += sec_index(r, now) * NS;
	r->base_sec = secs;
}

static uint32_t rtc_read(void *opaque, uint16_t port, int size)
{
	struct machine *m = opaque;
	struct rtc *r = rtc(m);
	int64_t now = (int64_t)machine_now(m);
	(void)size;
	if (port == 0x70)
		return 0xff;
	int reg = r->index;
	if (is_time_reg(reg) && running(r)) {
		struct tm_rtc tm;
		date_from_secs(now_secs(r, now), &tm);
		return field(r, reg, &tm);
	}
	switch (reg) {
	case R_A: {
		uint8_t v = r->cmos[R_A] & 0x7f;
		int64_t ph = (now - r->base_ns) % NS;
		if (running(r) && ph >= NS - UIP_NS)
			v |= 0x80;	/* an update is about to start */
		return v;
	}
	case R_C: {
		update_flags(r, now);
		uint8_t v = r->regc;
		if (irqf(r))
			v |= C_IRQF;
		r->regc = 0;
		update_irq(m);
		return v;
	}
	case R_D:
		return 0x80;		/* valid RAM and time */
	default:
		return r->cmos[reg];
	}
}

static void rtc_write(void *opaque, uint16_t port, int size, uint32_t v)
{
	struct machine *m = opaque;
	struct rtc *r = rtc(m);
	int64_t now = (int64_t)machine_now(m);
	(void)size;
	v &= 0xff;
	if (port == 0x70) {
		r->index = v & 0x7f;
		r->nmi_disabled = v & 0x80;
		return;
	}
	int reg = r->index;
	update_flags(r, now);
	switch (reg) {
	case R_A: {
		bool was = divider_on(r);
		if (was && running(r))
			store_time(r, now_secs(r, now));
		r->cmos[R_A] = (uint8_t)(v & 0x7f);
		if (!was && divider_on(r)) {
			/* leaving divider reset: the first update comes 500 ms later */
			load_time(r, now, true);
			r->base_ns = now - NS / 2;
			r->flags_ns = now;
		}
		break;
	}
	case R_B: {
		uint8_t old = r->cmos[R_B];
		if (!(old & B_SET) && (v & B_SET)) {
			if (divider_on(r))
				store_time(r, now_secs(r, now));
			v &= ~B_UIE;	/* SET clears UIE */
		}
		r->cmos[R_B] = (uint8_t)v;
		if ((old & B_SET) && !(v & B_SET))
			load_time(r, now, false);
		break;
	}
	case R_C: case R_D:
		break;		/* read-only */
	default:
		if (is_time_reg(reg) && running(r)) {
			/* a write while the clock runs sets it at once */
			store_time(r, now_secs(r, now));
			r->cmos[reg] = (uint8_t)v;
			load_time(r, now, false);
		} else {
			r->cmos[reg] = (uint8_t)v;
		}
		break;
	}
	update_irq(m);
}

static void cmos_sizes(struct machine *m, struct rtc *r)
{
	uint64_t low = m->low_ram, high = m->ram_size - m->low_ram;
	uint64_t ext = low > 0x100000 ? (low - 0x100000) >> 10 : 0;
	if (ext > 0xffff)
		ext = 0xffff;
	r->cmos[0x15] = 640 & 0xff;
	r->cmos[0x16] = 640 >> 8;
	r->cmos[0x17] = r->cmos[0x30] = (uint8_t)ext;
	r->cmos[0x18] = r->cmos[0x31] = (uint8_t)(ext >> 8);
	uint64_t above16 = low > 0x1000000 ? (low - 0x1000000) >> 16 : 0;
	if (above16 > 0xffff)
		above16 = 0xffff;
	r->cmos[0x34] = (uint8_t)above16;
	r->cmos[0x35] = (uint8_t)(above16 >> 8);
	uint64_t above4g = high >> 16;
	r->cmos[0x5b] = (uint8_t)above4g;
	r->cmos[0x5c] = (uint8_t)(above4g >> 8);
	r->cmos[0x5d] = (uint8_t)(above4g >> 16);
	r->cmos[0x5f] = (uint8_t)(m->ncpus - 1);
	r->cmos[0x14] = 0x02;	/* equipment: math coprocessor */
	unsigned sum = 0;
	for (int k = 0x10; k <= 0x2d; k++)
		sum += r->cmos[k];
	r->cmos[0x2e] = (uint8_t)(sum >> 8);
	r->cmos[0x2f] = (uint8_t)sum;
}

/* snapshot section "dev:rtc" v1 */
static void rtc_save(struct machine *m, void *opaque, struct snap_buf *b)
{
	struct rtc *r = rtc(m);
	(void)opaque;
	snap_put_u8(b, r->index);
	snap_put_u8(b, r->nmi_disabled);
	snap_put_bytes(b, r->cmos, sizeof(r->cmos));
	snap_put_u64(b, (uint64_t)r->base_ns);
	snap_put_u64(b, (uint64_t)r->base_sec);
	snap_put_u64(b, (uint64_t)r->flags_ns);
	snap_put_u8(b, r->regc);
	snap_put_u8(b, r->irq);
}

static int rtc_load(struct machine *m, void *opaque, struct snap_in *in, uint32_t version,
		    char *err, size_t errlen)
{
	struct rtc t = *rtc(m);
	(void)opaque;
	(void)version;
	t.index = snap_get_u8(in);
	t.nmi_disabled = snap_get_bool(in);
	snap_get_bytes(in, t.cmos, sizeof(t.cmos));
	t.base_ns = (int64_t)snap_get_u64(in);
	t.base_sec = (int64_t)snap_get_u64(in);
	t.flags_ns = (int64_t)snap_get_u64(in);
	t.regc = snap_get_u8(in);
	t.irq = snap_get_bool(in);
	/* times within +-2^62 ns keep the arithmetic away from overflow */
	int64_t lim = (int64_t)1 << 62;
	if (!snap_in_done(in) || t.index > 0x7f || (t.regc & 0x0f) || t.base_ns > lim ||
	    t.base_ns < -lim || t.flags_ns > lim || t.flags_ns < -lim || t.base_sec > lim ||
	    t.base_sec < -lim || (t.cmos[0x0a] & 0x80)) {
		snprintf(err, errlen, "malformed state");
		return -1;
	}
	*rtc(m) = t;
	return 0;
}

void dev_rtc_reset(struct machine *m)
{
	struct rtc *r = rtc(m);
	int t = r->timer;
	int64_t now = (int64_t)machine_now(m);
	memset(r, 0, sizeof(*r));
	r->timer = t;
	r->cmos[R_A] = 0x26;	/* 32.768 kHz time base, 1024 Hz periodic rate */
	r->cmos[R_B] = B_24H;	/* BCD, 24-hour */
	r->cmos[R_D] = 0x80;
	/* virtual time 0 is RTC_EPOCH: the clock keeps running across resets */
	r->base_ns = 0;
	r->base_sec = RTC_EPOCH;
	r->flags_ns = now;
	store_time(r, now_secs(r, now));
	cmos_sizes(m, r);
	machine_timer_mod(m, t, ~0ULL);
}

void dev_rtc_init(struct machine *m)
{
	rtc(m)->timer = machine_timer_new(m, rtc_timer, m);
	machine_register_pio(m, 0x70, 2, m, rtc_read, rtc_write);
	snapshot_register(m, "rtc", 1, m, rtc_save, rtc_load);
	dev_rtc_reset(m);
}
