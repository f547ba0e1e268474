/*
 * Imaging shims: libjpeg-turbo decode/encode and libpng 1-bit writing.
 *
 * Why C: libjpeg's error_exit and libpng's error handler must not return, they longjmp to the
 * caller's setjmp frame. longjmp across Swift frames is undefined behaviour, so each function here
 * owns its setjmp frame, its library objects and every allocation, and returns a status code.
 */
#include "qrpay_image_shims.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

void qrpay_image_free(void *ptr) { free(ptr); }

static void set_message(char *message, size_t size, const char *text) {
    if (message && size > 0) {
        strncpy(message, text, size - 1);
        message[size - 1] = 0;
    }
}

/* ---- libjpeg error manager: longjmp back to the shim's frame, remember warnings ---- */

struct qrpay_jpeg_error {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    int saw_eof;                  /* JWRN_JPEG_EOF: the data ended before the image did */
    char text[JMSG_LENGTH_MAX];
};

static void qrpay_jpeg_error_exit(j_common_ptr cinfo) {
    struct qrpay_jpeg_error *err = (struct qrpay_jpeg_error *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, err->text);
    longjmp(err->jump, 1);
}

static void qrpay_jpeg_emit_message(j_common_ptr cinfo, int level) {
    struct qrpay_jpeg_error *err = (struct qrpay_jpeg_error *)cinfo->err;
    if (level < 0) {
        if (cinfo->err->msg_code == JWRN_JPEG_EOF) err->saw_eof = 1;
        cinfo->err->num_warnings++;
    }
}

static void qrpay_jpeg_output_message(j_common_ptr cinfo) { (void)cinfo; }

/* A progressive JPEG may hold thousands of tiny scans, each a pass over the whole image (a
 * "decompression bomb" in time); real encoders write about ten. Stop after 500. */
static void qrpay_jpeg_progress(j_common_ptr cinfo) {
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (cinfo->is_decompressor && d->input_scan_number > 500) {
        cinfo->err->msg_code = JERR_NOTIMPL;
        strcpy(((struct qrpay_jpeg_error *)cinfo->err)->text, "too many progressive scans");
        longjmp(((struct qrpay_jpeg_error *)cinfo->err)->jump, 1);
    }
}

/* libjpeg's own allocations (progressive coefficient buffers: 2 bytes a sample for the whole
 * image) are capped; with no backing store, going over is a clean error. */
#define QRPAY_JPEG_MAX_MEMORY (768L << 20)

static void init_jpeg_error(struct qrpay_jpeg_error *err) {
    jpeg_std_error(&err->mgr);
    err->mgr.error_exit = qrpay_jpeg_error_exit;
    err->mgr.emit_message = qrpay_jpeg_emit_message;
    err->mgr.output_message = qrpay_jpeg_output_message;
    err->saw_eof = 0;
    err->text[0] = 0;
}

/* ---- EXIF orientation from the APP1 marker libjpeg saved (reading a byte field) ---- */

static unsigned read16(const uint8_t *p, int little) {
    return little ? (unsigned)(p[0] | p[1] << 8) : (unsigned)(p[0] << 8 | p[1]);
}

static unsigned long read32(const uint8_t *p, int little) {
    return little ? ((unsigned long)p[0] | (unsigned long)p[1] << 8 | (unsigned long)p[2] << 16 | (unsigned long)p[3] << 24)
                  : ((unsigned long)p[0] << 24 | (unsigned long)p[1] << 16 | (unsigned long)p[2] << 8 | (unsigned long)p[3]);
}

static int exif_orientation(j_decompress_ptr cinfo) {
    for (jpeg_saved_marker_ptr m = cinfo->marker_list; m; m = m->next) {
        if (m->marker != JPEG_APP0 + 1 || m->data_length < 14) continue;
        const uint8_t *d = m->data;
        if (memcmp(d, "Exif\0\0", 6) != 0) continue;
        const uint8_t *tiff = d + 6;
        size_t n = m->data_length - 6;
        int little;
        if (tiff[0] == 'I' && tiff[1] == 'I') little = 1;
        else if (tiff[0] == 'M' && tiff[1] == 'M') little = 0;
        else continue;
        if (read16(tiff + 2, little) != 42) continue;
        unsigned long ifd = read32(tiff + 4, little);
        if (ifd > n || n - ifd < 2) continue;
        unsigned count = read16(tiff + ifd, little);
        for (unsigned i = 0; i < count; i++) {
            unsigned long entry = ifd + 2 + 12ul * i;
            if (entry > n || n - entry < 12) break;
            if (read16(tiff + entry, little) == 0x0112 && read16(tiff + entry + 2, little) == 3) {
                unsigned v = read16(tiff + entry + 8, little);
                return (v >= 1 && v <= 8) ? (int)v : 1;
            }
        }
    }
    return 1;
}

