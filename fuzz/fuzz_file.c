/*
 * fuzz_file.c - libFuzzer target for a corrupt or hostile shm: space file:
 * the open/validate/read path must answer with a documented error (most
 * often WOM_ECORRUPT), never crash, hang or read outside the file.
 *
 * A template space is built once (regions of both modes, a trimmed log,
 * overwritten registers) in a private directory. The input is a list of
 * patches, 8 bytes each: a 4-byte offset into the first PATCH_SPAN bytes of
 * the file (header, region table, index pages and the first arena chunk's
 * start) and 4 bytes written there. Each run patches the file, opens it
 * (writable, then read-only: the read-only path reads without pins) and
 * reads everything it lists without waiting, then puts the original bytes
 * back (the reads change nothing else: pins return to their counts).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/layout.h"
#include "wom.h"

#define PATCH_SPAN (WOM__CHUNK_SIZE + (64u << 10))
#define MAX_REGIONS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_file: property failed: %s (%s:%d)\n", #cond, \
                    __FILE__, __LINE__);                                       \
            abort();                                                           \
        }                                                                      \
    } while (0)

static char dir[64], path[96], uri[128], ro_uri[136];
static unsigned char *pristine; /* the template's first PATCH_SPAN bytes */

static void remove_all(void)
{
    unlink(path);
    rmdir(dir);
}

/* The template: what a busy space looks like. */
static void build_template(void)
{
    strcpy(dir, "/tmp/wom-fuzzfile-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/space.wom", dir);
    snprintf(uri, sizeof uri, "shm:%s", path);
    snprintf(ro_uri, sizeof ro_uri, "%s;ro", uri);
    atexit(remove_all);
    wom_space *s;
    wom_region *log, *regs, *sparse;
    CHECK(wom_open(uri, &s) == 0);
    CHECK(wom_region_open(s, "log", WOM_ONCE, &log) == 0);
    CHECK(wom_region_open(s, "regs", WOM_MANY, &regs) == 0);
    CHECK(wom_region_open(s, "sparse", WOM_ONCE, &sparse) == 0);
    static unsigned char v[600];
    for (uint64_t i = 0; i < 3000; i++) {
        memset(v, (int)i, sizeof v);
        CHECK(wom_append(log, v, 8 + i % 500, NULL) == 0);
        if (i % 3 == 0)
            CHECK(wom_store(regs, i % 16, v, 8 + i % 90, NULL) == 0);
    }
    CHECK(wom_trim(log, 1100) == 0);
    CHECK(wom_put(sparse, 1ull << 40, "far", 3) == 0);
    CHECK(wom_put(sparse, 7, "near", 4) == 0);
    wom_region_close(log);
    wom_region_close(regs);
    wom_region_close(sparse);
    wom_close(s);
    pristine = malloc(PATCH_SPAN);
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0 && pread(fd, pristine, PATCH_SPAN, 0) == (ssize_t)PATCH_SPAN);
    close(fd);
}

static int allowed(int rc)
{
    return rc == 0 || rc == WOM_ECORRUPT || rc == WOM_EEMPTY || rc == WOM_ETRIMMED ||
           rc == WOM_EABANDONED || rc == WOM_ENOBUFS || rc == WOM_EMODE ||
           rc == WOM_ENOSPC || rc == WOM_EINVAL || rc == WOM_ENAMETOOLONG ||
           rc == WOM_EMSGSIZE || rc == WOM_ENOMEM ||
           rc == WOM_ENOENT; /* read-only: a region whose slot is half-made */
}

struct names {
    int n;
    wom_region_info info[MAX_REGIONS];
};

static int collect(const wom_region_info *in, void *arg)
{
    struct names *ns = arg;
    if (ns->n == MAX_REGIONS)
        return 1;
    ns->info[ns->n++] = *in;
    return 0;
}

/* Read what region `in` says it holds, without waiting. */
static void read_region(wom_space *s, const wom_region_info *in)
{
    wom_region *r;
    int rc = wom_region_open(s, in->name, in->mode, &r);
    CHECK(allowed(rc));
    if (rc)
        return;
    static unsigned char buf[1 << 16];
    size_t len;
    uint64_t ver;
    for (uint64_t a = 0; a < 3200; a++) {
        if (in->mode == WOM_ONCE) {
            CHECK(allowed(wom_get(r, a, buf, sizeof buf, &len, 0)));
            wom_view v;
            if ((rc = wom_get_view(r, a, &v, 0)) == 0)
                wom_view_release(&v);
            CHECK(allowed(rc));
        } else if (a < 32) {
            CHECK(allowed(wom_load(r, a, buf, sizeof buf, &len, &ver)));
        }
    }
    CHECK(allowed(wom_get(r, 1ull << 40, buf, sizeof buf, &len, 0)));
    wom_region_close(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!pristine)
        build_template();
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0);
    for (size_t i = 0; i + 8 <= size; i += 8) {
        uint32_t off;
        memcpy(&off, data + i, 4);
        off %= PATCH_SPAN - 4;
        CHECK(pwrite(fd, data + i + 4, 4, off) == 4);
    }
    for (int ro = 0; ro < 2; ro++) {
        wom_space *s;
        int rc = wom_open(ro ? ro_uri : uri, &s);
        CHECK(allowed(rc));
        if (rc)
            continue;
        struct names ns = {0};
        CHECK(wom_regions(s, collect, &ns) == 0 || ns.n == MAX_REGIONS);
        for (int i = 0; i < ns.n; i++)
            read_region(s, &ns.info[i]);
        wom_close(s);
    }
    CHECK(pwrite(fd, pristine, PATCH_SPAN, 0) == (ssize_t)PATCH_SPAN);
    close(fd);
    return 0;
}
