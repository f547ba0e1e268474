/*
 * Encrypted PKCS#8 keys with a strong scrypt cost (PKI/Keys.swift).
 *
 * OpenSSL 3.0 encrypts and decrypts PBES2/scrypt keys itself (PKCS8_set0_pbe_ex, PKCS8_decrypt), but
 * its scrypt key derivation for PBES2 passes no memory limit, so OpenSSL's default of 32 MiB applies
 * and N = 2^17, r = 8 (128 MiB, OWASP's current guidance) fails with "memory limit exceeded".
 * qrpay_pkcs8_strong_scrypt() replaces that one step, through OpenSSL's own extension point
 * (EVP_PBE_alg_add_type, for PBES2): the same parameters read from the same ASN.1 (PBE2PARAM,
 * SCRYPT_PARAMS), the same EVP_PBE_scrypt_ex, with a memory limit of QRPAY_SCRYPT_MAXMEM.
 * Everything else (PBKDF2, AES-256-CBC, PKCS#8 encoding and encryption) stays OpenSSL's.
 *
 * qrpay_pkcs8_scheme() reports how a key file is protected, so weak schemes are refused before any
 * password is tried.
 */
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/asn1t.h>
#include <openssl/objects.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <string.h>
#include "qrpay_shims.h"

/* N = 2^18 with r = 8 needs 256 MiB and a little: room for keys stronger than QR-Pay makes, and a
 * bound for a hostile key file that asks for gigabytes. */
#define QRPAY_SCRYPT_MAXMEM ((uint64_t)272 << 20)

static int qrpay_scrypt_keyivgen(EVP_CIPHER_CTX *ctx, const char *pass, int passlen, ASN1_TYPE *param,
                                 const EVP_CIPHER *cipher, const EVP_MD *md, int en_de) {
    unsigned char key[EVP_MAX_KEY_LENGTH];
    uint64_t n = 0, r = 0, p = 0, declared = 0;
    int rv = 0, keylen;
    SCRYPT_PARAMS *sparam = NULL;
    (void)cipher; (void)md;
    if (EVP_CIPHER_CTX_get0_cipher(ctx) == NULL) return 0;
    if (param == NULL || param->type != V_ASN1_SEQUENCE) return 0;
    sparam = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(SCRYPT_PARAMS), param);
    if (sparam == NULL) return 0;
    keylen = EVP_CIPHER_CTX_get_key_length(ctx);
    if (keylen <= 0 || keylen > (int)sizeof(key)) goto err;
    if (sparam->keyLength != NULL
        && (ASN1_INTEGER_get_uint64(&declared, sparam->keyLength) == 0 || declared != (uint64_t)keylen)) goto err;
    if (ASN1_INTEGER_get_uint64(&n, sparam->costParameter) == 0
        || ASN1_INTEGER_get_uint64(&r, sparam->blockSize) == 0
        || ASN1_INTEGER_get_uint64(&p, sparam->parallelizationParameter) == 0) goto err;
    if (EVP_PBE_scrypt_ex(pass, (size_t)passlen, sparam->salt->data, (size_t)sparam->salt->length,
                          n, r, p, QRPAY_SCRYPT_MAXMEM, key, (size_t)keylen, NULL, NULL) != 1) goto err;
    rv = EVP_CipherInit_ex(ctx, NULL, NULL, key, NULL, en_de);
err:
    OPENSSL_cleanse(key, sizeof(key));
    SCRYPT_PARAMS_free(sparam);
    return rv;
}

/* PBES2 (the outer scheme of an EncryptedPrivateKeyInfo): scrypt keys through
 * qrpay_scrypt_keyivgen, everything else (PBKDF2) through OpenSSL's PKCS5_v2_PBE_keyivgen. Replaces
 * OpenSSL's entry for PBES2 (its table of KDFs cannot be extended in 3.0: a KDF added there is
 * called through a NULL "_ex" function). */
