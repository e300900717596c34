/*
 * harness.h - wom's own small test harness (no copied framework).
 *
 * TEST(name, flags) { ... } registers a test; CHECK* record a failure and end
 * the test. Every test runs in its own child process with a timeout, so a
 * crash or a hang fails that test only. Tests flagged T_CONCURRENT are the
 * ones rerun under ASan+UBSan and TSan (`wom_tests --concurrent`).
 *
 * Tests flagged T_CONFORM are the conformance suite: the contract of
 * include/wom.h that every scope keeps. They use the public API only and
 * open their spaces through wom_test_space, so `wom_tests --uri URI` runs
 * them on the scope URI names (main.c says how a URI names a fresh space)
 * and `--conformance` runs only them. What one scope alone promises (crash
 * fencing, read-only maps) stays in that scope's own tests.
 */
#ifndef WOM_TEST_HARNESS_H
#define WOM_TEST_HARNESS_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wom.h"

enum { T_UNIT = 0, T_CONCURRENT = 1, T_SLOW = 2, T_CONFORM = 4 };

typedef void (*wom_test_fn)(void);
void wom_test_register(const char *name, int flags, int timeout_s, wom_test_fn fn);
void wom_test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));
/* Scale for loop counts: 1.0 normally, smaller under sanitizers
 * (environment WOM_TEST_SCALE) and much smaller on etcd:// (tests/main.c's
 * ETCD_SCALE). Never below 1 iteration. */
uint64_t wom_test_n(uint64_t n);
/* A per-run seed (WOM_TEST_SEED or time), printed by a failing test. */
uint64_t wom_test_seed(void);
uint64_t wom_test_rand(uint64_t *state);
/* Monotonic nanoseconds. */
int64_t wom_test_now_ns(void);

/* The scope under test (wom_tests --uri; mem: by default): "mem" or "shm". */
const char *wom_test_scope(void);
/* Open a fresh, empty space of the scope under test. opts are URI options
 * every scope takes, each with its leading ';' (";size=64M"), or NULL; one
 * replaces the runner's option of that name. Returns wom_open's error. The
 * caller owns *out and closes it with wom_test_space_close. */
int wom_test_space(const char *opts, wom_space **out);
/* Another handle to the space of handle s (from either function): on shm:
 * a new open of its file, as another process would make; on mem:, whose
 * spaces cannot be opened twice, s itself, counted. Close each handle with
 * wom_test_space_close. */
int wom_test_space_again(wom_space *s, wom_space **out);
/* Close a handle; the last handle of a space also removes its file. */
void wom_test_space_close(wom_space *s);
/* A shell command the runner runs if the test's process ends before it
 * cleared it (a timeout, a crash, the runner stopped by SIGINT or SIGTERM,
 * which SIGKILLs the test): what it started that would outlive it, such as
 * etcd members, goes too. NULL clears it; one at a time, the last wins. */
void wom_test_on_abandon(const char *cmd);
/* End the running test as skipped on this scope: the runner prints
 * "skipped on SCOPE: " and the reason, and counts the test as passed. For
 * a contract this scope does not (yet) keep; say why, and name the issue. */
void wom_test_skip(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* Skip where this program has no etcd:// scope (built without gRPC). */
static inline void need_scope(void)
{
    wom_space *s = NULL;
    if (wom_open("etcd://", &s) == WOM_ENOTSUP)
        wom_test_skip("this build has no etcd:// scope (gRPC not found: sh scripts/deps.sh etcd)");
}

#define TEST_T(name, flags, timeout_s)                                         \
    static void test_##name(void);                                             \
    __attribute__((constructor)) static void test_reg_##name(void)             \
    {                                                                          \
        wom_test_register(#name, (flags), (timeout_s), test_##name);           \
    }                                                                          \
    static void test_##name(void)
#define TEST(name, flags) TEST_T(name, flags, 120)

#define CHECK(c)                                                               \
    do {                                                                       \
        if (!(c))                                                              \
            wom_test_fail(__FILE__, __LINE__, "CHECK(%s)", #c);                \
    } while (0)
#define CHECK_MSG(c, ...)                                                      \
    do {                                                                       \
        if (!(c))                                                              \
            wom_test_fail(__FILE__, __LINE__, __VA_ARGS__);                    \
    } while (0)
#define CHECK_EQ(a, b)                                                         \
    do {                                                                       \
        long long a_ = (long long)(a), b_ = (long long)(b);                    \
        if (a_ != b_)                                                          \
            wom_test_fail(__FILE__, __LINE__, "%s == %s (%lld vs %lld)", #a,   \
                          #b, a_, b_);                                         \
    } while (0)
#define CHECK_OK(e)                                                            \
    do {                                                                       \
        int r_ = (e);                                                          \
        if (r_ != 0)                                                           \
            wom_test_fail(__FILE__, __LINE__, "%s failed: %d (%s)", #e, r_,    \
                          wom_err_name(r_));                                   \
    } while (0)
#define CHECK_ERR(e, want)                                                     \
    do {                                                                       \
        int r_ = (e), w_ = (want);                                             \
        if (r_ != w_)                                                          \
            wom_test_fail(__FILE__, __LINE__, "%s: got %d (%s), want %s", #e,  \
                          r_, wom_err_name(r_), #want);                        \
    } while (0)

#endif
