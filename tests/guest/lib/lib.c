/* The guest test library (see libguest.h). */
#include "libguest.h"

/* ---- serial ---------------------------------------------------------------- */

#define COM1 0x3f8

void serial_init(void)
{
	outb(COM1 + 1, 0x00);	/* no interrupts */
	outb(COM1 + 3, 0x80);	/* DLAB */
	outb(COM1 + 0, 0x01);	/* 115200 baud */
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x03);	/* 8N1 */
	outb(COM1 + 2, 0xc7);	/* FIFO */
}

void putchar_serial(int c)
{
	while (!(inb(COM1 + 5) & 0x20))
		;
	outb(COM1, (uint8_t)c);
}

void puts_serial(const char *s)
{
	while (*s)
		putchar_serial(*s++);
}

/* ---- formatting -------------------------------------------------------------- */

struct out {
	char *buf;
	size_t n, pos;
};

static void emit(struct out *o, char c)
{
	if (o->pos + 1 < o->n)
		o->buf[o->pos] = c;
	o->pos++;
}

static void emit_num(struct out *o, unsigned long long v, int base, int width, bool zero,
		     bool neg, bool upper, bool left)
{
	char tmp[32];
	int n = 0;
	const char *dig = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	do {
		tmp[n++] = dig[v % (unsigned)base];
		v /= (unsigned)base;
	} while (v);
	int len = n + (neg ? 1 : 0);
	if (!left && !zero)
		for (; width > len; width--)
			emit(o, ' ');
	if (neg)
		emit(o, '-');
	if (!left && zero)
		for (; width > len; width--)
			emit(o, '0');
	while (n)
		emit(o, tmp[--n]);
	if (left)
		for (; width > len; width--)
			emit(o, ' ');
}

int vsnprintf(char *buf, size_t n, const char *fmt, va_list ap)
{
	struct out o = { buf, n, 0 };
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			emit(&o, *fmt);
			continue;
		}
		fmt++;
		bool zero = false, left = false, alt = false;
		int width = 0, lng = 0;
		for (;; fmt++) {
			if (*fmt == '0')
				zero = true;
			else if (*fmt == '-')
				left = true;
			else if (*fmt == '#')
				alt = true;
			else
				break;
		}
		if (*fmt == '*') {
			width = va_arg(ap, int);
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l' || *fmt == 'z' || *fmt == 'h') {
			if (*fmt != 'h')
				lng++;
			fmt++;
		}
		unsigned long long v;
		switch (*fmt) {
		case 'd': case 'i': {
			long long s = lng ? va_arg(ap, long long) : va_arg(ap, int);
			emit_num(&o, s < 0 ? 0ULL - (unsigned long long)s : (unsigned long long)s, 10,
				 width, zero, s < 0, false, left);
			break;
		}
		case 'u':
			v = lng ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned);
			emit_num(&o, v, 10, width, zero, false, false, left);
			break;
		case 'x': case 'X':
			v = lng ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned);
			if (alt) {
				emit(&o, '0');
				emit(&o, 'x');
			}
			emit_num(&o, v, 16, width, zero, false, *fmt == 'X', left);
			break;
		case 'p':
			emit(&o, '0');
			emit(&o, 'x');
			emit_num(&o, (unsigned long long)(uintptr_t)va_arg(ap, void *), 16, width,
				 zero, false, false, left);
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			int len = (int)strlen(s);
			if (!left)
				for (; width > len; width--)
					emit(&o, ' ');
			while (*s)
				emit(&o, *s++);
			if (left)
				for (; width > len; width--)
					emit(&o, ' ');
			break;
		}
		case 'c':
			emit(&o, (char)va_arg(ap, int));
			break;
		case '%':
			emit(&o, '%');
			break;
		default:
			emit(&o, '%');
			emit(&o, *fmt);
			break;
		}
	}
	if (o.n)
		o.buf[o.pos < o.n ? o.pos : o.n - 1] = 0;
	return (int)o.pos;
}

int snprintf(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vsnprintf(buf, n, fmt, ap);
	va_end(ap);
	return r;
}

int printf(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int r = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	puts_serial(buf);
	return r;
}

/* ---- TAP ------------------------------------------------------------------------ */

static int tap_n, tap_fail;

