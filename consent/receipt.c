/* receipt.c - Ed25519 key file, JWS compact sign/verify, base64url, SHA-256. */
#include "receipt.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#define ED25519_SIG_LEN 64
#define ED25519_KEY_LEN 32

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* ------------------------------------------------------------------------------------------ */
/* base64url */

char *consent_b64url_encode(const unsigned char *buf, size_t len)
{
    static const size_t tail[3] = {0, 2, 3};
    char *out, *p;
    size_t i;

    if (buf == NULL && len > 0)
        return NULL;
    if (len / 3 > (SIZE_MAX - 4) / 4)
        return NULL;
    out = malloc(len / 3 * 4 + tail[len % 3] + 1);
    if (out == NULL)
        return NULL;
    p = out;
    for (i = 0; i + 3 <= len; i += 3) {
        unsigned long v = (unsigned long)buf[i] << 16 | (unsigned long)buf[i + 1] << 8 | buf[i + 2];

        *p++ = b64url_alphabet[v >> 18 & 63];
        *p++ = b64url_alphabet[v >> 12 & 63];
        *p++ = b64url_alphabet[v >> 6 & 63];
        *p++ = b64url_alphabet[v & 63];
    }
    if (len - i == 1) {
        *p++ = b64url_alphabet[buf[i] >> 2];
        *p++ = b64url_alphabet[(buf[i] & 3) << 4];
    } else if (len - i == 2) {
        unsigned v = (unsigned)buf[i] << 8 | buf[i + 1];

        *p++ = b64url_alphabet[v >> 10 & 63];
        *p++ = b64url_alphabet[v >> 4 & 63];
        *p++ = b64url_alphabet[(v & 15) << 2];
    }
    *p = '\0';
    return out;
}

static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Decode exactly n characters of s. */
static unsigned char *b64url_decode_n(const char *s, size_t n, size_t *outlen)
{
    static const size_t tail[4] = {0, 0, 1, 2};
    unsigned char *out = NULL, *p;
    unsigned long acc = 0;
    bool ok = false;

    if (s == NULL || outlen == NULL || n % 4 == 1)
        goto out;
    out = malloc(n / 4 * 3 + tail[n % 4] + 1);
    if (out == NULL)
        goto out;
    p = out;
    for (size_t i = 0; i < n; i++) {
        int v = b64url_value((unsigned char)s[i]);

        if (v < 0)
            goto out;
        acc = acc << 6 | (unsigned long)v;
        if (i % 4 == 3) {
            *p++ = (unsigned char)(acc >> 16);
            *p++ = (unsigned char)(acc >> 8);
            *p++ = (unsigned char)acc;
            acc = 0;
        }
    }
    /* The unused low bits of the last character must be zero (canonical encoding). */
    if (n % 4 == 2) {
        if ((acc & 15) != 0)
            goto out;
        *p++ = (unsigned char)(acc >> 4);
    } else if (n % 4 == 3) {
        if ((acc & 3) != 0)
            goto out;
        *p++ = (unsigned char)(acc >> 10);
        *p++ = (unsigned char)(acc >> 2);
    }
    *p = '\0';
    *outlen = (size_t)(p - out);
    ok = true;
out:
    if (!ok) {
        free(out);
        out = NULL;
    }
    return out;
}

unsigned char *consent_b64url_decode(const char *s, size_t *outlen)
{
    if (s == NULL)
        return NULL;
    return b64url_decode_n(s, strlen(s), outlen);
}

/* ------------------------------------------------------------------------------------------ */
/* digests and key ids */

