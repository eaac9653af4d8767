// SPDX-License-Identifier: MIT
/*
 * The nestvm command: QEMU's command-line conventions for booting a
 * Multiboot test image on the PC platform.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../vmm/machine.h"
#include "../vmm/snapshot.h"
#include "../vmm/devices.h"

static const char usage_text[] =
"Usage: nestvm -kernel IMAGE [options]\n"
"\n"
"Boots a Multiboot v1 image (ELF32 or ELF64) on a virtual PC, as\n"
"'qemu-system-x86_64 -kernel IMAGE' would, and exits with the image's status.\n"
"\n"
"Options (QEMU spelling; '--opt' and '-opt' are the same):\n"
"  -kernel IMAGE        the Multiboot image to boot (required)\n"
"  -append 'ARGS'       command line; the image sees \"IMAGE ARGS\"\n"
"  -initrd FILE         Multiboot module 0 (test images read it as NAME=value lines)\n"
"  -m SIZE              guest RAM: a number of MiB, or with a K/M/G/T suffix\n"
"                       (also size=SIZE); default 128M\n"
"  -smp N               number of vCPUs (also cpus=N,maxcpus=M); default 1, max 256\n"
"  -cpu MODEL[,+f,-f]   CPU model: intel (default; also max, qemu64,\n"
"                       Skylake-Server), amd (EPYC), host; +feature / -feature\n"
"                       or feature=on|off with QEMU's feature names\n"
"  -serial stdio|none|null|file:PATH\n"
"                       where COM1 output goes; default stdio\n"
"  -device isa-debug-exit[,iobase=N][,iosize=N]\n"
"                       exit port (QEMU defaults iobase=0x501, iosize=1): a write\n"
"                       of c ends the run with exit status (c << 1) | 1\n"
"  -device pc-testdev   test ports 0xe0-0xeb, IRQ lines 0x2000-0x2017, MMIO\n"
"                       scratch at 0xff000000\n"
"  -device pci-testdev  the PCI test device (1b36:0005)\n"
"  -machine [TYPE,]accel=tcg|kvm, -accel tcg|kvm, -enable-kvm\n"
"                       engine: tcg = the nestvm emulator (default), kvm = /dev/kvm\n"
"  -machine strict=on|off\n"
"                       follow the SDM/APM where KVM differs (emulator only;\n"
"                       default off: KVM-compatible)\n"
"  -no-reboot           a guest reset or triple fault ends the run (status 0)\n"
"  -display none, -vnc none, -nodefaults, -global ..., -name ...\n"
"                       accepted and ignored (no meaning here)\n"
"  -snapshot-save FILE@N  save the machine after N executed instructions, continue\n"
"  -snapshot-load FILE  start from a snapshot (with the same devices and options)\n"
"  -snapshot-torture N[,count=K][,start=S]\n"
"                       every N instructions (from instruction S on, at most K\n"
"                       times): save, and continue the run from the snapshot in a\n"
"                       fresh process; output and exit status must not change\n"
"  -snapshot-compress   compress RAM in -snapshot-save files (zstd)\n"
"  -snapshot-stats      print instruction count and snapshot times at exit\n"
"  -quantum N           scheduler slice in instructions (default 100000)\n"
"  -stats               print executed instructions and time on exit (stderr)\n"
"  -version, --version  print the version\n"
"  -help, --help        this text\n"
"\n"
"Exit status: (c << 1) | 1 for a debug-exit write of c; 0 when the guest powers\n"
"off (port 0x8900 \"Shutdown\") or resets with -no-reboot; 1 for an emulator\n"
"error during the run; 2 for a bad command line or image; 3 when every vCPU is\n"
"halted with nothing left that could wake it.\n";

static const char *prog = "nestvm";

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(2);
}

static bool parse_u64(const char *s, uint64_t *v)
{
	char *end;
	if (!s || !*s || *s == '-')
		return false;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 0);
	if (errno || *end)
		return false;
	*v = x;
	return true;
}

/* QEMU -m: plain number = MiB; suffixes K, M, G, T (also with B) */
static bool parse_size(const char *s, uint64_t *out)
{
	char *end;
	if (!strncmp(s, "size=", 5))
		s += 5;
	if (!*s || *s == '-')
		return false;
	errno = 0;
	double x = strtod(s, &end);
	if (errno || end == s || x <= 0)
		return false;
	uint64_t mul = 1ULL << 20;
	if (*end) {
		switch (*end) {
		case 'k': case 'K': mul = 1ULL << 10; break;
		case 'm': case 'M': mul = 1ULL << 20; break;
		case 'g': case 'G': mul = 1ULL << 30; break;
		case 't': case 'T': mul = 1ULL << 40; break;
		case 'b': case 'B': mul = 1; break;
		default: return false;
		}
		end++;
		if (*end == 'b' || *end == 'B')
			end++;
		if (*end && *end != ',')
			return false;
	}
	double bytes = x * (double)mul;
	if (bytes > (double)(1ULL << 46))
		return false;
	*out = (uint64_t)bytes;
	return true;
}

