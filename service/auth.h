/* Password hashing (PBKDF2-SHA256 via EVP_KDF) and access tokens (RAND_bytes, stored as SHA-256).
 */
#ifndef CC_AUTH_H
#define CC_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#define SVC_HASH_MAX 160
#define SVC_TOKEN_LEN 43 /* 32 bytes base64url, no padding */

/* Hash a password: "pbkdf2-sha256$<iterations>$<salt hex>$<key hex>" into out. Returns 0 or -1. */
int svc_password_hash(const char *password, int iterations, char out[SVC_HASH_MAX]);
/* Derive with explicit salt (for known-answer tests). key receives keylen bytes. */
int svc_pbkdf2_sha256(const char *password, const unsigned char *salt, size_t saltlen,
                      int iterations, unsigned char *key, size_t keylen);
/* Constant-time verification. Returns 1 match, 0 mismatch, -1 malformed stored hash. *needs_rehash
 * is set when the stored iterations are below `iterations`. */
int svc_password_verify(const char *password, const char *stored, int iterations,
                        bool *needs_rehash);
/* A new random token (base64url of 32 random bytes) into out[SVC_TOKEN_LEN + 1]. Returns 0 or -1.
 */
int svc_token_new(char out[SVC_TOKEN_LEN + 1]);
/* SHA-256 of s as lowercase hex. */
void svc_sha256_hex(const char *s, size_t len, char out[65]);
/* A new random (version 4) uuid, lowercase, into out. Returns 0 or -1. */
int svc_uuid4(char out[37]);
/* Random lowercase hex of nbytes random bytes into out (2*nbytes+1). Returns 0 or -1. */
int svc_random_hex(size_t nbytes, char *out);

#endif
