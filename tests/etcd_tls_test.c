/* etcd_tls_test.c - the etcd:// scope's security options: TLS (;cacert=,
 * ;cert=, ;key=) and etcd's users (;user=, ;password-file=).
 *
 * The option parser and the loader of the options' files are tested on
 * their own (no etcd needed). The rest runs against a single etcd member of
 * its own, serving TLS only and asking for client certificates, with a CA,
 * a server and a client certificate made by openssl for the test (and a
 * second CA that signed none of them); skipped without etcd, etcdctl,
 * openssl or the scope (sh scripts/deps.sh cluster etcd). Each test gets a
 * private directory (certificates, data, logs) and two ports of its own
 * (17000-19799: below cluster_util.h's 20000 on, checked free before use);
 * the body runs in a child with WOM_ETCD_DEBUG=1 whose stderr goes to a
 * file, and whatever becomes of it, the member is killed and the directory
 * removed after; the file is shown when the body failed, and it must never
 * hold a password nor a token (the ones etcd's log names). Readiness is
 * polled with deadlines, never slept for. */
#include "cluster_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "space/etcd_uri.h"

#define SEC 1000000000LL
#define OPENSSL_BIN "/usr/bin/openssl"
#define ETCDCTL_BIN "/usr/bin/etcdctl"

struct tls {
    char dir[64];
    unsigned port;          /* the member's client port; its peer port is port + 1 */
    char base[640];         /* etcd://127.0.0.1:P/tls;cacert=..;cert=..;key=.. */
    char pw[32], bad_pw[32]; /* the root user's password, and a wrong one */
};

/* ---- the parser and the files (no etcd) ------------------------------------ */

static int parse(const char *rest, struct wom__etcd_uri *u)
{
    return wom__etcd_uri_parse(rest, u);
}

static void check_err_has(const char *want)
{
    CHECK_MSG(strstr(wom_last_error(), want), "wom_last_error() lacks '%s': %s", want,
              wom_last_error());
}

static void check_err_lacks(const char *secret)
{
    CHECK_MSG(!strstr(wom_last_error(), secret), "wom_last_error() shows '%s'", secret);
}

/* The contents of path (NUL-terminated, malloc'd; "" when missing). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap + 1);
    CHECK(b);
    if (f) {
        size_t r;
        while ((r = fread(b + n, 1, cap - n, f)) > 0)
            if ((n += r) == cap)
                CHECK((b = realloc(b, (cap *= 2) + 1)));
        fclose(f);
    }
    b[n] = 0;
    return b;
}

/* slurp of dir/name. */
static char *slurp_at(const char *dir, const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return slurp(path);
}

static void remove_dir(const char *dir)
{
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    CHECK(system(rm) == 0);
}

