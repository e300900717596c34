/* etcd_uri.h - the parser of etcd:// URIs, apart from the scope itself
 * (src/space/etcd.c needs gRPC; this does not, so that libwom's fuzz
 * targets reach it).
 *
 *   etcd://H:P[,H:P...]/PREFIX[;timeout=MS][;cache=BYTES]
 *          [;cacert=FILE[;cert=FILE;key=FILE]][;user=NAME;password-file=FILE]
 *
 * rest is what follows "etcd://". Endpoints are HOST:PORT (1 to 16, no
 * blanks or control characters, port 1-65535); PREFIX is 1 to
 * WOM__ETCD_MAX_PREFIX bytes of '/'-separated segments, each non-empty,
 * without control characters, none of the names the scope's own keys use
 * (r, t, f, c, m, nextid), so that no space's keys fall among another's.
 * timeout= is one operation's time in ms (1 to 86400000; default 5000);
 * cache= bounds the cache of written cells (k/M/G suffix; 0 turns it off;
 * default 64M).
 *
 * Security options name files, never secrets, since a URI is printed in
 * errors and seen in ps: cacert= (a PEM CA bundle) turns TLS on, the
 * members' certificates verified against it; cert= and key= (both or
 * neither, and only with cacert=) are the client's certificate and key;
 * user= (1 to WOM__ETCD_USER_MAX bytes) and password-file= (both or
 * neither) authenticate to etcd. A FILE is 1 to WOM__ETCD_PATH_MAX - 1
 * bytes without ';' or control characters. The parser only records the
 * paths (it opens no file, so that fuzzing never does);
 * wom__etcd_creds_load reads them when the space is opened. */
#ifndef WOM_SPACE_ETCD_URI_H
#define WOM_SPACE_ETCD_URI_H

#include <stddef.h>
#include <stdint.h>

#define WOM__ETCD_MAX_ENDPOINTS 16
#define WOM__ETCD_MAX_PREFIX 200
#define WOM__ETCD_EP_MAX 256 /* an endpoint and its NUL */
#define WOM__ETCD_PATH_MAX 1024 /* a FILE of a security option and its NUL */
#define WOM__ETCD_USER_MAX 128
#define WOM__ETCD_PEM_MAX ((size_t)1 << 20) /* the largest cacert=, cert= or key= file */
#define WOM__ETCD_PASSWORD_MAX 1024          /* the largest password file */

struct wom__etcd_uri {
    char eps[WOM__ETCD_MAX_ENDPOINTS][WOM__ETCD_EP_MAX];
    size_t n;
    char prefix[WOM__ETCD_MAX_PREFIX + 1];
    size_t plen;
    int64_t op_ns;  /* ;timeout= in ns */
    uint64_t cache; /* ;cache= in bytes */
    /* Security options: each "" when not given. */
    char cacert[WOM__ETCD_PATH_MAX], cert[WOM__ETCD_PATH_MAX], key[WOM__ETCD_PATH_MAX];
    char user[WOM__ETCD_USER_MAX + 1];
    char passfile[WOM__ETCD_PATH_MAX];
};

/* What the security options' files hold, read by wom__etcd_creds_load:
 * NUL-terminated copies, each NULL when its option is not given. The key
 * and the password are secrets: wom__etcd_creds_free zeroes them. */
struct wom__etcd_creds {
    char *cacert, *cert, *key; /* PEM text */
    char *password;            /* the password file less one trailing newline */
};

/* Parse rest into *out: 0, or WOM_EURI with wom_last_error() saying what
 * is wrong. *out is written in part on failure. */
int wom__etcd_uri_parse(const char *rest, struct wom__etcd_uri *out);

/* Read the files u's security options name into *out (rest is the URI
 * after "etcd://", for messages): 0, or an error with wom_last_error()
 * naming the option, the file and the problem, never its contents:
 * WOM_ENOENT (missing), WOM_EPERM (not readable by this process), WOM_EIO,
 * WOM_ENOMEM, WOM_EINVAL (not a regular file, empty, larger than
 * WOM__ETCD_PEM_MAX or WOM__ETCD_PASSWORD_MAX, not PEM of the right kind,
 * a password with a NUL byte). *out is written in full either way and is
 * freed with wom__etcd_creds_free. */
int wom__etcd_creds_load(const struct wom__etcd_uri *u, const char *rest,
                         struct wom__etcd_creds *out);

/* Zero the secrets of c and free what it holds (its fields become NULL). */
void wom__etcd_creds_free(struct wom__etcd_creds *c);

#endif