static int qrpay_pbes2_keyivgen(EVP_CIPHER_CTX *ctx, const char *pass, int passlen, ASN1_TYPE *param,
                                const EVP_CIPHER *c, const EVP_MD *md, int en_de) {
    PBE2PARAM *pbe2 = NULL;
    const EVP_CIPHER *cipher = NULL;
    int rv = 0;
    if (param == NULL || param->type != V_ASN1_SEQUENCE) return 0;
    pbe2 = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBE2PARAM), param);
    if (pbe2 == NULL) return 0;
    if (OBJ_obj2nid(pbe2->keyfunc->algorithm) != NID_id_scrypt) {
        PBE2PARAM_free(pbe2);
        return PKCS5_v2_PBE_keyivgen(ctx, pass, passlen, param, c, md, en_de);
    }
    if ((cipher = EVP_get_cipherbyobj(pbe2->encryption->algorithm)) == NULL) goto err;
    if (EVP_CipherInit_ex(ctx, cipher, NULL, NULL, NULL, en_de) != 1) goto err;
    if (EVP_CIPHER_asn1_to_param(ctx, pbe2->encryption->parameter) <= 0) goto err;
    rv = qrpay_scrypt_keyivgen(ctx, pass, passlen, pbe2->keyfunc->parameter, NULL, NULL, en_de);
err:
    PBE2PARAM_free(pbe2);
    return rv;
}

static int qrpay_strong_scrypt_ok = 0;
static void qrpay_strong_scrypt_once(void) {
    EVP_PBE_KEYGEN *keygen = NULL;
    if (EVP_PBE_alg_add_type(EVP_PBE_TYPE_OUTER, NID_pbes2, -1, -1, qrpay_pbes2_keyivgen) != 1) return;
    /* One lookup now sorts OpenSSL's table of added algorithms, so later lookups (from any thread)
     * only read it; and it proves that ours is the one found. */
    if (EVP_PBE_find(EVP_PBE_TYPE_OUTER, NID_pbes2, NULL, NULL, &keygen) != 1) return;
    qrpay_strong_scrypt_ok = keygen == qrpay_pbes2_keyivgen;
}

int qrpay_pkcs8_strong_scrypt(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, qrpay_strong_scrypt_once);
    return qrpay_strong_scrypt_ok;
}

/* The AlgorithmIdentifier of PBES2 (RFC 8018) with scrypt (RFC 7914) and AES-256-CBC, built from
 * OpenSSL's ASN.1 types as PKCS5_pbe2_set_scrypt builds it (that function validates N, r and p
 * against the 32 MiB default, so it refuses N = 2^17). */
void *qrpay_pkcs8_scrypt_algorithm(const uint8_t *salt, int salt_length, const uint8_t *iv,
                                   uint64_t n, uint64_t r, uint64_t p) {
    const EVP_CIPHER *cipher = EVP_aes_256_cbc();
    X509_ALGOR *ret = NULL, *scheme = NULL;
    PBE2PARAM *pbe2 = NULL;
    SCRYPT_PARAMS *sparam = NULL;
    EVP_CIPHER_CTX *ctx = NULL;
    /* Valid parameters within the memory QR-Pay allows (no key derived: a NULL key). */
    if (EVP_PBE_scrypt_ex(NULL, 0, NULL, 0, n, r, p, QRPAY_SCRYPT_MAXMEM, NULL, 0, NULL, NULL) != 1) goto err;
    if ((pbe2 = PBE2PARAM_new()) == NULL) goto err;
    scheme = pbe2->encryption;
    scheme->algorithm = OBJ_nid2obj(EVP_CIPHER_get_type(cipher));
    if ((scheme->parameter = ASN1_TYPE_new()) == NULL) goto err;
    if ((ctx = EVP_CIPHER_CTX_new()) == NULL) goto err;
    if (EVP_CipherInit_ex(ctx, cipher, NULL, NULL, iv, 0) != 1) goto err;
    if (EVP_CIPHER_param_to_asn1(ctx, scheme->parameter) <= 0) goto err;
    if ((sparam = SCRYPT_PARAMS_new()) == NULL) goto err;
    if (ASN1_OCTET_STRING_set(sparam->salt, salt, salt_length) != 1
        || ASN1_INTEGER_set_uint64(sparam->costParameter, n) != 1
        || ASN1_INTEGER_set_uint64(sparam->blockSize, r) != 1
        || ASN1_INTEGER_set_uint64(sparam->parallelizationParameter, p) != 1) goto err;
    X509_ALGOR_free(pbe2->keyfunc);
    if ((pbe2->keyfunc = X509_ALGOR_new()) == NULL) goto err;
    pbe2->keyfunc->algorithm = OBJ_nid2obj(NID_id_scrypt);
    if (ASN1_TYPE_pack_sequence(ASN1_ITEM_rptr(SCRYPT_PARAMS), sparam, &pbe2->keyfunc->parameter) == NULL) goto err;
    if ((ret = X509_ALGOR_new()) == NULL) goto err;
    ret->algorithm = OBJ_nid2obj(NID_pbes2);
    if (ASN1_TYPE_pack_sequence(ASN1_ITEM_rptr(PBE2PARAM), pbe2, &ret->parameter) == NULL) {
        X509_ALGOR_free(ret);
        ret = NULL;
    }
err:
    EVP_CIPHER_CTX_free(ctx);
    SCRYPT_PARAMS_free(sparam);
    PBE2PARAM_free(pbe2);
    return ret;
}

