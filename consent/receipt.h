/* receipt.h - consent receipts: JSON payloads signed as JWS (RFC 7515) with EdDSA/Ed25519
 * (RFC 8037), plus the base64url and SHA-256 helpers they need. OpenSSL 3 EVP only.
 *
 * All functions are thread-safe: the only shared object is the EVP_PKEY, which is only read
 * (every call makes its own EVP_MD_CTX). Load the key once before threads start.
 */
#ifndef CC_RECEIPT_H
#define CC_RECEIPT_H

#include <stddef.h>

#include <jansson.h>
#include <openssl/evp.h>

#define CONSENT_JWS_MAX_LEN 65536  /* bytes in a compact JWS, signed or accepted */
#define CONSENT_KID_MAX_LEN 256    /* bytes in a kid header value */
#define CONSENT_KEY_FILE_MAX 16384 /* bytes in a key PEM file */

/* Load an Ed25519 private key from a PEM file; if the file does not exist, generate a key and write
 * it (mode 0600, created atomically: written to a temporary file in the same directory, then
 * linked into place, so a reader never sees a partial file and a concurrent creator's key wins
 * rather than being overwritten). Returns a new EVP_PKEY (caller frees with EVP_PKEY_free) or NULL
 * with errbuf filled (errbuf may be NULL). A file holding anything but an Ed25519 private key is an
 * error, as is a file larger than CONSENT_KEY_FILE_MAX. */
EVP_PKEY *consent_key_load_or_create(const char *path, char *errbuf, size_t errlen);

/* Public key as PEM (SubjectPublicKeyInfo). Returns a new malloc'd NUL-terminated string (caller
 * frees), or NULL. */
char *consent_key_public_pem(EVP_PKEY *key);

/* Sign a JSON object (borrowed) as JWS compact serialization (RFC 7515) with alg EdDSA (RFC 8037):
 * header {"alg":"EdDSA","typ":"JWT","kid":"<kid>"} in that order; payload =
 * json_dumps(payload, JSON_COMPACT|JSON_SORT_KEYS); base64url without padding. Returns a new
 * malloc'd string (caller frees), or NULL if key is not Ed25519, kid is NULL, empty or longer than
 * CONSENT_KID_MAX_LEN, payload is not an object or holds a string with U+0000 (which verify
 * refuses), or the result would exceed CONSENT_JWS_MAX_LEN. */
char *consent_jws_sign(EVP_PKEY *key, const char *kid, const json_t *payload);

/* Verify a compact JWS and return its payload (new reference) or NULL if it is malformed or the
 * signature fails. Accepted only: exactly three non-empty base64url parts (no padding, canonical),
 * at most CONSENT_JWS_MAX_LEN bytes; a header that is a JSON object with "alg":"EdDSA" and no
 * "crit"; a 64-byte signature that verifies under key; a payload that is a JSON object. JSON with
 * duplicate keys is rejected. The kid is not checked (the key decides). */
json_t *consent_jws_verify(EVP_PKEY *key, const char *jws);

/* base64url (RFC 4648 section 5) without padding. encode: new malloc'd NUL-terminated string
 * (caller frees), NULL only on allocation failure or buf == NULL with len > 0. decode: new
 * malloc'd buffer (caller frees; one spare NUL byte after the data) with its length in *outlen, or
 * NULL on bad input: a character outside the url alphabet (including '=' and whitespace), a length
 * of 1 mod 4, or non-zero unused bits in the last character (so each buffer has one encoding). */
char *consent_b64url_encode(const unsigned char *buf, size_t len);
unsigned char *consent_b64url_decode(const char *s, size_t *outlen);

/* SHA-256 of a buffer as lowercase hex into out[65] (NUL-terminated); out is "" on failure. */
void consent_sha256_hex(const void *buf, size_t len, char out[65]);

/* Key id: first 16 hex chars of SHA-256 of the raw public key, into out[17] (NUL-terminated); out
 * is "" if key has no raw public key. */
void consent_key_id(EVP_PKEY *key, char out[17]);

#endif
