// The one thread budget. OpenMP runs every parallel kernel; Debian's OpenBLAS (the pthread
// build, with a pool of its own) is pinned to one thread and called from OpenMP loops over
// fixed blocks instead (gemm.c): two pools on two cores fight, and fixed blocks make GEMM
// results independent of the thread count.
#include "internal.h"
#include <unistd.h>

void openblas_set_num_threads(int num_threads);   // OpenBLAS, declared here to keep
                                                  // cblas.h out of this file

int ember_threads_ = 0;
// Where a relu on 2 threads first wins clearly over 1: below it a fork/join costs more than
// the work (`ember-bench threshold`; docs/DESIGN.md, "Parallel threshold").
int64_t ember_threshold_ = 131072;
static _Thread_local int grad_disabled_ = 0;
_Thread_local int ember_serial_ = 0;

__attribute__((constructor)) static void ember_threads_init(void) {
    openblas_set_num_threads(1);
    ember_threads_ = ember_num_cores();
}

int ember_num_cores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    int p = omp_get_num_procs();     // honours the affinity mask (taskset, cgroups)
    if (p > 0 && (n <= 0 || p < n)) n = p;
    return n > 0 ? (int)n : 1;
}

void ember_set_num_threads(int n) {
    ember_threads_ = n > 0 ? n : 1;
    openblas_set_num_threads(1);
}
int ember_get_num_threads(void) { return ember_threads_; }
void ember_set_parallel_threshold(int64_t elements) { ember_threshold_ = elements > 1 ? elements : 1; }
int64_t ember_get_parallel_threshold(void) { return ember_threshold_; }
int ember_grad_enabled(void) { return !grad_disabled_; }
void ember_set_thread_serial(int serial) { ember_serial_ = serial != 0; }
int ember_thread_serial(void) { return ember_serial_; }
void ember_set_grad_enabled(int enabled) { grad_disabled_ = !enabled; }
