#include "auth.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SALT_LEN 16
#define KEY_LEN 32

static void hex(const unsigned char *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static int unhex(const char *s, unsigned char *out, size_t n)
{
    if (strlen(s) != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char c = s[2 * i + k];
            v <<= 4;
            if (c >= '0' && c <= '9')
                v |= (unsigned)(c - '0');
            else if (c >= 'a' && c <= 'f')
                v |= (unsigned)(c - 'a' + 10);
            else
                return -1;
        }
        out[i] = (unsigned char)v;
    }
    return 0;
}

int svc_pbkdf2_sha256(const char *password, const unsigned char *salt, size_t saltlen,
                      int iterations, unsigned char *key, size_t keylen)
{
    int rc = -1;
    unsigned int iter = (unsigned int)iterations;
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "PBKDF2", NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    if (!ctx)
        goto out;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)password,
                                          strlen(password)),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen),
        OSSL_PARAM_construct_uint(OSSL_KDF_PARAM_ITER, &iter),
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    if (EVP_KDF_derive(ctx, key, keylen, params) == 1)
        rc = 0;
out:
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return rc;
}

int svc_password_hash(const char *password, int iterations, char out[SVC_HASH_MAX])
{
    unsigned char salt[SALT_LEN], key[KEY_LEN];
    char salthex[2 * SALT_LEN + 1], keyhex[2 * KEY_LEN + 1];
    if (RAND_bytes(salt, sizeof(salt)) != 1 ||
        svc_pbkdf2_sha256(password, salt, sizeof(salt), iterations, key, sizeof(key)) < 0)
        return -1;
    hex(salt, sizeof(salt), salthex);
    hex(key, sizeof(key), keyhex);
    OPENSSL_cleanse(key, sizeof(key));
    snprintf(out, SVC_HASH_MAX, "pbkdf2-sha256$%d$%s$%s", iterations, salthex, keyhex);
    return 0;
}

int svc_password_verify(const char *password, const char *stored, int iterations,
                        bool *needs_rehash)
{
    unsigned char salt[SALT_LEN], want[KEY_LEN], got[KEY_LEN];
    char saltbuf[2 * SALT_LEN + 1], keybuf[2 * KEY_LEN + 1];
    int iter = 0, n = 0;
    if (sscanf(stored, "pbkdf2-sha256$%d$%32[0-9a-f]$%64[0-9a-f]%n", &iter, saltbuf, keybuf, &n) !=
            3 ||
        stored[n] != '\0' || iter < 1 || unhex(saltbuf, salt, SALT_LEN) < 0 ||
        unhex(keybuf, want, KEY_LEN) < 0)
        return -1;
    if (svc_pbkdf2_sha256(password, salt, SALT_LEN, iter, got, KEY_LEN) < 0)
        return -1;
    int ok = CRYPTO_memcmp(got, want, KEY_LEN) == 0;
    OPENSSL_cleanse(got, sizeof(got));
    if (needs_rehash)
        *needs_rehash = iter < iterations;
    return ok;
}

int svc_token_new(char out[SVC_TOKEN_LEN + 1])
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char b[33] = {0};
    if (RAND_bytes(b, 32) != 1)
        return -1;
    /* 32 bytes = 256 bits -> 43 six-bit groups (the last padded with zero bits). */
    for (int i = 0; i < SVC_TOKEN_LEN; i++) {
        int bit = i * 6, byte = bit / 8, shift = bit % 8;
        unsigned v = ((unsigned)b[byte] << 8 | b[byte + 1]) >> (10 - shift);
        out[i] = alphabet[v & 63];
    }
    out[SVC_TOKEN_LEN] = '\0';
    OPENSSL_cleanse(b, sizeof(b));
    return 0;
}

void svc_sha256_hex(const char *s, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(s, len, md, &mdlen, EVP_sha256(), NULL);
    hex(md, 32, out);
}

/* Each thread draws ids' randomness from its own buffer, refilled 1 KiB at a time: one RAND_bytes
 * call per uuid was about a tenth of the server's CPU in a 100-entry batch (docs/benchmarks.md,
 * seventeenth round). The bytes are the same CSPRNG output, only fetched in larger pieces. */
static _Thread_local unsigned char uuid_pool[1024];
static _Thread_local size_t uuid_left;

int svc_uuid4(char out[37])
{
    unsigned char b[16];
    char h[33];
    if (uuid_left < sizeof(b)) {
        if (RAND_bytes(uuid_pool, sizeof(uuid_pool)) != 1)
            return -1;
        uuid_left = sizeof(uuid_pool);
    }
    uuid_left -= sizeof(b);
    memcpy(b, uuid_pool + uuid_left, sizeof(b));
    OPENSSL_cleanse(uuid_pool + uuid_left, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    hex(b, sizeof(b), h);
    memcpy(out, h, 8);
    memcpy(out + 9, h + 8, 4);
    memcpy(out + 14, h + 12, 4);
    memcpy(out + 19, h + 16, 4);
    memcpy(out + 24, h + 20, 12);
    out[8] = out[13] = out[18] = out[23] = '-';
    out[36] = '\0';
    return 0;
}

int svc_random_hex(size_t nbytes, char *out)
{
    unsigned char b[64];
    if (nbytes > sizeof(b) || RAND_bytes(b, (int)nbytes) != 1)
        return -1;
    hex(b, nbytes, out);
    return 0;
}
