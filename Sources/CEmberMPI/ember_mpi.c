// MPI calls for EmberDistributed (see include/ember_mpi.h). The only file that includes mpi.h.
#include "ember_mpi.h"

#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/sched/types.h>
#include <mpi.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

// Largest element count per MPI call: counts are `int` in MPI 3/4's C API.
#define EMBER_MPI_CHUNK ((int64_t)1 << 30)

static MPI_Op mpi_op(int op) { return op == EMBER_MPI_MAX ? MPI_MAX : MPI_SUM; }

// ember_mpi_tree_allreduce_f32's scratch, kept from call to call until MPI_Finalize.
static float *tree_scratch;
static int64_t tree_scratch_floats;

int ember_mpi_init(int *rank, int *size, int *provided) {
    int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, provided);
    if (rc != MPI_SUCCESS) return rc;
    // Errors come back as codes: Swift turns them into errors naming the rank and the call.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if ((rc = MPI_Comm_rank(MPI_COMM_WORLD, rank)) != MPI_SUCCESS) return rc;
    return MPI_Comm_size(MPI_COMM_WORLD, size);
}

int ember_mpi_finalize(void) {
    ember_mpi_shm_free();
    free(tree_scratch);
    tree_scratch = NULL;
    tree_scratch_floats = 0;
    return MPI_Finalize();
}

int ember_mpi_request_short_slice(uint64_t nanoseconds) {
#ifdef SYS_sched_setattr
    // SCHED_OTHER with sched_runtime: since Linux 6.12 the fair (EEVDF) scheduler's custom
    // slice, which needs no privilege; older kernels ignore or reject it.
    struct sched_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.size = sizeof attr;
    attr.sched_policy = 0;   // SCHED_OTHER
    attr.sched_runtime = nanoseconds;
    return (int)syscall(SYS_sched_setattr, 0, &attr, 0);
#else
    (void)nanoseconds;
    return -1;
#endif
}

void ember_mpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

void ember_mpi_error_string(char *buf, int len, int code) {
    char text[MPI_MAX_ERROR_STRING];
    int n = 0;
    if (MPI_Error_string(code, text, &n) != MPI_SUCCESS) n = 0;
    text[n < MPI_MAX_ERROR_STRING ? n : MPI_MAX_ERROR_STRING - 1] = 0;
    if (len <= 0) return;
    strncpy(buf, n ? text : "unknown MPI error", (size_t)len - 1);
    buf[len - 1] = 0;
}

void ember_mpi_library_version(char *buf, int len) {
    char text[MPI_MAX_LIBRARY_VERSION_STRING];
    int n = 0;
    if (MPI_Get_library_version(text, &n) != MPI_SUCCESS) n = 0;
    text[n < MPI_MAX_LIBRARY_VERSION_STRING ? n : MPI_MAX_LIBRARY_VERSION_STRING - 1] = 0;
    char *nl = strchr(text, '\n');
    if (nl) *nl = 0;
    if (len <= 0) return;
    strncpy(buf, text, (size_t)len - 1);
    buf[len - 1] = 0;
}

