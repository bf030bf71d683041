/* libFuzzer target for consent receipts: the input as text -> base64url decode (accepted exactly
 * when a reference check says it is canonical, and then encode gives the text back), the input as
 * bytes -> encode -> decode round trip, the input as a compact JWS -> verify, the input as a JSON
 * object -> sign -> verify (the payload comes back equal; any one changed character fails), and
 * "header\npayload" signed as they are -> verify (accepts exactly what receipt.h says).
 * The Ed25519 keys are fixed, so every finding reproduces. Not part of the CMake build. From the
 * repository root:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I consent consent/receipt.c \
 *       tests/fuzz/fuzz_receipt.c -o fuzz_receipt -ljansson -lcrypto
 *   ./fuzz_receipt -max_total_time=120 corpus_dir/
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "receipt.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static EVP_PKEY *key, *other;
static char kid[17];

static size_t b64_len(size_t n)
{
    static const size_t tail[3] = {0, 2, 3};
    return n / 3 * 4 + tail[n % 3];
}

static EVP_PKEY *fixed_key(unsigned char fill)
{
    unsigned char raw[32];
    EVP_PKEY *k;

    memset(raw, fill, sizeof(raw));
    k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, raw, sizeof(raw));
    if (!k)
        abort();
    return k;
}

/* Fixed keys rather than consent_key_load_or_create, which would write a key file. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char long_kid[CONSENT_KID_MAX_LEN + 2];
    json_t *obj = json_object();
    char *s;

    (void)argc;
    (void)argv;
    key = fixed_key(0x11);
    other = fixed_key(0x22);
    consent_key_id(key, kid);
    CHECK(strlen(kid) == 16);
    /* The documented edge cases, once. */
    s = consent_b64url_encode(NULL, 0);
    CHECK(s && s[0] == '\0');
    free(s);
    CHECK(consent_b64url_encode(NULL, 1) == NULL);
    CHECK(consent_jws_verify(key, NULL) == NULL && consent_jws_verify(NULL, "a.b.c") == NULL);
    CHECK(consent_jws_sign(key, NULL, obj) == NULL && consent_jws_sign(key, "", obj) == NULL);
    memset(long_kid, 'k', sizeof(long_kid) - 1);
    long_kid[sizeof(long_kid) - 1] = '\0';
    CHECK(consent_jws_sign(key, long_kid, obj) == NULL);
    long_kid[CONSENT_KID_MAX_LEN] = '\0';
    s = consent_jws_sign(key, long_kid, obj);
    CHECK(s != NULL);
    free(s);
    json_decref(obj);
    return 0;
}

/* receipt.h: decode accepts only url-alphabet text, not 1 mod 4 long, with zero unused bits. */
static bool canonical(const char *s)
{
    size_t n = strlen(s);
    const char *last;

    if (strspn(s, alphabet) != n || n % 4 == 1)
        return false;
    if (n % 4 == 0)
        return true;
    last = strchr(alphabet, s[n - 1]);
    return ((last - alphabet) & (n % 4 == 2 ? 15 : 3)) == 0;
}

static void check_decode(const char *s)
{
    static const size_t tail[4] = {0, 0, 1, 2};
    size_t n = strlen(s), len = 0, len2 = 0;
    unsigned char *buf = consent_b64url_decode(s, &len), *again;
    char *enc;

    CHECK((buf != NULL) == canonical(s));
    if (!buf)
        return;
    CHECK(len == n / 4 * 3 + tail[n % 4] && buf[len] == '\0');
    enc = consent_b64url_encode(buf, len);
    CHECK(enc && strcmp(enc, s) == 0); /* one encoding per buffer */
    again = consent_b64url_decode(enc, &len2);
    CHECK(again && len2 == len && memcmp(again, buf, len) == 0);
    free(again);
    free(enc);
    free(buf);
}

static void check_encode(const uint8_t *data, size_t size)
{
    char *enc = consent_b64url_encode(data, size);
    unsigned char *dec;
    size_t len = 0;

    CHECK(enc && strlen(enc) == b64_len(size) && strspn(enc, alphabet) == b64_len(size));
    dec = consent_b64url_decode(enc, &len);
    CHECK(dec && len == size && (size == 0 || memcmp(dec, data, size) == 0));
    free(dec);
    free(enc);
}

static void check_verify(const char *s)
{
    json_t *v = consent_jws_verify(key, s);
    CHECK(!v || json_is_object(v));
    json_decref(v);
}

/* Both encoded parts must be exactly what receipt.h promises. */
static void check_part(const char *part, size_t n, const char *json)
{
    char *enc = consent_b64url_encode((const unsigned char *)json, strlen(json));
    CHECK(enc && strlen(enc) == n && memcmp(enc, part, n) == 0);
    free(enc);
}

