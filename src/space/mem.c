/* mem.c - the "mem:" scope: the engine on private anonymous memory, shared
 * by the threads of one process. The address range is reserved up front and
 * filled lazily by the kernel; trim gives pages back. */
#include <stdlib.h>
#include <string.h>

#include "space/space.h"
#include "util/plat.h"

#define MEM_DEFAULT_SIZE (64ull << 30)

static void mem_close(wom_space *s);

static int mem_open(const char *rest, wom_space **out)
{
    uint64_t size = MEM_DEFAULT_SIZE;
    if (*rest) {
        if (strncmp(rest, ";size=", 6) != 0 || wom__parse_size(rest + 6, &size))
            return WOM_EURI;
    }
    wom_space *s = calloc(1, sizeof *s);
    if (!s)
        return WOM_ENOMEM;
    s->scope = &wom__mem_scope;
    s->ops = &wom__engine_ops;
    int rc = wom__vm_reserve(size, &s->map);
    if (rc) {
        free(s);
        return wom__fail(WOM_ENOMEM, "mem: cannot reserve %llu MiB of address space (is "
                         "ulimit -v set?); take a smaller range with mem:;size=, e.g. "
                         "mem:;size=1G", (unsigned long long)(size >> 20));
    }
    s->map_len = size;
    if ((rc = wom__eng_format(&s->eng, s->map, size, 0))) {
        mem_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

static void mem_close(wom_space *s)
{
    wom__vm_unmap(s->map, s->map_len);
    free(s);
}

const struct wom__scope wom__mem_scope = {"mem:", mem_open, mem_close, NULL};