int ember_mpi_allreduce_f32(float *data, int64_t count, int op) {
    for (int64_t at = 0; at < count; at += EMBER_MPI_CHUNK) {
        int n = (int)(count - at < EMBER_MPI_CHUNK ? count - at : EMBER_MPI_CHUNK);
        int rc = MPI_Allreduce(MPI_IN_PLACE, data + at, n, MPI_FLOAT, mpi_op(op), MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return rc;
    }
    return MPI_SUCCESS;
}

// Ring allreduce (sum): a reduce-scatter then an allgather, each N-1 steps around the ring,
// block k = floats [k·n/N, (k+1)·n/N). In the reduce-scatter each block goes in chunks of
// EMBER_RING_CHUNK floats with two chunks in flight: a received chunk is added while it is
// still in cache and the next is being copied; the allgather receives straight into `data`.
// The temporary (two chunks) is kept between calls: no allocation, no page faults per call.
#ifndef EMBER_RING_CHUNK   // floats; overridable to measure (bench/mpi_allreduce.c)
#define EMBER_RING_CHUNK ((int64_t)1 << 16)
#endif
static float *ring_tmp;

static int ring_exchange(float *recv, const float *send, int64_t rn, int64_t sn, int left, int right) {
    MPI_Request req[2];
    int rc = MPI_Irecv(recv, (int)rn, MPI_FLOAT, left, 0, MPI_COMM_WORLD, &req[0]);
    if (rc != MPI_SUCCESS) return rc;
    if ((rc = MPI_Isend(send, (int)sn, MPI_FLOAT, right, 0, MPI_COMM_WORLD, &req[1])) != MPI_SUCCESS) return rc;
    return MPI_Waitall(2, req, MPI_STATUSES_IGNORE);
}

int ember_mpi_ring_allreduce_f32(float *data, int64_t count) {
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size == 1) return MPI_SUCCESS;
    // Small messages: MPI's latency-bound algorithms are better; huge blocks: int counts.
    if (count < (int64_t)size * 1024 || count / size >= INT_MAX) return ember_mpi_allreduce_f32(data, count, EMBER_MPI_SUM);
    if (!ring_tmp && !(ring_tmp = malloc(2 * EMBER_RING_CHUNK * sizeof(float)))) return MPI_ERR_NO_MEM;
    int left = (rank + size - 1) % size, right = (rank + 1) % size;
#define BLOCK_AT(k) ((int64_t)(k) * count / size)
    // Reduce-scatter: at step s, send block rank−s (complete up to here), receive block
    // rank−s−1 and add; after N−1 steps this rank holds the full sum of block rank+1.
    for (int s = 0; s < size - 1; s++) {
        int sb = (rank - s + size) % size, rb = (rank - s - 1 + 2 * size) % size;
        float *sp = data + BLOCK_AT(sb), *rp = data + BLOCK_AT(rb);
        int64_t sn = BLOCK_AT(sb + 1) - BLOCK_AT(sb), rn = BLOCK_AT(rb + 1) - BLOCK_AT(rb);
        int64_t chunks = (rn > sn ? rn : sn);
        chunks = (chunks + EMBER_RING_CHUNK - 1) / EMBER_RING_CHUNK;
        MPI_Request req[4] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL, MPI_REQUEST_NULL, MPI_REQUEST_NULL};
        int rc;
        // Chunk j: receive into ring_tmp half j%2 (request 2·(j%2)), send (request 2·(j%2)+1).
        for (int64_t j = 0; j <= chunks; j++) {
            if (j < chunks) {
                int64_t at = j * EMBER_RING_CHUNK;
                int64_t r = rn - at < EMBER_RING_CHUNK ? rn - at : EMBER_RING_CHUNK;
                int64_t w = sn - at < EMBER_RING_CHUNK ? sn - at : EMBER_RING_CHUNK;
                MPI_Request *q = req + 2 * (j % 2);
                if (r > 0 && (rc = MPI_Irecv(ring_tmp + (j % 2) * EMBER_RING_CHUNK, (int)r, MPI_FLOAT, left, 1,
                                             MPI_COMM_WORLD, &q[0])) != MPI_SUCCESS) return rc;
                if (w > 0 && (rc = MPI_Isend(sp + at, (int)w, MPI_FLOAT, right, 1, MPI_COMM_WORLD, &q[1])) != MPI_SUCCESS)
                    return rc;
            }
            if (j > 0) {
                int64_t k = j - 1, at = k * EMBER_RING_CHUNK;
                MPI_Request *q = req + 2 * (k % 2);
                if ((rc = MPI_Waitall(2, q, MPI_STATUSES_IGNORE)) != MPI_SUCCESS) return rc;
                int64_t r = rn - at < EMBER_RING_CHUNK ? rn - at : EMBER_RING_CHUNK;
                const float *t = ring_tmp + (k % 2) * EMBER_RING_CHUNK;
                float *o = rp + at;
                for (int64_t i = 0; i < r; i++) o[i] += t[i];
            }
        }
    }
    // Allgather: at step s, send block rank+1−s (final), receive block rank−s into place.
    for (int s = 0; s < size - 1; s++) {
        int sb = (rank + 1 - s + size) % size, rb = (rank - s + size) % size;
        int rc = ring_exchange(data + BLOCK_AT(rb), data + BLOCK_AT(sb), BLOCK_AT(rb + 1) - BLOCK_AT(rb),
                               BLOCK_AT(sb + 1) - BLOCK_AT(sb), left, right);
        if (rc != MPI_SUCCESS) return rc;
    }
