/* build_test.c - properties of the built library itself: what it exports,
 * its checksum, what its pkg-config file says, and that a program links
 * against the installed library as a new user would link it, dynamically
 * and fully static. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "harness.h"
#include "util/hash.h"
#include "wom.h"

TEST(build_shared_library_exports_only_wom_symbols, T_UNIT)
{
    FILE *p = popen("nm -D --defined-only " WOM_BUILD_DIR "/libwom.so", "r");
    CHECK(p);
    char line[512];
    int exported = 0;
    while (fgets(line, sizeof line, p)) {
        char type, name[400];
        unsigned long long addr;
        if (sscanf(line, "%llx %c %399s", &addr, &type, name) != 3)
            continue;
        CHECK_MSG(strncmp(name, "wom_", 4) == 0 && strncmp(name, "wom__", 5) != 0,
                  "libwom.so exports %s", name);
        exported++;
    }
    CHECK_EQ(pclose(p), 0);
    CHECK_MSG(exported >= 40, "only %d symbols exported", exported);
}

/* The pattern the checksum tests hash: 4096 bytes, byte i = 7 i. */
static const unsigned char *pattern(void)
{
    static unsigned char v[4096];
    for (size_t i = 0; i < sizeof v; i++)
        v[i] = (unsigned char)(i * 7);
    return v;
}

/* The checksum is the low half of XXH3-64, whichever of xxHash's entries
 * computes it (util/hash.c), so a space file stays valid for every build.
 * The sizes take XXH3's four paths (empty, up to 128, up to 240, long). */
TEST(build_value_checksum_is_xxh3_low_half, T_UNIT)
{
    static const struct {
        size_t n;
        uint32_t sum;
    } known[] = {{0, 0x38d394c2u}, {100, 0xf19d012eu}, {200, 0x7285e96au}, {4096, 0x9e810965u}};
    for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
        CHECK_MSG(wom__value_sum(pattern(), known[k].n) == known[k].sum, "%zu bytes: %08x",
                  known[k].n, (unsigned)wom__value_sum(pattern(), known[k].n));
}

/* ---- Installed, as a new user gets it ---------------------------------- */

/* Run the shell command made of fmt, its output (stdout and stderr) into
 * out (its first cap - 1 bytes; the rest is read and dropped); returns
 * its exit status. */
__attribute__((format(printf, 3, 4))) static int sh(char *out, size_t cap, const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof cmd - 8, fmt, ap);
    va_end(ap);
    CHECK(n > 0 && (size_t)n < sizeof cmd - 8);
    strcat(cmd, " 2>&1");
    FILE *p = popen(cmd, "r");
    CHECK(p);
    size_t len = fread(out, 1, cap - 1, p);
    out[len] = 0;
    /* Drain the rest: closing the pipe early would kill a chatty command
     * (cmake --install prints a line per file) with SIGPIPE. */
    char rest[4096];
    while (fread(rest, 1, sizeof rest, p) > 0) {
    }
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

struct prefix {
    char dir[32];
    char env[160]; /* PKG_CONFIG_PATH=... for a command line */
    char libdir[96];
};

/* Install the build tree into a new temporary prefix, as `make install
 * PREFIX=DIR` does. */
static void install_tmp(struct prefix *p)
{
    char out[4096];
    snprintf(p->dir, sizeof p->dir, "/tmp/wom-install-XXXXXX");
    CHECK(mkdtemp(p->dir));
    snprintf(p->libdir, sizeof p->libdir, "%s/%s", p->dir, WOM_INSTALL_LIBDIR);
    snprintf(p->env, sizeof p->env, "PKG_CONFIG_PATH=%s/pkgconfig", p->libdir);
    int rc = sh(out, sizeof out, "cmake --install '%s' --prefix '%s'", WOM_BUILD_DIR, p->dir);
    CHECK_MSG(rc == 0, "install: %s", out);
}

static void remove_tmp(const struct prefix *p)
{
    char out[256];
    CHECK(sh(out, sizeof out, "rm -rf '%s'", p->dir) == 0);
}

/* Build source file src into DIR/name with `cc [-static] SRC $(pkg-config
 * [--static] --cflags --libs wom)`, checking it links. */
static void link_program(const struct prefix *p, const char *src, const char *name,
                         int fully_static)
{
    char out[8192];
    int rc;
    if (fully_static)
        rc = sh(out, sizeof out,
                "export %s; cc -static '%s' $(pkg-config --static --cflags --libs wom) -o '%s/%s'",
                p->env, src, p->dir, name);
    else
        rc = sh(out, sizeof out,
                "export %s; cc '%s' $(pkg-config --cflags --libs wom) -Wl,-rpath,'%s' -o '%s/%s'",
                p->env, src, p->libdir, p->dir, name);
    CHECK_MSG(rc == 0, "linking %s%s failed:\n%s", name, fully_static ? " -static" : "", out);
}

