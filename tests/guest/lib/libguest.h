/*
 * The guest test library: serial TAP output, exit through the debug-exit
 * port, the IDT with catchable exceptions, and small libc pieces.
 */
#ifndef LIBGUEST_H
#define LIBGUEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "asm.h"

/* ---- port I/O, MSRs, control registers ---- */
static inline void outb(uint16_t p, uint8_t v) { asm volatile("outb %0, %1" :: "a"(v), "Nd"(p)); }
static inline void outw(uint16_t p, uint16_t v) { asm volatile("outw %0, %1" :: "a"(v), "Nd"(p)); }
static inline void outl(uint16_t p, uint32_t v) { asm volatile("outl %0, %1" :: "a"(v), "Nd"(p)); }
static inline uint8_t inb(uint16_t p) { uint8_t v; asm volatile("inb %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline uint16_t inw(uint16_t p) { uint16_t v; asm volatile("inw %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline uint32_t inl(uint16_t p) { uint32_t v; asm volatile("inl %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline uint64_t rdmsr(uint32_t i) { uint32_t a, d; asm volatile("rdmsr" : "=a"(a), "=d"(d) : "c"(i)); return a | ((uint64_t)d << 32); }
static inline void wrmsr(uint32_t i, uint64_t v) { asm volatile("wrmsr" :: "c"(i), "a"((uint32_t)v), "d"((uint32_t)(v >> 32))); }
static inline uint64_t rdtsc(void) { uint32_t a, d; asm volatile("rdtsc" : "=a"(a), "=d"(d)); return a | ((uint64_t)d << 32); }
static inline void cpuid2(uint32_t f, uint32_t s, uint32_t r[4]) { asm volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(f), "c"(s)); }
#define DEF_CR(n) \
	static inline uint64_t read_cr##n(void) { uint64_t v; asm volatile("mov %%cr" #n ", %0" : "=r"(v)); return v; } \
	static inline void write_cr##n(uint64_t v) { asm volatile("mov %0, %%cr" #n :: "r"(v) : "memory"); }
DEF_CR(0) DEF_CR(2) DEF_CR(3) DEF_CR(4) DEF_CR(8)
#define DEF_DR(n) \
	static inline uint64_t read_dr##n(void) { uint64_t v; asm volatile("mov %%dr" #n ", %0" : "=r"(v)); return v; } \
	static inline void write_dr##n(uint64_t v) { asm volatile("mov %0, %%dr" #n :: "r"(v) : "memory"); }
DEF_DR(0) DEF_DR(1) DEF_DR(2) DEF_DR(3) DEF_DR(6) DEF_DR(7)
static inline uint64_t read_rflags(void) { uint64_t v; asm volatile("pushfq; popq %0" : "=r"(v)); return v; }
static inline void write_rflags(uint64_t v) { asm volatile("pushq %0; popfq" :: "r"(v) : "memory", "cc"); }
static inline void cli(void) { asm volatile("cli" ::: "memory"); }
static inline void sti(void) { asm volatile("sti" ::: "memory"); }

/* ---- output and results ---- */
void serial_init(void);
void putchar_serial(int c);
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vsnprintf(char *buf, size_t n, const char *fmt, va_list ap);
int snprintf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void puts_serial(const char *s);

/* TAP: each report() is one "ok N - ..." / "not ok N - ..." line */
void report(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void report_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int report_summary(void);	/* prints the plan; returns the failure count */
#define CHECK_EQ(a, b, what) \
	do { \
		unsigned long long __a = (unsigned long long)(a), __b = (unsigned long long)(b); \
		report(__a == __b, "%s (got %#llx, want %#llx)", what, __a, __b); \
	} while (0)

/* exit through isa-debug-exit (port 0xf4): status (code << 1) | 1 */
void exit(int code) __attribute__((noreturn));
void abort(void) __attribute__((noreturn));

/* ---- boot information ---- */
extern uint32_t mb_magic, mb_info;
/* state at the Multiboot entry point, recorded by boot.S */
extern uint32_t entry_eflags, entry_cr0, entry_cr4, entry_efer;
extern uint16_t entry_cs, entry_ds, entry_ss, entry_es;
extern uint8_t entry_idtr[10], entry_gdtr[10];
extern int g_argc;
extern char *g_argv[32];
const char *getenv(const char *name);	/* from -initrd NAME=value lines */

/* ---- exceptions ---- */
struct exc_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error_code;
	uint64_t rip, cs, rflags, rsp, ss;
};
typedef void (*exc_handler)(struct exc_frame *f);
void set_handler(int vec, exc_handler h);
void set_idt_entry(int vec, void *addr, int sel, int dpl, int type, int ist);
/* the 16-byte IDT entry as two quadwords */
void set_idt_raw(int vec, uint64_t lo, uint64_t hi);
void get_idt_raw(int vec, uint64_t *lo, uint64_t *hi);
extern uint8_t isr_table[];
extern uint64_t gdt64[];
struct tss64 {
	uint32_t rsvd0;
	uint64_t rsp[3];
	uint64_t rsvd1;
	uint64_t ist[7];
	uint64_t rsvd2;
	uint16_t rsvd3, iomap;
} __attribute__((packed));
extern struct tss64 tss;

/*
 * Catching an expected exception: ASM_TRY("1f") before the instruction
 * under test makes the next exception resume at label 1 and record what
 * happened in exc_last.
 */
struct exc_record {
	int vector;		/* -1: none */
	uint64_t error_code, rip, cr2, rflags, rsp, cs, ss;
	uint64_t dr6, dr7;	/* for #DB */
	int count;
};
extern volatile uint64_t exc_fixup_rip;
extern volatile struct exc_record exc_last;
#define ASM_TRY(label) "movq $" label ", exc_fixup_rip\n\t"
void exc_clear(void);

/* ---- small libc ---- */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
long strtol(const char *s, char **end, int base);

/* simple bump allocator of page-aligned memory above the image */
void *alloc_page(void);
void *alloc_pages(int n);

#endif