#undef BLOCK_AT
    return MPI_SUCCESS;
}

// Shared-memory allreduce for a job whose ranks all run on one machine: every rank has two
// buffers of EMBER_SHM_SEGMENT floats in one MPI-3 shared window. Per segment of the tensor,
// each rank copies in the slices the others will sum (all but its own), and after a barrier
// rank r sums slice r of every rank's segment in rank order 0, 1, …, N−1 (or in the fixed tree
// of ember_mpi_tree_sum_f32, for ReductionOrder.fixedTree) — reading its own
// slice from its tensor — writes the sum to its tensor and its buffer, and after a second
// barrier copies the other ranks' summed slices out. Two barriers per segment instead of the
// ring's 2(N−1) dependent steps, which is what counts when ranks outnumber cores. The two
// buffers alternate from segment to segment, across calls too, so a segment's copy-in cannot
// overwrite a slice a slower rank is still copying out of the segment before (which may be the
// previous call's last, of another length: its slices lie elsewhere).
// The barriers are a counter in the window's first cache line rather than MPI_Barrier: one
// atomic add per rank instead of message rounds, each of which waits for a peer to be
// scheduled when ranks outnumber cores (docs/DISTRIBUTED.md, Benchmark).
#ifndef EMBER_SHM_SEGMENT   // floats; overridable to measure (bench/mpi_allreduce.c)
#define EMBER_SHM_SEGMENT ((int64_t)1 << 18)
#endif
#define EMBER_SHM_MAX_RANKS 256
#define EMBER_SHM_HEADER 64   // bytes before each rank's buffers; rank 0's holds the barrier
static MPI_Comm shm_comm = MPI_COMM_NULL;
static MPI_Win shm_win = MPI_WIN_NULL;
static float *shm_base[EMBER_SHM_MAX_RANKS];
static _Atomic int64_t *shm_arrivals;   // every rank's arrivals at every barrier so far
static int64_t shm_passed;              // arrivals when this rank's last barrier completed
static int64_t shm_segments;            // segments summed so far: the next one's buffer parity
static float *shm_parts;                // the tree sum's scratch: a block of every rank's values
static int64_t shm_parts_block;         // floats per rank in that scratch

void ember_mpi_shm_free(void) {
    free(shm_parts);
    shm_parts = NULL;
    if (shm_win != MPI_WIN_NULL) {
        MPI_Win_unlock_all(shm_win);
        MPI_Win_free(&shm_win);
    }
    if (shm_comm != MPI_COMM_NULL) MPI_Comm_free(&shm_comm);
}