int qrpay_jpeg_header(const uint8_t *data, size_t length, int *width, int *height, int *components,
                      int *orientation, char *message, size_t message_size) {
    struct jpeg_decompress_struct cinfo;
    struct qrpay_jpeg_error err;
    init_jpeg_error(&err);
    cinfo.err = &err.mgr;
    if (setjmp(err.jump)) {
        set_message(message, message_size, err.text);
        int status = err.saw_eof ? QRPAY_IMG_TRUNCATED : QRPAY_IMG_CORRUPT;
        jpeg_destroy_decompress(&cinfo);
        return status;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)length);
    jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&cinfo, TRUE);
    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        set_message(message, message_size, "CMYK JPEG images are not supported");
        jpeg_destroy_decompress(&cinfo);
        return QRPAY_IMG_UNSUPPORTED;
    }
    *width = (int)cinfo.image_width;
    *height = (int)cinfo.image_height;
    *components = cinfo.num_components;
    *orientation = exif_orientation(&cinfo);
    int status = err.saw_eof ? QRPAY_IMG_TRUNCATED : QRPAY_IMG_OK;
    if (status) set_message(message, message_size, "premature end of JPEG data");
    jpeg_destroy_decompress(&cinfo);
    return status;
}

int qrpay_jpeg_decode_gray(const uint8_t *data, size_t length, int scale_denom, uint8_t *out,
                           size_t out_size, int *out_width, int *out_height,
                           char *message, size_t message_size) {
    struct jpeg_decompress_struct cinfo;
    struct qrpay_jpeg_error err;
    init_jpeg_error(&err);
    cinfo.err = &err.mgr;
    if (setjmp(err.jump)) {
        set_message(message, message_size, err.text);
        int status = err.saw_eof ? QRPAY_IMG_TRUNCATED : QRPAY_IMG_CORRUPT;
        jpeg_destroy_decompress(&cinfo);
        return status;
    }
    jpeg_create_decompress(&cinfo);
    struct jpeg_progress_mgr progress = {qrpay_jpeg_progress, 0, 0, 0, 0};
    cinfo.progress = &progress;
    cinfo.mem->max_memory_to_use = QRPAY_JPEG_MAX_MEMORY;
    jpeg_mem_src(&cinfo, data, (unsigned long)length);
    jpeg_read_header(&cinfo, TRUE);
    cinfo.out_color_space = JCS_GRAYSCALE;   /* YCbCr: just the Y channel, no colour conversion */
    cinfo.scale_num = 1;
    cinfo.scale_denom = (unsigned)scale_denom;
    cinfo.dct_method = JDCT_IFAST;   /* speed over exactness: the scanner does not mind */
    cinfo.do_fancy_upsampling = FALSE;
    jpeg_calc_output_dimensions(&cinfo);
    size_t w = cinfo.output_width, h = cinfo.output_height;
    if (cinfo.output_components != 1 || w == 0 || h == 0 || w * h > out_size) {
        set_message(message, message_size, "output buffer does not match the scaled image");
        jpeg_destroy_decompress(&cinfo);
        return QRPAY_IMG_ARGUMENT;
    }
    jpeg_start_decompress(&cinfo);
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW rows[4];
        int n = 0;
        for (; n < 4 && cinfo.output_scanline + n < cinfo.output_height; n++)
            rows[n] = out + (size_t)(cinfo.output_scanline + n) * w;
        if (jpeg_read_scanlines(&cinfo, rows, (JDIMENSION)n) == 0) break;
    }
    *out_width = (int)w;
    *out_height = (int)h;
    int status = QRPAY_IMG_OK;
    if (err.saw_eof || cinfo.output_scanline < cinfo.output_height) {
        status = QRPAY_IMG_TRUNCATED;
        set_message(message, message_size, "premature end of JPEG data");
        jpeg_abort_decompress(&cinfo);
    } else {
        jpeg_finish_decompress(&cinfo);
        if (err.saw_eof) {
            status = QRPAY_IMG_TRUNCATED;
            set_message(message, message_size, "premature end of JPEG data");
        }
    }
    jpeg_destroy_decompress(&cinfo);
    return status;
}