void report(bool ok, const char *fmt, ...)
{
	char buf[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	tap_n++;
	if (!ok)
		tap_fail++;
	printf("%sok %d - %s\n", ok ? "" : "not ", tap_n, buf);
}

void report_skip(const char *fmt, ...)
{
	char buf[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	tap_n++;
	printf("ok %d # SKIP %s\n", tap_n, buf);
}

void diag(const char *fmt, ...)
{
	char buf[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	printf("# %s\n", buf);
}

int report_summary(void)
{
	printf("1..%d\n", tap_n);
	return tap_fail;
}

void exit(int code)
{
	outl(0xf4, (uint32_t)code);
	/* no debug-exit device: power off through the Bochs/APM port */
	for (const char *p = "Shutdown"; *p; p++)
		outb(0x8900, (uint8_t)*p);
	for (;;)
		asm volatile("cli; hlt");
}

void abort(void)
{
	printf("Bail out! abort()\n");
	exit(0x3f);
}

/* ---- exceptions -------------------------------------------------------------------- */

struct idt_entry {
	uint16_t off0, sel;
	uint8_t ist, type;
	uint16_t off1;
	uint32_t off2, rsvd;
} __attribute__((packed));

static struct idt_entry idt[256] __attribute__((aligned(16)));
static exc_handler handlers[256];
struct tss64 tss __attribute__((aligned(16)));
static uint8_t ist_stack[4][8192] __attribute__((aligned(16)));
volatile uint64_t exc_fixup_rip;
volatile struct exc_record exc_last;

void set_idt_entry(int vec, void *addr, int sel, int dpl, int type, int ist)
{
	uint64_t a = (uint64_t)addr;
	idt[vec].off0 = (uint16_t)a;
	idt[vec].sel = (uint16_t)sel;
	idt[vec].ist = (uint8_t)ist;
	idt[vec].type = (uint8_t)(0x80 | (dpl << 5) | type);
	idt[vec].off1 = (uint16_t)(a >> 16);
	idt[vec].off2 = (uint32_t)(a >> 32);
	idt[vec].rsvd = 0;
}

void set_idt_raw(int vec, uint64_t lo, uint64_t hi)
{
	memcpy(&idt[vec], &lo, 8);
	memcpy((uint8_t *)&idt[vec] + 8, &hi, 8);
}

void get_idt_raw(int vec, uint64_t *lo, uint64_t *hi)
{
	memcpy(lo, &idt[vec], 8);
	memcpy(hi, (uint8_t *)&idt[vec] + 8, 8);
}

void set_handler(int vec, exc_handler h)
{
	handlers[vec] = h;
}

void exc_clear(void)
{
	exc_last.vector = -1;
	exc_last.error_code = 0;
	exc_last.rip = 0;
	exc_last.cr2 = 0;
	exc_last.count = 0;
	exc_fixup_rip = 0;
}

/* ring-3 excursions (sys.S run_user64): any exception from CPL 3 ends them */
extern volatile uint64_t user_active, user_krsp, user_rax;
extern char user_ret64[];

static bool user_exit(struct exc_frame *f)
{
	if (!user_active || (f->cs & 3) != 3)
		return false;
	if (f->vector == 0x81) {
		user_rax = f->rax;
	} else {
		exc_last.vector = (int)f->vector;
		exc_last.error_code = f->error_code;
		exc_last.rip = f->rip;
		exc_last.rflags = f->rflags;
		exc_last.rsp = f->rsp;
		exc_last.cr2 = read_cr2();
		exc_last.count++;
		user_rax = ~0ULL;
	}
	f->rip = (uint64_t)user_ret64;
	f->cs = SEL_KCODE64;
	f->ss = SEL_KDATA;
	f->rsp = user_krsp;
	f->rflags = 2;
	return true;
}

void exc_dispatch(struct exc_frame *f);
void exc_dispatch(struct exc_frame *f)
{
	int v = (int)f->vector;
	if (user_exit(f))
		return;
	if (exc_fixup_rip && v < 32 && v != 2) {	/* exceptions only */
		exc_last.vector = v;
		exc_last.error_code = f->error_code;
		exc_last.rip = f->rip;
		exc_last.rflags = f->rflags;
		exc_last.rsp = f->rsp;
		exc_last.cr2 = read_cr2();
		exc_last.cs = f->cs;
		exc_last.ss = f->ss;
		if (v == 1) {
			exc_last.dr6 = read_dr6();
			exc_last.dr7 = read_dr7();
			f->rflags &= ~0x100ULL;	/* stop single-stepping */
		}
		exc_last.count++;
		f->rip = exc_fixup_rip;
		exc_fixup_rip = 0;
		return;
	}
	if (handlers[v]) {
		handlers[v](f);
		return;
	}
	printf("not ok - unexpected exception %d, error code %#llx, at rip %#llx (cr2 %#llx)\n",
	       v, (unsigned long long)f->error_code, (unsigned long long)f->rip,
	       (unsigned long long)read_cr2());
	printf("Bail out! unexpected exception\n");
	exit(0x3e);
}

static void setup_cpu_tables(void)
{
	for (int v = 0; v < 256; v++)
		set_idt_entry(v, isr_table + 16 * v, SEL_KCODE64, 0, 0xe, 0);
	/* the way back from ring 3 (sys.h USER_RET) */
	set_idt_entry(0x81, isr_table + 16 * 0x81, SEL_KCODE64, 3, 0xe, 0);
	struct { uint16_t lim; uint64_t base; } __attribute__((packed)) d = {
		sizeof(idt) - 1, (uint64_t)idt
	};
	asm volatile("lidt %0" :: "m"(d));
	/* the TSS: RSP0 and IST stacks */
	memset(&tss, 0, sizeof(tss));
	tss.rsp[0] = (uint64_t)(ist_stack[0] + sizeof(ist_stack[0]));
	for (int k = 1; k < 4; k++)
		tss.ist[k - 1] = (uint64_t)(ist_stack[k] + sizeof(ist_stack[k]));
	tss.iomap = sizeof(tss);
	uint64_t base = (uint64_t)&tss, lim = sizeof(tss) - 1;
	gdt64[SEL_TSS / 8] = (lim & 0xffff) | ((base & 0xffffff) << 16) | (0x89ULL << 40) |
			     ((lim >> 16) << 48) | (((base >> 24) & 0xff) << 56);
	gdt64[SEL_TSS / 8 + 1] = base >> 32;
	asm volatile("ltr %w0" :: "r"(SEL_TSS));
	exc_clear();
}

/* ---- boot information --------------------------------------------------------------- */

int g_argc;
char *g_argv[32];
static char cmdline_copy[1024];
static char env_copy[4096];
static char *env_vars[64];
static int n_env;

static void parse_cmdline(void)
{
	uint32_t *mbi = (uint32_t *)(uintptr_t)mb_info;
	if (mb_magic != 0x2badb002 || !mbi)
		return;
	if (mbi[0] & 4) {
		const char *c = (const char *)(uintptr_t)mbi[4];
		size_t k = 0;
		while (c[k] && k + 1 < sizeof(cmdline_copy)) {
			cmdline_copy[k] = c[k];
			k++;
		}
		cmdline_copy[k] = 0;
		char *p = cmdline_copy;
		while (*p && g_argc < 31) {
			while (*p == ' ')
				*p++ = 0;
			if (!*p)
				break;
			g_argv[g_argc++] = p;
			while (*p && *p != ' ')
				p++;
		}
		g_argv[g_argc] = 0;
	}
	if ((mbi[0] & 8) && mbi[5] >= 1) {
		uint32_t *mod = (uint32_t *)(uintptr_t)mbi[6];
		const char *s = (const char *)(uintptr_t)mod[0];
		size_t len = mod[1] - mod[0];
		if (len >= sizeof(env_copy))
			len = sizeof(env_copy) - 1;
		memcpy(env_copy, s, len);
		env_copy[len] = 0;
		char *p = env_copy;
		while (*p && n_env < 64) {
			env_vars[n_env++] = p;
			while (*p && *p != '\n')
				p++;
			if (*p)
				*p++ = 0;
		}
	}
}

const char *getenv(const char *name)
{
	size_t n = strlen(name);
	for (int k = 0; k < n_env; k++)
		if (!strncmp(env_vars[k], name, n) && env_vars[k][n] == '=')
			return env_vars[k] + n + 1;
	return NULL;
}

extern char __bss_start[], __bss_end[], __image_end[];
static uint64_t heap_next;

void *alloc_pages(int n)
{
	if (!heap_next)
		heap_next = ((uint64_t)__image_end + 0xfffff) & ~0xfffffULL;
	void *p = (void *)heap_next;
	heap_next += (uint64_t)n * 4096;
	memset(p, 0, (size_t)n * 4096);
	return p;
}

void *alloc_page(void)
{
	return alloc_pages(1);
}

int main(int argc, char **argv);
void guest_start(void);
void guest_start(void)
{
	serial_init();
	setup_cpu_tables();
	parse_cmdline();
	int r = main(g_argc, g_argv);
	exit(r ? 1 : 0);
}

/* ---- libc pieces ----------------------------------------------------------------------- */

void *memset(void *d, int c, size_t n)
{
	uint8_t *p = d;
	while (n--)
		*p++ = (uint8_t)c;
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	uint8_t *p = d;
	const uint8_t *q = s;
	while (n--)
		*p++ = *q++;
	return d;
}

void *memmove(void *d, const void *s, size_t n)
{
	uint8_t *p = d;
	const uint8_t *q = s;
	if (p < q) {
		while (n--)
			*p++ = *q++;
	} else {
		while (n--)
			p[n] = q[n];
	}
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const uint8_t *p = a, *q = b;
	for (; n; n--, p++, q++)
		if (*p != *q)
			return *p - *q;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return (uint8_t)*a - (uint8_t)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (uint8_t)*a - (uint8_t)*b;
		if (!*a)
			return 0;
	}
	return 0;
}

char *strchr(const char *s, int c)
{
	for (; *s; s++)
		if (*s == (char)c)
			return (char *)s;
	return c ? 0 : (char *)s;
}

long strtol(const char *s, char **end, int base)
{
	long v = 0;
	bool neg = false;
	while (*s == ' ')
		s++;
	if (*s == '-') {
		neg = true;
		s++;
	}
	if ((base == 0 || base == 16) && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	} else if (base == 0) {
		base = 10;
	}
	for (;; s++) {
		int d;
		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (*s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			break;
		if (d >= base)
			break;
		v = v * base + d;
	}
	if (end)
		*end = (char *)s;
	return neg ? -v : v;
}