int ember_mpi_shm_setup(int wanted, int *enabled) {
    *enabled = 0;
    int world, rc;
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    // Every step runs on every rank, so that the collective calls match; the last allreduce
    // makes the outcome the job's: on only if every rank wants it and got its window.
    if ((rc = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &shm_comm)) != MPI_SUCCESS)
        return rc;
    int node_size;
    MPI_Comm_size(shm_comm, &node_size);
    int ok = wanted && world > 1 && node_size == world && world <= EMBER_SHM_MAX_RANKS;
    int all;
    if ((rc = MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD)) != MPI_SUCCESS) return rc;
    if (all) {
        MPI_Comm_set_errhandler(shm_comm, MPI_ERRORS_RETURN);
        const MPI_Aint size = EMBER_SHM_HEADER + 2 * EMBER_SHM_SEGMENT * (MPI_Aint)sizeof(float);
        char *mine;
        int locked = 0;
        ok = MPI_Win_allocate_shared(size, 1, MPI_INFO_NULL, shm_comm, &mine, &shm_win) == MPI_SUCCESS;
        for (int r = 0; ok && r < world; r++) {
            MPI_Aint bytes;
            int unit;
            char *base;
            ok = MPI_Win_shared_query(shm_win, r, &bytes, &unit, &base) == MPI_SUCCESS && bytes >= size;
            if (ok) shm_base[r] = (float *)(base + EMBER_SHM_HEADER);
            if (ok && r == 0) shm_arrivals = (_Atomic int64_t *)base;
        }
        int node_rank;
        MPI_Comm_rank(shm_comm, &node_rank);
        if (ok && node_rank == 0) atomic_store(shm_arrivals, 0);
        // The tree sum's scratch: a block of each rank's values, at most 256 KB, kept in cache.
        shm_parts_block = world <= 32 ? 2048 : 65536 / world;
        if (ok) ok = (shm_parts = malloc((size_t)(shm_parts_block * world) * sizeof(float))) != NULL;
        shm_passed = 0;
        shm_segments = 0;
        // A passive epoch for the window's lifetime; the barrier's atomics order the loads and
        // stores (the shared window is plain memory: MPI's unified model).
        if (ok) ok = locked = MPI_Win_lock_all(MPI_MODE_NOCHECK, shm_win) == MPI_SUCCESS;
        if ((rc = MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD)) != MPI_SUCCESS) return rc;
        if (!all) {
            free(shm_parts);
            shm_parts = NULL;
        }
        if (!all && shm_win != MPI_WIN_NULL) {
            if (locked) MPI_Win_unlock_all(shm_win);
            MPI_Win_free(&shm_win);
        }
    }
    *enabled = all;
    return MPI_SUCCESS;
}

// Every rank adds one arrival (a release) and waits until all n of this barrier have arrived
// (an acquire), yielding its core meanwhile: with more ranks than cores, the rank it waits for
// may need that core. A rank that never arrives is ended by the caller's timeout or by mpirun.
static void shm_barrier(int n) {
    shm_passed += n;
    atomic_fetch_add_explicit(shm_arrivals, 1, memory_order_acq_rel);
    while (atomic_load_explicit(shm_arrivals, memory_order_acquire) < shm_passed) syscall(SYS_sched_yield);
}

// How this rank writes into the window (ember_mpi_shm_set_stores). Non-temporal stores
// bypass the writing core's caches, so a peer reads the values from memory instead of
// fetching them from this core's cache: faster where two vCPUs do not share a last-level
// cache, about half the speed where they do (docs/DISTRIBUTED.md, Benchmark), and a VM may be
// either from one launch to the next. The same values either way.
static _Atomic int shm_stores = EMBER_SHM_STORES_AUTO;

void ember_mpi_shm_set_stores(int mode) {
    if (mode < EMBER_SHM_STORES_CACHED || mode > EMBER_SHM_STORES_AUTO) mode = EMBER_SHM_STORES_AUTO;
    atomic_store_explicit(&shm_stores, mode, memory_order_relaxed);
}
int ember_mpi_shm_stores(void) { return atomic_load_explicit(&shm_stores, memory_order_relaxed); }

// EMBER_SHM_STORES_AUTO: per algorithm (rank order, tree) and size class (floor(log2 bytes))
// from AUTO_MIN_BYTES on, a rank's calls alternate cached and streaming stores for
// 2·PROBE_EACH calls, timing each, and the one with the lower median runs after. The probe
// repeats every REPROBE_CALLS calls of the class, and sooner when SLOW_CALLS calls in a row
// take over twice the probe's time: the host moves a VM's vCPUs, and which stores win can flip
// within a launch. The probe calls are real calls; only their speed differs. Touched by the
// calling thread only.
#define AUTO_MIN_BYTES ((int64_t)256 << 10)
#define PROBE_EACH 3
#define REPROBE_CALLS 256
#define SLOW_CALLS 3
typedef struct {
    int64_t calls;   // since the last probe began
    double seconds[2][PROBE_EACH];
    double expected;   // the chosen stores' median time in the probe
    int choice, slow;
} store_probe;
static store_probe shm_probes[2][64];
static int64_t shm_probes_started;

