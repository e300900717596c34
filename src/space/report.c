/* report.c - what every scope shares to explain itself: the sentence of a
 * failed open (wom_last_error) and the check of region names. Apart from
 * space.c so that a scope built as a library of its own (libwom_etcd)
 * carries a private copy and hands its sentence over (wom__scope.why). */
#include <stdarg.h>
#include <stdio.h>

#include "space/space.h"

/* The explanation of this thread's last failed wom_open. */
static _Thread_local char last_error[512];

char *wom__last_error_buf(void) { return last_error; }

int wom__fail(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return err;
}

/* A name is printable: names are shown by tools and read back from files
 * and clusters that others may write, so control bytes are refused at the
 * source. */
int wom__name_ok(const char *name, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return 0;
    return n > 0;
}
