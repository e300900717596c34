/*
 * fuzz_uri.c - libFuzzer target for the space URI parser: wom_open and the
 * size parser behind "mem:;size=N[kKmMgGtT]" (wom__parse_size).
 *
 * Input: a URI, optionally followed by a NUL and a value to store. Each run
 * checks properties, not only the absence of crashes:
 *  - wom__parse_size accepts every string of the documented grammar (decimal
 *    digits, one optional unit suffix, no overflow) with the value that
 *    grammar gives, returns only 0 or WOM_EINVAL, and leaves *out alone on
 *    failure, and refuses everything outside that grammar.
 *  - wom_open returns 0, WOM_EURI, WOM_ENOMEM, WOM_EINVAL or WOM_ENOTSUP,
 *    writes *out only on success, and returns exactly the code the URI
 *    calls for: WOM_EURI for an unknown scheme or malformed "mem:" suffix,
 *    WOM_EINVAL for a size below the engine's minimum, WOM_ENOTSUP for
 *    "etcd://" (this program does not link that scope), 0 otherwise.
 *  - An opened space works: a ONCE put/get and a MANY store/load round-trip
 *    the value, a second put loses with WOM_EWRITTEN, and wom_regions lists
 *    both regions. Only a space near the minimum size may answer a write
 *    with WOM_ENOSPC, and then the cell must read as never written.
 * Sizes above SIZE_CAP are not opened: the reservation is lazy, but the
 * harness has no reason to map more address space than plain "mem:" does.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/layout.h"
#include "space/space.h"
#include "wom.h"

#define SIZE_CAP (64ull << 30) /* the default reservation of "mem:" */
#define MIN_SIZE WOM__MIN_SEGMENT /* wom_open's floor */
#define ROOMY_SIZE (sizeof(struct wom__seg_hdr) + 4 * WOM__CHUNK_SIZE)
#define URI_MAX 512
#define VALUE_MAX 1024

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stop the run with a message libFuzzer saves next to the crashing input. */
#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_uri: property failed: %s (%s:%d)\n", #cond,  \
                    __FILE__, __LINE__);                                       \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* The documented size grammar, written independently of wom__parse_size:
 * 1 if s is DIGITS[kKmMgGtT] whose value fits in 64 bits (stored in *out). */
static int ref_size(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    if (p == s)
        return 0;
    static const char units[] = "kKmMgGtT";
    const char *u = *p ? strchr(units, *p) : NULL;
    unsigned shift = u ? 10u * (unsigned)((u - units) / 2 + 1) : 0;
    if (u)
        p++;
    if (*p || v > (UINT64_MAX >> shift))
        return 0;
    *out = v << shift;
    return 1;
}

/* Check wom__parse_size on s against the grammar; returns 1 with the size
 * wom_open will reserve when it parses. */
static int check_parse_size(const char *s, uint64_t *size)
{
    const uint64_t sentinel = 0x5a5a5a5a5a5a5a5aull;
    uint64_t got = sentinel, want = 0;
    int rc = wom__parse_size(s, &got);
    int ok = ref_size(s, &want);
    CHECK(rc == 0 || rc == WOM_EINVAL);
    if (rc) {
        CHECK(got == sentinel);
        CHECK(!ok);
        return 0;
    }
    if (ok)
        CHECK(got == want);
    else
        CHECK(!"wom__parse_size accepted a size outside DIGITS[kKmMgGtT]");
    *size = got;
    return 1;
}

static int count_region(const wom_region_info *in, void *arg)
{
    (void)in;
    ++*(int *)arg;
    return 0;
}

/* An opened space must hold a value in each mode. A space below
 * ROOMY_SIZE may run out (WOM_ENOSPC): every region takes its own arena
 * chunk, and the smallest size wom_open accepts holds only one. */
static void check_space_works(wom_space *s, uint64_t size, const uint8_t *val, size_t len)
{
    uint64_t addr = 0;
    if (len >= 8)
        memcpy(&addr, val, 8);
    int roomy = size >= ROOMY_SIZE;
    static uint8_t buf[VALUE_MAX];
    size_t got = 0;
    wom_region *once, *many;
    CHECK(wom_region_open(s, "fuzz.once", WOM_ONCE, &once) == 0);
    int rc = wom_put(once, addr, val, len);
    CHECK(rc == 0 || (!roomy && rc == WOM_ENOSPC));
    if (rc == 0) {
        CHECK(wom_put(once, addr, "x", 1) == WOM_EWRITTEN);
        CHECK(wom_get(once, addr, buf, sizeof buf, &got, 0) == 0);
        CHECK(got == len && memcmp(buf, val, len) == 0);
    } else {
        CHECK(wom_get(once, addr, buf, sizeof buf, &got, 0) == WOM_EEMPTY);
    }

    CHECK(wom_region_open(s, "fuzz.many", WOM_MANY, &many) == 0);
    uint64_t ver = 0;
    rc = wom_store(many, addr, val, len, &ver);
    CHECK(rc == 0 || (!roomy && rc == WOM_ENOSPC));
    got = 0;
    uint64_t want_ver = rc == 0 ? 1 : 0;
    CHECK(rc != 0 || ver == 1);
    CHECK(wom_load(many, addr, buf, sizeof buf, &got, &ver) == 0 && ver == want_ver);
    CHECK(rc != 0 ? got == 0 : got == len && memcmp(buf, val, len) == 0);

    int n = 0;
    CHECK(wom_regions(s, count_region, &n) == 0 && n == 2);
    wom_region_close(many);
    wom_region_close(once);
}

