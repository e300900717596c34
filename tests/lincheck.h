/*
 * lincheck.h - a linearizability checker for the recorded history of one
 * cell, for any test that records its clients' operations (the stress runs
 * of lincheck_test.c, fault tests over a network).
 *
 * A history is the operations made on one cell, each with its invocation
 * and response times and its outcome. lincheck_cell searches for a
 * sequential order that respects real time (an op that returned before
 * another was invoked comes first) and the sequential specification of a
 * ONCE cell (put/get) or a MANY cell (store/load/cas): the search of Wing
 * and Gong with memoisation of (set of linearized ops, cell state).
 *
 * Values are opaque nonzero 64-bit ids (a test maps each value it writes to
 * one); 0 is the value of a MANY cell never stored (version 0).
 *
 * Outcomes. Besides the codes the specification gives (0, WOM_EWRITTEN,
 * WOM_EEMPTY, WOM_ECONFLICT), an op may end with a failure of the scope:
 *   - a write (put, store, cas) with WOM_EUNKNOWN, WOM_ETIMEDOUT or
 *     WOM_EUNAVAIL is indeterminate: it took effect once, at some point
 *     after its invocation (its response time counts as +infinity), or
 *     never. It returned nothing to match.
 *   - any op with WOM_ENOTCONN did nothing; a load or get that failed with
 *     WOM_EUNKNOWN or WOM_EUNAVAIL (or a load with WOM_ETIMEDOUT) learnt
 *     nothing. Neither constrains the history.
 *   - a get with WOM_ETIMEDOUT saw the cell empty, as WOM_EEMPTY.
 * Any other code is one the specification cannot give: not linearizable.
 */
#ifndef WOM_TEST_LINCHECK_H
#define WOM_TEST_LINCHECK_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "wom.h"

/* The most ops one history may hold (the search's set is 64 bits). */
#define LIN_MAX_OPS 64

enum lin_kind { LIN_PUT, LIN_GET, LIN_STORE, LIN_LOAD, LIN_CAS };

struct lin_op {
    enum lin_kind kind;
    int rc;          /* the call's return: 0 or a WOM_E* code */
    uint64_t arg;    /* PUT, STORE: the value written; CAS: the expected version */
    uint64_t val;    /* CAS: the new value; GET, LOAD: the value read; PUT with
                      * WOM_EWRITTEN: the winner's value, or 0 if not known */
    uint64_t ver;    /* STORE, LOAD, CAS: the version returned */
    int64_t inv, res; /* invocation and response times (one monotonic clock) */
};

/* The ops of one cell, appended by any number of threads. */
struct lin_history {
    struct lin_op ops[LIN_MAX_OPS];
    atomic_int n;
};

/* Append o to h (thread-safe). Read h->ops only once every recording
 * thread is joined. Returns 0, or -1 when h is full (o is not kept). */
int lin_record(struct lin_history *h, const struct lin_op *o);

/* The number of ops h holds (at most LIN_MAX_OPS). */
int lin_count(const struct lin_history *h);

/* Check the history ops[0..n) of one cell of a region of mode `mode`.
 * Returns 1 if it is linearizable, 0 if it is not, -1 if the checker
 * cannot decide (more than LIN_MAX_OPS ops, an op of the other mode, a
 * response before its invocation, or the search's budget of states spent:
 * it is bounded in time and memory whatever the history). Unless it
 * returns 1, writes into why (cap bytes, always terminated; why may be
 * NULL) a sentence naming the first problem it can describe, with the op's
 * index in ops; on 1 it writes "". Borrows ops for the call only. */
int lincheck_cell(const struct lin_op *ops, int n, wom_mode mode, char *why, size_t cap);

/* ---- a log: a ONCE region written by appends -------------------------------
 *
 * The ops of one ONCE region that only appends write (and any number of
 * reads of its cells): append(v) writes v at an address above every
 * address written before it and returns that address; read(a) returns the
 * value at a, or finds it empty. The order of the appends is then the order
 * of their addresses, so the check is exact and takes O(n log n) for any
 * number of ops: every value at one address and every address with one
 * value (no duplicate append, no two values for one ONCE address), each
 * read's value written by an append invoked before the read returned, and
 * a point for each append inside its interval, in address order, after
 * every read that found its address empty began and before every read that
 * saw it returned.
 *
 * Outcomes as lincheck_cell's: an append with WOM_EUNKNOWN, WOM_EUNAVAIL or
 * WOM_ETIMEDOUT is indeterminate. Its address is unknown: a read that saw
 * its value says where it landed (and it then took effect once, at some
 * point after its invocation); one that no read saw is left out. An op with
 * WOM_ENOTCONN did nothing, and so did a read with WOM_EUNKNOWN or
 * WOM_EUNAVAIL; a read with WOM_EEMPTY or WOM_ETIMEDOUT found its cell
 * empty. So that an indeterminate append that landed is seen, a test reads
 * every address below the tail at the end (those reads are ops too).
 */
enum lin_log_kind { LIN_APPEND, LIN_READ };

struct lin_logop {
    enum lin_log_kind kind;
    int rc;           /* the call's return: 0 or a WOM_E* code */
    uint64_t val;     /* APPEND: the value appended (nonzero, unique per
                       * append); READ with rc 0: the value read */
    uint64_t addr;    /* APPEND with rc 0: the address it returned; READ:
                       * the address read */
    int64_t inv, res; /* invocation and response times (one monotonic clock) */
};

/* Check the history ops[0..n) of one log as above. Returns 1 if it is
 * linearizable, 0 if it is not, -1 if the checker cannot take it (a value
 * 0 or appended twice, a response before its invocation, out of memory).
 * why as lincheck_cell's: unless 1, a sentence that names the first problem
 * found and its ops by index ("op 12 (...)"). Borrows ops for the call. */
int lincheck_log(const struct lin_logop *ops, size_t n, char *why, size_t cap);

#endif