void consent_sha256_hex(const void *buf, size_t len, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    out[0] = '\0';
    if (buf == NULL && len > 0)
        return;
    if (EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        return;
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

static bool is_ed25519(EVP_PKEY *key)
{
    return key != NULL && EVP_PKEY_is_a(key, "ED25519");
}

void consent_key_id(EVP_PKEY *key, char out[17])
{
    unsigned char raw[ED25519_KEY_LEN];
    size_t len = sizeof(raw);
    char hex[65];

    out[0] = '\0';
    if (!is_ed25519(key))
        return;
    ERR_set_mark();
    if (EVP_PKEY_get_raw_public_key(key, raw, &len) == 1 && len == sizeof(raw)) {
        consent_sha256_hex(raw, len, hex);
        if (hex[0] != '\0') {
            memcpy(out, hex, 16);
            out[16] = '\0';
        }
    }
    ERR_pop_to_mark();
}

/* Copy a memory BIO's contents into a new NUL-terminated string. */
static char *bio_strdup(BIO *bio)
{
    char *data = NULL, *s;
    long n = BIO_get_mem_data(bio, &data);

    if (n < 0 || data == NULL)
        return NULL;
    s = malloc((size_t)n + 1);
    if (s == NULL)
        return NULL;
    memcpy(s, data, (size_t)n);
    s[n] = '\0';
    return s;
}

char *consent_key_public_pem(EVP_PKEY *key)
{
    BIO *bio = NULL;
    char *pem = NULL;

    if (key == NULL)
        return NULL;
    ERR_set_mark();
    bio = BIO_new(BIO_s_mem());
    if (bio == NULL || PEM_write_bio_PUBKEY(bio, key) != 1)
        goto out;
    pem = bio_strdup(bio);
out:
    BIO_free(bio);
    ERR_pop_to_mark();
    return pem;
}

/* ------------------------------------------------------------------------------------------ */
/* key file */

#define CAUSE_NONE 0
#define CAUSE_SSL (-1) /* the last OpenSSL error */

/* Format an error into errbuf and append its cause: CAUSE_NONE, CAUSE_SSL or an errno value.
 * strerror_r keeps this thread-safe. */
__attribute__((format(printf, 4, 5))) static void set_error(char *errbuf, size_t errlen, int cause,
                                                            const char *fmt, ...)
{
    char why[256] = "", tmp[256];
    unsigned long e;
    va_list ap;
    size_t n;

    if (errbuf == NULL || errlen == 0)
        return;
    if (cause > 0) {
        snprintf(why, sizeof(why), "%s", strerror_r(cause, tmp, sizeof(tmp)));
    } else if (cause == CAUSE_SSL) {
        e = ERR_peek_last_error();
        if (e != 0)
            ERR_error_string_n(e, why, sizeof(why));
    }
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
    n = strlen(errbuf);
    if (why[0] != '\0' && n + 1 < errlen)
        snprintf(errbuf + n, errlen - n, ": %s", why);
}

/* Never prompt for a passphrase: an encrypted key file is an error, not a terminal read. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    return -1;
}

/* Returns the key, or NULL with errbuf set; *missing tells whether the file did not exist. */
static EVP_PKEY *load_key(const char *path, char *errbuf, size_t errlen, bool *missing)
{
    EVP_PKEY *key = NULL;
    unsigned char *buf = NULL;
    BIO *bio = NULL;
    struct stat st;
    size_t have = 0;
    int fd;

    *missing = false;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *missing = errno == ENOENT;
        set_error(errbuf, errlen, errno, "cannot open key file %s", path);
        goto out;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > CONSENT_KEY_FILE_MAX) {
        set_error(errbuf, errlen, CAUSE_NONE,
                  "key file %s is not a regular file of at most %d bytes", path,
                  CONSENT_KEY_FILE_MAX);
        goto out;
    }
    buf = malloc(CONSENT_KEY_FILE_MAX + 1);
    if (buf == NULL) {
        set_error(errbuf, errlen, CAUSE_NONE, "out of memory");
        goto out;
    }
    /* Read to EOF rather than trusting st_size; the file could change under us. */
    for (;;) {
        ssize_t r = read(fd, buf + have, CONSENT_KEY_FILE_MAX + 1 - have);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            set_error(errbuf, errlen, errno, "cannot read key file %s", path);
            goto out;
        }
        if (r == 0)
            break;
        have += (size_t)r;
        if (have > CONSENT_KEY_FILE_MAX) {
            set_error(errbuf, errlen, CAUSE_NONE, "key file %s is larger than %d bytes", path,
                      CONSENT_KEY_FILE_MAX);
            goto out;
        }
    }
    bio = BIO_new_mem_buf(buf, (int)have);
    if (bio == NULL) {
        set_error(errbuf, errlen, CAUSE_NONE, "out of memory");
        goto out;
    }
    key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    if (key == NULL) {
        set_error(errbuf, errlen, CAUSE_SSL, "key file %s holds no readable PEM private key", path);
        goto out;
    }
    if (!is_ed25519(key)) {
        set_error(errbuf, errlen, CAUSE_NONE, "key file %s does not hold an Ed25519 key", path);
        EVP_PKEY_free(key);
        key = NULL;
    }
out:
    BIO_free(bio);
    if (buf != NULL) {
        OPENSSL_cleanse(buf, CONSENT_KEY_FILE_MAX + 1);
        free(buf);
    }
    if (fd >= 0)
        close(fd);
    return key;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w == 0)
            errno = EIO;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Make the new directory entry durable; best effort, as not every file system allows it. */
