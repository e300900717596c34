/* fault.c - Linux implementation of fault.h.
 *
 * The handler reads a fixed table without locks: every slot is a small
 * seqlock, rewritten by watch/unwatch under a mutex. A slot caught in the
 * middle of a rewrite belongs to a mapping being watched or unwatched, which
 * by contract nobody accesses at that moment, so the handler skips it
 * instead of waiting. Everything the handler calls is async-signal-safe:
 * atomics on lock-free words, and system calls (mmap through syscall(2),
 * sigaction, pthread_sigmask, raise).
 */
#include "util/fault.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "wom.h"

/* The handler may only touch lock-free atomics. */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2 && ATOMIC_LLONG_LOCK_FREE == 2,
               "the SIGBUS handler needs lock-free atomics");
_Static_assert(sizeof(uintptr_t) <= sizeof(uint64_t), "addresses fit a wom_a64");

struct slot {
    wom_a32 seq;    /* odd while watch/unwatch rewrites the slot */
    wom_a32 prot;
    wom_a64 base;   /* 0: free */
    wom_a64 len;
    wom_a64 broken; /* the watcher's flag, a (uintptr_t)(wom_a32 *) */
};

struct watch {
    uintptr_t base, len;
    int prot;
    wom_a32 *broken;
};

static struct slot table[WOM_FAULT_MAX];
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
/* Written once before the handler is installed, read-only after. */
static int installed;
static uintptr_t page_size;
static struct sigaction prev;
/* Set when prev, installed with SA_RESETHAND, has had its one call. */
static wom_a32 prev_spent;

/* ---- the handler's side ---- */

/* Copy slot i into *w if it is in use and was not rewritten while read. */
static int slot_read(int i, struct watch *w)
{
    struct slot *s = &table[i];
    uint32_t seq = ld_acquire(&s->seq); /* pairs with slot_write's closing release */
    if (seq & 1)
        return 0;
    w->base = (uintptr_t)ld_relaxed(&s->base);
    w->len = (uintptr_t)ld_relaxed(&s->len);
    w->prot = (int)ld_relaxed(&s->prot);
    w->broken = (wom_a32 *)(uintptr_t)ld_relaxed(&s->broken);
    fence_acquire(); /* pairs with slot_write's field releases: loads before the re-check */
    return ld_relaxed(&s->seq) == seq && w->base != 0;
}

/* The narrowest watch around addr, into *best. */
static int find(uintptr_t addr, struct watch *best)
{
    int found = 0;
    for (int i = 0; i < WOM_FAULT_MAX; i++) {
        struct watch w;
        if (!slot_read(i, &w) || addr - w.base >= w.len)
            continue;
        if (!found || w.len < best->len)
            *best = w;
        found = 1;
    }
    return found;
}

/* Map a zero page over the watched page at addr: 1 if done. The raw system
 * call, not mmap(3): POSIX does not list mmap(3) as async-signal-safe, and
 * sanitizers intercept it to update their own bookkeeping; syscall(2) is a
 * bare trap that touches nothing but errno, which on_sigbus restores. */