TEST_T(etcd_tls_uri_options_parse, T_UNIT, 10)
{
    struct wom__etcd_uri u;
    CHECK_OK(parse("h:1/p;cacert=/a/ca.pem;cert=c.pem;key=k.pem;user=root;"
                   "password-file=/run/pw;timeout=7", &u));
    CHECK(!strcmp(u.cacert, "/a/ca.pem") && !strcmp(u.cert, "c.pem") && !strcmp(u.key, "k.pem"));
    CHECK(!strcmp(u.user, "root") && !strcmp(u.passfile, "/run/pw"));
    CHECK_EQ(u.op_ns, 7000000);
    CHECK_OK(parse("h:1/p", &u));
    CHECK(!u.cacert[0] && !u.cert[0] && !u.key[0] && !u.user[0] && !u.passfile[0]);
    CHECK_OK(parse("h:1/p;cacert=ca.pem", &u));
    CHECK_OK(parse("h:1/p;user=u;password-file=f", &u)); /* plaintext: allowed */

    CHECK_ERR(parse("h:1/p;cacert=ca;cert=c.pem", &u), WOM_EURI);
    check_err_has(";key=");
    CHECK_ERR(parse("h:1/p;cacert=ca;key=k.pem", &u), WOM_EURI);
    CHECK_ERR(parse("h:1/p;cert=c.pem;key=k.pem", &u), WOM_EURI);
    check_err_has(";cacert=");
    CHECK_ERR(parse("h:1/p;user=root", &u), WOM_EURI);
    check_err_has("password-file=");
    CHECK_ERR(parse("h:1/p;password-file=/pw", &u), WOM_EURI);
    CHECK_ERR(parse("h:1/p;cacert=a;cacert=b", &u), WOM_EURI);
    check_err_has("twice");
    CHECK_ERR(parse("h:1/p;cacert=", &u), WOM_EURI);
    CHECK_ERR(parse("h:1/p;cacert=a\tb", &u), WOM_EURI);
    char big[WOM__ETCD_PATH_MAX + 32];
    snprintf(big, sizeof big, "h:1/p;cacert=%0*d", WOM__ETCD_PATH_MAX, 0);
    CHECK_ERR(parse(big, &u), WOM_EURI);
    CHECK_ERR(parse("h:1/p;tls=1", &u), WOM_EURI);
    check_err_has("password-file=");

    /* A password in the URI is refused, and not repeated. */
    CHECK_ERR(parse("h:1/p;user=root;password=hunter2-secret", &u), WOM_EURI);
    check_err_lacks("hunter2-secret");
    check_err_has("password-file=");
    CHECK_ERR(parse("nohost/p;password=hunter2-secret", &u), WOM_EURI);
    check_err_lacks("hunter2-secret");
    CHECK_ERR(parse("h:1/p;user=root:hunter2-secret;password-file=f", &u), WOM_EURI);
    check_err_lacks("hunter2-secret");
    CHECK_ERR(parse("h:1/p;passwd=hunter2-secret", &u), WOM_EURI);
    check_err_lacks("hunter2-secret");

    /* Through wom_open, where this program has the scope. */
    wom_space *s = NULL;
    int rc = wom_open("etcd://127.0.0.1:1/p;cacert=/nonexistent;cert=/c.pem", &s);
    CHECK_MSG(rc == WOM_EURI || rc == WOM_ENOTSUP, "open: %s", wom_err_name(rc));
}

/* Write n bytes of p to dir/name; returns the path in buf. */
static const char *file_of(const char *dir, const char *name, const void *p, size_t n, char *buf,
                           size_t cap)
{
    snprintf(buf, cap, "%s/%s", dir, name);
    FILE *f = fopen(buf, "wb");
    CHECK_MSG(f, "%s: %s", buf, strerror(errno));
    CHECK(fwrite(p, 1, n, f) == n);
    CHECK(fclose(f) == 0);
    return buf;
}

/* Load the files named by the options of rest ("h:1/p;..."). */
static int load(const char *rest, struct wom__etcd_creds *cr)
{
    struct wom__etcd_uri u;
    CHECK_OK(parse(rest, &u));
    return wom__etcd_creds_load(&u, rest, cr);
}

/* The option opt=path alone (with its partners pointing at good files). */
static int load_one(const char *dir, const char *opt, const char *path,
                    struct wom__etcd_creds *cr)
{
    char rest[1400];
    if (!strcmp(opt, "cacert"))
        snprintf(rest, sizeof rest, "h:1/p;cacert=%s", path);
    else if (!strcmp(opt, "cert"))
        snprintf(rest, sizeof rest, "h:1/p;cacert=%s/ca;cert=%s;key=%s/key", dir, path, dir);
    else if (!strcmp(opt, "key"))
        snprintf(rest, sizeof rest, "h:1/p;cacert=%s/ca;cert=%s/ca;key=%s", dir, dir, path);
    else
        snprintf(rest, sizeof rest, "h:1/p;user=u;password-file=%s", path);
    return load(rest, cr);
}

