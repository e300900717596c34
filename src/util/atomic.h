/* atomic.h - the one door to <stdatomic.h>. Always the _explicit forms; every
 * acquire/release in the code names its pair in a comment. */
#ifndef WOM_ATOMIC_H
#define WOM_ATOMIC_H

#include <stdatomic.h>
#include <stdint.h>

typedef _Atomic uint64_t wom_a64;
typedef _Atomic uint32_t wom_a32;

#define ld_relaxed(p) atomic_load_explicit((p), memory_order_relaxed)
#define ld_acquire(p) atomic_load_explicit((p), memory_order_acquire)
#define ld_seq(p) atomic_load_explicit((p), memory_order_seq_cst)
#define st_relaxed(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)
#define st_release(p, v) atomic_store_explicit((p), (v), memory_order_release)
#define st_seq(p, v) atomic_store_explicit((p), (v), memory_order_seq_cst)
#define cas_seq(p, e, v)                                                        \
    atomic_compare_exchange_strong_explicit((p), (e), (v), memory_order_seq_cst, \
                                            memory_order_seq_cst)
#define faa_seq(p, v) atomic_fetch_add_explicit((p), (v), memory_order_seq_cst)
#define faa_relaxed(p, v) atomic_fetch_add_explicit((p), (v), memory_order_relaxed)
#define fas_seq(p, v) atomic_fetch_sub_explicit((p), (v), memory_order_seq_cst)
#define xchg_seq(p, v) atomic_exchange_explicit((p), (v), memory_order_seq_cst)

/* Acquire fence: the loads before it (a seqlock reader's plain copy) stay
 * before the loads after it (the re-check). gcc's TSan does not model
 * fences; its builds run on x86, where loads are not reordered with loads,
 * so there a compiler barrier is the same fence. */
#if defined(__SANITIZE_THREAD__)
#define fence_acquire() __asm__ __volatile__("" ::: "memory")
#else
#define fence_acquire() atomic_thread_fence(memory_order_acquire)
#endif

static inline void wom__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif
