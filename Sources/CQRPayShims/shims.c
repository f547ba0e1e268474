#include "qrpay_shims.h"
#include <openssl/crypto.h>
#include <openssl/bio.h>

void qrpay_openssl_free(void *ptr) { OPENSSL_free(ptr); }

long qrpay_bio_get_mem_data(void *bio, char **data) {
    return BIO_get_mem_data((BIO *)bio, data);
}

#include <jansson.h>

size_t qrpay_json_dump_flags(int pretty) {
    size_t flags = JSON_SORT_KEYS | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17);
    return flags | (pretty ? JSON_INDENT(2) : JSON_COMPACT);
}
