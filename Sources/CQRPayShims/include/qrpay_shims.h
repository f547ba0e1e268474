#ifndef QRPAY_SHIMS_H
#define QRPAY_SHIMS_H
/*
 * C shims for what Swift cannot import or must not do itself:
 *  - OpenSSL function-like macros (OPENSSL_free, BIO_get_mem_data) are not imported by Swift.
 *  - (libjpeg and libpng's longjmp-based error handling is in CQRPayImageShims, linked only by
 *    programs that read or write images.)
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


#endif
