// PNG (libpng) and JPEG (libjpeg-turbo) decoding into uint8 [C, H, W] planes, with
// torchvision's read modes. Two steps: `open` reads the header and reports the size (checked
// against a caller cap before anything the size of the image is allocated), the caller
// allocates, `decode` fills. Library errors longjmp back here and become messages: libjpeg's
// default error_exit calls exit(), libpng's default aborts the process.
#include "internal.h"

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { KIND_PNG = 1, KIND_JPEG = 2 };

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char* message;  // the image's message buffer
} jpeg_err;

typedef struct {
    const uint8_t* ptr;
    size_t left;
} png_source;

struct ember_image {
    int kind;
    int mode;
    int64_t height, width;
    int channels;       // channels delivered
    int add_alpha;      // JPEG: append an opaque alpha plane
    char message[256];
    // PNG
    png_structp png;
    png_infop info;
    png_source src;
    int passes;
    // JPEG
    struct jpeg_decompress_struct jpeg;
    jpeg_err jerr;
    int jpeg_started;
};

static void set_message(char* dst, int64_t len, const char* fmt, ...) {
    if (!dst || len <= 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, (size_t)len, fmt, ap);
    va_end(ap);
}

// MARK: - PNG

static void png_error_fn(png_structp png, png_const_charp msg) {
    ember_image* im = png_get_error_ptr(png);
    set_message(im->message, sizeof im->message, "corrupt PNG: %s", msg);
    png_longjmp(png, 1);
}

