/*
 * harness.h - wom's own small test harness (no copied framework).
 *
 * TEST(name, flags) { ... } registers a test; CHECK* record a failure and end
 * the test. Every test runs in its own child process with a timeout, so a
 * crash or a hang fails that test only. Tests flagged T_CONCURRENT are the
 * ones rerun under ASan+UBSan and TSan (`wom_tests --concurrent`).
 */
#ifndef WOM_TEST_HARNESS_H
#define WOM_TEST_HARNESS_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { T_UNIT = 0, T_CONCURRENT = 1, T_SLOW = 2 };

typedef void (*wom_test_fn)(void);
void wom_test_register(const char *name, int flags, int timeout_s, wom_test_fn fn);
void wom_test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));
/* Scale for loop counts: 1.0 normally, smaller under sanitizers
 * (environment WOM_TEST_SCALE). Never below 1 iteration. */
uint64_t wom_test_n(uint64_t n);
/* A per-run seed (WOM_TEST_SEED or time), printed by a failing test. */
uint64_t wom_test_seed(void);
uint64_t wom_test_rand(uint64_t *state);
/* Monotonic nanoseconds. */
int64_t wom_test_now_ns(void);

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