int qrpay_pkcs8_scheme(const void *sig, uint64_t *cost, uint64_t *block_size, uint64_t *parallel) {
    const X509_ALGOR *alg = NULL;
    const ASN1_OBJECT *oid = NULL;
    const void *pval = NULL;
    int ptype = 0, result = QRPAY_PKCS8_UNKNOWN;
    PBE2PARAM *pbe2 = NULL;
    *cost = 0; *block_size = 0; *parallel = 0;
    X509_SIG_get0((const X509_SIG *)sig, &alg, NULL);
    if (alg == NULL) return QRPAY_PKCS8_UNKNOWN;
    X509_ALGOR_get0(&oid, &ptype, &pval, alg);
    if (OBJ_obj2nid(oid) != NID_pbes2) return QRPAY_PKCS8_PBES1;
    if (ptype != V_ASN1_SEQUENCE) return QRPAY_PKCS8_UNKNOWN;
    {
        ASN1_TYPE wrapper;
        wrapper.type = V_ASN1_SEQUENCE;
        wrapper.value.sequence = (ASN1_STRING *)pval;
        pbe2 = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBE2PARAM), &wrapper);
    }
    if (pbe2 == NULL || pbe2->keyfunc == NULL) goto done;
    switch (OBJ_obj2nid(pbe2->keyfunc->algorithm)) {
    case NID_id_pbkdf2: {
        PBKDF2PARAM *kdf = NULL;
        if (pbe2->keyfunc->parameter == NULL) break;
        kdf = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBKDF2PARAM), pbe2->keyfunc->parameter);
        if (kdf == NULL) break;
        if (ASN1_INTEGER_get_uint64(cost, kdf->iter) == 1) result = QRPAY_PKCS8_PBKDF2;
        PBKDF2PARAM_free(kdf);
        break;
    }
    case NID_id_scrypt: {
        SCRYPT_PARAMS *sparam = NULL;
        if (pbe2->keyfunc->parameter == NULL) break;
        sparam = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(SCRYPT_PARAMS), pbe2->keyfunc->parameter);
        if (sparam == NULL) break;
        if (ASN1_INTEGER_get_uint64(cost, sparam->costParameter) == 1
            && ASN1_INTEGER_get_uint64(block_size, sparam->blockSize) == 1
            && ASN1_INTEGER_get_uint64(parallel, sparam->parallelizationParameter) == 1) result = QRPAY_PKCS8_SCRYPT;
        SCRYPT_PARAMS_free(sparam);
        break;
    }
    default:
        break;
    }
done:
    PBE2PARAM_free(pbe2);
    return result;
}