int64_t ember_mpi_shm_auto_probes(void) { return shm_probes_started; }

static store_probe *probe_for(int64_t count, int tree) {
    const int64_t bytes = count * (int64_t)sizeof(float);
    if (bytes < AUTO_MIN_BYTES) return NULL;
    return &shm_probes[tree][63 - __builtin_clzll((unsigned long long)bytes)];
}

int ember_mpi_shm_auto_stores(int64_t count, int tree) {
    const store_probe *p = probe_for(count, tree != 0);
    if (!p) return EMBER_SHM_STORES_CACHED;
    return p->calls >= 2 * PROBE_EACH ? p->choice : -1;
}

_Static_assert(PROBE_EACH == 3, "median3 takes the probe's three times");
static double median3(const double *x) {
    const double a = x[0], b = x[1], c = x[2];
    return a < b ? (b < c ? b : a < c ? c : a) : (a < c ? a : b < c ? c : b);
}

static double seconds_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void window_copy(float *dst, const float *src, int64_t n, int streaming) {
#ifdef __SSE2__
    if (streaming) {
        int64_t i = 0;
        for (; i < n && ((uintptr_t)(dst + i) & 15); i++) dst[i] = src[i];
        for (; i + 4 <= n; i += 4) _mm_stream_ps(dst + i, _mm_loadu_ps(src + i));
        for (; i < n; i++) dst[i] = src[i];
        _mm_sfence();   // visible to the peers before this rank's arrival at the next barrier
        return;
    }
#else
    (void)streaming;
#endif
    memcpy(dst, src, (size_t)n * sizeof(float));
}

// Slice [lo, hi) of a segment, summed over the ranks' values in rank order: rank me's own
// values are in d, the others' in their buffers at `off`. Written to d and to mine.
static void shm_sum_ranks(float *d, float *mine, int64_t off, int64_t lo, int64_t hi, int me, int n,
                          int streaming) {
    enum { BLOCK = 2048 };
    float sum[BLOCK];
    for (int64_t b = lo; b < hi; b += BLOCK) {
        int64_t m = hi - b < BLOCK ? hi - b : BLOCK;
        const float *first = me == 0 ? d + b : shm_base[0] + off + b;
        memcpy(sum, first, (size_t)m * sizeof(float));
        for (int r = 1; r < n; r++) {
            const float *x = r == me ? d + b : shm_base[r] + off + b;
            for (int64_t i = 0; i < m; i++) sum[i] += x[i];
        }
        memcpy(d + b, sum, (size_t)m * sizeof(float));
        window_copy(mine + b, sum, m, streaming);
    }
}

// The same slice summed in ember_mpi_tree_sum_f32's tree over the ranks (part r = rank r's
// values), block by block through a scratch of n blocks that stays in cache.
static void shm_sum_tree(float *d, float *mine, int64_t off, int64_t lo, int64_t hi, int me, int n,
                         int streaming) {
    for (int64_t b = lo; b < hi; b += shm_parts_block) {
        int64_t m = hi - b < shm_parts_block ? hi - b : shm_parts_block;
        for (int r = 0; r < n; r++)
            memcpy(shm_parts + r * m, (r == me ? d : shm_base[r] + off) + b, (size_t)m * sizeof(float));
        ember_mpi_tree_sum_f32(shm_parts, shm_parts, n, m);
        memcpy(d + b, shm_parts, (size_t)m * sizeof(float));
        window_copy(mine + b, shm_parts, m, streaming);
    }
}

// Rank r's element count for the call in progress, in its header after rank 0's barrier
// counter: a call whose lengths differ across ranks would otherwise sum mismatched slices.
static int64_t *shm_count_slot(int r) { return (int64_t *)((char *)shm_base[r] - EMBER_SHM_HEADER) + 1; }