/* The code wom_open must return for uri: 0, WOM_EURI, WOM_EINVAL or
 * WOM_ENOTSUP; -1 when the harness skips it (a size above SIZE_CAP). *sizep
 * gets the size. */
static int expected_open(const char *uri, uint64_t *sizep)
{
    if (strncmp(uri, "etcd://", 7) == 0)
        return WOM_ENOTSUP; /* a known scheme; the target links libwom only */
    if (strncmp(uri, "mem:", 4) != 0)
        return WOM_EURI;
    const char *rest = uri + 4;
    uint64_t size = 64ull << 30;
    if (*rest) {
        if (strncmp(rest, ";size=", 6) != 0)
            return WOM_EURI;
        if (!check_parse_size(rest + 6, &size))
            return WOM_EURI;
    }
    if (size > SIZE_CAP)
        return -1;
    if (size < MIN_SIZE)
        return WOM_EINVAL;
    *sizep = size;
    return 0;
}

/* shm: URIs name files, so the fuzzed path is replaced by one file in a
 * private directory (the options after ';' are kept and fuzzed). An opened
 * space must work; the file is removed after each run. */
static char shm_dir[64];

static void shm_dir_remove(void) { rmdir(shm_dir); }

static void check_shm(const char *uri, const uint8_t *val, size_t vlen)
{
    static char file[96], real[URI_MAX + 128];
    char *dir = shm_dir;
    if (!dir[0]) {
        strcpy(dir, "/tmp/wom-fuzz-XXXXXX");
        CHECK(mkdtemp(dir) != NULL);
        snprintf(file, sizeof file, "%s/space.wom", dir);
        atexit(shm_dir_remove);
    }
    const char *opts = strchr(uri + 4, ';');
    snprintf(real, sizeof real, "shm:%s%s", file, opts ? opts : "");
    unlink(file);
    wom_space *sentinel = (wom_space *)&dir, *s = sentinel;
    int rc = wom_open(real, &s);
    /* ";ro" opens only what exists, and the file was just removed */
    size_t olen = opts ? strlen(opts) : 0;
    int ro = opts && (strstr(opts, ";ro;") || (olen >= 3 && !strcmp(opts + olen - 3, ";ro")));
    CHECK(rc == 0 || rc == WOM_EURI || rc == WOM_EINVAL || rc == WOM_ENOMEM ||
          (ro && rc == WOM_ENOENT));
    if (rc == 0) {
        check_space_works(s, ROOMY_SIZE, val, vlen);
        wom_close(s);
    } else {
        CHECK(s == sentinel);
    }
    unlink(file);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char uri[URI_MAX + 1];
    const uint8_t *nul = memchr(data, 0, size);
    size_t ulen = nul ? (size_t)(nul - data) : size;
    if (ulen > URI_MAX)
        return -1; /* not added to the corpus */
    memcpy(uri, data, ulen);
    uri[ulen] = '\0';
    const uint8_t *val = nul ? nul + 1 : data;
    size_t vlen = nul ? size - ulen - 1 : 0;
    if (vlen > VALUE_MAX)
        vlen = VALUE_MAX;

    if (strncmp(uri, "shm:", 4) == 0) {
        check_shm(uri, val, vlen);
        return 0;
    }
    uint64_t space_size = 0;
    int want = expected_open(uri, &space_size);
    if (want == -1)
        return 0;
    wom_space *sentinel = (wom_space *)&uri, *s = sentinel;
    int rc = wom_open(uri, &s);
    CHECK(rc == 0 || rc == WOM_EURI || rc == WOM_ENOMEM || rc == WOM_EINVAL ||
          rc == WOM_ENOTSUP);
    if (rc) {
        CHECK(s == sentinel);
        CHECK(rc == want || rc == WOM_ENOMEM);
        return 0;
    }
    CHECK(want == 0);
    CHECK(s && s != sentinel);
    check_space_works(s, space_size, val, vlen);
    wom_close(s);
    return 0;
}