/* Write text to DIR/name.c and link it as DIR/name and DIR/name-static. */
static void link_source(const struct prefix *p, const char *text, const char *name)
{
    char src[128], st[64];
    snprintf(src, sizeof src, "%s/%s.c", p->dir, name);
    FILE *f = fopen(src, "w");
    CHECK(f && fputs(text, f) >= 0 && fclose(f) == 0);
    snprintf(st, sizeof st, "%s-static", name);
    link_program(p, src, name, 0);
    link_program(p, src, st, 1);
}

/* wom.pc: the installed prefix, threads public, xxHash only for a static
 * link (libwom.so brings its own). */
TEST(build_pkg_config_keeps_xxhash_private, T_UNIT)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return; /* what is installed from here wants the sanitizer's runtime */
#endif
    struct prefix p;
    char out[1024];
    install_tmp(&p);
    CHECK_EQ(sh(out, sizeof out, "%s pkg-config --variable=prefix wom", p.env), 0);
    CHECK_MSG(strncmp(out, p.dir, strlen(p.dir)) == 0 && out[strlen(p.dir)] == '\n',
              "prefix %s, installed in %s", out, p.dir);
    CHECK_EQ(sh(out, sizeof out, "%s pkg-config --libs wom", p.env), 0);
    CHECK_MSG(strstr(out, "-lwom") && strstr(out, "-pthread") && !strstr(out, "xxhash"),
              "pkg-config --libs wom: %s", out);
    CHECK_EQ(sh(out, sizeof out, "%s pkg-config --static --libs wom", p.env), 0);
    CHECK_MSG(strstr(out, "-lwom") && strstr(out, "-lxxhash") > strstr(out, "-lwom"),
              "pkg-config --static --libs wom: %s", out);
    CHECK_EQ(sh(out, sizeof out, "%s pkg-config --print-requires wom", p.env), 0);
    CHECK_MSG(!*out, "public requirements: %s", out);
    CHECK_EQ(sh(out, sizeof out, "%s pkg-config --print-requires-private wom", p.env), 0);
    CHECK_MSG(!strcmp(out, "libxxhash\n"), "private requirements: %s", out);
    remove_tmp(&p);
}

/* The README's example, linked against the installed library with the
 * README's command, and fully static (Debian's libxxhash.a has no
 * dispatching entries: util/hash.c). */
TEST(build_hello_links_dynamically_and_fully_static, T_UNIT)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return;
#endif
    static const char says[] = "second write: WOM_EWRITTEN\n0: hello\n";
    struct prefix p;
    char out[4096];
    install_tmp(&p);
    link_program(&p, WOM_SOURCE_DIR "/examples/hello.c", "hello", 0);
    link_program(&p, WOM_SOURCE_DIR "/examples/hello.c", "hello-static", 1);
    CHECK_EQ(sh(out, sizeof out, "readelf -d '%s/hello'", p.dir), 0);
    CHECK_MSG(strstr(out, "[libwom.so.0]"), "hello does not load libwom.so.0:\n%s", out);
    CHECK_EQ(sh(out, sizeof out, "readelf -d '%s/hello-static'", p.dir), 0);
    CHECK_MSG(strstr(out, "no dynamic section"), "hello-static is not static:\n%s", out);
    for (int k = 0; k < 2; k++) {
        CHECK_EQ(sh(out, sizeof out, "'%s/%s'", p.dir, k ? "hello-static" : "hello"), 0);
        CHECK_MSG(!strcmp(out, says), "%s says: %s", k ? "hello-static" : "hello", out);
    }
    remove_tmp(&p);
}

/* A program that writes values of every XXH3 path into a shm: space, or
 * reads them back through a read-only open (which checks every checksum). */
static const char sums_c[] =
    "#include <stdio.h>\n"
    "#include <string.h>\n"
    "#include <wom.h>\n"
    "int main(int argc, char **argv)\n"
    "{\n"
    "    static unsigned char v[4096], got[4096];\n"
    "    static const size_t sizes[] = {0, 100, 200, 4096};\n"
    "    for (size_t i = 0; i < sizeof v; i++)\n"
    "        v[i] = (unsigned char)(i * 7);\n"
    "    wom_space *s;\n"
    "    wom_region *r;\n"
    "    if (argc != 3 || wom_open(argv[2], &s) || wom_region_open(s, \"v\", WOM_ONCE, &r))\n"
    "        return 2;\n"
    "    int rc = 0, write = !strcmp(argv[1], \"write\");\n"
    "    for (unsigned k = 0; k < 4 && !rc; k++) {\n"
    "        size_t len;\n"
    "        if (write)\n"
    "            rc = wom_put(r, k, v, sizes[k]);\n"
    "        else if (!(rc = wom_get(r, k, got, sizeof got, &len, 0)))\n"
    "            rc = len != sizes[k] || memcmp(got, v, len) ? -1 : 0;\n"
    "        if (rc)\n"
    "            printf(\"%s %u: %s\\n\", argv[1], k, wom_err_name(rc));\n"
    "    }\n"
    "    wom_region_close(r);\n"
    "    wom_close(s);\n"
    "    return rc ? 1 : 0;\n"
    "}\n";