static int shm_allreduce(float *data, int64_t count, int tree) {
    if (shm_win == MPI_WIN_NULL) return MPI_ERR_WIN;
    int me, n;
    MPI_Comm_rank(shm_comm, &me);
    MPI_Comm_size(shm_comm, &n);
    *shm_count_slot(me) = count;   // published by the first barrier's release
    const int mode = ember_mpi_shm_stores();
    store_probe *probe = mode == EMBER_SHM_STORES_AUTO ? probe_for(count, tree) : NULL;
    int64_t k = 0;   // the call's place in its class's probe cycle
    if (probe) {
        if (probe->calls >= REPROBE_CALLS) probe->calls = 0;
        k = probe->calls++;
        if (k == 0) shm_probes_started++;
    }
    const int streaming = probe ? (k < 2 * PROBE_EACH ? (int)(k % 2) : probe->choice)
                                : mode == EMBER_SHM_STORES_STREAMING;
    const double t0 = probe ? seconds_now() : 0.0;
    for (int64_t at = 0; at < count; at += EMBER_SHM_SEGMENT, shm_segments++) {
        int64_t len = count - at < EMBER_SHM_SEGMENT ? count - at : EMBER_SHM_SEGMENT;
        int64_t off = (shm_segments % 2) * EMBER_SHM_SEGMENT;
        float *d = data + at, *mine = shm_base[me] + off;
        int64_t lo = len * me / n, hi = len * (me + 1) / n;
        window_copy(mine, d, lo, streaming);
        window_copy(mine + hi, d + hi, len - hi, streaming);
        shm_barrier(n);
        if (at == 0) {
            // Every rank reads every count, so all fail together; the second barrier keeps a
            // fast rank's next call from overwriting its count before the others have read it.
            int same = 1;
            for (int r = 0; r < n; r++) same &= *shm_count_slot(r) == count;
            if (!same) {
                shm_barrier(n);
                return MPI_ERR_COUNT;
            }
        }
        (tree ? shm_sum_tree : shm_sum_ranks)(d, mine, off, lo, hi, me, n, streaming);
        shm_barrier(n);
        for (int r = 0; r < n; r++) {
            if (r == me) continue;
            int64_t rlo = len * r / n, rhi = len * (r + 1) / n;
            memcpy(d + rlo, shm_base[r] + off + rlo, (size_t)(rhi - rlo) * sizeof(float));
        }
    }
    if (probe) {
        const double t = seconds_now() - t0;
        if (k < 2 * PROBE_EACH) {
            probe->seconds[k % 2][k / 2] = t;
            if (k == 2 * PROBE_EACH - 1) {
                const double cached = median3(probe->seconds[0]), streamed = median3(probe->seconds[1]);
                probe->choice = streamed < cached;
                probe->expected = streamed < cached ? streamed : cached;
                probe->slow = 0;
            }
        } else if ((probe->slow = t > 2.0 * probe->expected ? probe->slow + 1 : 0) >= SLOW_CALLS) {
            probe->calls = 0;
        }
    }
    return MPI_SUCCESS;
}

int ember_mpi_shm_allreduce_f32(float *data, int64_t count) { return shm_allreduce(data, count, 0); }
int ember_mpi_shm_tree_allreduce_f32(float *data, int64_t count) { return shm_allreduce(data, count, 1); }