static void sync_parent(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    size_t n;
    int fd;

    if (slash == NULL) {
        strcpy(dir, ".");
    } else {
        n = slash == path ? 1 : (size_t)(slash - path);
        if (n >= sizeof(dir))
            return;
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* Generate a key and publish it at path. On failure returns NULL with errbuf set; *exists tells
 * whether the failure was someone else creating path first. */
static EVP_PKEY *create_key(const char *path, char *errbuf, size_t errlen, bool *exists)
{
    EVP_PKEY *key = NULL;
    BIO *bio = NULL;
    char tmp[PATH_MAX];
    char *pem = NULL;
    long pemlen = 0;
    int fd = -1;
    bool ok = false;

    *exists = false;
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= sizeof(tmp)) {
        set_error(errbuf, errlen, CAUSE_NONE, "key file path too long");
        tmp[0] = '\0';
        goto out;
    }
    key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    bio = BIO_new(BIO_s_mem());
    if (key == NULL || bio == NULL ||
        PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1 ||
        (pemlen = BIO_get_mem_data(bio, &pem)) <= 0) {
        set_error(errbuf, errlen, CAUSE_SSL, "cannot generate an Ed25519 key");
        tmp[0] = '\0';
        goto out;
    }
    /* mkostemp creates the file 0600; fchmod makes sure of it whatever the umask did. */
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        set_error(errbuf, errlen, errno, "cannot create %s", tmp);
        tmp[0] = '\0';
        goto out;
    }
    if (fchmod(fd, S_IRUSR | S_IWUSR) != 0 || write_all(fd, pem, (size_t)pemlen) != 0 ||
        fsync(fd) != 0) {
        set_error(errbuf, errlen, errno, "cannot write %s", tmp);
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        set_error(errbuf, errlen, errno, "cannot write %s", tmp);
        goto out;
    }
    fd = -1;
    /* link() fails if path exists, unlike rename(): a key another process just made is kept. */
    if (link(tmp, path) != 0) {
        *exists = errno == EEXIST;
        set_error(errbuf, errlen, errno, "cannot create key file %s", path);
        goto out;
    }
    sync_parent(path);
    ok = true;
out:
    if (fd >= 0)
        close(fd);
    if (tmp[0] != '\0')
        unlink(tmp);
    if (pem != NULL)
        OPENSSL_cleanse(pem, (size_t)pemlen);
    BIO_free(bio);
    if (!ok) {
        EVP_PKEY_free(key);
        key = NULL;
    }
    return key;
}

EVP_PKEY *consent_key_load_or_create(const char *path, char *errbuf, size_t errlen)
{
    EVP_PKEY *key = NULL;
    bool missing = false, exists = false;

    if (errbuf != NULL && errlen > 0)
        errbuf[0] = '\0';
    ERR_set_mark();
    if (path == NULL || path[0] == '\0') {
        set_error(errbuf, errlen, CAUSE_NONE, "no key file path");
        goto out;
    }
    key = load_key(path, errbuf, errlen, &missing);
    if (key != NULL || !missing)
        goto out;
    key = create_key(path, errbuf, errlen, &exists);
    if (key == NULL && exists)
        key = load_key(path, errbuf, errlen, &missing);
out:
    if (key != NULL && errbuf != NULL && errlen > 0)
        errbuf[0] = '\0';
    ERR_pop_to_mark();
    return key;
}

/* ------------------------------------------------------------------------------------------ */
/* JWS */

/* "<b64 a>.<b64 b>" as a new string, or NULL. */
static char *join_b64(const char *a, size_t alen, const char *b, size_t blen)
{
    char *ha = NULL, *hb = NULL, *s = NULL;
    size_t la, lb;

    ha = consent_b64url_encode((const unsigned char *)a, alen);
    hb = consent_b64url_encode((const unsigned char *)b, blen);
    if (ha == NULL || hb == NULL)
        goto out;
    la = strlen(ha);
    lb = strlen(hb);
    if (la + lb + 2 > CONSENT_JWS_MAX_LEN)
        goto out;
    s = malloc(la + lb + 2);
    if (s == NULL)
        goto out;
    memcpy(s, ha, la);
    s[la] = '.';
    memcpy(s + la + 1, hb, lb + 1);
out:
    free(ha);
    free(hb);
    return s;
}