static void png_warning_fn(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

static void png_read_fn(png_structp png, png_bytep out, size_t n) {
    png_source* s = png_get_io_ptr(png);
    if (n > s->left) png_error(png, "file is truncated");
    memcpy(out, s->ptr, n);
    s->ptr += n;
    s->left -= n;
}

// Sets up libpng's transformations so that rows come out 8-bit with the mode's channels
// (torchvision's decode_png choices; palettes are expanded in every mode, also unchanged,
// where torchvision would return palette indices).
static int png_open(ember_image* im, const uint8_t* data, int64_t len, int64_t max_pixels) {
    im->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, im, png_error_fn, png_warning_fn);
    if (!im->png) { set_message(im->message, sizeof im->message, "out of memory"); return -1; }
    im->info = png_create_info_struct(im->png);
    if (!im->info) { set_message(im->message, sizeof im->message, "out of memory"); return -1; }
    if (setjmp(png_jmpbuf(im->png))) return -1;
    // libpng's own limits too (it refuses larger headers before allocating anything).
    png_set_user_limits(im->png, 0x7fffffff, 0x7fffffff);
    png_set_chunk_malloc_max(im->png, 64 << 20);
    im->src.ptr = data + 8;
    im->src.left = (size_t)len - 8;
    png_set_sig_bytes(im->png, 8);
    png_set_read_fn(im->png, &im->src, png_read_fn);
    png_read_info(im->png, im->info);
    png_uint_32 w, h;
    int depth, color, interlace;
    png_get_IHDR(im->png, im->info, &w, &h, &depth, &color, &interlace, NULL, NULL);
    im->height = h;
    im->width = w;
    if ((int64_t)w * (int64_t)h > max_pixels) {
        set_message(im->message, sizeof im->message,
                    "PNG declares %lux%lu pixels, more than the %lld allowed", (unsigned long)w,
                    (unsigned long)h, (long long)max_pixels);
        return -1;
    }
    // Deflate inflates at most ~1032:1: a header claiming far more pixels than the file could
    // hold is refused before the image buffer is allocated.
    int64_t raw = ((int64_t)w * png_get_channels(im->png, im->info) * depth + 7) / 8 + 1;
    if ((double)raw * (double)h > 1100.0 * (double)len + 65536.0) {
        set_message(im->message, sizeof im->message,
                    "PNG declares %lux%lu pixels, more than its %lld bytes can hold",
                    (unsigned long)w, (unsigned long)h, (long long)len);
        return -1;
    }
    if (depth == 16) png_set_strip_16(im->png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(im->png);
    int is_palette = color == PNG_COLOR_TYPE_PALETTE;
    int has_color = (color & PNG_COLOR_MASK_COLOR) != 0;
    int has_alpha = (color & PNG_COLOR_MASK_ALPHA) != 0;
    if (is_palette) {
        png_set_palette_to_rgb(im->png);
        has_alpha = png_get_valid(im->png, im->info, PNG_INFO_tRNS) != 0;
        if (has_alpha) png_set_tRNS_to_alpha(im->png);
    }
    int mode = im->mode;
    if (mode == EMBER_IMAGE_UNCHANGED)
        mode = has_color ? (has_alpha ? EMBER_IMAGE_RGB_ALPHA : EMBER_IMAGE_RGB)
                         : (has_alpha ? EMBER_IMAGE_GRAY_ALPHA : EMBER_IMAGE_GRAY);
    int want_color = mode == EMBER_IMAGE_RGB || mode == EMBER_IMAGE_RGB_ALPHA;
    int want_alpha = mode == EMBER_IMAGE_GRAY_ALPHA || mode == EMBER_IMAGE_RGB_ALPHA;
    if (has_color && !want_color) png_set_rgb_to_gray(im->png, 1, 0.2989, 0.587);
    if (!has_color && want_color) png_set_gray_to_rgb(im->png);
    if (has_alpha && !want_alpha) png_set_strip_alpha(im->png);
    if (!has_alpha && want_alpha) png_set_add_alpha(im->png, 0xff, PNG_FILLER_AFTER);
    im->passes = interlace == PNG_INTERLACE_ADAM7 ? png_set_interlace_handling(im->png) : 1;
    png_read_update_info(im->png, im->info);
    im->channels = png_get_channels(im->png, im->info);
    int want = (want_color ? 3 : 1) + want_alpha;
    if (im->channels != want || png_get_bit_depth(im->png, im->info) != 8) {
        set_message(im->message, sizeof im->message, "unsupported PNG layout (colour type %d, depth %d)",
                    color, depth);
        return -1;
    }
    return 0;
}

// `n` RGB pixels into three planes. `restrict` lets the compiler turn the stride-3 loads into
// shuffles and store whole vectors; byte by byte this cost as much as libjpeg's decode.
EMBER_SIMD static void deinterleave3(uint8_t* restrict r, uint8_t* restrict g, uint8_t* restrict b,
                                     const uint8_t* restrict px, int64_t n) {
    for (int64_t x = 0; x < n; x++) {
        r[x] = px[3 * x];
        g[x] = px[3 * x + 1];
        b[x] = px[3 * x + 2];
    }
}

// `rows` interleaved rows starting at row `y` into the [c, h, w] planes.
static void scatter_rows(uint8_t* out, const uint8_t* px, int64_t y, int64_t rows, int64_t h, int64_t w, int c) {
    if (c == 1) { memcpy(out + y * w, px, (size_t)(rows * w)); return; }
    if (c == 3) {
        uint8_t* r = out + y * w;
        deinterleave3(r, r + h * w, r + 2 * h * w, px, rows * w);
        return;
    }
    for (int k = 0; k < c; k++) {
        uint8_t* dst = out + (int64_t)k * h * w + y * w;
        for (int64_t x = 0; x < rows * w; x++) dst[x] = px[x * c + k];
    }
}

static void scatter_row(uint8_t* out, const uint8_t* row, int64_t y, int64_t h, int64_t w, int c) {
    if (c == 1 || c == 3) { scatter_rows(out, row, y, 1, h, w, c); return; }
    for (int k = 0; k < c; k++) {
        uint8_t* dst = out + (int64_t)k * h * w + y * w;
        for (int64_t x = 0; x < w; x++) dst[x] = row[x * c + k];
    }
}

static int png_decode(ember_image* im, uint8_t* out) {
    int64_t h = im->height, w = im->width;
    int c = im->channels;
    // Interlaced images are refined over 7 passes: they need the whole interleaved image.
    size_t rows = im->passes > 1 ? (size_t)h : 1;
    uint8_t* buf = malloc((size_t)(w * c) * rows);
    if (!buf) { set_message(im->message, sizeof im->message, "out of memory"); return -1; }
    if (setjmp(png_jmpbuf(im->png))) { free(buf); return -1; }
    if (im->passes > 1) memset(buf, 0, (size_t)(w * c) * rows);
    for (int pass = 0; pass < im->passes; pass++)
        for (int64_t y = 0; y < h; y++) {
            uint8_t* row = buf + (im->passes > 1 ? (size_t)(y * w * c) : 0);
            png_read_row(im->png, row, NULL);
            if (im->passes == 1) scatter_row(out, row, y, h, w, c);
        }
    if (im->passes > 1)
        for (int64_t y = 0; y < h; y++) scatter_row(out, buf + y * w * c, y, h, w, c);
    free(buf);
    return 0;
}

// MARK: - JPEG

static void jpeg_error_exit(j_common_ptr cinfo) {
    jpeg_err* e = (jpeg_err*)cinfo->err;
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    snprintf(e->message, 256, "corrupt JPEG: %s", text);
    longjmp(e->jump, 1);
}

// Warnings (level -1) mostly mean damaged data that libjpeg papers over with grey: a
// truncated file reports JWRN_JPEG_EOF. They are errors here, except those that lose no
// pixels and that real-world cameras and encoders cause, which PIL and torchvision accept:
// stray bytes between markers, nonstandard scan parameters of a sequential file (some phone
// cameras), and unknown JFIF versions, Adobe transforms or ICC chunks (metadata).
static void jpeg_emit_message(j_common_ptr cinfo, int level) {
    if (level >= 0) return;
    switch (cinfo->err->msg_code) {
    case JWRN_EXTRANEOUS_DATA:
    case JWRN_NOT_SEQUENTIAL:
    case JWRN_JFIF_MAJOR:
    case JWRN_ADOBE_XFORM:
    case JWRN_BOGUS_ICC:
        return;
    default:
        jpeg_error_exit(cinfo);
    }
}

static int jpeg_open(ember_image* im, const uint8_t* data, int64_t len, int64_t max_pixels) {
    im->jpeg.err = jpeg_std_error(&im->jerr.pub);
    im->jerr.pub.error_exit = jpeg_error_exit;
    im->jerr.pub.emit_message = jpeg_emit_message;
    im->jerr.message = im->message;
    if (setjmp(im->jerr.jump)) return -1;
    jpeg_create_decompress(&im->jpeg);
    im->jpeg_started = 1;
    // Caps libjpeg's own working memory (coefficient buffers of progressive files).
    im->jpeg.mem->max_memory_to_use = 512L << 20;
    jpeg_mem_src(&im->jpeg, data, (unsigned long)len);
    jpeg_read_header(&im->jpeg, TRUE);
    im->height = im->jpeg.image_height;
    im->width = im->jpeg.image_width;
    if (im->height * im->width > max_pixels) {
        set_message(im->message, sizeof im->message,
                    "JPEG declares %lldx%lld pixels, more than the %lld allowed",
                    (long long)im->width, (long long)im->height, (long long)max_pixels);
        return -1;
    }
    J_COLOR_SPACE cs = im->jpeg.jpeg_color_space;
    if (cs == JCS_CMYK || cs == JCS_YCCK) {
        set_message(im->message, sizeof im->message, "CMYK JPEG images are not supported");
        return -1;
    }
    int gray = im->mode == EMBER_IMAGE_GRAY || im->mode == EMBER_IMAGE_GRAY_ALPHA ||
               (im->mode == EMBER_IMAGE_UNCHANGED && cs == JCS_GRAYSCALE);
    im->jpeg.out_color_space = gray ? JCS_GRAYSCALE : JCS_RGB;
    im->add_alpha = im->mode == EMBER_IMAGE_GRAY_ALPHA || im->mode == EMBER_IMAGE_RGB_ALPHA;
    jpeg_calc_output_dimensions(&im->jpeg);
    im->channels = im->jpeg.output_components + im->add_alpha;
    return 0;
}

// Rows decoded per block before they are spread into planes: libjpeg hands out one iMCU row
// (8 or 16 lines) at a time without copying through its spare row buffer, and a block of
// 16 interleaved rows of a 4K-wide image (200 KB) still sits in L2.
enum { JPEG_BLOCK_ROWS = 16 };

static int jpeg_decode(ember_image* im, uint8_t* out) {
    int64_t h = im->height, w = im->width;
    int c = im->jpeg.output_components;
    uint8_t* buf = malloc((size_t)(w * c) * JPEG_BLOCK_ROWS);
    if (!buf) { set_message(im->message, sizeof im->message, "out of memory"); return -1; }
    if (setjmp(im->jerr.jump)) { free(buf); return -1; }
    jpeg_start_decompress(&im->jpeg);
    while (im->jpeg.output_scanline < im->jpeg.output_height) {
        int64_t y = im->jpeg.output_scanline, n = h - y < JPEG_BLOCK_ROWS ? h - y : JPEG_BLOCK_ROWS;
        JSAMPROW rows[JPEG_BLOCK_ROWS];
        for (int64_t k = 0; k < n; k++) rows[k] = buf + k * w * c;
        for (int64_t got = 0; got < n;) {
            JDIMENSION r = jpeg_read_scanlines(&im->jpeg, rows + got, (JDIMENSION)(n - got));
            if (r == 0) {
                set_message(im->message, sizeof im->message, "corrupt JPEG: no scanline %lld", (long long)(y + got));
                free(buf);
                return -1;
            }
            got += r;
        }
        scatter_rows(out, buf, y, n, h, w, c);
    }
    jpeg_finish_decompress(&im->jpeg);
    free(buf);
    if (im->add_alpha) memset(out + (int64_t)c * h * w, 0xff, (size_t)(h * w));
    return 0;
}

// Rows [top, top + height) and columns [left, left + width) only. The columns through
// jpeg_crop_scanline, widened by one pixel each side: fancy upsampling reads a neighbour
// column, and at the edge of a cropped scan it would repeat the edge instead, so without the
// margin the window's edge pixels differ from the full decode's; and at least 32 columns (a
// 4:2:0 scan only 2 pixels wide came out different). Every window of a 256x256 4:2:0 file
// checked against the full decode with these rules: all the same. The rows above through
// jpeg_skip_scanlines (which keeps the upsampler's context rows), those below not at all.
static int jpeg_decode_window(ember_image* im, uint8_t* out, int64_t top, int64_t left, int64_t height, int64_t width) {
    int c = im->jpeg.output_components;
    uint8_t* volatile buf = NULL;   // volatile: allocated after setjmp, freed after a longjmp
    if (setjmp(im->jerr.jump)) { free(buf); return -1; }
    jpeg_start_decompress(&im->jpeg);
    int64_t l0 = left > 0 ? left - 1 : 0, r0 = left + width + 1 < im->width ? left + width + 1 : im->width;
    if (r0 - l0 < 32) r0 = l0 + 32 < im->width ? l0 + 32 : im->width;   // a 2-pixel-wide scan upsamples differently
    JDIMENSION xoff = (JDIMENSION)l0, cols = (JDIMENSION)(r0 - l0);
    if (cols < im->jpeg.output_width) jpeg_crop_scanline(&im->jpeg, &xoff, &cols);
    int64_t shift = left - (int64_t)xoff, ow = im->jpeg.output_width;
    buf = malloc((size_t)(ow * c) * JPEG_BLOCK_ROWS);
    if (!buf) { set_message(im->message, sizeof im->message, "out of memory"); return -1; }
    if (top > 0 && jpeg_skip_scanlines(&im->jpeg, (JDIMENSION)top) != (JDIMENSION)top) {
        set_message(im->message, sizeof im->message, "corrupt JPEG: could not skip %lld rows", (long long)top);
        free(buf);
        return -1;
    }
    for (int64_t y = 0; y < height;) {
        int64_t n = height - y < JPEG_BLOCK_ROWS ? height - y : JPEG_BLOCK_ROWS;
        JSAMPROW rows[JPEG_BLOCK_ROWS];
        for (int64_t k = 0; k < n; k++) rows[k] = buf + k * ow * c;
        for (int64_t got = 0; got < n;) {
            JDIMENSION r = jpeg_read_scanlines(&im->jpeg, rows + got, (JDIMENSION)(n - got));
            if (r == 0) {
                set_message(im->message, sizeof im->message, "corrupt JPEG: no scanline %lld", (long long)(top + y + got));
                free(buf);
                return -1;
            }
            got += r;
        }
        for (int64_t k = 0; k < n; k++) scatter_rows(out, buf + (k * ow + shift) * c, y + k, 1, height, width, c);
        y += n;
    }
    jpeg_abort_decompress(&im->jpeg);
    free(buf);
    if (im->add_alpha) memset(out + (int64_t)c * height * width, 0xff, (size_t)(height * width));
    return 0;
}

// MARK: - Entry points

ember_image* ember_image_open(const uint8_t* data, int64_t len, int mode, int64_t max_pixels,
                              int64_t* height, int64_t* width, int* channels, char* err,
                              int64_t err_len) {
    if (len == 0) { set_message(err, err_len, "the file is empty"); return NULL; }
    int kind = 0;
    if (len >= 8 && !png_sig_cmp(data, 0, 8)) kind = KIND_PNG;
    else if (len >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) kind = KIND_JPEG;
    if (!kind) {
        set_message(err, err_len, "not a PNG or JPEG image (unrecognised signature)");
        return NULL;
    }
    if (mode < EMBER_IMAGE_UNCHANGED || mode > EMBER_IMAGE_RGB_ALPHA) {
        set_message(err, err_len, "unknown read mode %d", mode);
        return NULL;
    }
    ember_image* im = calloc(1, sizeof *im);
    if (!im) { set_message(err, err_len, "out of memory"); return NULL; }
    im->kind = kind;
    im->mode = mode;
    int r = kind == KIND_PNG ? png_open(im, data, len, max_pixels) : jpeg_open(im, data, len, max_pixels);
    if (r != 0) {
        set_message(err, err_len, "%s", im->message);
        ember_image_close(im);
        return NULL;
    }
    *height = im->height;
    *width = im->width;
    *channels = im->channels;
    return im;
}

int ember_image_decode(ember_image* im, uint8_t* out, char* err, int64_t err_len) {
    int r = im->kind == KIND_PNG ? png_decode(im, out) : jpeg_decode(im, out);
    if (r != 0) set_message(err, err_len, "%s", im->message);
    return r;
}

int ember_image_decode_window(ember_image* im, uint8_t* out, int64_t top, int64_t left, int64_t height,
                              int64_t width, char* err, int64_t err_len) {
    if (top < 0 || left < 0 || height <= 0 || width <= 0 || top + height > im->height || left + width > im->width) {
        set_message(err, err_len, "window (%lld, %lld, %lld, %lld) is outside the %lldx%lld image", (long long)top,
                    (long long)left, (long long)height, (long long)width, (long long)im->height, (long long)im->width);
        return -1;
    }
    int r;
    if (im->kind == KIND_JPEG) {
        r = jpeg_decode_window(im, out, top, left, height, width);
    } else {   // PNG rows come whole: decode all, keep the window
        int64_t h = im->height, w = im->width, c = im->channels;
        uint8_t* full = malloc((size_t)(c * h * w));
        if (!full) { set_message(err, err_len, "out of memory"); return -1; }
        r = png_decode(im, full);
        if (r == 0)
            for (int64_t k = 0; k < c; k++)
                for (int64_t y = 0; y < height; y++)
                    memcpy(out + (k * height + y) * width, full + (k * h + top + y) * w + left, (size_t)width);
        free(full);
    }
    if (r != 0) set_message(err, err_len, "%s", im->message);
    return r;
}

void ember_image_close(ember_image* im) {
    if (!im) return;
    if (im->png) png_destroy_read_struct(&im->png, im->info ? &im->info : NULL, NULL);
    if (im->jpeg_started) jpeg_destroy_decompress(&im->jpeg);
    free(im);
}