static const char pem_cert[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
static const char pem_key[] = "-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n";

TEST_T(etcd_tls_option_files_are_checked_and_never_shown, T_UNIT, 10)
{
    char dir[] = "/tmp/wom-tlsfiles-XXXXXX", p[1400], q[128];
    CHECK(mkdtemp(dir));
    file_of(dir, "ca", pem_cert, strlen(pem_cert), p, sizeof p);
    file_of(dir, "key", pem_key, strlen(pem_key), p, sizeof p);
    struct wom__etcd_creds cr;

    /* all good: the contents, the password less its newline */
    file_of(dir, "pw", "Secret-PW-1\r\n", 13, q, sizeof q);
    snprintf(p, sizeof p, "h:1/p;cacert=%s/ca;cert=%s/ca;key=%s/key;user=u;password-file=%s",
             dir, dir, dir, q);
    CHECK_OK(load(p, &cr));
    CHECK(!strcmp(cr.cacert, pem_cert) && !strcmp(cr.cert, pem_cert));
    CHECK(!strcmp(cr.key, pem_key) && !strcmp(cr.password, "Secret-PW-1"));
    wom__etcd_creds_free(&cr);
    CHECK(!cr.cacert && !cr.cert && !cr.key && !cr.password);
    CHECK_OK(load("h:1/p", &cr));
    CHECK(!cr.cacert && !cr.password);

    /* missing */
    snprintf(p, sizeof p, "%s/missing.pem", dir);
    CHECK_ERR(load_one(dir, "cacert", p, &cr), WOM_ENOENT);
    check_err_has(p);
    check_err_has("no such file");
    /* empty */
    CHECK_ERR(load_one(dir, "cert", file_of(dir, "empty", "", 0, p, sizeof p), &cr), WOM_EINVAL);
    check_err_has("empty");
    /* not PEM, and its contents never shown */
    static const char junk[] = "TOP-SECRET-CONTENTS not a certificate\n";
    CHECK_ERR(load_one(dir, "cacert", file_of(dir, "junk", junk, strlen(junk), p, sizeof p), &cr),
              WOM_EINVAL);
    check_err_has("not PEM");
    check_err_lacks("TOP-SECRET");
    /* a key where a certificate belongs, and the other way round */
    snprintf(p, sizeof p, "%s/key", dir);
    CHECK_ERR(load_one(dir, "cert", p, &cr), WOM_EINVAL);
    check_err_has("CERTIFICATE");
    check_err_lacks("MIGH");
    snprintf(p, sizeof p, "%s/ca", dir);
    CHECK_ERR(load_one(dir, "key", p, &cr), WOM_EINVAL);
    check_err_has("PRIVATE KEY");
    static const char enc[] = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMII\n"
                              "-----END ENCRYPTED PRIVATE KEY-----\n";
    CHECK_ERR(load_one(dir, "key", file_of(dir, "enc", enc, strlen(enc), p, sizeof p), &cr),
              WOM_EINVAL);
    check_err_has("unencrypted");
    /* too large (sparse) */
    snprintf(p, sizeof p, "%s/big", dir);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0 && ftruncate(fd, (off_t)WOM__ETCD_PEM_MAX + 1) == 0);
    close(fd);
    CHECK_ERR(load_one(dir, "cacert", p, &cr), WOM_EINVAL);
    check_err_has("larger than");
    /* not a regular file */
    CHECK_ERR(load_one(dir, "cacert", dir, &cr), WOM_EINVAL);
    check_err_has("not a regular file");
    snprintf(p, sizeof p, "%s/fifo", dir);
    CHECK(mkfifo(p, 0600) == 0);
    CHECK_ERR(load_one(dir, "password-file", p, &cr), WOM_EINVAL); /* and no hang */
    /* passwords: empty after its newline, a NUL byte */
    CHECK_ERR(load_one(dir, "password-file", file_of(dir, "nl", "\n", 1, p, sizeof p), &cr),
              WOM_EINVAL);
    check_err_has("empty");
    CHECK_ERR(load_one(dir, "password-file", file_of(dir, "nul", "ab\0cd", 5, p, sizeof p), &cr),
              WOM_EINVAL);
    check_err_has("NUL");
    check_err_lacks("ab");
    /* unreadable (root reads everything) */
    if (geteuid() != 0) {
        file_of(dir, "locked", "Locked-PW\n", 10, p, sizeof p);
        CHECK(chmod(p, 0) == 0);
        CHECK_ERR(load_one(dir, "password-file", p, &cr), WOM_EPERM);
        check_err_has(p);
    }
    remove_dir(dir);
}