/* A space file written by a fully static program (XXH3_64bits) reads back
 * intact in a dynamically linked one (the dispatching entry), and the
 * other way round. */
TEST(build_static_and_shared_programs_share_checksums, T_UNIT)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return;
#endif
    struct prefix p;
    char out[4096];
    install_tmp(&p);
    link_source(&p, sums_c, "sums");
    for (int k = 0; k < 2; k++) {
        const char *writer = k ? "sums" : "sums-static", *reader = k ? "sums-static" : "sums";
        int rc = sh(out, sizeof out, "'%s/%s' write 'shm:%s/%d.wom'", p.dir, writer, p.dir, k);
        CHECK_MSG(rc == 0, "%s: %s", writer, out);
        rc = sh(out, sizeof out, "'%s/%s' read 'shm:%s/%d.wom;ro'", p.dir, reader, p.dir, k);
        CHECK_MSG(rc == 0, "%s reads what %s wrote: %s", reader, writer, out);
    }
    remove_tmp(&p);
}

/* A program linked with libwom alone (no gRPC) asked for an etcd:// space
 * says that this program has no such scope, not "unknown URI". */
static const char etcd_c[] =
    "#include <stdio.h>\n"
    "#include <string.h>\n"
    "#include <wom.h>\n"
    "int main(void)\n"
    "{\n"
    "    wom_space *s;\n"
    "    int rc = wom_open(\"etcd://127.0.0.1:1/p\", &s);\n"
    "    printf(\"%s: %s\\n\", wom_err_name(rc), wom_last_error());\n"
    "    return rc == WOM_ENOTSUP && strstr(wom_last_error(), \"etcd://\") ? 0 : 1;\n"
    "}\n";

TEST(build_libwom_alone_says_it_has_no_etcd_scope, T_UNIT)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return;
#endif
    struct prefix p;
    char out[4096];
    install_tmp(&p);
    link_source(&p, etcd_c, "etcd");
    for (int k = 0; k < 2; k++)
        CHECK_MSG(sh(out, sizeof out, "'%s/%s'", p.dir, k ? "etcd-static" : "etcd") == 0,
                  "%s", out);
    remove_tmp(&p);
}

/* A program linked with libwom_etcd (pkg-config wom-etcd) has the etcd://
 * scope: nothing listens on port 1, so the open fails as a connection
 * does (WOM_ENOTCONN), and the scope's sentence reaches wom_last_error
 * (the shared libwom_etcd keeps its own copy and hands it over). Linked
 * against the shared libraries, and against the archives of both. */
static const char etcd_linked_c[] =
    "#include <stdio.h>\n"
    "#include <string.h>\n"
    "#include <wom.h>\n"
    "int main(void)\n"
    "{\n"
    "    wom_space *s;\n"
    "    int rc = wom_open(\"etcd://127.0.0.1:1/p;timeout=300\", &s);\n"
    "    printf(\"%s: %s\\n\", wom_err_name(rc), wom_last_error());\n"
    "    return rc == WOM_ENOTCONN && strstr(wom_last_error(), \"no endpoint\") ? 0 : 1;\n"
    "}\n";

TEST(build_libwom_etcd_brings_the_etcd_scope, T_UNIT)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return;
#endif
    if (access(WOM_BUILD_DIR "/libwom_etcd.so", F_OK))
        wom_test_skip("this build has no etcd:// scope (gRPC not found: sh scripts/deps.sh etcd)");
    struct prefix p;
    char out[8192], src[128];
    install_tmp(&p);
    snprintf(src, sizeof src, "%s/etcd_linked.c", p.dir);
    FILE *f = fopen(src, "w");
    CHECK(f && fputs(etcd_linked_c, f) >= 0 && fclose(f) == 0);
    int rc = sh(out, sizeof out,
                "export %s; cc '%s' $(pkg-config --cflags --libs wom-etcd) -Wl,-rpath,'%s' "
                "-o '%s/etcd_linked'",
                p.env, src, p.libdir, p.dir);
    CHECK_MSG(rc == 0, "linking with wom-etcd failed:\n%s", out);
    rc = sh(out, sizeof out,
            "export %s; cc '%s' $(pkg-config --cflags wom-etcd) -Wl,-u,wom__etcd_scope "
            "'%s/libwom_etcd.a' '%s/libwom.a' $(pkg-config --libs grpc libprotobuf-c libxxhash) "
            "-pthread -o '%s/etcd_linked_archives'",
            p.env, src, p.libdir, p.libdir, p.dir);
    CHECK_MSG(rc == 0, "linking the archives failed:\n%s", out);
    for (int k = 0; k < 2; k++)
        CHECK_MSG(sh(out, sizeof out, "'%s/%s'", p.dir,
                     k ? "etcd_linked_archives" : "etcd_linked") == 0,
                  "%s", out);
    remove_tmp(&p);
}
