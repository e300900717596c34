/* example_test.c - the README's example is examples/hello.c, word for word,
 * and it builds and runs with the output it promises. */
#include <stdio.h>

#include "harness.h"
#include "wom.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    CHECK_MSG(f, "cannot open %s", path);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return strdup(buf);
}

TEST(readme_example_is_examples_hello, T_UNIT)
{
    char *readme = slurp(WOM_SOURCE_DIR "/README.md");
    char *ex = slurp(WOM_SOURCE_DIR "/examples/hello.c");
    CHECK_MSG(strstr(readme, ex), "README.md does not contain examples/hello.c verbatim");
    free(readme);
    free(ex);
}

TEST(example_hello_runs, T_UNIT)
{
    FILE *p = popen(WOM_BUILD_DIR "/example_hello", "r");
    CHECK(p);
    char out[256] = {0};
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    CHECK_EQ(pclose(p), 0);
    CHECK_MSG(strcmp(out, "second write: WOM_EWRITTEN\n0: hello\n") == 0, "output: %s", out);
}