int qrpay_jpeg_encode(const uint8_t *pixels, int width, int height, int components, int quality,
                      int progressive, int orientation, uint8_t **out, size_t *out_length,
                      char *message, size_t message_size) {
    if (width <= 0 || height <= 0 || (components != 1 && components != 3)) {
        set_message(message, message_size, "bad image size or component count");
        return QRPAY_IMG_ARGUMENT;
    }
    struct jpeg_compress_struct cinfo;
    struct qrpay_jpeg_error err;
    unsigned char *buffer = NULL;
    unsigned long size = 0;
    init_jpeg_error(&err);
    cinfo.err = &err.mgr;
    if (setjmp(err.jump)) {
        set_message(message, message_size, err.text);
        jpeg_destroy_compress(&cinfo);
        free(buffer);
        return QRPAY_IMG_CORRUPT;
    }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, &buffer, &size);
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = components;
    cinfo.in_color_space = components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    if (progressive) jpeg_simple_progression(&cinfo);
    jpeg_start_compress(&cinfo, TRUE);
    if (orientation >= 2 && orientation <= 8) {
        /* "Exif\0\0", big-endian TIFF header, IFD0 with one entry: Orientation (SHORT, 1 value). */
        uint8_t exif[] = {'E', 'x', 'i', 'f', 0, 0, 'M', 'M', 0, 42, 0, 0, 0, 8,
                          0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, (uint8_t)orientation, 0, 0,
                          0, 0, 0, 0};
        jpeg_write_marker(&cinfo, JPEG_APP0 + 1, exif, sizeof exif);
    }
    size_t stride = (size_t)width * (size_t)components;
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)cinfo.next_scanline * stride);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    *out = buffer;
    *out_length = size;
    return QRPAY_IMG_OK;
}

/* ---- libpng writer into a growing memory buffer ---- */

struct qrpay_png_buffer {
    uint8_t *data;
    size_t length, capacity;
    int failed;
};

static void qrpay_png_write_data(png_structp png, png_bytep bytes, size_t n) {
    struct qrpay_png_buffer *b = (struct qrpay_png_buffer *)png_get_io_ptr(png);
    if (b->length + n > b->capacity) {
        size_t capacity = b->capacity ? b->capacity : 4096;
        while (capacity < b->length + n) capacity *= 2;
        uint8_t *grown = realloc(b->data, capacity);
        if (!grown) { b->failed = 1; png_error(png, "out of memory"); }
        b->data = grown;
        b->capacity = capacity;
    }
    memcpy(b->data + b->length, bytes, n);
    b->length += n;
}

static void qrpay_png_flush(png_structp png) { (void)png; }

static void qrpay_png_error(png_structp png, png_const_charp text) {
    char *message = (char *)png_get_error_ptr(png);
    if (message) { strncpy(message, text, 255); message[255] = 0; }
    png_longjmp(png, 1);
}

static void qrpay_png_warning(png_structp png, png_const_charp text) { (void)png; (void)text; }

int qrpay_png_write_gray(const uint8_t *rows, int width, int height, int bit_depth,
                         uint8_t **out, size_t *out_length, char *message, size_t message_size) {
    if (width <= 0 || height <= 0 || (bit_depth != 1 && bit_depth != 8)) {
        set_message(message, message_size, "bad image size or bit depth");
        return QRPAY_IMG_ARGUMENT;
    }
    char text[256] = "";
    struct qrpay_png_buffer buffer = {NULL, 0, 0, 0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, text, qrpay_png_error, qrpay_png_warning);
    if (!png) return QRPAY_IMG_NOMEM;
    png_infop info = png_create_info_struct(png);
    if (!info) { png_destroy_write_struct(&png, NULL); return QRPAY_IMG_NOMEM; }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(buffer.data);
        set_message(message, message_size, text);
        return buffer.failed ? QRPAY_IMG_NOMEM : QRPAY_IMG_CORRUPT;
    }
    png_set_write_fn(png, &buffer, qrpay_png_write_data, qrpay_png_flush);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, bit_depth, PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    // Level 3: a QR image (long runs, rows repeated module-size times) compresses within a few
    // hundred bytes of level 9 at a seventh of the time (about 75 against 540 us for a payment QR),
    // and the register stage writes one per payment.
    png_set_compression_level(png, 3);
    png_write_info(png, info);
    size_t stride = ((size_t)width * (size_t)bit_depth + 7) / 8;
    for (int y = 0; y < height; y++) png_write_row(png, (png_const_bytep)(rows + (size_t)y * stride));
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    *out = buffer.data;
    *out_length = buffer.length;
    return QRPAY_IMG_OK;
}
