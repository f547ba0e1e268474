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
 * sorted keys, 17 significant digits for reals, compact or indented by two spaces. */
size_t qrpay_json_dump_flags(int pretty);

/* EVP_PKEY_PUBLIC_KEY is a macro combining OSSL_KEYMGMT_SELECT_* bits that Swift does not import;
 * the selection for EVP_PKEY_fromdata of a public key (PKI: P-256 keys from raw points). */
int qrpay_evp_pkey_public_key_selection(void);

#endif
