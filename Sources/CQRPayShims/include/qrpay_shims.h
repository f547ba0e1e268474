#ifndef QRPAY_SHIMS_H
#define QRPAY_SHIMS_H
/*
 * C shims for what Swift cannot import or must not do itself:
 *  - OpenSSL function-like macros (OPENSSL_free, BIO_get_mem_data) are not imported by Swift.
 *  - libjpeg reports fatal errors through error_exit, which must longjmp back to a setjmp
 *    frame; longjmp across Swift frames is undefined behaviour, so decoding runs in C.
 */
#include <stddef.h>
#include <stdint.h>

/* OPENSSL_free is a macro around CRYPTO_free with file/line. */
void qrpay_openssl_free(void *ptr);
/* BIO_get_mem_data is a macro around BIO_ctrl. */
long qrpay_bio_get_mem_data(void *bio, char **data);

/* JSON_INDENT and JSON_REAL_PRECISION are function-like macros. Returns Jansson dump flags:
 * sorted keys, 17 significant digits for reals (every double reads back as itself: with 15, the
 * largest doubles were written as numbers over DBL_MAX that no parser reads), compact or indented
 * by two spaces. */
size_t qrpay_json_dump_flags(int pretty);

/* EVP_PKEY_PUBLIC_KEY is a macro combining OSSL_KEYMGMT_SELECT_* bits that Swift does not import;
 * the selection for EVP_PKEY_fromdata of a public key (PKI: P-256 keys from raw points). */
int qrpay_evp_pkey_public_key_selection(void);

/* O_TMPFILE is a macro of __O_TMPFILE | O_DIRECTORY that Swift's Glibc module does not import;
 * 0 where the C library does not define it (GroupCommit then names its temporary files). */
int qrpay_o_tmpfile(void);
/* AT_EMPTY_PATH (a _GNU_SOURCE macro Swift does not import); 0 where undefined. */
int qrpay_at_empty_path(void);

/* ---- Imaging (QRPayCore/Imaging) ----
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
 * must be released with qrpay_free. C for the same reason as the decoder (error_exit longjmps). */
int qrpay_jpeg_encode(const uint8_t *pixels, int width, int height, int components, int quality,
                      int progressive, int orientation, uint8_t **out, size_t *out_length,
                      char *message, size_t message_size);

/* Writes a grayscale PNG of bit depth 1 or 8 from packed rows ((width*bit_depth+7)/8 bytes each).
 * libpng's simplified writer cannot write 1-bit images and the full API longjmps on error, so this
 * runs in C with a setjmp frame. *out is malloc'd and must be released with qrpay_free. */
int qrpay_png_write_gray(const uint8_t *rows, int width, int height, int bit_depth,
                         uint8_t **out, size_t *out_length, char *message, size_t message_size);

/* ---- Encrypted PKCS#8 keys (pkcs8.c) ---- */

/* Lets OpenSSL's own PBES2 code derive scrypt keys of N = 2^17 and more (its default memory limit of
 * 32 MiB stops at 2^14 with r = 8), by registering PBES2 with a scrypt of a higher limit through
 * EVP_PBE_alg_add_type. Idempotent and thread-safe; 1 when in place. */
int qrpay_pkcs8_strong_scrypt(void);
/* PKCS5_pbe2_set_scrypt with AES-256-CBC and the given IV (an X509_ALGOR *). */
void *qrpay_pkcs8_scrypt_algorithm(const uint8_t *salt, int salt_length, const uint8_t *iv,
                                   uint64_t n, uint64_t r, uint64_t p);
/* How the X509_SIG (EncryptedPrivateKeyInfo) `sig` is protected. PBKDF2: cost = iterations;
 * scrypt: cost = N, block_size = r, parallel = p. */
enum { QRPAY_PKCS8_UNKNOWN = 0, QRPAY_PKCS8_PBES1 = 1, QRPAY_PKCS8_PBKDF2 = 2, QRPAY_PKCS8_SCRYPT = 3 };
int qrpay_pkcs8_scheme(const void *sig, uint64_t *cost, uint64_t *block_size, uint64_t *parallel);

/* free(3), for buffers the shims return. */
void qrpay_free(void *ptr);

#endif