char *consent_jws_sign(EVP_PKEY *key, const char *kid, const json_t *payload)
{
    unsigned char sig[ED25519_SIG_LEN];
    size_t siglen = sizeof(sig), inlen, slen;
    json_t *header = NULL, *check = NULL;
    char *hjson = NULL, *pjson = NULL, *input = NULL, *s64 = NULL, *jws = NULL;
    EVP_MD_CTX *ctx = NULL;

    ERR_set_mark();
    if (!is_ed25519(key) || kid == NULL || kid[0] == '\0' ||
        strnlen(kid, CONSENT_KID_MAX_LEN + 1) > CONSENT_KID_MAX_LEN || !json_is_object(payload))
        goto out;
    /* jansson keeps insertion order, so the header reads alg, typ, kid. */
    header = json_pack("{s:s, s:s, s:s}", "alg", "EdDSA", "typ", "JWT", "kid", kid);
    if (header == NULL)
        goto out;
    hjson = json_dumps(header, JSON_COMPACT);
    pjson = json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS);
    if (hjson == NULL || pjson == NULL)
        goto out;
    /* Sign only what verify will accept back: it refuses a payload string holding U+0000. */
    if ((check = json_loads(pjson, JSON_REJECT_DUPLICATES, NULL)) == NULL)
        goto out;
    input = join_b64(hjson, strlen(hjson), pjson, strlen(pjson));
    if (input == NULL)
        goto out;
    inlen = strlen(input);
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) != 1 ||
        EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)input, inlen) != 1 ||
        siglen != sizeof(sig))
        goto out;
    s64 = consent_b64url_encode(sig, siglen);
    if (s64 == NULL)
        goto out;
    slen = strlen(s64);
    if (inlen + 1 + slen > CONSENT_JWS_MAX_LEN)
        goto out;
    jws = malloc(inlen + 1 + slen + 1);
    if (jws == NULL)
        goto out;
    memcpy(jws, input, inlen);
    jws[inlen] = '.';
    memcpy(jws + inlen + 1, s64, slen + 1);
out:
    EVP_MD_CTX_free(ctx);
    json_decref(header);
    json_decref(check);
    free(hjson);
    free(pjson);
    free(input);
    free(s64);
    ERR_pop_to_mark();
    return jws;
}

/* Decode a base64url part and parse it as a JSON object; new reference or NULL. */
static json_t *decode_object(const char *s, size_t n)
{
    unsigned char *buf;
    size_t len;
    json_t *obj;

    buf = b64url_decode_n(s, n, &len);
    if (buf == NULL)
        return NULL;
    obj = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, NULL);
    free(buf);
    if (obj != NULL && !json_is_object(obj)) {
        json_decref(obj);
        obj = NULL;
    }
    return obj;
}

json_t *consent_jws_verify(EVP_PKEY *key, const char *jws)
{
    const char *dot1, *dot2;
    unsigned char *sig = NULL;
    size_t len, siglen = 0;
    json_t *header = NULL, *payload = NULL;
    const char *alg;
    EVP_MD_CTX *ctx = NULL;
    bool ok = false;

    ERR_set_mark();
    if (!is_ed25519(key) || jws == NULL)
        goto out;
    len = strnlen(jws, CONSENT_JWS_MAX_LEN + 1);
    if (len > CONSENT_JWS_MAX_LEN)
        goto out;
    dot1 = memchr(jws, '.', len);
    dot2 = dot1 != NULL ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - jws)) : NULL;
    /* Three non-empty parts; a third dot lands in the signature part, which rejects it. */
    if (dot1 == NULL || dot2 == NULL || dot1 == jws || dot2 == dot1 + 1 || dot2 + 1 == jws + len)
        goto out;

    header = decode_object(jws, (size_t)(dot1 - jws));
    if (header == NULL)
        goto out;
    alg = json_string_value(json_object_get(header, "alg"));
    /* We understand no header extensions, so RFC 7515 4.1.11 says reject any "crit". */
    if (alg == NULL || strcmp(alg, "EdDSA") != 0 || json_object_get(header, "crit") != NULL)
        goto out;

    sig = b64url_decode_n(dot2 + 1, len - (size_t)(dot2 + 1 - jws), &siglen);
    if (sig == NULL || siglen != ED25519_SIG_LEN)
        goto out;
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) != 1 ||
        EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)jws, (size_t)(dot2 - jws)) != 1)
        goto out;

    payload = decode_object(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    ok = payload != NULL;
out:
    EVP_MD_CTX_free(ctx);
    free(sig);
    json_decref(header);
    if (!ok) {
        json_decref(payload);
        payload = NULL;
    }
    ERR_pop_to_mark();
    return payload;
}