/* ---- a TLS member of our own ------------------------------------------------ */

static int port_free(unsigned port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(s >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = bind(s, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(s);
    return ok;
}

/* Two free ports P, P+1 in 17000-19799, the first try from the pid. */
static unsigned pick_ports(void)
{
    for (unsigned i = 0; i < 1400; i++) {
        unsigned p = 17000 + ((unsigned)getpid() + i) % 1400 * 2;
        if (port_free(p) && port_free(p + 1))
            return p;
    }
    CHECK_MSG(0, "no two free ports in 17000-19799");
    return 0;
}

/* A CA, a server and a client certificate it signs (for 127.0.0.1), and a
 * second CA that signs nothing, in t->dir. */
static void make_certs(const struct tls *t)
{
    static const char script[] =
        "set -e; cd \"$1\"; ec='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'\n"
        "for ca in ca other; do\n"
        "  " OPENSSL_BIN " req -x509 $ec -days 2 -subj /CN=wom-test-$ca -keyout $ca.key "
        "-out $ca.pem -addext basicConstraints=critical,CA:TRUE "
        "-addext keyUsage=critical,keyCertSign,cRLSign\n"
        "done\n"
        "for who in server client; do\n"
        "  " OPENSSL_BIN " req $ec -subj /CN=wom-test-$who -keyout $who.key -out $who.csr\n"
        "  printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth,clientAuth\\n' "
        "> $who.ext\n"
        "  " OPENSSL_BIN " x509 -req -in $who.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
        "-days 2 -extfile $who.ext -out $who.pem\n"
        "done\n";
    char path[96], cmd[256];
    file_of(t->dir, "certs.sh", script, strlen(script), path, sizeof path);
    snprintf(cmd, sizeof cmd, "sh %s %s >%s/openssl.log 2>&1", path, t->dir, t->dir);
    if (system(cmd) != 0) {
        char *log = slurp_at(t->dir, "openssl.log");
        remove_dir(t->dir);
        CHECK_MSG(0, "openssl could not make the test's certificates:\n%s", log);
    }
}

/* Start the member: TLS with client certificates on its client port. */
static pid_t start_member(const struct tls *t)
{
    char a[10][700];
    snprintf(a[0], sizeof a[0], "%s/data", t->dir);
    snprintf(a[1], sizeof a[1], "https://127.0.0.1:%u", t->port);
    snprintf(a[2], sizeof a[2], "http://127.0.0.1:%u", t->port + 1);
    snprintf(a[3], sizeof a[3], "tls=http://127.0.0.1:%u", t->port + 1);
    snprintf(a[4], sizeof a[4], "%s/server.pem", t->dir);
    snprintf(a[5], sizeof a[5], "%s/server.key", t->dir);
    snprintf(a[6], sizeof a[6], "%s/ca.pem", t->dir);
    snprintf(a[7], sizeof a[7], "%s/etcd.log", t->dir);
    snprintf(a[8], sizeof a[8], "wom-tls-%d", (int)getpid());
    const char *argv[] = {ETCD_BIN, "--name", "tls", "--data-dir", a[0],
                          "--listen-client-urls", a[1], "--advertise-client-urls", a[1],
                          "--listen-peer-urls", a[2], "--initial-advertise-peer-urls", a[2],
                          "--initial-cluster", a[3], "--initial-cluster-token", a[8],
                          "--cert-file", a[4], "--key-file", a[5], "--trusted-ca-file", a[6],
                          "--client-cert-auth", "--logger=zap", "--log-outputs=stderr", NULL};
    int log = open(a[7], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    CHECK(log >= 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives the test */
        if (dup2(log, 1) < 0 || dup2(log, 2) < 0)
            _exit(127);
        execv(ETCD_BIN, (char *const *)argv);
        _exit(127);
    }
    close(log);
    return pid;
}

/* Whether err shows a token that etcd's log names (etcd logs the tokens
 * it refuses: "invalid auth token", "token":"..."); *n counts them. */
static int token_shown(const char *dir, const char *err, int *n)
{
    char *log = slurp_at(dir, "etcd.log");
    int shown = 0;
    for (char *p = strstr(log, "\"token\":\""); p; p = strstr(p + 1, "\"token\":\"")) {
        char *v = p + 9, *end = strchr(v, '"');
        if (!end || end == v)
            continue;
        *end = 0;
        shown |= strstr(err, v) != NULL;
        (*n)++;
        *end = '"';
    }
    free(log);
    return shown;
}

/* Run body against a fresh TLS member, in a child with its stderr in
 * DIR/stderr.log and WOM_ETCD_DEBUG set, for at most limit_s seconds; then
 * kill the member, check that no password and no token etcd refused (when
 * tokens_refused, there must be some) reached that stderr, and remove the
 * directory. */
static void with_tls(void (*body)(const struct tls *), int limit_s, int tokens_refused)
{
    skip_without_etcd();
    if (access(OPENSSL_BIN, X_OK) || access(ETCDCTL_BIN, X_OK))
        wom_test_skip("openssl or etcdctl is not installed (sh scripts/deps.sh cluster)");
    wom_space *probe = NULL;
    if (wom_open("etcd://", &probe) == WOM_ENOTSUP)
        wom_test_skip("this build has no etcd:// scope (gRPC not found: sh scripts/deps.sh etcd)");
    struct tls t;
    memset(&t, 0, sizeof t);
    snprintf(t.dir, sizeof t.dir, "/tmp/wom-tls-XXXXXX");
    CHECK(mkdtemp(t.dir));
    uint64_t rnd = wom_test_seed() ^ (uint64_t)getpid() << 32;
    snprintf(t.pw, sizeof t.pw, "Pw-%016" PRIx64, wom_test_rand(&rnd));
    snprintf(t.bad_pw, sizeof t.bad_pw, "Bad-%016" PRIx64, wom_test_rand(&rnd));
    make_certs(&t);
    t.port = pick_ports();
    snprintf(t.base, sizeof t.base,
             "etcd://127.0.0.1:%u/tls;cacert=%s/ca.pem;cert=%s/client.pem;key=%s/client.key",
             t.port, t.dir, t.dir, t.dir);
    pid_t member = start_member(&t);
    char log[96];
    snprintf(log, sizeof log, "%s/stderr.log", t.dir);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || dup2(fd, 2) < 0)
            _exit(3);
        setenv("WOM_ETCD_DEBUG", "1", 1); /* its output must not show a secret either */
        body(&t);
        _exit(0);
    }
    int st, done = child_wait(pid, limit_s, &st);
    kill(member, SIGKILL);
    waitpid(member, NULL, 0);
    char *err = slurp(log);
    int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
    if (!ok || !done)
        fprintf(stderr, "--- the body's stderr:\n%s--- end\n", err);
    int leaked = strstr(err, t.pw) || strstr(err, t.bad_pw);
    int tokens = 0, token_leaked = token_shown(t.dir, err, &tokens);
    free(err);
    remove_dir(t.dir);
    CHECK_MSG(done, "the test took more than %d s", limit_s);
    CHECK_MSG(ok, "the test failed (above)");
    CHECK_MSG(!leaked, "a password appeared on stderr (WOM_ETCD_DEBUG=1)");
    CHECK_MSG(!token_leaked, "an auth token appeared on stderr (WOM_ETCD_DEBUG=1)");
    CHECK_MSG(!tokens_refused || tokens > 0, "etcd's log names no refused token, so the "
              "check that none reached stderr checked nothing");
}

/* Open t's space with extra options (each with its ';'), or fail. */
static wom_space *open_tls(const struct tls *t, const char *opts)
{
    char uri[2400];
    CHECK(snprintf(uri, sizeof uri, "%s%s", t->base, opts) < (int)sizeof uri);
    wom_space *s = NULL;
    int rc = wom_open(uri, &s);
    CHECK_MSG(rc == 0, "open %s: %s: %s", uri, wom_err_name(rc), wom_last_error());
    return s;
}

/* Wait, up to 15 s, until the member serves a TLS client. */
static void wait_ready(const struct tls *t)
{
    char uri[1200];
    snprintf(uri, sizeof uri, "%s;timeout=500", t->base);
    int64_t give_up = wom_test_now_ns() + 15 * SEC;
    for (;;) {
        wom_space *s = NULL;
        int rc = wom_open(uri, &s);
        if (rc == 0) {
            wom_close(s);
            return;
        }
        CHECK_MSG(wom_test_now_ns() < give_up, "the TLS member is not up after 15 s: %s: %s",
                  wom_err_name(rc), wom_last_error());
    }
}

/* etcdctl, over TLS with the client certificate, as user (NULL: none);
 * its output goes to DIR/etcdctl.log. Returns its exit status. */
static int etcdctl(const struct tls *t, const char *user, const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             ETCDCTL_BIN " --endpoints=https://127.0.0.1:%u --cacert=%s/ca.pem "
             "--cert=%s/client.pem --key=%s/client.key --dial-timeout=5s --command-timeout=5s "
             "%s%s %s >>%s/etcdctl.log 2>&1",
             t->port, t->dir, t->dir, t->dir, user ? "--user=" : "", user ? user : "", args,
             t->dir);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void check_value(wom_region *r, uint64_t addr, const char *want, int64_t timeout_ns)
{
    char buf[64];
    size_t n = 0;
    int rc = wom_get(r, addr, buf, sizeof buf, &n, timeout_ns);
    CHECK_MSG(rc == 0, "get %" PRIu64 ": %s: %s", addr, wom_err_name(rc), wom_last_error());
    CHECK_MSG(n == strlen(want) && !memcmp(buf, want, n), "addr %" PRIu64 ": %.*s, want %s",
              addr, (int)n, buf, want);
}

/* ---- TLS ------------------------------------------------------------------- */

struct blocked {
    wom_region *r;
    uint64_t addr;
    int rc;
    char buf[64];
    size_t n;
};

static void *blocked_get(void *arg)
{
    struct blocked *b = arg;
    b->rc = wom_get(b->r, b->addr, b->buf, sizeof b->buf, &b->n, 10 * SEC);
    return NULL;
}

/* A get blocked on addr of a (a watch) sees the put of b. */
static void blocked_get_sees_put(wom_region *a, wom_region *b, uint64_t addr, const char *v)
{
    struct blocked bl = {a, addr, -1, "", 0};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, blocked_get, &bl) == 0);
    CHECK_OK(wom_put(b, addr, v, strlen(v)));
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_MSG(bl.rc == 0, "blocked get %" PRIu64 ": %s: %s", addr, wom_err_name(bl.rc),
              wom_last_error());
    CHECK(bl.n == strlen(v) && !memcmp(bl.buf, v, bl.n));
}

