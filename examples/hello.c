#include <stdio.h>
#include <wom.h>

int main(void)
{
    wom_space *s;
    wom_region *log;
    int rc = wom_open("mem:", &s);
    if (rc || (rc = wom_region_open(s, "greetings", WOM_ONCE, &log))) {
        const char *why = wom_last_error(); /* "" when it has nothing to add */
        fprintf(stderr, "hello: %s%s%s\n", wom_strerror(rc), *why ? ": " : "", why);
        return 1;
    }
    uint64_t addr;
    wom_append(log, "hello", 5, &addr);          /* send = write the next address */
    rc = wom_put(log, addr, "again", 5);         /* write-once: the first write won */
    printf("second write: %s\n", wom_err_name(rc));
    char buf[64];
    size_t len;
    wom_get(log, addr, buf, sizeof buf, &len, -1); /* receive = read the address */
    printf("%llu: %.*s\n", (unsigned long long)addr, (int)len, buf);
    wom_region_close(log);
    wom_close(s);
    return 0;
}
