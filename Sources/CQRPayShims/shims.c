/* _GNU_SOURCE before any header: <fcntl.h> then defines O_TMPFILE. */
#define _GNU_SOURCE 1
#include "qrpay_shims.h"
#include <openssl/crypto.h>
#include <openssl/bio.h>
#include <openssl/evp.h>

void qrpay_openssl_free(void *ptr) { OPENSSL_free(ptr); }

long qrpay_bio_get_mem_data(void *bio, char **data) {
    return BIO_get_mem_data((BIO *)bio, data);
}

/* EVP_PKEY_PUBLIC_KEY is a macro of OSSL_KEYMGMT_SELECT_* bits (see qrpay_shims.h). */
int qrpay_evp_pkey_public_key_selection(void) { return EVP_PKEY_PUBLIC_KEY; }

#include <fcntl.h>

/* O_TMPFILE (see qrpay_shims.h). */
int qrpay_o_tmpfile(void) {
#ifdef O_TMPFILE
    return O_TMPFILE;
#else
    return 0;
#endif
}

/* AT_EMPTY_PATH (see qrpay_shims.h). */
int qrpay_at_empty_path(void) {
#ifdef AT_EMPTY_PATH
    return AT_EMPTY_PATH;
#else
    return 0;
#endif
}

#include <jansson.h>

size_t qrpay_json_dump_flags(int pretty) {
    size_t flags = JSON_SORT_KEYS | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17);
    return flags | (pretty ? JSON_INDENT(2) : JSON_COMPACT);
}