static void check_sign(const json_t *payload, const uint8_t *data, size_t size)
{
    char header[64], *pjson = json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS), *jws;
    size_t hl, pl, total, pos;
    const char *c, *dot1, *dot2;
    json_t *back;

    CHECK(pjson != NULL);
    snprintf(header, sizeof(header), "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"%s\"}", kid);
    hl = b64_len(strlen(header));
    pl = b64_len(strlen(pjson));
    total = hl + 1 + pl + 1 + b64_len(64);
    jws = consent_jws_sign(key, kid, payload);
    CHECK((jws != NULL) == (total <= CONSENT_JWS_MAX_LEN));
    if (!jws) {
        free(pjson);
        return;
    }
    CHECK(strlen(jws) == total);
    dot1 = jws + hl;
    dot2 = dot1 + 1 + pl;
    CHECK(*dot1 == '.' && *dot2 == '.');
    check_part(jws, hl, header);
    check_part(dot1 + 1, pl, pjson);

    back = consent_jws_verify(key, jws);
    CHECK(back && json_equal(back, payload));
    json_decref(back);
    CHECK(consent_jws_verify(other, jws) == NULL);

    /* Any one character changed to another url character changes the signed text or the
     * signature (decode is canonical), so verification must fail. */
    pos = (data[0] | (size_t)data[size - 1] << 8) % total;
    if (jws[pos] != '.') {
        c = strchr(alphabet, jws[pos]);
        CHECK(c != NULL);
        jws[pos] = alphabet[((size_t)(c - alphabet) + 1 + data[size / 2] % 63) % 64];
        CHECK(consent_jws_verify(key, jws) == NULL);
    }
    jws[total - 1] = '\0'; /* a truncated signature */
    CHECK(consent_jws_verify(key, jws) == NULL);
    free(jws);
    free(pjson);
}

/* What verify must return for a JWS over header and payload bytes with a good signature: the
 * payload when both are JSON objects without duplicate keys, the header has "alg":"EdDSA" and no
 * "crit", and the JWS fits; else NULL. */
static json_t *expected_payload(const char *h, size_t hlen, const char *p, size_t plen, size_t len)
{
    json_t *header = json_loadb(h, hlen, JSON_REJECT_DUPLICATES, NULL);
    json_t *payload = json_loadb(p, plen, JSON_REJECT_DUPLICATES, NULL);
    const char *alg = json_string_value(json_object_get(header, "alg"));
    bool ok = json_is_object(header) && json_is_object(payload) && alg &&
              strcmp(alg, "EdDSA") == 0 && !json_object_get(header, "crit") &&
              len <= CONSENT_JWS_MAX_LEN;

    json_decref(header);
    if (!ok) {
        json_decref(payload);
        payload = NULL;
    }
    return payload;
}

/* "header\npayload": sign both, as raw bytes, with the key directly, so verify's checks after
 * the signature see arbitrary headers and payloads. */
static void check_signed(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    unsigned char sig[64];
    size_t hlen, plen, siglen = sizeof(sig), inlen, n;
    char *h64, *p64, *s64, *jws;
    EVP_MD_CTX *ctx;
    json_t *want, *got;

    if (!nl)
        return;
    hlen = (size_t)(nl - data);
    plen = size - hlen - 1;
    h64 = consent_b64url_encode(data, hlen);
    p64 = consent_b64url_encode(nl + 1, plen);
    CHECK(h64 && p64);
    inlen = strlen(h64) + 1 + strlen(p64);
    n = inlen + 1 + b64_len(64) + 1;
    jws = malloc(n);
    if (!jws)
        abort();
    snprintf(jws, n, "%s.%s", h64, p64);
    ctx = EVP_MD_CTX_new();
    CHECK(ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1 &&
          EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)jws, inlen) == 1 &&
          siglen == sizeof(sig));
    s64 = consent_b64url_encode(sig, siglen);
    CHECK(s64 != NULL);
    snprintf(jws + inlen, n - inlen, ".%s", s64);
    want = expected_payload((const char *)data, hlen, (const char *)nl + 1, plen, strlen(jws));
    got = consent_jws_verify(key, jws);
    CHECK(want ? got && json_equal(got, want) : !got);
    json_decref(got);
    json_decref(want);
    EVP_MD_CTX_free(ctx);
    free(s64);
    free(jws);
    free(p64);
    free(h64);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    json_t *j;

    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0'; /* text up to the first NUL */
    check_decode(s);
    check_encode(data, size);
    check_verify(s);
    j = json_loadb((const char *)data, size, 0, NULL);
    if (json_is_object(j))
        check_sign(j, data, size);
    check_signed(data, size);
    json_decref(j);
    free(s);
    return 0;
}
