/* test_receipt.c - base64url, SHA-256, Ed25519 key files and JWS receipts, checked against RFC
 * vectors and against the openssl command line tool. */
#include <check.h>
#include <dirent.h>
#include <ftw.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "receipt.h"

/* RFC 8032 section 7.1, TEST 1 (empty message). */
#define RFC8032_SK "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
#define RFC8032_PK "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
#define RFC8032_SIG                                                                                \
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9" \
    "b4"                                                                                           \
    "6bd25bf5f0595bbe24655141438e7a100b"
/* SHA-256 of the raw RFC 8032 public key, first 16 hex digits, computed independently with Python's
 * hashlib. */
#define RFC8032_KID "21fe31dfa154a261"

/* RFC 8037 appendix A: the same key as a JWK, and the A.4 signing example. */
#define RFC8037_D "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
#define RFC8037_X "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
#define RFC8037_INPUT "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
#define RFC8037_SIG                                                                                \
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"

/* ------------------------------------------------------------------------------------------ */
/* helpers */

static void from_hex(const char *hex, unsigned char *out, size_t n)
{
    ck_assert_uint_eq(strlen(hex), 2 * n);
    for (size_t i = 0; i < n; i++) {
        unsigned v;

        ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (unsigned char)v;
    }
}

static EVP_PKEY *rfc8032_key(void)
{
    unsigned char sk[32];
    EVP_PKEY *key;

    from_hex(RFC8032_SK, sk, sizeof(sk));
    key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, sk, sizeof(sk));
    ck_assert_ptr_nonnull(key);
    return key;
}

/* Raw Ed25519 signature of msg, straight from EVP (independent of the code under test). */
static void raw_sign(EVP_PKEY *key, const void *msg, size_t len, unsigned char sig[64])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t siglen = 64;

    ck_assert_ptr_nonnull(ctx);
    ck_assert_int_eq(EVP_DigestSignInit(ctx, NULL, NULL, NULL, key), 1);
    ck_assert_int_eq(EVP_DigestSign(ctx, sig, &siglen, msg, len), 1);
    ck_assert_uint_eq(siglen, 64);
    EVP_MD_CTX_free(ctx);
}

static char *concat3(const char *a, const char *b, const char *c)
{
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    char *s = malloc(la + lb + lc + 3);

    ck_assert_ptr_nonnull(s);
    sprintf(s, "%s.%s.%s", a, b, c);
    return s;
}

/* A JWS with any header and payload text, validly signed; lets tests reach the header and payload
 * checks that come after the signature. */
static char *make_jws(EVP_PKEY *key, const char *header, const char *payload)
{
    char *h = consent_b64url_encode((const unsigned char *)header, strlen(header));
    char *p = consent_b64url_encode((const unsigned char *)payload, strlen(payload));
    char *input, *s, *jws;
    unsigned char sig[64];

    ck_assert_ptr_nonnull(h);
    ck_assert_ptr_nonnull(p);
    input = malloc(strlen(h) + strlen(p) + 2);
    ck_assert_ptr_nonnull(input);
    sprintf(input, "%s.%s", h, p);
    raw_sign(key, input, strlen(input), sig);
    s = consent_b64url_encode(sig, sizeof(sig));
    ck_assert_ptr_nonnull(s);
    jws = concat3(h, p, s);
    free(h);
    free(p);
    free(input);
    free(s);
    return jws;
}

/* Decode part i (0..2) of a compact JWS as text. */
static char *jws_part(const char *jws, int i, size_t *len)
{
    const char *start = jws, *end;
    char *part;
    unsigned char *dec;

    for (int k = 0; k < i; k++) {
        start = strchr(start, '.');
        ck_assert_ptr_nonnull(start);
        start++;
    }
    end = strchr(start, '.');
    if (end == NULL)
        end = start + strlen(start);
    part = strndup(start, (size_t)(end - start));
    ck_assert_ptr_nonnull(part);
    dec = consent_b64url_decode(part, len);
    free(part);
    ck_assert_ptr_nonnull(dec);
    return (char *)dec;
}

