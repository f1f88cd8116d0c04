// MPI calls for EmberDistributed (see include/ember_mpi.h). The only file that includes mpi.h.
#include "ember_mpi.h"

#include <limits.h>
#include <string.h>
#include <mpi.h>

// Largest element count per MPI call: counts are `int` in MPI 3/4's C API.
#define EMBER_MPI_CHUNK ((int64_t)1 << 30)

static MPI_Op mpi_op(int op) { return op == EMBER_MPI_MAX ? MPI_MAX : MPI_SUM; }

int ember_mpi_init(int *rank, int *size, int *provided) {
    int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, provided);
    if (rc != MPI_SUCCESS) return rc;
    // Errors come back as codes: Swift turns them into errors naming the rank and the call.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if ((rc = MPI_Comm_rank(MPI_COMM_WORLD, rank)) != MPI_SUCCESS) return rc;
    return MPI_Comm_size(MPI_COMM_WORLD, size);
}

int ember_mpi_finalize(void) { return MPI_Finalize(); }

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