static void parse_smp(const char *s, struct config *c)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", s);
	char *save = NULL;
	uint64_t cpus = 0, maxc = 0;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		uint64_t v;
		char *eq = strchr(tok, '=');
		if (!eq) {
			if (!parse_u64(tok, &v) || !v)
				die("-smp: bad value '%s'", s);
			cpus = v;
			continue;
		}
		*eq = 0;
		if (!parse_u64(eq + 1, &v))
			die("-smp: bad value for '%s'", tok);
		if (!strcmp(tok, "cpus")) {
			if (!v)
				die("-smp: cpus must be at least 1");
			cpus = v;
		}
		else if (!strcmp(tok, "maxcpus"))
			maxc = v;
		else if (strcmp(tok, "sockets") && strcmp(tok, "cores") && strcmp(tok, "threads") &&
			 strcmp(tok, "dies") && strcmp(tok, "clusters"))
			die("-smp: unknown parameter '%s'", tok);
	}
	if (!cpus)
		cpus = maxc ? maxc : 1;
	if (cpus < 1 || cpus > MAX_CPUS)
		die("-smp: %llu vCPUs requested; 1 to %d are supported", (unsigned long long)cpus, MAX_CPUS);
	if (maxc && maxc < cpus)
		die("-smp: maxcpus (%llu) is less than cpus (%llu)", (unsigned long long)maxc,
		    (unsigned long long)cpus);
	c->smp = (int)cpus;
	c->max_cpus = maxc ? (int)maxc : (int)cpus;
}

static void parse_device(const char *s, struct config *c)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", s);
	char *save = NULL;
	char *name = strtok_r(buf, ",", &save);
	if (!name)
		die("-device: missing device name");
	if (!strcmp(name, "isa-debug-exit")) {
		c->debug_exit = true;
		c->debug_exit_base = 0x501;
		c->debug_exit_size = 1;
		for (char *tok = strtok_r(NULL, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			char *eq = strchr(tok, '=');
			uint64_t v;
			if (!eq)
				die("-device isa-debug-exit: bad property '%s'", tok);
			*eq = 0;
			if (!parse_u64(eq + 1, &v))
				die("-device isa-debug-exit: bad value for '%s'", tok);
			if (!strcmp(tok, "iobase")) {
				if (v > 0xffff)
					die("-device isa-debug-exit: iobase 0x%llx out of range", (unsigned long long)v);
				c->debug_exit_base = (uint16_t)v;
			} else if (!strcmp(tok, "iosize")) {
				if (v < 1 || v > 4)
					die("-device isa-debug-exit: iosize must be 1 to 4");
				c->debug_exit_size = (uint16_t)v;
			} else {
				die("-device isa-debug-exit: unknown property '%s'", tok);
			}
		}
		return;
	}
	if (!strcmp(name, "pc-testdev")) {
		c->pc_testdev = true;
		return;
	}
	if (!strcmp(name, "pci-testdev")) {
		c->pci_testdev = true;
		return;
	}
	die("-device: unknown device '%s' (known: isa-debug-exit, pc-testdev, pci-testdev)", name);
}

static void parse_accel(const char *s, struct config *c, bool machine_opt)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", s);
	char *save = NULL;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		const char *val = tok;
		char *eq = strchr(tok, '=');
		if (eq) {
			*eq = 0;
			if (machine_opt && !strcmp(tok, "strict")) {
				if (!strcmp(eq + 1, "on") || !strcmp(eq + 1, "true") || !strcmp(eq + 1, "yes"))
					c->strict = true;
				else if (!strcmp(eq + 1, "off") || !strcmp(eq + 1, "false") || !strcmp(eq + 1, "no"))
					c->strict = false;
				else
					die("-machine strict=%s: expected on or off", eq + 1);
				continue;
			}
			if (strcmp(tok, "accel") && strcmp(tok, "type")) {
				if (machine_opt)
					continue;	/* other -machine properties: ignored */
				die("-accel: unknown property '%s'", tok);
			}
			if (!strcmp(tok, "type") && machine_opt) {
				val = eq + 1;
				if (strcmp(val, "pc") && strncmp(val, "pc-", 3))
					die("-machine: only the 'pc' machine is available");
				continue;
			}
			val = eq + 1;
		} else if (machine_opt) {
			if (strcmp(tok, "pc") && strncmp(tok, "pc-", 3))
				die("-machine: only the 'pc' machine is available, not '%s'", tok);
			continue;
		}
		/* accel lists like "kvm:tcg": the first that works (QEMU) */
		char list[64];
		snprintf(list, sizeof(list), "%s", val);
		char *save2 = NULL;
		int n = 0;
		for (char *a = strtok_r(list, ":", &save2); a; a = strtok_r(NULL, ":", &save2)) {
			enum nv_engine e;
			if (!strcmp(a, "tcg"))
				e = NV_ENGINE_EMU;
			else if (!strcmp(a, "kvm"))
				e = NV_ENGINE_KVM;
			else
				die("unknown accelerator '%s' (tcg or kvm)", a);
			if (n == 0)
				c->engine = e;
			else if (n == 1)
				c->engine_fallback = e, c->has_fallback = true;
			n++;
		}
		if (!n)
			die("empty accelerator list");
	}
}

