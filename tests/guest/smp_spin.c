/*
 * Spin-wait handshakes between two vCPUs (the pattern of kvm-unit-tests'
 * multiple-NMI and on_cpu code): each side spins with PAUSE until the
 * other answers.  In an SMP VM a PAUSE idles for a fixed virtual time
 * (like KVM's pause-loop exiting, no instructions execute meanwhile), so
 * a round trip costs little host time; virtual time stays deterministic.
 */
// nestvm-args: -smp 2
// nestvm-timeout: 20
#include "smp.h"

#define ROUNDS 20000
#define QUANTUM 100000ULL

static volatile int ping, pong;
static volatile uint64_t max_wait;

static void responder(void *arg)
{
	(void)arg;
	for (int k = 1; k <= ROUNDS; k++) {
		while (ping != k)
			pause();
		pong = k;
	}
}

int main(int argc, char **argv)
{
	CHECK_EQ(smp_init(), 2, "2 CPUs online");
	on_cpu_async(1, responder, NULL);
	uint64_t t0 = rdtsc();
	bool ok = true;
	for (int k = 1; k <= ROUNDS; k++) {
		uint64_t s = rdtsc();
		ping = k;
		while (pong != k)
			pause();
		uint64_t w = rdtsc() - s;
		if (w > max_wait)
			max_wait = w;
		if (pong != k)
			ok = false;
	}
	uint64_t t = rdtsc() - t0;
	report(ok, "%d round trips completed", ROUNDS);
	report(max_wait <= 2 * QUANTUM + 1000, "each round trip within two scheduler slices of virtual time");
	report(t / ROUNDS <= 2 * QUANTUM, "mean round trip %llu ticks", (unsigned long long)(t / ROUNDS));
	while (!cpu_idle(1))
		pause();
	return report_summary();
}