static void write_file(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");

    ck_assert_msg(f != NULL, "cannot write %s", path);
    ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

static char *make_tmpdir(void)
{
    char tmpl[] = "/tmp/cc_test_receipt_XXXXXX";
    char *dir = mkdtemp(tmpl);

    ck_assert_msg(dir != NULL, "mkdtemp failed");
    dir = strdup(dir);
    ck_assert_ptr_nonnull(dir);
    return dir;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void rm_tmpdir(char *dir)
{
    ck_assert_int_eq(nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
    free(dir);
}

static char *path_in(const char *dir, const char *name)
{
    char *p = malloc(strlen(dir) + strlen(name) + 2);

    ck_assert_ptr_nonnull(p);
    sprintf(p, "%s/%s", dir, name);
    return p;
}

static size_t count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0;

    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    }
    closedir(d);
    return n;
}

/* Run a shell command; its combined output goes into out. Returns the exit status. */
static int run(const char *cmd, char *out, size_t outlen)
{
    FILE *p = popen(cmd, "r");
    size_t n;
    int st;

    ck_assert_msg(p != NULL, "popen failed: %s", cmd);
    n = fread(out, 1, outlen - 1, p);
    out[n] = '\0';
    st = pclose(p);
    ck_assert_msg(st != -1 && WIFEXITED(st), "%s did not exit normally", cmd);
    return WEXITSTATUS(st);
}

/* ------------------------------------------------------------------------------------------ */
/* base64url */

struct b64_vector {
    const char *raw, *enc;
};

START_TEST(test_b64url_rfc4648)
{
    /* RFC 4648 section 10, with the padding removed. */
    static const struct b64_vector v[] = {
        {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
        {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
    };

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char *enc = consent_b64url_encode((const unsigned char *)v[i].raw, strlen(v[i].raw));
        size_t len = 99;
        unsigned char *dec = consent_b64url_decode(v[i].enc, &len);

        ck_assert_ptr_nonnull(enc);
        ck_assert_str_eq(enc, v[i].enc);
        ck_assert_ptr_nonnull(dec);
        ck_assert_uint_eq(len, strlen(v[i].raw));
        ck_assert_mem_eq(dec, v[i].raw, len);
        free(enc);
        free(dec);
    }
}
END_TEST

START_TEST(test_b64url_alphabet)
{
    /* 62 and 63 are '-' and '_' in the url alphabet ('+' and '/' in plain base64). */
    static const unsigned char hi[] = {0xfb, 0xff, 0xbf};
    static const unsigned char ff[] = {0xff, 0xfe};
    static const unsigned char zero[] = {0x00};
    unsigned char all[256];
    char *enc;
    unsigned char *dec;
    size_t len;

    enc = consent_b64url_encode(hi, sizeof(hi));
    ck_assert_str_eq(enc, "-_-_");
    free(enc);
    enc = consent_b64url_encode(ff, sizeof(ff));
    ck_assert_str_eq(enc, "__4");
    free(enc);
    enc = consent_b64url_encode(zero, sizeof(zero));
    ck_assert_str_eq(enc, "AA");
    free(enc);
    dec = consent_b64url_decode("-_-_", &len);
    ck_assert_ptr_nonnull(dec);
    ck_assert_uint_eq(len, 3);
    ck_assert_mem_eq(dec, hi, 3);
    free(dec);

    /* Every byte value survives a round trip, and the encoding uses the url alphabet only. */
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    enc = consent_b64url_encode(all, sizeof(all));
    ck_assert_ptr_nonnull(enc);
    ck_assert_uint_eq(strlen(enc), 342);
    ck_assert_uint_eq(
        strspn(enc, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), 342);
    dec = consent_b64url_decode(enc, &len);
    ck_assert_ptr_nonnull(dec);
    ck_assert_uint_eq(len, 256);
    ck_assert_mem_eq(dec, all, 256);
    free(dec);
    free(enc);

    ck_assert_ptr_null(consent_b64url_encode(NULL, 1));
    enc = consent_b64url_encode(NULL, 0);
    ck_assert_str_eq(enc, "");
    free(enc);
}
END_TEST

START_TEST(test_b64url_reject)
{
    static const char *const bad[] = {
        "Zm9v+",        /* plain base64 character */
        "Zm9v/Zm9",     /* plain base64 character */
        "Zg==",         /* padding */
        "Zm9vYg=",      /* padding */
        "Z",            /* length 1 mod 4 */
        "Zm9vY",        /* length 1 mod 4 */
        " Zm9v",        /* whitespace */
        "Zm9v\n",       /* whitespace */
        "Zm.v",         /* separator */
        "Zh",           /* non-zero unused bits: "Zg" is the only encoding of "f" */
        "Zm9",          /* non-zero unused bits: "Zm8" is the only encoding of "fo" */
        "Zm9v\xc3\xa9", /* non-ASCII */
    };
    size_t len = 12345;
    unsigned char *dec;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        dec = consent_b64url_decode(bad[i], &len);
        ck_assert_msg(dec == NULL, "accepted bad base64url \"%s\"", bad[i]);
    }
    ck_assert_uint_eq(len, 12345);
    ck_assert_ptr_null(consent_b64url_decode(NULL, &len));
    ck_assert_ptr_null(consent_b64url_decode("Zm9v", NULL));
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* digests and key ids */

START_TEST(test_sha256)
{
    static const char msg2[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    char out[65];

    /* FIPS 180-2 appendix B examples, and the empty message. */
    consent_sha256_hex("abc", 3, out);
    ck_assert_str_eq(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    consent_sha256_hex(msg2, strlen(msg2), out);
    ck_assert_str_eq(out, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    consent_sha256_hex("", 0, out);
    ck_assert_str_eq(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    consent_sha256_hex(NULL, 0, out);
    ck_assert_str_eq(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    consent_sha256_hex(NULL, 1, out);
    ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(test_rfc8032_vector1)
{
    EVP_PKEY *key = rfc8032_key();
    unsigned char pk[32], want_pk[32], sig[64], want_sig[64];
    size_t pklen = sizeof(pk);
    char kid[17];
    EVP_MD_CTX *ctx;

    from_hex(RFC8032_PK, want_pk, sizeof(want_pk));
    from_hex(RFC8032_SIG, want_sig, sizeof(want_sig));
    ck_assert_int_eq(EVP_PKEY_get_raw_public_key(key, pk, &pklen), 1);
    ck_assert_uint_eq(pklen, 32);
    ck_assert_mem_eq(pk, want_pk, 32);

    raw_sign(key, "", 0, sig);
    ck_assert_mem_eq(sig, want_sig, 64);
    ctx = EVP_MD_CTX_new();
    ck_assert_ptr_nonnull(ctx);
    ck_assert_int_eq(EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key), 1);
    ck_assert_int_eq(EVP_DigestVerify(ctx, want_sig, 64, (const unsigned char *)"", 0), 1);
    EVP_MD_CTX_free(ctx);

    consent_key_id(key, kid);
    ck_assert_str_eq(kid, RFC8032_KID);
    consent_key_id(NULL, kid);
    ck_assert_str_eq(kid, "");
    EVP_PKEY_free(key);
}
END_TEST

START_TEST(test_rfc8037_example)
{
    EVP_PKEY *key = rfc8032_key();
    unsigned char sk[32], pk[32], sig[64];
    size_t len = 0, pklen = sizeof(pk);
    unsigned char *d = consent_b64url_decode(RFC8037_D, &len);
    char *x, *s;

    /* The JWK "d" is the RFC 8032 secret and "x" its public key. */
    from_hex(RFC8032_SK, sk, sizeof(sk));
    ck_assert_ptr_nonnull(d);
    ck_assert_uint_eq(len, 32);
    ck_assert_mem_eq(d, sk, 32);
    free(d);
    ck_assert_int_eq(EVP_PKEY_get_raw_public_key(key, pk, &pklen), 1);
    x = consent_b64url_encode(pk, pklen);
    ck_assert_str_eq(x, RFC8037_X);
    free(x);

    /* A.4: the signature over the signing input, base64url encoded. */
    raw_sign(key, RFC8037_INPUT, strlen(RFC8037_INPUT), sig);
    s = consent_b64url_encode(sig, sizeof(sig));
    ck_assert_str_eq(s, RFC8037_SIG);
    free(s);

    /* That JWS is validly signed but its payload is not a JSON object, so it is not a receipt. */
    ck_assert_ptr_null(consent_jws_verify(key, RFC8037_INPUT "." RFC8037_SIG));
    EVP_PKEY_free(key);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* JWS */

START_TEST(test_sign_verify)
{
    EVP_PKEY *key = rfc8032_key();
    json_t *payload = json_pack("{s:s, s:i, s:{s:b, s:n}, s:s}", "b", "x", "a", 1, "nested", "z", 1,
                                "y", "member", "m\xc3\xa9");
    json_t *back;
    char *jws, *again, *text;
    size_t len;
    int dots = 0;

    ck_assert_ptr_nonnull(payload);
    jws = consent_jws_sign(key, "k1", payload);
    ck_assert_ptr_nonnull(jws);
    for (const char *p = jws; *p; p++)
        dots += *p == '.';
    ck_assert_int_eq(dots, 2);

    text = jws_part(jws, 0, &len);
    ck_assert_str_eq(text, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"k1\"}");
    free(text);
    text = jws_part(jws, 1, &len);
    ck_assert_str_eq(text, "{\"a\":1,\"b\":\"x\",\"member\":\"m\xc3\xa9\",\"nested\":{\"y\":null,"
                           "\"z\":true}}");
    free(text);
    text = jws_part(jws, 2, &len);
    ck_assert_uint_eq(len, 64);
    free(text);

    back = consent_jws_verify(key, jws);
    ck_assert_ptr_nonnull(back);
    ck_assert(json_equal(back, payload));
    json_decref(back);

    /* Ed25519 is deterministic: the same receipt twice is the same string. */
    again = consent_jws_sign(key, "k1", payload);
    ck_assert_str_eq(again, jws);
    free(again);

    /* A kid that needs JSON escaping stays a well-formed header. */
    again = consent_jws_sign(key, "a\"b\\c", payload);
    ck_assert_ptr_nonnull(again);
    text = jws_part(again, 0, &len);
    ck_assert_str_eq(text, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"a\\\"b\\\\c\"}");
    free(text);
    back = consent_jws_verify(key, again);
    ck_assert_ptr_nonnull(back);
    json_decref(back);
    free(again);

    free(jws);
    json_decref(payload);
    EVP_PKEY_free(key);
}
END_TEST

START_TEST(test_sign_rejects)
{
    EVP_PKEY *key = rfc8032_key();
    EVP_PKEY *x25519 = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    json_t *obj = json_pack("{s:i}", "a", 1);
    json_t *arr = json_pack("[i]", 1);
    json_t *big = json_object();
    char kid[CONSENT_KID_MAX_LEN + 2];
    char *filler, *jws;

    ck_assert_ptr_nonnull(x25519);
    ck_assert_ptr_null(consent_jws_sign(NULL, "k", obj));
    ck_assert_ptr_null(consent_jws_sign(x25519, "k", obj));
    ck_assert_ptr_null(consent_jws_sign(key, NULL, obj));
    ck_assert_ptr_null(consent_jws_sign(key, "", obj));
    ck_assert_ptr_null(consent_jws_sign(key, "k", NULL));
    ck_assert_ptr_null(consent_jws_sign(key, "k", arr));
    ck_assert_ptr_null(consent_jws_sign(key, "bad\xff", obj)); /* not UTF-8 */
    /* A string holding U+0000: verify would refuse the receipt, so it is never signed. */
    json_t *nul = json_object();
    json_object_set_new(nul, "s", json_stringn("a\0b", 3));
    ck_assert_ptr_null(consent_jws_sign(key, "k", nul));
    json_decref(nul);

    memset(kid, 'k', sizeof(kid) - 1);
    kid[CONSENT_KID_MAX_LEN + 1] = '\0';
    ck_assert_ptr_null(consent_jws_sign(key, kid, obj));
    kid[CONSENT_KID_MAX_LEN] = '\0';
    jws = consent_jws_sign(key, kid, obj);
    ck_assert_ptr_nonnull(jws);
    free(jws);

    /* A payload whose receipt would exceed CONSENT_JWS_MAX_LEN. */
    filler = malloc(CONSENT_JWS_MAX_LEN);
    ck_assert_ptr_nonnull(filler);
    memset(filler, 'f', CONSENT_JWS_MAX_LEN - 1);
    filler[CONSENT_JWS_MAX_LEN - 1] = '\0';
    json_object_set_new(big, "f", json_string(filler));
    ck_assert_ptr_null(consent_jws_sign(key, "k", big));
    free(filler);

    ck_assert_ptr_null(consent_jws_verify(x25519, "a.b.c"));
    json_decref(obj);
    json_decref(arr);
    json_decref(big);
    EVP_PKEY_free(x25519);
    EVP_PKEY_free(key);
}
END_TEST

/* Replace the character at pos with another one from the url alphabet. */
static void flip_char(char *s, size_t pos)
{
    s[pos] = s[pos] == 'A' ? 'B' : 'A';
}

START_TEST(test_tamper)
{
    EVP_PKEY *key = rfc8032_key();
    EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    json_t *payload = json_pack("{s:s, s:i}", "member", "m-1", "version", 3);
    json_t *forged = json_pack("{s:s, s:i}", "member", "m-2", "version", 3);
    char *jws = consent_jws_sign(key, "k1", payload);
    char *copy, *h, *p, *s, *body;
    unsigned char *sig;
    json_t *back;
    size_t siglen;

    ck_assert_ptr_nonnull(other);
    ck_assert_ptr_nonnull(jws);
    h = strndup(jws, (size_t)(strchr(jws, '.') - jws));
    s = strdup(strrchr(jws, '.') + 1);

    /* Another payload under the original header and signature. */
    body = json_dumps(forged, JSON_COMPACT | JSON_SORT_KEYS);
    p = consent_b64url_encode((const unsigned char *)body, strlen(body));
    copy = concat3(h, p, s);
    ck_assert_ptr_null(consent_jws_verify(key, copy));
    free(copy);
    free(p);
    free(body);
    json_decref(forged);

    /* One character changed in the header, in the payload, in the signature. */
    copy = strdup(jws);
    flip_char(copy, 5);
    ck_assert_ptr_null(consent_jws_verify(key, copy));
    free(copy);
    copy = strdup(jws);
    flip_char(copy, strlen(h) + 1 + 5);
    ck_assert_ptr_null(consent_jws_verify(key, copy));
    free(copy);
    copy = strdup(jws);
    flip_char(copy, strlen(jws) - 20);
    ck_assert_ptr_null(consent_jws_verify(key, copy));
    free(copy);

    /* One bit flipped in the decoded signature, so it is refused by Ed25519, not by base64url. */
    sig = consent_b64url_decode(s, &siglen);
    ck_assert_ptr_nonnull(sig);
    ck_assert_uint_eq(siglen, 64);
    sig[31] ^= 0x01;
    free(s);
    s = consent_b64url_encode(sig, siglen);
    free(sig);
    copy = strdup(jws);
    strcpy(strrchr(copy, '.') + 1, s);
    ck_assert_ptr_null(consent_jws_verify(key, copy));
    free(copy);

    /* Truncated signature, and the right JWS under the wrong key. */
    copy = strdup(jws);
    copy[strlen(copy) - 4] = '\0';
    ck_assert_ptr_null(consent_jws_verify(key, copy));
    free(copy);
    ck_assert_ptr_null(consent_jws_verify(other, jws));

    /* The untouched JWS still verifies (the rejections above are not a broken verifier). */
    back = consent_jws_verify(key, jws);
    ck_assert_ptr_nonnull(back);
    ck_assert(json_equal(back, payload));
    json_decref(back);

    free(h);
    free(s);
    free(jws);
    json_decref(payload);
    EVP_PKEY_free(other);
    EVP_PKEY_free(key);
}
END_TEST

START_TEST(test_parts)
{
    EVP_PKEY *key = rfc8032_key();
    json_t *payload = json_pack("{s:i}", "a", 1);
    char *jws = consent_jws_sign(key, "k1", payload);
    const char *dot1 = strchr(jws, '.'), *dot2 = strrchr(jws, '.');
    char *h = strndup(jws, (size_t)(dot1 - jws));
    char *p = strndup(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    const char *s = dot2 + 1;
    char buf[1024], *big;
    json_t *ok;

    ck_assert_ptr_null(consent_jws_verify(key, NULL));
    ck_assert_ptr_null(consent_jws_verify(key, ""));
    ck_assert_ptr_null(consent_jws_verify(key, "."));
    ck_assert_ptr_null(consent_jws_verify(key, ".."));
    ck_assert_ptr_null(consent_jws_verify(key, "..."));
    snprintf(buf, sizeof(buf), "%s.%s", h, p); /* two parts */
    ck_assert_ptr_null(consent_jws_verify(key, buf));
    snprintf(buf, sizeof(buf), "%s.%s.", h, p); /* empty signature */
    ck_assert_ptr_null(consent_jws_verify(key, buf));
    snprintf(buf, sizeof(buf), "%s.%s.%s.%s", h, p, s, s); /* four parts */
    ck_assert_ptr_null(consent_jws_verify(key, buf));
    snprintf(buf, sizeof(buf), "%s.%s.%s.", h, p, s); /* trailing separator */
    ck_assert_ptr_null(consent_jws_verify(key, buf));
    snprintf(buf, sizeof(buf), ".%s.%s", p, s); /* empty header */
    ck_assert_ptr_null(consent_jws_verify(key, buf));
    snprintf(buf, sizeof(buf), "%s..%s", h, s); /* empty payload */
    ck_assert_ptr_null(consent_jws_verify(key, buf));
    snprintf(buf, sizeof(buf), "%s.%s.%s==", h, p, s); /* padded signature */
    ck_assert_ptr_null(consent_jws_verify(key, buf));
    snprintf(buf, sizeof(buf), "%s.%s.%s", h, p, s); /* rebuilt from its parts: fine */
    ok = consent_jws_verify(key, buf);
    ck_assert_ptr_nonnull(ok);
    json_decref(ok);

    /* Longer than CONSENT_JWS_MAX_LEN, whatever the content. */
    big = malloc(CONSENT_JWS_MAX_LEN + 2);
    ck_assert_ptr_nonnull(big);
    memset(big, 'A', CONSENT_JWS_MAX_LEN + 1);
    big[CONSENT_JWS_MAX_LEN + 1] = '\0';
    memcpy(big, jws, strlen(jws));
    ck_assert_ptr_null(consent_jws_verify(key, big));
    free(big);

    free(h);
    free(p);
    free(jws);
    json_decref(payload);
    EVP_PKEY_free(key);
}
END_TEST

struct header_case {
    const char *header, *payload;
    bool accept;
};

START_TEST(test_header_and_payload_rules)
{
    static const struct header_case cases[] = {
        {"{\"alg\":\"EdDSA\"}", "{\"a\":1}", true}, /* RFC 8037's minimal header */
        {"{\"kid\":\"x\",\"alg\":\"EdDSA\",\"typ\":\"JOSE\"}", "{}", true},
        {"{\"alg\":\"none\"}", "{\"a\":1}", false},
        {"{\"alg\":\"HS256\"}", "{\"a\":1}", false},
        {"{\"alg\":\"eddsa\"}", "{\"a\":1}", false},
        {"{\"alg\":\"Ed25519\"}", "{\"a\":1}", false},
        {"{\"alg\":null}", "{\"a\":1}", false},
        {"{\"typ\":\"JWT\"}", "{\"a\":1}", false},
        {"{\"alg\":\"EdDSA\",\"crit\":[\"exp\"]}", "{\"a\":1}", false},
        {"{\"alg\":\"none\",\"alg\":\"EdDSA\"}", "{\"a\":1}", false},
        {"[\"EdDSA\"]", "{\"a\":1}", false},
        {"{\"alg\":\"EdDSA\"", "{\"a\":1}", false},
        {"{\"alg\":\"EdDSA\"}", "[1]", false},
        {"{\"alg\":\"EdDSA\"}", "\"text\"", false},
        {"{\"alg\":\"EdDSA\"}", "{\"a\":1,\"a\":2}", false},
        {"{\"alg\":\"EdDSA\"}", "{\"a\":1} x", false},
        {"{\"alg\":\"EdDSA\"}", "Example of Ed25519 signing", false},
    };
    EVP_PKEY *key = rfc8032_key();

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *jws = make_jws(key, cases[i].header, cases[i].payload);
        json_t *got = consent_jws_verify(key, jws);

        if (cases[i].accept) {
            json_t *want = json_loads(cases[i].payload, 0, NULL);

            ck_assert_msg(got != NULL, "refused header %s", cases[i].header);
            ck_assert(json_equal(got, want));
            json_decref(want);
        } else {
            ck_assert_msg(got == NULL, "accepted header %s payload %s", cases[i].header,
                          cases[i].payload);
        }
        json_decref(got);
        free(jws);
    }
    EVP_PKEY_free(key);
}
END_TEST

struct thread_arg {
    EVP_PKEY *key;
    int id;
    int failures;
};

static void *sign_verify_loop(void *p)
{
    struct thread_arg *a = p;

    for (int i = 0; i < 100; i++) {
        json_t *payload = json_pack("{s:i, s:i}", "thread", a->id, "i", i);
        char *jws = consent_jws_sign(a->key, "k", payload);
        json_t *back = jws != NULL ? consent_jws_verify(a->key, jws) : NULL;

        if (back == NULL || !json_equal(back, payload))
            a->failures++;
        json_decref(back);
        free(jws);
        json_decref(payload);
    }
    return NULL;
}

START_TEST(test_threads)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    pthread_t t[4];
    struct thread_arg a[4];

    ck_assert_ptr_nonnull(key);
    for (int i = 0; i < 4; i++) {
        a[i] = (struct thread_arg){key, i, 0};
        ck_assert_int_eq(pthread_create(&t[i], NULL, sign_verify_loop, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
        ck_assert_int_eq(a[i].failures, 0);
    }
    EVP_PKEY_free(key);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* key files */

START_TEST(test_key_create_and_reload)
{
    char *dir = make_tmpdir();
    char *path = path_in(dir, "receipt.key");
    char err[256] = "junk";
    EVP_PKEY *k1, *k2;
    char *pem1, *pem2, kid1[17], kid2[17];
    unsigned char raw1[32], raw2[32];
    size_t len1 = 32, len2 = 32;
    struct stat st;

    umask(0); /* the file must still be 0600 */
    k1 = consent_key_load_or_create(path, err, sizeof(err));
    ck_assert_msg(k1 != NULL, "create failed: %s", err);
    ck_assert_str_eq(err, "");
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert(S_ISREG(st.st_mode));
    ck_assert_uint_eq(st.st_mode & 07777, 0600);
    ck_assert_uint_eq(count_entries(dir), 1); /* no temporary file left behind */

    strcpy(err, "junk");
    k2 = consent_key_load_or_create(path, err, sizeof(err));
    ck_assert_msg(k2 != NULL, "reload failed: %s", err);
    ck_assert_str_eq(err, "");
    ck_assert_int_eq(EVP_PKEY_eq(k1, k2), 1);
    pem1 = consent_key_public_pem(k1);
    pem2 = consent_key_public_pem(k2);
    ck_assert_ptr_nonnull(pem1);
    ck_assert_ptr_nonnull(pem2);
    ck_assert_str_eq(pem1, pem2);
    ck_assert_int_eq(strncmp(pem1, "-----BEGIN PUBLIC KEY-----\n", 27), 0);
    ck_assert_str_eq(pem1 + strlen(pem1) - 25, "-----END PUBLIC KEY-----\n");
    ck_assert_int_eq(EVP_PKEY_get_raw_private_key(k1, raw1, &len1), 1);
    ck_assert_int_eq(EVP_PKEY_get_raw_private_key(k2, raw2, &len2), 1);
    ck_assert_uint_eq(len1, 32);
    ck_assert_mem_eq(raw1, raw2, 32);
    consent_key_id(k1, kid1);
    consent_key_id(k2, kid2);
    ck_assert_str_eq(kid1, kid2);
    ck_assert_uint_eq(strlen(kid1), 16);
    ck_assert_uint_eq(strspn(kid1, "0123456789abcdef"), 16);

    /* A second file gets a different key. */
    free(path);
    path = path_in(dir, "other.key");
    EVP_PKEY_free(k2);
    k2 = consent_key_load_or_create(path, NULL, 0);
    ck_assert_ptr_nonnull(k2);
    ck_assert_int_ne(EVP_PKEY_eq(k1, k2), 1);

    free(pem1);
    free(pem2);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
    free(path);
    rm_tmpdir(dir);
}
END_TEST

/* A file that exists but is not a usable key is an error, and is left as it was. */
static void expect_load_error(const char *path, const char *needle)
{
    char err[512] = "";
    struct stat before, after;
    EVP_PKEY *key;

    ck_assert_int_eq(stat(path, &before), 0);
    key = consent_key_load_or_create(path, err, sizeof(err));
    ck_assert_msg(key == NULL, "loaded a key from %s", path);
    ck_assert_msg(strstr(err, needle) != NULL, "error \"%s\" lacks \"%s\"", err, needle);
    ck_assert_int_eq(stat(path, &after), 0);
    ck_assert_int_eq(before.st_size, after.st_size);
    ck_assert_int_eq(before.st_ino, after.st_ino);
}

START_TEST(test_key_errors)
{
    char *dir = make_tmpdir();
    char *garbage = path_in(dir, "garbage.pem");
    char *x25519 = path_in(dir, "x25519.pem");
    char *enc = path_in(dir, "encrypted.pem");
    char *huge = path_in(dir, "huge.pem");
    char *missing_dir = path_in(dir, "no/such/dir/key.pem");
    char err[512];
    EVP_PKEY *xk = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    EVP_PKEY *ek = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    char *filler;
    FILE *f;

    write_file(garbage, "not a key\n", 10);
    expect_load_error(garbage, "no readable PEM private key");
    expect_load_error(garbage, garbage);

    ck_assert_ptr_nonnull(xk);
    f = fopen(x25519, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(PEM_write_PrivateKey(f, xk, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
    expect_load_error(x25519, "does not hold an Ed25519 key");

    /* An encrypted key must fail, not wait for a passphrase on the terminal. */
    ck_assert_ptr_nonnull(ek);
    f = fopen(enc, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(PEM_write_PKCS8PrivateKey(f, ek, EVP_aes_256_cbc(), "secret", 6, NULL, NULL),
                     1);
    fclose(f);
    expect_load_error(enc, "no readable PEM private key");

    filler = malloc(CONSENT_KEY_FILE_MAX + 1);
    ck_assert_ptr_nonnull(filler);
    memset(filler, '\n', CONSENT_KEY_FILE_MAX + 1);
    write_file(huge, filler, CONSENT_KEY_FILE_MAX + 1);
    free(filler);
    expect_load_error(huge, "bytes");

    expect_load_error(dir, "not a regular file");

    err[0] = 'x';
    ck_assert_ptr_null(consent_key_load_or_create(missing_dir, err, sizeof(err)));
    ck_assert_msg(strstr(err, "No such file or directory") != NULL, "error \"%s\"", err);
    ck_assert_ptr_null(consent_key_load_or_create(NULL, err, sizeof(err)));
    ck_assert_str_eq(err, "no key file path");
    ck_assert_ptr_null(consent_key_load_or_create("", NULL, 0));
    ck_assert_ptr_null(consent_key_public_pem(NULL));

    /* A short error buffer is truncated, not overrun. */
    ck_assert_ptr_null(consent_key_load_or_create(garbage, err, 8));
    ck_assert_uint_eq(strlen(err), 7);

    EVP_PKEY_free(xk);
    EVP_PKEY_free(ek);
    free(garbage);
    free(x25519);
    free(enc);
    free(huge);
    free(missing_dir);
    rm_tmpdir(dir);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* the openssl command line tool as an independent verifier */

START_TEST(test_openssl_cli)
{
    char *dir = make_tmpdir();
    char *keyf = path_in(dir, "receipt.key"), *pubf = path_in(dir, "pub.pem");
    char *inf = path_in(dir, "input.bin"), *sigf = path_in(dir, "sig.bin");
    char *cli_sigf = path_in(dir, "cli_sig.bin"), *cli_keyf = path_in(dir, "cli.key");
    char cmd[4096], out[4096], err[256] = "";
    EVP_PKEY *key, *cli_key;
    json_t *payload =
        json_pack("{s:s, s:s, s:[s,s], s:I}", "member", "m-42", "purpose", "research", "categories",
                  "demographics", "goals", "at", (json_int_t)1700000000);
    char *jws, *pem, *input, *cli_jws;
    unsigned char *sig, *cli_sig;
    json_t *back;
    size_t siglen, cli_siglen;
    FILE *f;

    ck_assert_msg(run("openssl version 2>&1", out, sizeof(out)) == 0 &&
                      strncmp(out, "OpenSSL 3", 9) == 0,
                  "the openssl 3 command line tool is needed for this test; got: %s", out);

    key = consent_key_load_or_create(keyf, err, sizeof(err));
    ck_assert_msg(key != NULL, "%s", err);
    jws = consent_jws_sign(key, "k", payload);
    ck_assert_ptr_nonnull(jws);
    pem = consent_key_public_pem(key);
    ck_assert_ptr_nonnull(pem);
    write_file(pubf, pem, strlen(pem));
    input = strndup(jws, (size_t)(strrchr(jws, '.') - jws));
    write_file(inf, input, strlen(input));
    sig = consent_b64url_decode(strrchr(jws, '.') + 1, &siglen);
    ck_assert_ptr_nonnull(sig);
    ck_assert_uint_eq(siglen, 64);
    write_file(sigf, sig, siglen);

    snprintf(cmd, sizeof(cmd),
             "openssl pkeyutl -verify -pubin -inkey '%s' -rawin -in '%s' -sigfile '%s' 2>&1", pubf,
             inf, sigf);
    ck_assert_int_eq(run(cmd, out, sizeof(out)), 0);
    ck_assert_msg(strstr(out, "Signature Verified Successfully") != NULL, "openssl said: %s", out);

    /* A flipped byte in the signature, then in the signing input, fails. */
    sig[10] ^= 0x80;
    write_file(sigf, sig, siglen);
    ck_assert_int_ne(run(cmd, out, sizeof(out)), 0);
    ck_assert_msg(strstr(out, "Signature Verified Successfully") == NULL, "openssl said: %s", out);
    ck_assert_msg(strstr(out, "Signature Verification Failure") != NULL, "openssl said: %s", out);
    sig[10] ^= 0x80;
    write_file(sigf, sig, siglen);
    input[3] ^= 0x01;
    write_file(inf, input, strlen(input));
    ck_assert_int_ne(run(cmd, out, sizeof(out)), 0);
    ck_assert_msg(strstr(out, "Signature Verification Failure") != NULL, "openssl said: %s", out);
    input[3] ^= 0x01;
    write_file(inf, input, strlen(input));

    /* The other way: openssl signs with our key file; Ed25519 is deterministic, so the signature
     * must be byte for byte ours. */
    snprintf(cmd, sizeof(cmd), "openssl pkeyutl -sign -inkey '%s' -rawin -in '%s' -out '%s' 2>&1",
             keyf, inf, cli_sigf);
    ck_assert_msg(run(cmd, out, sizeof(out)) == 0, "openssl said: %s", out);
    f = fopen(cli_sigf, "rb");
    ck_assert_ptr_nonnull(f);
    cli_sig = malloc(128);
    ck_assert_ptr_nonnull(cli_sig);
    cli_siglen = fread(cli_sig, 1, 128, f);
    fclose(f);
    ck_assert_uint_eq(cli_siglen, 64);
    ck_assert_mem_eq(cli_sig, sig, 64);
    free(cli_sig);

    /* And a key made by openssl loads, and signs receipts that verify. */
    snprintf(cmd, sizeof(cmd), "openssl genpkey -algorithm ed25519 -out '%s' 2>&1", cli_keyf);
    ck_assert_msg(run(cmd, out, sizeof(out)) == 0, "openssl said: %s", out);
    cli_key = consent_key_load_or_create(cli_keyf, err, sizeof(err));
    ck_assert_msg(cli_key != NULL, "%s", err);
    cli_jws = consent_jws_sign(cli_key, "cli", payload);
    ck_assert_ptr_nonnull(cli_jws);
    back = consent_jws_verify(cli_key, cli_jws);
    ck_assert_ptr_nonnull(back);
    ck_assert(json_equal(back, payload));
    json_decref(back);
    ck_assert_ptr_null(consent_jws_verify(key, cli_jws));

    free(cli_jws);
    EVP_PKEY_free(cli_key);
    free(sig);
    free(input);
    free(pem);
    free(jws);
    json_decref(payload);
    EVP_PKEY_free(key);
    free(keyf);
    free(pubf);
    free(inf);
    free(sigf);
    free(cli_sigf);
    free(cli_keyf);
    rm_tmpdir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("receipt");
    TCase *codec = tcase_create("codec");
    TCase *jws = tcase_create("jws");
    TCase *keys = tcase_create("keys");
    SRunner *sr;
    int failed;

    tcase_add_test(codec, test_b64url_rfc4648);
    tcase_add_test(codec, test_b64url_alphabet);
    tcase_add_test(codec, test_b64url_reject);
    tcase_add_test(codec, test_sha256);
    tcase_add_test(jws, test_rfc8032_vector1);
    tcase_add_test(jws, test_rfc8037_example);
    tcase_add_test(jws, test_sign_verify);
    tcase_add_test(jws, test_sign_rejects);
    tcase_add_test(jws, test_tamper);
    tcase_add_test(jws, test_parts);
    tcase_add_test(jws, test_header_and_payload_rules);
    tcase_add_test(jws, test_threads);
    tcase_add_test(keys, test_key_create_and_reload);
    tcase_add_test(keys, test_key_errors);
    tcase_add_test(keys, test_openssl_cli);
    tcase_set_timeout(keys, 60);
    suite_add_tcase(s, codec);
    suite_add_tcase(s, jws);
    suite_add_tcase(s, keys);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