static int replace_page(uintptr_t addr)
{
    struct watch w;
    if (!find(addr, &w))
        return 0;
    uintptr_t page = addr & ~(page_size - 1);
#ifdef SYS_mmap2
    long nr = SYS_mmap2; /* 32-bit ABIs: SYS_mmap is the old one-struct call */
#else
    long nr = SYS_mmap;
#endif
    /* release, and before the page: see fault.h. A failed mmap leaves the
     * flag set in a process that is about to die anyway. */
    st_release(w.broken, 1);
    long p = syscall(nr, page, page_size, w.prot,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    return p != -1; /* out of mappings or memory: die as without wom */
}

/* Restore the default action, so a fault dies where it happened (the
 * re-executed access faults again) and any other SIGBUS as sent. An ignored
 * SIGBUS stays ignored unless it is a fault, which the kernel never lets a
 * process ignore. */
static void default_action(int sig, const siginfo_t *si, int ignored)
{
    int fault = si && si->si_code > 0 && si->si_code != BUS_MCEERR_AO;
    if (ignored && !fault)
        return;
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    if (!fault)
        raise(sig); /* SA_NODEFER: delivered at once */
}

/* Hand the signal to the handler that was installed before wom's, with the
 * signal mask it asked for. */
static void chain(int sig, siginfo_t *si, void *uc)
{
    void (*h)(int) = prev.sa_handler; /* the union's raw value */
    if ((prev.sa_flags & SA_RESETHAND) && xchg_seq(&prev_spent, 1))
        h = SIG_DFL; /* a one-shot handler already had its call */
    if (h == SIG_DFL || h == SIG_IGN) {
        default_action(sig, si, h == SIG_IGN);
        return;
    }
    sigset_t mask = prev.sa_mask, old;
    if (!(prev.sa_flags & SA_NODEFER))
        sigaddset(&mask, sig);
    pthread_sigmask(SIG_BLOCK, &mask, &old);
    if (prev.sa_flags & SA_SIGINFO)
        prev.sa_sigaction(sig, si, uc);
    else
        h(sig);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    int saved = errno;
    if (!si || si->si_code != BUS_ADRERR || !replace_page((uintptr_t)si->si_addr))
        chain(sig, si, uc);
    errno = saved;
}

/* ---- the watchers' side (under table_lock) ---- */

static void slot_write(struct slot *s, const struct watch *w)
{
    uint32_t seq = ld_relaxed(&s->seq);
    st_relaxed(&s->seq, seq + 1);
    /* Each field's release keeps the odd seq before it: a slot_read that
     * loads a new field (then its fence_acquire) re-checks a moved seq. */
    st_release(&s->base, (uint64_t)w->base);
    st_release(&s->len, (uint64_t)w->len);
    st_release(&s->prot, (uint32_t)w->prot);
    st_release(&s->broken, (uint64_t)(uintptr_t)w->broken);
    st_release(&s->seq, seq + 2); /* publishes the fields to slot_read's first load */
}

/* SA_NODEFER: a fault while the handler runs (in a handler it interrupted,
 * or in the chained one) is handled too, rather than killing the process
 * as a blocked fault does; chain() blocks what the old handler asked for. */
static void install(void)
{
    page_size = (uintptr_t)sysconf(_SC_PAGESIZE);
    struct sigaction sa = {.sa_sigaction = on_sigbus};
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGBUS, &sa, &prev))
        return;
    /* A sanitizer that keeps SIGBUS to itself returns 0 but installs
     * nothing: read the handler back. */
    struct sigaction now;
    installed = !sigaction(SIGBUS, NULL, &now) && (now.sa_flags & SA_SIGINFO) &&
                now.sa_sigaction == on_sigbus;
}

int wom__fault_watch(void *base, size_t len, int prot, wom_a32 *broken)
{
    if (!base || !len || !broken)
        return WOM_EINVAL;
    pthread_once(&install_once, install);
    if (!installed)
        return WOM_ENOTSUP;
    struct watch w = {(uintptr_t)base, len, prot, broken};
    int rc = WOM_ENOMEM;
    pthread_mutex_lock(&table_lock);
    for (int i = 0; i < WOM_FAULT_MAX; i++)
        if (ld_relaxed(&table[i].base) == 0) {
            slot_write(&table[i], &w);
            rc = 0;
            break;
        }
    pthread_mutex_unlock(&table_lock);
    return rc;
}

void wom__fault_unwatch(void *base)
{
    static const struct watch none = {0, 0, 0, NULL};
    if (!base)
        return;
    pthread_mutex_lock(&table_lock);
    for (int i = 0; i < WOM_FAULT_MAX; i++)
        if (ld_relaxed(&table[i].base) == (uint64_t)(uintptr_t)base)
            slot_write(&table[i], &none);
    pthread_mutex_unlock(&table_lock);
}