static void tls_round_trip(const struct tls *t)
{
    wait_ready(t);
    wom_space *s = open_tls(t, ""), *s2 = open_tls(t, "");
    wom_region *r = NULL, *r2 = NULL;
    CHECK_OK(wom_region_open(s, "log", WOM_ONCE, &r));
    CHECK_OK(wom_region_open(s2, "log", WOM_ONCE, &r2));
    CHECK_OK(wom_put(r, 0, "over tls", 8));
    check_value(r2, 0, "over tls", 0);
    uint64_t addr;
    CHECK_OK(wom_append(r2, "appended", 8, &addr));
    check_value(r, addr, "appended", 0);
    blocked_get_sees_put(r, r2, 100, "watched");
    wom_region_close(r);
    wom_region_close(r2);
    wom_close(s);
    wom_close(s2);
}

TEST_T(etcd_tls_put_get_over_tls, T_UNIT, 30)
{
    with_tls(tls_round_trip, 25, 0);
}

/* Each open fails with WOM_ENOTCONN within its timeout, and says why. */
static void tls_refusals(const struct tls *t)
{
    wait_ready(t);
    struct {
        const char *uri_fmt, *says;
    } cases[] = {
        /* a CA that did not sign the member's certificate */
        {"etcd://127.0.0.1:%1$u/tls;cacert=%2$s/other.pem;cert=%2$s/client.pem;"
         "key=%2$s/client.key;timeout=1000", "no TLS session"},
        /* no client certificate, which the member asks for */
        {"etcd://127.0.0.1:%1$u/tls;cacert=%2$s/ca.pem;timeout=1000", "client certificate"},
        /* plaintext to a TLS member */
        {"etcd://127.0.0.1:%1$u/tls;timeout=1000", ";cacert="},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char uri[1200];
        snprintf(uri, sizeof uri, cases[i].uri_fmt, t->port, t->dir);
        wom_space *s = NULL;
        int64_t t0 = wom_test_now_ns();
        int rc = wom_open(uri, &s);
        double took = (double)(wom_test_now_ns() - t0) / 1e9;
        CHECK_MSG(rc == WOM_ENOTCONN, "%s: %s, want WOM_ENOTCONN", uri, wom_err_name(rc));
        CHECK_MSG(strstr(wom_last_error(), cases[i].says), "%s: the error lacks '%s': %s", uri,
                  cases[i].says, wom_last_error());
        CHECK_MSG(took < 3, "%s: open took %.1f s for a 1 s timeout", uri, took);
    }
    /* cert= without key= never reaches the network */
    char uri[1200];
    snprintf(uri, sizeof uri, "etcd://127.0.0.1:%u/tls;cacert=%s/ca.pem;cert=%s/client.pem",
             t->port, t->dir, t->dir);
    wom_space *s = NULL;
    CHECK_ERR(wom_open(uri, &s), WOM_EURI);
    CHECK(strstr(wom_last_error(), ";key="));
}

