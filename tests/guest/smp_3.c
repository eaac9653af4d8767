/* SMP with 3 vCPUs: AP start-up and work exchanged by IPI (smp_common.h). */
// nestvm-args: -smp 3
#define NCPU 3
#include "smp_common.h"