static void parse_snapshot_save(const char *s, struct config *c)
{
	const char *at = strrchr(s, '@');
	uint64_t n;
	if (!at || at == s || !parse_u64(at + 1, &n))
		die("-snapshot-save: expected FILE@N, got '%s'", s);
	char *f = strndup(s, (size_t)(at - s));
	if (!f)
		die("out of memory");
	c->snapshot_save = f;
	c->snapshot_at = n;
}

/* -snapshot-torture N[,count=K][,start=S] */
static void parse_torture(const char *s, struct config *c)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", s);
	char *save = NULL;
	char *tok = strtok_r(buf, ",", &save);
	if (!tok || !parse_u64(tok, &c->torture) || !c->torture)
		die("-snapshot-torture: expected a positive instruction count, got '%s'", s);
	while ((tok = strtok_r(NULL, ",", &save))) {
		char *eq = strchr(tok, '=');
		uint64_t v;
		if (!eq)
			die("-snapshot-torture: bad property '%s'", tok);
		*eq = 0;
		if (!parse_u64(eq + 1, &v))
			die("-snapshot-torture: bad value for '%s'", tok);
		if (!strcmp(tok, "count"))
			c->torture_count = v;
		else if (!strcmp(tok, "start"))
			c->torture_start = v;
		else
			die("-snapshot-torture: unknown property '%s' (count, start)", tok);
	}
}

static void parse_torture_child(const char *s, struct config *c)
{
	char *end;
	errno = 0;
	long fd = strtol(s, &end, 10);
	if (errno || *end != ':' || fd < 0 || fd > INT_MAX)
		die("-snapshot-torture-child: internal option, bad value '%s'", s);
	if (!parse_u64(end + 1, &c->torture_gen))
		die("-snapshot-torture-child: internal option, bad value '%s'", s);
	c->torture_child = true;
	c->torture_fd = (int)fd;
}

