/* fault.h - survive a shared file that shrinks under its mapping.
 *
 * A MAP_SHARED page the file no longer backs (another process truncated it;
 * or reading it failed) raises SIGBUS on access, and nothing stops another
 * process from truncating a space file (only memfds can be sealed). In a
 * watched mapping that SIGBUS becomes a private zero page and a flag its
 * owner reports as WOM_ECORRUPT. Other SIGBUS go to the handler that was
 * installed before wom's, or kill the process as they would have.
 *
 * wom's handler stays installed once the first watch put it there. A program
 * that installs its own SIGBUS handler later must chain to the one it
 * replaces (sigaction's old action), or watched mappings lose the guard.
 * Only accesses by the CPU fault: a system call given an address in a
 * vanished page (futex, write, msync) fails with EFAULT and sets no flag.
 * The contents of replaced pages mean nothing: two threads that fault on
 * one page at once may each map a zero page, and a write into the first
 * vanishes; stores into pages that sealing had made read-only in a writable
 * watch now land in private memory. Only the flag counts.
 */
#ifndef WOM_FAULT_H
#define WOM_FAULT_H

#include <stddef.h>

#include "util/atomic.h"

enum { WOM_FAULT_MAX = 256 }; /* watches at once, per process */

/* Watch [base, base+len), a MAP_SHARED file mapping whose pages have
 * protection prot: a SIGBUS from an access inside it (BUS_ADRERR) stores 1
 * in *broken, then maps a private zero page with prot over the faulting
 * page, so the access completes. The faulting thread sees the flag in
 * program order; another thread that reads the zero page and then loads
 * *broken with acquire sees it too: the store (release) precedes the mmap
 * system call, and no thread gets the new page before the kernel installed
 * it (an order C11 does not model and Linux gives). When watches overlap,
 * the narrowest one around the address decides (a read-only mapping with
 * one writable page may watch that page again with its own prot). Installs
 * the process's SIGBUS handler on first use. *broken must outlive the watch.
 * 0, WOM_EINVAL (base or broken NULL, len 0), WOM_ENOMEM (WOM_FAULT_MAX
 * watches already), WOM_ENOTSUP (the handler could not be installed, e.g.
 * ASAN_OPTIONS=handle_sigbus=2 keeps SIGBUS to the sanitizer): the mapping
 * is then unguarded, as without wom. */
int wom__fault_watch(void *base, size_t len, int prot, wom_a32 *broken);
/* Stop every watch that starts at base (call it before munmap). The caller
 * guarantees that no thread still accesses the watched range. */
void wom__fault_unwatch(void *base);

#endif
