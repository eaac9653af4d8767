// SPDX-License-Identifier: MIT
/*
 * Snapshots and the scheduler: stopping the machine at an exact
 * machine-wide instruction count, saving there, and the torture mode.
 *
 * The machine's instruction count is the sum of the vCPUs' counts.  While
 * vCPU k runs, the others stand still, so the target is reached when vCPU
 * k has run (target - others) instructions: its budget is lowered to stop
 * there (a budget is a clock value; the clock advances one per instruction
 * and jumps while the vCPU is halted, so a stop may come early and the
 * budget is re-armed until the count is exact).  The stop happens between
 * two nv_run calls inside one scheduler step, invisible to the machine:
 * devices see the same sequence of exits as in an undisturbed run, and a
 * restored machine resumes the interrupted slice at the same point
 * (snapshot_resuming skips the dev_pre_run call the original did not
 * make either).
 *
 * Torture (-snapshot-torture N): every N instructions the machine is saved
 * to a memfd and a fresh process (fork + exec of /proc/self/exe with the
 * same options plus -snapshot-load) continues the run while the old one
 * exits.  The first process stays as a supervisor: it is the child
 * subreaper of all generations, reaps them, and exits with the status the
 * last generation reports through a pipe, so the caller sees exactly the
 * exit status of an undisturbed run.  Serial output stays in order because
 * each generation flushes it before the next one starts.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "snapshot_int.h"

#define NO_TARGET (~0ULL)

uint64_t snapshot_machine_icount(struct machine *m)
{
	uint64_t sum = 0;
	for (int k = 0; k < m->ncpus; k++) {
		uint64_t n = 0;
		if (m->vcpu[k] && nv_get_icount(m->vcpu[k], &n) == 0)
			sum += n;
	}
	return sum;
}

static uint64_t next_target(const struct snapshot_state *s)
{
	uint64_t t = NO_TARGET;
	if (s->save_pending)
		t = s->save_at;
	if (s->torture_on && s->torture_next < t)
		t = s->torture_next;
	return t;
}

static void torture_arm(struct machine *m, struct snapshot_state *s, uint64_t now)
{
	const struct config *c = &m->cfg;
	s->torture_on = c->torture && (!c->torture_count || s->torture_gen < c->torture_count);
	if (!s->torture_on)
		return;
	uint64_t t = now + c->torture;
	if (t < c->torture_start + c->torture)
		t = c->torture_start + c->torture;
	s->torture_next = t < now ? NO_TARGET : t;	/* overflow: never */
}

void snapshot_setup(struct machine *m, int argc, char **argv)
{
	struct snapshot_state *s = snap_state(m);
	const struct config *c = &m->cfg;
	uint64_t now = snapshot_machine_icount(m);
	s->argc = argc;
	s->argv = argv;
	s->torture_fd = c->torture_child ? c->torture_fd : -1;
	s->torture_gen = c->torture_gen;
	if (c->snapshot_save) {
		s->save_pending = true;
		s->save_at = c->snapshot_at;
		if (s->save_at < now) {
			fprintf(stderr, "nestvm: -snapshot-save: the snapshot already has %llu instructions, "
				"more than %llu; nothing will be saved\n", (unsigned long long)now,
				(unsigned long long)s->save_at);
			s->save_pending = false;
		}
	}
	torture_arm(m, s, now);
}

bool snapshot_resuming(struct machine *m, int k)
{
	struct snapshot_state *s = m->snap;
	if (!s || s->resume_cpu != k)
		return false;
	s->resume_cpu = -1;
	return true;
}

/* ---- torture: hand the run to a fresh process ------------------------------------ */

