// Ember's boundary to MPI: plain C types only (an MPI communicator is a pointer in Open MPI
// and an int in MPICH, so no MPI type may cross into Swift). Internal to EmberDistributed:
// no stable API.
//
// Every function except ember_mpi_launched and ember_mpi_tree_sum_f32 must be called from
// the one thread that called ember_mpi_init (MPI_THREAD_FUNNELED). Functions returning int
// return 0 or an MPI error code (errors are returned, not fatal: MPI_ERRORS_RETURN).
// Buffers: outputs first, then inputs, then sizes.
#ifndef EMBER_MPI_H
#define EMBER_MPI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { EMBER_MPI_SUM = 0, EMBER_MPI_MAX = 1 };

// Initialises MPI with MPI_THREAD_FUNNELED. Fills rank and size of MPI_COMM_WORLD and the
// thread level MPI provided.
int ember_mpi_init(int *rank, int *size, int *provided);
int ember_mpi_finalize(void);
// Asks the kernel for a short scheduling slice (nanoseconds) for the calling thread, so that
// when it wakes it runs before the current thread's slice ends (Linux ≥ 6.12's EEVDF custom
// slice, no privilege needed). Returns 0, or -1 where the kernel does not support it.
int ember_mpi_request_short_slice(uint64_t nanoseconds);
// Ends every rank of the job with `code` (MPI_Abort on MPI_COMM_WORLD).
void ember_mpi_abort(int code);
// The implementation's text for an error code, into buf (NUL-terminated).
void ember_mpi_error_string(char *buf, int len, int code);
// The library's version string (MPI_Get_library_version), first line.
void ember_mpi_library_version(char *buf, int len);

// In place, over count floats (split into calls of at most 2^30 elements).
int ember_mpi_allreduce_f32(float *data, int64_t count, int op);
// In place, sum: Ember's ring (reduce-scatter then allgather over MPI point-to-point, the
// reduce-scatter in chunks of 256 KB with a kept two-chunk temporary). Falls back to
// ember_mpi_allreduce_f32 for fewer than 1024 floats per rank or blocks of 2^31 floats or more.
int ember_mpi_ring_allreduce_f32(float *data, int64_t count);
// Collective: if `wanted` on every rank and all ranks run on one machine, allocates the
// shared window of ember_mpi_shm_allreduce_f32 (2 MiB per rank) and the fixed tree's scratch
// (up to 256 KB per rank) and sets *enabled to 1 on every rank; else 0 on every rank.
// ember_mpi_finalize frees them (or ember_mpi_shm_free).
int ember_mpi_shm_setup(int wanted, int *enabled);
void ember_mpi_shm_free(void);
// In place, sum, through the shared window (after ember_mpi_shm_setup enabled it): each
// element is the sum over ranks in rank order, ((x0 + x1) + x2) + …, whatever the timing.
int ember_mpi_shm_allreduce_f32(float *data, int64_t count);
// The same, each element summed in ember_mpi_tree_sum_f32's tree over the ranks (rank r's
// value as part r): the bits of ReductionOrder.fixedTree's all-to-all form, for any count.
int ember_mpi_shm_tree_allreduce_f32(float *data, int64_t count);
// How this rank writes into the window: plain (cached) stores, non-temporal (streaming)
// ones, or AUTO (the default): per size class from 256 KB on, the rank times calls both ways,
// takes the faster, and times both again every 256 calls of the class or when its calls slow
// down. Each rank's own choice: the values, and so the bits, are the same either way.
enum { EMBER_SHM_STORES_CACHED = 0, EMBER_SHM_STORES_STREAMING = 1, EMBER_SHM_STORES_AUTO = 2 };
void ember_mpi_shm_set_stores(int mode);
int ember_mpi_shm_stores(void);
// What AUTO runs now for a sum of `count` floats (tree: the fixed-tree sum): CACHED or
// STREAMING, or -1 while this rank is still timing both for that size.
int ember_mpi_shm_auto_stores(int64_t count, int tree);
// How many times AUTO has begun timing both ways, over all sizes (for benchmarks).
int64_t ember_mpi_shm_auto_probes(void);
// In place, sum, ReductionOrder.fixedTree across machines: slices of ceil(count / size)
// floats exchanged all-to-all, each summed in ember_mpi_tree_sum_f32's tree over the ranks,
// gathered back. The same bits as ember_mpi_shm_tree_allreduce_f32.
int ember_mpi_tree_allreduce_f32(float *data, int64_t count);
// In place: the largest of the ranks' values.
int ember_mpi_allreduce_max_i64(int64_t *value);
// In place: root's bytes to every rank.
int ember_mpi_bcast(void *data, int64_t bytes, int root);
// out (size × bytes): rank r's `in` at out + r·bytes.
int ember_mpi_allgather(void *out, const void *in, int64_t bytes);
// out (size × bytes): block r of out is block `rank` of rank r's `in` (size × bytes).
int ember_mpi_alltoall(void *out, const void *in, int64_t bytes);
// out (count): this rank's block of the reduction over ranks of in (size × count).
int ember_mpi_reduce_scatter_f32(float *out, const float *in, int64_t count, int op);
int ember_mpi_barrier(void);

// out (n) = the fixed-order tree sum of parts (p × n, part k at parts + k·n): the sum of the
// even-numbered parts plus the sum of the odd-numbered parts, each formed the same way. For
// p and the number of ranks powers of two, summing a rank's parts and then the ranks' sums
// gives the same bits as summing all parts, however they are dealt to ranks (part k on rank
// k mod size). Overwrites parts.
void ember_mpi_tree_sum_f32(float *out, float *parts, int64_t p, int64_t n);

#ifdef __cplusplus
}
#endif
#endif
