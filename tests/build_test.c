/* build_test.c - properties of the built library itself. */
#include <stdio.h>

#include "harness.h"
#include "wom.h"

TEST(shared_library_exports_only_wom_symbols, T_UNIT)
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
