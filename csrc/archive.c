// Archive reading through libarchive (zip, tar, tar.gz, …): the zip of torch.save files and
// the tar.gz of dataset downloads. Entries are read in archive order into caller buffers with
// a caller-given cap, so a zip bomb or a lying header cannot make Ember allocate unboundedly.
#include "ember.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ember_archive {
    struct archive* a;
    struct archive_entry* entry;
    char message[256];
};

static ember_archive* archive_new(const char* options) {
    ember_archive* ar = calloc(1, sizeof(*ar));
    if (!ar) return NULL;
    ar->a = archive_read_new();
    if (!ar->a) { free(ar); return NULL; }
    archive_read_support_filter_all(ar->a);
    archive_read_support_format_all(ar->a);
    // Format options ("zip:ignorecrc32"); a module that does not know one only warns.
    if (options && archive_read_set_options(ar->a, options) == ARCHIVE_FATAL) {
        archive_read_free(ar->a);
        free(ar);
        return NULL;
    }
    return ar;
}

static void copy_message(char* err, int64_t err_len, const char* text) {
    if (err && err_len > 0) snprintf(err, (size_t)err_len, "%s", text ? text : "unknown error");
}

ember_archive* ember_archive_open_file(const char* path, char* err, int64_t err_len) {
    return ember_archive_open_file_options(path, NULL, err, err_len);
}

ember_archive* ember_archive_open_file_options(const char* path, const char* options, char* err,
                                               int64_t err_len) {
    ember_archive* ar = archive_new(options);
    if (!ar) { copy_message(err, err_len, "out of memory"); return NULL; }
    if (archive_read_open_filename(ar->a, path, 1 << 16) != ARCHIVE_OK) {
        copy_message(err, err_len, archive_error_string(ar->a));
        ember_archive_close(ar);
        return NULL;
    }
    return ar;
}

ember_archive* ember_archive_open_memory(const void* data, int64_t len, char* err,
                                         int64_t err_len) {
    return ember_archive_open_memory_options(data, len, NULL, err, err_len);
}

ember_archive* ember_archive_open_memory_options(const void* data, int64_t len, const char* options,
                                                 char* err, int64_t err_len) {
    ember_archive* ar = archive_new(options);
    if (!ar) { copy_message(err, err_len, "out of memory"); return NULL; }
    if (archive_read_open_memory(ar->a, data, (size_t)len) != ARCHIVE_OK) {
        copy_message(err, err_len, archive_error_string(ar->a));
        ember_archive_close(ar);
        return NULL;
    }
    return ar;
}

int ember_archive_next(ember_archive* ar, const char** name, int64_t* size, int* is_file) {
    int r = archive_read_next_header(ar->a, &ar->entry);
    if (r == ARCHIVE_EOF) return 0;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
        copy_message(ar->message, sizeof ar->message, archive_error_string(ar->a));
        return -1;
    }
    *name = archive_entry_pathname(ar->entry);
    if (!*name) *name = "";
    *size = archive_entry_size_is_set(ar->entry) ? archive_entry_size(ar->entry) : -1;
    *is_file = archive_entry_filetype(ar->entry) == AE_IFREG;
    return 1;
}

int64_t ember_archive_read(ember_archive* ar, void* buf, int64_t cap) {
    int64_t total = 0;
    while (total < cap) {
        la_ssize_t n = archive_read_data(ar->a, (char*)buf + total, (size_t)(cap - total));
        if (n < 0) {
            copy_message(ar->message, sizeof ar->message, archive_error_string(ar->a));
            return -1;
        }
        if (n == 0) break;
        total += n;
    }
    return total;
}

const char* ember_archive_error(const ember_archive* ar) { return ar->message; }

void ember_archive_close(ember_archive* ar) {
    if (!ar) return;
    if (ar->a) archive_read_free(ar->a);
    free(ar);
}
