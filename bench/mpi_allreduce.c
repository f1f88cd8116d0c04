// MPI_Allreduce against Ember's ring (ember_mpi_ring_allreduce_f32) and shared-memory sum
// (ember_mpi_shm_allreduce_f32, when all ranks share a machine: with cached, streaming and
// automatic stores into the window, ember_mpi_shm_set_stores) in a plain C program, without
// Swift, Tensors or the communication thread: separates Ember's overhead from MPI's. Prints,
// per size, the median (min-max) over alternating rounds of memcpy and each allreduce (bus
// GB/s, the slowest rank), and the minor page faults per call of each. -DEMBER_RING_CHUNK=…
// and -DEMBER_SHM_SEGMENT=… (floats) change the ring's chunk and the window's segment.
//
//   mpicc -O3 -ffp-contract=off -ISources/CEmberMPI/include -o /tmp/mpi_allreduce bench/mpi_allreduce.c
//   mpirun --oversubscribe --bind-to none -np 2 /tmp/mpi_allreduce [rounds]
#include "../Sources/CEmberMPI/ember_mpi.c"

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

static long minor_faults(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// AUTO before STREAM: cached stores right after a run of streaming ones measured slower
// (5.8 against 7.8 GB/s at 4 MB on 2 ranks, the window's lines cold), which is no state
// AUTO meets outside its probes.
enum { COPY, MPI, RING, SHM, AUTO, STREAM, KINDS, MAX_ROUNDS = 64 };

int main(int argc, char **argv) {
    int provided, rank, size;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int shared = 0;
    ember_mpi_shm_setup(1, &shared);
    int rounds = argc > 1 ? atoi(argv[1]) : 5;
    if (rounds < 1 || rounds > MAX_ROUNDS) rounds = 5;
    if (rank == 0) printf("%d ranks, %d alternating rounds; bus GB/s = bytes/time * 2(N-1)/N, slowest rank\n", size, rounds);
    for (long bytes = 1 << 20; bytes <= 64 << 20; bytes *= 4) {
        long n = bytes / 4;
        float *data = malloc(bytes), *src = malloc(bytes), *dst = malloc(bytes);
        for (long i = 0; i < n; i++) data[i] = src[i] = 1, dst[i] = 0;
        int iterations = (int)((64L << 20) / bytes);
        if (iterations < 3) iterations = 3;
        double seconds[KINDS][MAX_ROUNDS];
        long faults[KINDS] = {0};
        for (int r = 0; r < rounds; r++) {
            for (int k = 0; k < KINDS; k++) {
                if (k >= SHM && !shared) { seconds[k][r] = 1; continue; }
                ember_mpi_shm_set_stores(k == SHM ? EMBER_SHM_STORES_CACHED : k == STREAM ? EMBER_SHM_STORES_STREAMING
                                                                                        : EMBER_SHM_STORES_AUTO);
                MPI_Barrier(MPI_COMM_WORLD);
                long f0 = minor_faults();
                double t0 = MPI_Wtime();
                for (int i = 0; i < iterations; i++) {
                    if (k == COPY) memcpy(dst, src, bytes);
                    else if (k == MPI) MPI_Allreduce(MPI_IN_PLACE, data, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
                    else if (k == RING) ember_mpi_ring_allreduce_f32(data, n);
                    else ember_mpi_shm_allreduce_f32(data, n);   // SHM, STREAM and AUTO
                }
                double t = (MPI_Wtime() - t0) / iterations;
                faults[k] += minor_faults() - f0;
                MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
                seconds[k][r] = t;
                // Keep the values finite: the sums grow by ×size per call.
                if (k != COPY) for (long i = 0; i < n; i++) data[i] = 1;
            }
        }
        if (rank == 0) {
            double gbs[KINDS][3];
            for (int k = 0; k < KINDS; k++) {
                qsort(seconds[k], rounds, sizeof(double), by_value);
                double scale = k == COPY ? 1.0 : 2.0 * (size - 1) / size;
                gbs[k][0] = bytes / seconds[k][rounds / 2] / 1e9 * scale;
                gbs[k][1] = bytes / seconds[k][rounds - 1] / 1e9 * scale;
                gbs[k][2] = bytes / seconds[k][0] / 1e9 * scale;
            }
            printf("%3ld MB  memcpy %5.2f (%5.2f-%5.2f)  MPI_Allreduce %5.2f (%5.2f-%5.2f) x%.2f %5ld faults/call"
                   "  ring %5.2f (%5.2f-%5.2f) x%.2f %5ld faults/call"
                   "  shared memory %5.2f (%5.2f-%5.2f) x%.2f %5ld faults/call"
                   "  streaming %5.2f (%5.2f-%5.2f) x%.2f  auto %5.2f (%5.2f-%5.2f) x%.2f chose %s, %ld probes so far\n", bytes >> 20,
                   gbs[COPY][0], gbs[COPY][1], gbs[COPY][2],
                   gbs[MPI][0], gbs[MPI][1], gbs[MPI][2], gbs[MPI][0] / gbs[COPY][0], faults[MPI] / (rounds * iterations),
                   gbs[RING][0], gbs[RING][1], gbs[RING][2], gbs[RING][0] / gbs[COPY][0], faults[RING] / (rounds * iterations),
                   gbs[SHM][0], gbs[SHM][1], gbs[SHM][2], gbs[SHM][0] / gbs[COPY][0], faults[SHM] / (rounds * iterations),
                   gbs[STREAM][0], gbs[STREAM][1], gbs[STREAM][2], gbs[STREAM][0] / gbs[COPY][0],
                   gbs[AUTO][0], gbs[AUTO][1], gbs[AUTO][2], gbs[AUTO][0] / gbs[COPY][0],
                   !shared ? "-" : ember_mpi_shm_auto_stores(n, 0) == EMBER_SHM_STORES_STREAMING ? "streaming" : "cached",
                   (long)ember_mpi_shm_auto_probes());
        }
        free(data); free(src); free(dst);
    }
    ember_mpi_finalize();
    return 0;
}