int ember_mpi_allreduce_max_i64(int64_t *value) {
    return MPI_Allreduce(MPI_IN_PLACE, value, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
}

int ember_mpi_bcast(void *data, int64_t bytes, int root) {
    for (int64_t at = 0; at < bytes; at += EMBER_MPI_CHUNK) {
        int n = (int)(bytes - at < EMBER_MPI_CHUNK ? bytes - at : EMBER_MPI_CHUNK);
        int rc = MPI_Bcast((char *)data + at, n, MPI_BYTE, root, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return rc;
    }
    return MPI_SUCCESS;
}

// Blocks of more than INT_MAX bytes go as a contiguous type of that many bytes.
static int block_type(int64_t bytes, MPI_Datatype *type) {
    if (bytes <= INT_MAX) { *type = MPI_BYTE; return MPI_SUCCESS; }
    if (bytes % 4 || bytes / 4 > INT_MAX) return MPI_ERR_COUNT;
    int rc = MPI_Type_contiguous((int)(bytes / 4), MPI_FLOAT, type);
    return rc == MPI_SUCCESS ? MPI_Type_commit(type) : rc;
}

int ember_mpi_allgather(void *out, const void *in, int64_t bytes) {
    MPI_Datatype type;
    int rc = block_type(bytes, &type);
    if (rc != MPI_SUCCESS) return rc;
    int count = type == MPI_BYTE ? (int)bytes : 1;
    rc = MPI_Allgather(in, count, type, out, count, type, MPI_COMM_WORLD);
    if (type != MPI_BYTE) MPI_Type_free(&type);
    return rc;
}

int ember_mpi_alltoall(void *out, const void *in, int64_t bytes) {
    MPI_Datatype type;
    int rc = block_type(bytes, &type);
    if (rc != MPI_SUCCESS) return rc;
    int count = type == MPI_BYTE ? (int)bytes : 1;
    rc = MPI_Alltoall(in, count, type, out, count, type, MPI_COMM_WORLD);
    if (type != MPI_BYTE) MPI_Type_free(&type);
    return rc;
}

// ReductionOrder.fixedTree's all-to-all form: slices of ceil(count / size) floats (the last
// padded with zeros), MPI_Alltoall, the tree sum of the size slices received, MPI_Allgather.
// The scratch is kept between calls (only the communication thread calls this), and a
// tensor that divides into whole slices is sent from and gathered into in place.
int ember_mpi_tree_allreduce_f32(float *data, int64_t count) {
    if (count == 0) return MPI_SUCCESS;   // on every rank: the count is the collective's
    int size;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const int64_t slice = (count + size - 1) / size, padded = slice * size;
    const int whole = padded == count;
    const int64_t need = (whole ? 0 : padded) + padded + slice;
    if (tree_scratch_floats < need) {
        free(tree_scratch);
        tree_scratch = malloc((size_t)need * sizeof(float));
        tree_scratch_floats = tree_scratch ? need : 0;
        if (!tree_scratch) return MPI_ERR_NO_MEM;
    }
    float *parts = tree_scratch, *mine = parts + padded, *staged = mine + slice;
    const float *send = data;
    if (!whole) {
        memcpy(staged, data, (size_t)count * sizeof(float));
        memset(staged + count, 0, (size_t)(padded - count) * sizeof(float));
        send = staged;
    }
    int rc = ember_mpi_alltoall(parts, send, slice * (int64_t)sizeof(float));
    if (rc != MPI_SUCCESS) return rc;
    ember_mpi_tree_sum_f32(mine, parts, size, slice);
    rc = ember_mpi_allgather(whole ? data : staged, mine, slice * (int64_t)sizeof(float));
    if (rc == MPI_SUCCESS && !whole) memcpy(data, staged, (size_t)count * sizeof(float));
    return rc;
}

int ember_mpi_reduce_scatter_f32(float *out, const float *in, int64_t count, int op) {
    if (count > INT_MAX) return MPI_ERR_COUNT;
    return MPI_Reduce_scatter_block(in, out, (int)count, MPI_FLOAT, mpi_op(op), MPI_COMM_WORLD);
}

int ember_mpi_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD); }

void ember_mpi_tree_sum_f32(float *out, float *parts, int64_t p, int64_t n) {
    if (p <= 0) { memset(out, 0, (size_t)n * sizeof(float)); return; }
    int64_t top = 1;
    while (top * 2 < p) top *= 2;
    // Level s: part a (a < s) becomes the sum of its stride-2s subtree and part a+s's.
    for (int64_t s = p > 1 ? top : 0; s >= 1; s /= 2) {
        for (int64_t a = 0; a < s && a + s < p; a++) {
            float *x = parts + a * n;
            const float *y = parts + (a + s) * n;
            for (int64_t i = 0; i < n; i++) x[i] += y[i];
        }
    }
    if (out != parts) memcpy(out, parts, (size_t)n * sizeof(float));
}
