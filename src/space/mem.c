/* mem.c - the "mem:" scope: the engine on private anonymous memory, shared
 * by the threads of one process. The address range is reserved up front and
 * filled lazily by the kernel; trim gives pages back. */
#include <stdlib.h>
#include <string.h>

#include "space/space.h"
#include "util/plat.h"

#define MEM_DEFAULT_SIZE (64ull << 30)

static void mem_close(struct wom__espace *es)
{
    wom__vm_unmap(es->map, es->map_len);
    free(es);
}

static int mem_open(const char *rest, wom_space **out)
{
    uint64_t size = MEM_DEFAULT_SIZE;
    if (*rest) {
        if (strncmp(rest, ";size=", 6) != 0 || wom__parse_size(rest + 6, &size))
            return WOM_EURI;
    }
    if (size < WOM__MIN_SEGMENT)
        return wom__fail(WOM_EINVAL, "mem: ;size= must be at least %llu bytes",
                         (unsigned long long)WOM__MIN_SEGMENT);
    struct wom__espace *es = calloc(1, sizeof *es);
    if (!es)
        return WOM_ENOMEM;
    es->pub.ops = &wom__engine_ops;
    es->pub.impl = es;
    es->close = mem_close;
    if (wom__vm_reserve(size, &es->map)) {
        free(es);
        return wom__fail(WOM_ENOMEM, "mem: cannot reserve %llu MiB of address space (is "
                         "ulimit -v set?); take a smaller range with mem:;size=, e.g. "
                         "mem:;size=1G", (unsigned long long)(size >> 20));
    }
    es->map_len = size;
    int rc = wom__eng_format(&es->eng, es->map, size, 0);
    if (rc) {
        mem_close(es);
        return rc;
    }
    *out = &es->pub;
    return 0;
}

const struct wom__scope wom__mem_scope = {"mem:", mem_open, NULL};
