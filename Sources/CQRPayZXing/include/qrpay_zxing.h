#ifndef QRPAY_ZXING_H
#define QRPAY_ZXING_H
/*
 * zxing-cpp (Debian's libzxing-dev, 1.4), QR codes only, behind a C interface: zxing-cpp is C++
 * (exceptions, std::vector, std::string), which Swift's C importer does not take. QR-Pay's decoder
 * runs it after zbar, on what zbar could not read (see QRPayDecoder/QRImageDecoder.swift).
 * Every call owns its zxing objects; exceptions never leave the shim.
 */
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One symbol: its text (UTF-8, by ECI or zxing's guess; NUL-terminated, `length` bytes) and the
 * code's own top-left, top-right, bottom-right, bottom-left corners as x,y pairs in pixels. */
typedef struct {
    char *text;
    size_t length;
    int corners[8];
} qrpay_zxing_symbol;

/* Reads every QR code in an 8-bit gray image (row stride = width). try_harder: zxing's slower,
 * more thorough search. Returns 0 and sets *symbols (malloc'd, release with qrpay_zxing_free) and
 * *count; -1 when zxing failed (out of memory or an internal error: *count is 0). */
int qrpay_zxing_read_qr(const uint8_t *gray, int width, int height, int try_harder,
                        qrpay_zxing_symbol **symbols, int *count);

void qrpay_zxing_free(qrpay_zxing_symbol *symbols, int count);

#ifdef __cplusplus
}
#endif
#endif