int main(int argc, char **argv)
{
	struct config c = {
		.ram_size = 128ULL << 20,
		.smp = 1,
		.max_cpus = 1,
		.serial = "stdio",
		.engine = NV_ENGINE_EMU,
		.quantum = 100000,
	};
	bool smp_given = false;

	for (int k = 1; k < argc; k++) {
		const char *a = argv[k];
		if (a[0] != '-' || !a[1])
			die("unexpected argument '%s' (try --help)", a);
		if (a[1] == '-')
			a++;	/* --opt == -opt */
		a++;
		const char *val = NULL;
#define NEEDARG() \
	do { \
		if (k + 1 >= argc) \
			die("option -%s needs an argument", a); \
		val = argv[++k]; \
	} while (0)
		if (!strcmp(a, "help") || !strcmp(a, "h")) {
			fputs(usage_text, stdout);
			return 0;
		} else if (!strcmp(a, "version")) {
			printf("nestvm %s\n", NESTVM_VERSION);
			return 0;
		} else if (!strcmp(a, "kernel")) {
			NEEDARG();
			c.kernel = val;
		} else if (!strcmp(a, "append")) {
			NEEDARG();
			c.append = val;
		} else if (!strcmp(a, "initrd")) {
			NEEDARG();
			c.initrd = val;
		} else if (!strcmp(a, "m")) {
			NEEDARG();
			if (!parse_size(val, &c.ram_size))
				die("-m: bad size '%s'", val);
			if (c.ram_size < (2ULL << 20))
				die("-m: at least 2 MiB of RAM is needed");
			c.ram_size = (c.ram_size + 0xfff) & ~0xfffULL;
		} else if (!strcmp(a, "smp")) {
			NEEDARG();
			parse_smp(val, &c);
			smp_given = true;
		} else if (!strcmp(a, "cpu")) {
			NEEDARG();
			c.cpu_model = val;
		} else if (!strcmp(a, "serial")) {
			NEEDARG();
			if (strcmp(val, "stdio") && strcmp(val, "none") && strcmp(val, "null") &&
			    strncmp(val, "file:", 5))
				die("-serial: '%s' is not supported (stdio, none, null, file:PATH)", val);
			c.serial = val;
		} else if (!strcmp(a, "device")) {
			NEEDARG();
			parse_device(val, &c);
		} else if (!strcmp(a, "machine") || !strcmp(a, "M")) {
			NEEDARG();
			parse_accel(val, &c, true);
		} else if (!strcmp(a, "accel")) {
			NEEDARG();
			parse_accel(val, &c, false);
		} else if (!strcmp(a, "enable-kvm")) {
			c.engine = NV_ENGINE_KVM;
		} else if (!strcmp(a, "no-reboot")) {
			c.no_reboot = true;
		} else if (!strcmp(a, "nodefaults") || !strcmp(a, "nographic") ||
			   !strcmp(a, "no-shutdown")) {
			/* no meaning here */
		} else if (!strcmp(a, "display") || !strcmp(a, "vnc") || !strcmp(a, "global") ||
			   !strcmp(a, "name") || !strcmp(a, "monitor") || !strcmp(a, "rtc")) {
			NEEDARG();	/* accepted, no meaning here */
		} else if (!strcmp(a, "snapshot-save")) {
			NEEDARG();
			parse_snapshot_save(val, &c);
		} else if (!strcmp(a, "snapshot-load")) {
			NEEDARG();
			c.snapshot_load = val;
		} else if (!strcmp(a, "snapshot-torture")) {
			NEEDARG();
			parse_torture(val, &c);
		} else if (!strcmp(a, "snapshot-torture-child")) {
			/* internal: a generation started by -snapshot-torture */
			NEEDARG();
			parse_torture_child(val, &c);
		} else if (!strcmp(a, "snapshot-compress")) {
			c.snapshot_zstd = true;
		} else if (!strcmp(a, "snapshot-stats")) {
			c.snapshot_stats = true;
		} else if (!strcmp(a, "stats")) {
			c.stats = true;
		} else if (!strcmp(a, "quantum")) {
			NEEDARG();
			if (!parse_u64(val, &c.quantum) || !c.quantum || c.quantum > (1ULL << 40))
				die("-quantum: bad value '%s'", val);
		} else {
			die("unknown option '%s' (try --help)", argv[k]);
		}
#undef NEEDARG
	}
	(void)smp_given;
	if (!c.kernel && !c.snapshot_load)
		die("no -kernel image given (try --help)");
	if (c.max_cpus < c.smp)
		c.max_cpus = c.smp;

	if ((c.snapshot_save || c.snapshot_load || c.torture) && c.engine != NV_ENGINE_EMU)
		die("snapshots need the emulator engine (accel=tcg)");
	if (c.snapshot_zstd && !snapshot_have_zstd())
		die("-snapshot-compress: this nestvm was built without zstd");

	struct machine m;
	FILE *serial = NULL;
	if (!strcmp(c.serial, "stdio")) {
		serial = stdout;
	} else if (!strncmp(c.serial, "file:", 5)) {
		/* a torture generation continues the output of the one before */
		serial = fopen(c.serial + 5, c.torture_child ? "a" : "w");
		if (!serial)
			die("-serial: cannot open '%s': %s", c.serial + 5, strerror(errno));
	}
	if (machine_init(&m, &c) < 0) {
		machine_destroy(&m);
		if (!c.has_fallback)
			return 2;
		/* QEMU's -accel kvm:tcg: fall back to the next accelerator */
		fprintf(stderr, "%s: falling back to %s\n", prog,
			c.engine_fallback == NV_ENGINE_KVM ? "kvm" : "tcg");
		c.engine = c.engine_fallback;
		c.has_fallback = false;
		if (machine_init(&m, &c) < 0) {
			machine_destroy(&m);
			return 2;
		}
	}
	m.serial_out = serial;
	m.dev->com1.out = serial;
	char err[600];
	if (c.snapshot_load) {
		if (snapshot_load_file(&m, c.snapshot_load, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s: -snapshot-load: %s\n", prog, err);
			machine_destroy(&m);
			return 2;
		}
		/* a torture generation's snapshot came in an inherited memfd */
		int fd;
		if (c.torture_child && sscanf(c.snapshot_load, "/dev/fd/%d", &fd) == 1)
			close(fd);
	} else if (load_multiboot(&m, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", prog, err);
		machine_destroy(&m);
		return 2;
	}
	snapshot_setup(&m, argc, argv);
	int st = machine_run(&m);
	snapshot_finish(&m, st);
	if (serial)
		fflush(serial);
	if (serial && serial != stdout)
		fclose(serial);
	machine_destroy(&m);
	return st;
}