TEST_T(etcd_tls_wrong_ca_or_no_cert_is_enotconn, T_UNIT, 30)
{
    with_tls(tls_refusals, 25, 0);
}

/* ---- users ------------------------------------------------------------------ */

/* Turn etcd's authentication on, with user root of password t->pw. */
static void enable_auth(const struct tls *t)
{
    char args[128];
    CHECK_MSG(etcdctl(t, NULL, "role add root") == 0, "etcdctl role add: see etcdctl.log");
    snprintf(args, sizeof args, "user add root --new-user-password=%s", t->pw);
    CHECK_MSG(etcdctl(t, NULL, args) == 0, "etcdctl user add: see etcdctl.log");
    CHECK_MSG(etcdctl(t, NULL, "user grant-role root root") == 0, "etcdctl grant-role");
    CHECK_MSG(etcdctl(t, NULL, "auth enable") == 0, "etcdctl auth enable");
}

static void users(const struct tls *t)
{
    wait_ready(t);
    enable_auth(t);
    char pw[128], bad[128], user[96];
    file_of(t->dir, "pw", t->pw, strlen(t->pw), pw, sizeof pw);
    file_of(t->dir, "badpw", t->bad_pw, strlen(t->bad_pw), bad, sizeof bad);
    snprintf(user, sizeof user, "root:%s", t->pw);

    /* the right password: the user's space works */
    char opts[1024];
    snprintf(opts, sizeof opts, ";user=root;password-file=%s", pw);
    wom_space *a = open_tls(t, opts), *b = open_tls(t, opts);
    wom_region *ra = NULL, *rb = NULL;
    CHECK_OK(wom_region_open(a, "users", WOM_ONCE, &ra));
    CHECK_OK(wom_region_open(b, "users", WOM_ONCE, &rb));
    CHECK_OK(wom_put(ra, 1, "as root", 7));
    check_value(rb, 1, "as root", 0);
    char buf[8];
    size_t n;
    /* a's watch stream, made with the first token (a get that blocks until
     * its timeout has waited on a watch) */
    CHECK_ERR(wom_get(ra, 99, buf, sizeof buf, &n, SEC / 2), WOM_ETIMEDOUT);
    blocked_get_sees_put(ra, rb, 2, "watched as root");

    /* a wrong password: WOM_EPERM, said plainly, no password shown */
    snprintf(opts, sizeof opts, "%s;user=root;password-file=%s", t->base, bad);
    wom_space *s = NULL;
    CHECK_ERR(wom_open(opts, &s), WOM_EPERM);
    check_err_has("etcd refused to authenticate user 'root'");
    check_err_has("invalid user ID or password");
    check_err_lacks(t->bad_pw);
    check_err_lacks(t->pw);
    /* no user: the client certificate's name is no etcd user */
    wom_space *anon = NULL;
    wom_region *rn = NULL;
    int rc = wom_open(t->base, &anon);
    if (rc == 0)
        rc = wom_region_open(anon, "users", WOM_ONCE, &rn);
    CHECK_MSG(rc == WOM_EPERM, "a client without a user: %s, want WOM_EPERM", wom_err_name(rc));
    if (anon)
        wom_close(anon);

    /* Every token goes (etcd forgets its simple tokens when authentication
     * is turned off), as when one lapses or its member restarts: a and b
     * authenticate again, calls and watches alike. */
    CHECK_MSG(etcdctl(t, user, "auth disable") == 0, "etcdctl auth disable");
    CHECK_MSG(etcdctl(t, user, "auth enable") == 0, "etcdctl auth enable");
    CHECK_OK(wom_put(ra, 3, "after", 5));
    check_value(rb, 3, "after", 0);
    blocked_get_sees_put(ra, rb, 4, "watched after");
    /* a new region's watch: a create on a's stream of the old token */
    wom_region *ra2 = NULL, *rb2 = NULL;
    CHECK_OK(wom_region_open(a, "later", WOM_ONCE, &ra2));
    CHECK_OK(wom_region_open(b, "later", WOM_ONCE, &rb2));
    CHECK_ERR(wom_get(ra2, 9, buf, sizeof buf, &n, SEC / 2), WOM_ETIMEDOUT);
    blocked_get_sees_put(ra2, rb2, 0, "watched on a new stream");
    wom_region_close(ra);
    wom_region_close(rb);
    wom_region_close(ra2);
    wom_region_close(rb2);
    wom_close(a);
    wom_close(b);
    /* the debug output shows the refusal that made a authenticate again */
    fflush(stderr);
    char *err = slurp_at(t->dir, "stderr.log");
    int seen = strstr(err, "etcdserver: invalid auth token -> ") != NULL;
    int seen_watch = strstr(err, "refused for the stream's token") != NULL;
    free(err);
    CHECK_MSG(seen, "no call refused for its token in the WOM_ETCD_DEBUG output: were the "
              "tokens dropped?");
    CHECK_MSG(seen_watch, "no watch create refused for its token in the WOM_ETCD_DEBUG output");
}

TEST_T(etcd_tls_user_and_password, T_UNIT, 30)
{
    with_tls(users, 28, 1);
}