static void die_torture(const char *what)
{
	fprintf(stderr, "nestvm: -snapshot-torture: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* the original process: reap every generation, exit with the final status */
static void __attribute__((noreturn)) supervise(int rfd)
{
	int last_bad = -1;	/* wait status of a generation that died without reporting */
	for (;;) {
		int ws;
		pid_t p = waitpid(-1, &ws, 0);
		if (p < 0) {
			if (errno == EINTR)
				continue;
			break;	/* ECHILD: every generation is gone */
		}
		if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
			last_bad = ws;
	}
	int32_t st;
	ssize_t n, got = -1;
	while ((n = read(rfd, &st, sizeof(st))) == (ssize_t)sizeof(st))
		got = st;
	if (got >= 0)
		exit((int)got);
	if (last_bad >= 0 && WIFSIGNALED(last_bad)) {
		fprintf(stderr, "nestvm: -snapshot-torture: a generation died of signal %d (%s)\n",
			WTERMSIG(last_bad), strsignal(WTERMSIG(last_bad)));
		exit(128 + WTERMSIG(last_bad));
	}
	if (last_bad >= 0 && WIFEXITED(last_bad))
		exit(WEXITSTATUS(last_bad));
	fprintf(stderr, "nestvm: -snapshot-torture: the last generation reported no status\n");
	exit(1);
}

static bool arg_is(const char *a, const char *name)
{
	if (a[0] != '-')
		return false;
	a += a[1] == '-' ? 2 : 1;
	return !strcmp(a, name);
}

/* argv of the next generation: ours, minus what it must not redo */
static char **child_argv(struct snapshot_state *s, int snapfd, int statfd, uint64_t gen)
{
	char **av = calloc((size_t)s->argc + 8, sizeof(char *));
	static char load[64], child[96];
	if (!av)
		return NULL;
	int n = 0;
	av[n++] = s->argv[0];
	for (int k = 1; k < s->argc; k++) {
		const char *a = s->argv[k];
		if (arg_is(a, "snapshot-load") || arg_is(a, "snapshot-torture-child") ||
		    (arg_is(a, "snapshot-save") && !s->save_pending)) {
			k++;	/* and its argument */
			continue;
		}
		av[n++] = s->argv[k];
	}
	snprintf(load, sizeof(load), "/dev/fd/%d", snapfd);
	snprintf(child, sizeof(child), "%d:%llu", statfd, (unsigned long long)gen);
	av[n++] = "-snapshot-load";
	av[n++] = load;
	av[n++] = "-snapshot-torture-child";
	av[n++] = child;
	av[n] = NULL;
	return av;
}

static void torture_handoff(struct machine *m, struct snapshot_state *s)
{
	char err[300];
	int fd = memfd_create("nestvm-snapshot", 0);
	if (fd < 0)
		die_torture("memfd_create");
	if (snapshot_save_fd(m, fd, err, sizeof(err)) < 0) {
		fprintf(stderr, "nestvm: -snapshot-torture: %s\n", err);
		exit(1);
	}
	if (m->serial_out)
		fflush(m->serial_out);
	fflush(stdout);
	fflush(stderr);

	bool supervisor = s->torture_fd < 0;
	int pfd[2] = { -1, -1 };
	if (supervisor) {
		if (pipe2(pfd, 0) < 0)
			die_torture("pipe");
		fcntl(pfd[0], F_SETFD, FD_CLOEXEC);
		if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
			die_torture("PR_SET_CHILD_SUBREAPER");
		s->torture_fd = pfd[1];
	}
	char **av = child_argv(s, fd, s->torture_fd, s->torture_gen);
	if (!av)
		die_torture("out of memory");
	pid_t pid = fork();
	if (pid < 0)
		die_torture("fork");
	if (pid == 0) {
		execv("/proc/self/exe", av);
		fprintf(stderr, "nestvm: -snapshot-torture: cannot run /proc/self/exe: %s\n",
			strerror(errno));
		_exit(1);
	}
	free(av);
	close(fd);
	if (supervisor) {
		close(pfd[1]);
		/* the guest's memory is no longer needed here */
		if (m->ram)
			munmap(m->ram, m->ram_map_size);
		m->ram = NULL;
		supervise(pfd[0]);
	}
	/* an intermediate generation: its successor carries on */
	_exit(0);
}

/* ---- the exact stop ---------------------------------------------------------------- */

static void take_snapshot(struct machine *m, struct snapshot_state *s, uint64_t now)
{
	if (s->save_pending && now >= s->save_at) {
		char err[300];
		s->save_pending = false;
		if (m->serial_out)
			fflush(m->serial_out);
		if (snapshot_save_file(m, m->cfg.snapshot_save, err, sizeof(err)) < 0) {
			fprintf(stderr, "nestvm: -snapshot-save: %s\n", err);
			machine_poweroff(m, 1, NULL);
			return;
		}
	}
	if (s->torture_on && now >= s->torture_next) {
		s->torture_gen++;
		torture_handoff(m, s);	/* does not return */
	}
}

int snapshot_run(struct machine *m, int k)
{
	struct snapshot_state *s = m->snap;
	struct nv_vcpu *v = m->vcpu[k];
	if (!s)
		return nv_run(v);
	for (;;) {
		uint64_t target = next_target(s);
		if (target == NO_TARGET)
			return nv_run(v);
		uint64_t now = snapshot_machine_icount(m);
		struct nv_private_state p = { .version = NV_PRIVATE_STATE_VERSION, .size = sizeof(p) };
		if (nv_get_private_state(v, &p) < 0)
			return nv_run(v);
		if (p.flags & NV_PRIV_IO_BUSY)
			return nv_run(v);	/* finish the I/O: the count cannot be at the target */
		if (now >= target) {
			take_snapshot(m, s, now);
			if (m->done)
				return -EINTR;
			continue;
		}
		/* stop after `need` more instructions unless the slice ends first */
		uint64_t need = target - now;
		uint64_t orig = p.budget_until;
		uint64_t lim = p.clock + need;
		if (lim < p.clock || lim >= orig)
			return nv_run(v);
		nv_set_budget_until(v, lim);
		int r = nv_run(v);
		nv_set_budget_until(v, orig);
		if (r != -EINTR)
			return r;
	}
}

void snapshot_finish(struct machine *m, int status)
{
	struct snapshot_state *s = m->snap;
	if (!s)
		return;
	if (s->save_pending)
		fprintf(stderr, "nestvm: -snapshot-save: the run ended after %llu instructions, "
			"before %llu; nothing was saved\n",
			(unsigned long long)snapshot_machine_icount(m), (unsigned long long)s->save_at);
	if (m->cfg.snapshot_stats)
		fprintf(stderr, "nestvm: snapshot stats: %llu instructions, %llu restarts, "
			"%llu saves (%.2f ms), restore %.2f ms\n",
			(unsigned long long)snapshot_machine_icount(m),
			(unsigned long long)s->torture_gen, (unsigned long long)s->nsaves,
			s->save_ms, s->load_ms);
	if (s->torture_fd >= 0) {
		int32_t st = status;
		fflush(NULL);
		if (write(s->torture_fd, &st, sizeof(st)) != (ssize_t)sizeof(st))
			fprintf(stderr, "nestvm: -snapshot-torture: cannot report the exit status\n");
	}
}

void snapshot_destroy(struct machine *m)
{
	if (!m->snap)
		return;
	for (int k = 0; k < 3; k++)
		free(m->snap->kept[k]);
	free(m->snap);
	m->snap = NULL;
}
