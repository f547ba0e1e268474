#ifndef QRPAY_IMAGE_SHIMS_H
#define QRPAY_IMAGE_SHIMS_H
#include <stddef.h>
#include <stdint.h>

/* Imaging (QRPayImaging):
 * libjpeg and libpng's full API report fatal errors by longjmp from an error callback; longjmp
 * across Swift frames is undefined behaviour, so every call that can reach such a callback runs in
 * these C functions, each with its own setjmp frame. They never keep state between calls. */

/* Status codes of the imaging shims. */
enum {
    QRPAY_IMG_OK = 0,
    QRPAY_IMG_TRUNCATED = 1,   /* the data ended early (libjpeg's "premature end of data") */
    QRPAY_IMG_CORRUPT = 2,     /* any other fatal libjpeg/libpng error */
    QRPAY_IMG_NOMEM = 3,
    QRPAY_IMG_ARGUMENT = 4,    /* caller error: buffer too small, bad size */
    QRPAY_IMG_UNSUPPORTED = 5  /* a valid file QR-Pay does not read (CMYK JPEG) */
};

/* JPEG header only: full-size dimensions, component count, EXIF orientation (1..8, 1 if absent).
 * A C shim because jpeg_read_header can call error_exit (longjmp). */
int qrpay_jpeg_header(const uint8_t *data, size_t length, int *width, int *height, int *components,
                      int *orientation, char *message, size_t message_size);

/* Decodes a JPEG to 8-bit grayscale at scale 1/scale_denom (1, 2, 4 or 8; libjpeg's scaled IDCT,
 * so a smaller scale is much cheaper). `out` must hold out_width*out_height bytes, where
 * out_width = ceil(width/scale_denom) (the same for height). The decode runs in C because libjpeg's
 * error_exit must longjmp to a setjmp frame that is not a Swift frame. */
int qrpay_jpeg_decode_gray(const uint8_t *data, size_t length, int scale_denom, uint8_t *out,
                           size_t out_size, int *out_width, int *out_height,
                           char *message, size_t message_size);

/* Encodes 8-bit gray (components 1) or RGB (components 3) pixels as a baseline (or progressive)
 * JPEG; orientation 2..8 adds an EXIF APP1 segment with that orientation. *out is malloc'd and
 * must be released with qrpay_image_free. C for the same reason as the decoder (error_exit longjmps). */
int qrpay_jpeg_encode(const uint8_t *pixels, int width, int height, int components, int quality,
                      int progressive, int orientation, uint8_t **out, size_t *out_length,
                      char *message, size_t message_size);

/* Writes a grayscale PNG of bit depth 1 or 8 from packed rows ((width*bit_depth+7)/8 bytes each).
 * libpng's simplified writer cannot write 1-bit images and the full API longjmps on error, so this
 * runs in C with a setjmp frame. *out is malloc'd and must be released with qrpay_image_free. */
int qrpay_png_write_gray(const uint8_t *rows, int width, int height, int bit_depth,
                         uint8_t **out, size_t *out_length, char *message, size_t message_size);

/* free(3), for buffers these shims return. */
void qrpay_image_free(void *ptr);

#endif
