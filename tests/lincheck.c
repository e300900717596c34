/*
 * lincheck.c - the checker of lincheck.h: the sequential specifications of
 * a ONCE and a MANY cell, and the search of Wing and Gong with memoisation
 * over histories in which some writes have unknown outcomes.
 *
 * An indeterminate write is an invocation that never returned, in the
 * sense of Herlihy and Wing: a history is linearizable if some completion
 * of it is, where each pending invocation is either given a response (at
 * any time after it was invoked) or removed. So the search treats its
 * response time as +infinity, which never forces another op to wait for it,
 * and ends once every op that must have taken effect is linearized: the
 * indeterminate ones still left out are the removed ones.
 */
#include "lincheck.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The search's budget, which bounds its memory and time whatever the
 * history: the distinct (linearized set, state) pairs it records (a 48 MB
 * memo at the most) and the steps it tries (0.3 s at the most, 2 s under
 * TSan). The 30-op histories of a few clients, 8 ops indeterminate, that
 * lincheck_test.c generates take well under a million steps. */
#define MAX_STATES ((size_t)1 << 20)
#define MAX_STEPS ((uint64_t)1 << 25)

int lin_record(struct lin_history *h, const struct lin_op *o)
{
    int i = atomic_fetch_add_explicit(&h->n, 1, memory_order_relaxed);
    if (i >= LIN_MAX_OPS)
        return -1;
    h->ops[i] = *o; /* read after the recording threads are joined */
    return 0;
}

int lin_count(const struct lin_history *h)
{
    int n = atomic_load_explicit(&h->n, memory_order_relaxed);
    return n < LIN_MAX_OPS ? n : LIN_MAX_OPS;
}

/* ---- the sequential specifications ---- */

/* What an op's outcome tells of its effect. */
enum effect {
    E_KNOWN, /* its rc says what it did: match it */
    E_MAYBE, /* a write of unknown outcome: it took effect once, or never */
    E_NONE,  /* it did nothing, or a read that learnt nothing */
};

static int is_write(enum lin_kind k) { return k == LIN_PUT || k == LIN_STORE || k == LIN_CAS; }

static enum effect effect_of(const struct lin_op *o)
{
    switch (o->rc) {
    case WOM_ENOTCONN:
        return E_NONE;
    case WOM_EUNKNOWN:
    case WOM_EUNAVAIL:
        return is_write(o->kind) ? E_MAYBE : E_NONE;
    case WOM_ETIMEDOUT: /* a get's own deadline: it saw the cell empty */
        return is_write(o->kind) ? E_MAYBE : o->kind == LIN_GET ? E_KNOWN : E_NONE;
    default:
        return E_KNOWN;
    }
}

/* Whether rc is an outcome the specification gives an op of kind k. */
static int rc_in_spec(enum lin_kind k, int rc)
{
    switch (k) {
    case LIN_PUT:
        return rc == 0 || rc == WOM_EWRITTEN;
    case LIN_GET:
        return rc == 0 || rc == WOM_EEMPTY || rc == WOM_ETIMEDOUT;
    case LIN_CAS:
        return rc == 0 || rc == WOM_ECONFLICT;
    case LIN_STORE:
    case LIN_LOAD:
        return rc == 0;
    }
    return 0;
}

struct cell {
    uint64_t val, ver; /* ONCE: ver 0 empty, 1 written */
};

/* An op as the search sees it. */
struct sop {
    const struct lin_op *o;
    int idx;          /* in the caller's history */
    int maybe;        /* E_MAYBE: a successful op's effect, nothing to match */
    int64_t inv, res; /* res INT64_MAX when maybe */
};

/* Take op p in state c: returns 1 with c updated if the specification lets
 * p return what it returned there, else 0. An indeterminate write that
 * would fail in c (a put on a written cell, a cas on another version) has
 * no effect. */
static int step(const struct sop *p, struct cell *c)
{
    const struct lin_op *o = p->o;
    switch (o->kind) {
    case LIN_PUT:
        if (c->ver != 0)
            return p->maybe || (o->rc == WOM_EWRITTEN && (o->val == 0 || o->val == c->val));
        if (!p->maybe && o->rc != 0)
            return 0;
        *c = (struct cell){o->arg, 1};
        return 1;
    case LIN_GET:
        if (c->ver == 0)
            return o->rc == WOM_EEMPTY || o->rc == WOM_ETIMEDOUT;
        return o->rc == 0 && o->val == c->val;
    case LIN_STORE:
        if (!p->maybe && (o->rc != 0 || o->ver != c->ver + 1))
            return 0;
        *c = (struct cell){o->arg, c->ver + 1};
        return 1;
    case LIN_LOAD:
        return o->rc == 0 && o->ver == c->ver && o->val == c->val;
    case LIN_CAS:
        if (o->arg != c->ver)
            return p->maybe || o->rc == WOM_ECONFLICT;
        if (!p->maybe && (o->rc != 0 || o->ver != c->ver + 1))
            return 0;
        *c = (struct cell){o->val, c->ver + 1};
        return 1;
    }
    return 0;
}

/* ---- the search ---- */

struct slot {
    uint64_t done, val;
    uint32_t ver1; /* the state's version + 1; 0: a free slot */
};

struct search {
    struct sop op[LIN_MAX_OPS];
    int n;
    wom_mode mode;
    uint64_t must; /* the ops that took effect (all but the maybe ones) */
    struct slot *memo;
    size_t cap, used; /* cap a power of two, used <= cap / 2 */
    uint64_t steps; /* the work done: one per look-up, n per pass over the ops */
    int gave_up;
    /* The deepest point reached (most must-ops linearized), to explain a
     * failure: no must-op can follow it. */
    int best;
    uint64_t best_done;
    struct cell best_cell;
};

static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static size_t slot_of(const struct search *S, uint64_t done, uint64_t val, uint32_t ver1)
{
    size_t mask = S->cap - 1, i = (size_t)mix(done ^ mix(val ^ mix(ver1))) & mask;
    while (S->memo[i].ver1 && !(S->memo[i].done == done && S->memo[i].val == val &&
                                S->memo[i].ver1 == ver1))
        i = (i + 1) & mask;
    return i;
}

/* Double the memo (from 4096 slots); -1 past the budget or out of memory. */
static int memo_grow(struct search *S)
{
    size_t cap = S->cap ? S->cap * 2 : 4096;
    if (cap / 2 > MAX_STATES)
        return -1;
    struct slot *old = S->memo, *t = calloc(cap, sizeof *t);
    if (!t)
        return -1;
    size_t ocap = S->cap;
    S->memo = t;
    S->cap = cap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].ver1)
            S->memo[slot_of(S, old[i].done, old[i].val, old[i].ver1)] = old[i];
    free(old);
    return 0;
}

/* 1 if (done, c) was visited before, 0 if it is new (now recorded), -1 when
 * the budget is spent. The memo is exact: a revisit cannot succeed where
 * the first visit failed. */
static int memo_visit(struct search *S, uint64_t done, const struct cell *c)
{
    if (S->used >= S->cap / 2 && memo_grow(S) != 0)
        return -1;
    size_t i = slot_of(S, done, c->val, (uint32_t)c->ver + 1);
    if (S->memo[i].ver1)
        return 1;
    S->memo[i] = (struct slot){done, c->val, (uint32_t)c->ver + 1};
    S->used++;
    return 0;
}

static int search(struct search *S, uint64_t done, struct cell c)
{
    if ((done & S->must) == S->must)
        return 1; /* the maybe ops left out never took effect */
    /* The work of a visit: one memo look-up, then a pass over the ops. */
    int seen = ++S->steps > MAX_STEPS ? -1 : memo_visit(S, done, &c);
    if (seen) {
        S->gave_up |= seen < 0;
        return 0;
    }
    S->steps += (uint64_t)S->n;
    int depth = __builtin_popcountll(done & S->must);
    if (depth >= S->best) {
        S->best = depth;
        S->best_done = done;
        S->best_cell = c;
    }
    int64_t first_res = INT64_MAX;
    for (int i = 0; i < S->n; i++)
        if (!(done >> i & 1) && S->op[i].res < first_res)
            first_res = S->op[i].res;
    for (int i = 0; i < S->n && !S->gave_up; i++) {
        /* op i may go next only if no pending op returned before it began */
        if ((done >> i & 1) || S->op[i].inv > first_res)
            continue;
        struct cell t = c;
        if (!step(&S->op[i], &t))
            continue;
        /* A maybe op without effect here is the same as one left out. */
        if (S->op[i].maybe && t.val == c.val && t.ver == c.ver)
            continue;
        if (search(S, done | (uint64_t)1 << i, t))
            return 1;
    }
    return 0;
}

/* ---- explanations ---- */

static void say(char *why, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t cap, const char *fmt, ...)
{
    if (!why || cap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
}

/* "op 3 (get in [10, 20]: read 0x5)" into buf. */
static void describe(const struct lin_op *ops, int i, char *buf, size_t cap)
{
    static const char *const kind[] = {"put", "get", "store", "load", "cas"};
    const struct lin_op *o = &ops[i];
    char what[64] = "", out[96];
    unsigned long long arg = o->arg, val = o->val, ver = o->ver;
    if (o->kind == LIN_PUT || o->kind == LIN_STORE)
        snprintf(what, sizeof what, " of 0x%llx", arg);
    else if (o->kind == LIN_CAS)
        snprintf(what, sizeof what, " of 0x%llx on version %llu", val, arg);
    if (o->rc != 0 && o->kind == LIN_PUT && o->rc == WOM_EWRITTEN && val)
        snprintf(out, sizeof out, "WOM_EWRITTEN, winner 0x%llx", val);
    else if (o->rc != 0)
        snprintf(out, sizeof out, "%s", wom_err_name(o->rc));
    else if (o->kind == LIN_PUT)
        snprintf(out, sizeof out, "won");
    else if (o->kind == LIN_GET)
        snprintf(out, sizeof out, "read 0x%llx", val);
    else if (o->kind == LIN_LOAD)
        snprintf(out, sizeof out, "read 0x%llx at version %llu", val, ver);
    else
        snprintf(out, sizeof out, "version %llu", ver);
    snprintf(buf, cap, "op %d (%s%s in [%lld, %lld]: %s)", i, kind[o->kind], what,
             (long long)o->inv, (long long)o->res, out);
}

/* -1 with why if the checker cannot take ops as given, else 1. */
static int check_input(const struct lin_op *ops, int n, wom_mode mode, char *why, size_t cap)
{
    if (n < 0 || n > LIN_MAX_OPS) {
        say(why, cap, "a history of %d ops: the checker takes 0 to %d", n, LIN_MAX_OPS);
        return -1;
    }
    if (mode != WOM_ONCE && mode != WOM_MANY) {
        say(why, cap, "mode %d is neither WOM_ONCE nor WOM_MANY", (int)mode);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        enum lin_kind k = ops[i].kind;
        int once = k == LIN_PUT || k == LIN_GET;
        if ((unsigned)k > LIN_CAS || once != (mode == WOM_ONCE)) {
            say(why, cap, "op %d is of kind %d, not an operation of a %s cell", i, (int)k,
                mode == WOM_ONCE ? "ONCE" : "MANY");
            return -1;
        }
        if (ops[i].res < ops[i].inv) {
            say(why, cap, "op %d returned (%lld) before it was invoked (%lld)", i,
                (long long)ops[i].res, (long long)ops[i].inv);
            return -1;
        }
    }
    return 1;
}

/* Whether o wrote v and may have taken effect. */
static int wrote(const struct lin_op *o, uint64_t v)
{
    if (!is_write(o->kind) || (o->rc != 0 && effect_of(o) != E_MAYBE))
        return 0;
    return (o->kind == LIN_CAS ? o->val : o->arg) == v;
}

/* The value op o claims to have seen, or 0: a read's, or a put's winner. */
static uint64_t seen(const struct lin_op *o, int *is)
{
    *is = 0;
    if (o->kind == LIN_GET || o->kind == LIN_LOAD)
        *is = o->rc == 0 && !(o->kind == LIN_LOAD && o->ver == 0 && o->val == 0);
    else if (o->kind == LIN_PUT)
        *is = o->rc == WOM_EWRITTEN && o->val != 0;
    return o->val;
}

/* The problems a sentence can name without a search: an outcome outside the
 * specification, a value seen that no write which may have taken effect
 * wrote (or only one invoked after the sight), two winners or two values of
 * a ONCE cell. 0 with why on the first found, else 1. */
static int check_values(const struct lin_op *ops, int n, wom_mode mode, char *why, size_t cap)
{
    char a[192], b[192];
    int winner = -1, first_seen = -1;
    for (int i = 0; i < n; i++) {
        const struct lin_op *o = &ops[i];
        if (effect_of(o) != E_KNOWN)
            continue;
        describe(ops, i, a, sizeof a);
        if (!rc_in_spec(o->kind, o->rc)) {
            say(why, cap, "%s: an outcome the specification of a cell does not give", a);
            return 0;
        }
        int is;
        uint64_t v = seen(o, &is);
        if (!is)
            continue;
        int w = -1;
        for (int j = 0; j < n && (w < 0 || ops[w].inv > o->res); j++)
            if (wrote(&ops[j], v))
                w = j;
        if (w < 0 || ops[w].inv > o->res) {
            say(why, cap, "%s saw 0x%llx, which no write %s", a, (unsigned long long)v,
                w < 0 ? "that may have taken effect wrote"
                      : "invoked before it returned wrote");
            return 0;
        }
        if (mode != WOM_ONCE)
            continue;
        if (first_seen >= 0 && ops[first_seen].val != v) {
            describe(ops, first_seen, b, sizeof b);
            say(why, cap, "%s and %s saw two values of one ONCE cell", b, a);
            return 0;
        }
        if (first_seen < 0)
            first_seen = i;
    }
    for (int i = 0; i < n && mode == WOM_ONCE; i++) {
        if (ops[i].kind != LIN_PUT || ops[i].rc != 0)
            continue;
        if (winner >= 0) {
            describe(ops, winner, a, sizeof a);
            describe(ops, i, b, sizeof b);
            say(why, cap, "%s and %s both won one ONCE cell", a, b);
            return 0;
        }
        winner = i;
        if (first_seen >= 0 && ops[first_seen].val != ops[i].arg) {
            describe(ops, first_seen, a, sizeof a);
            describe(ops, i, b, sizeof b);
            say(why, cap, "%s saw another value than the one %s won with", a, b);
            return 0;
        }
    }
    return 1;
}

/* Why the search failed, from the deepest point it reached. */
static void explain(const struct search *S, const struct lin_op *ops, char *why, size_t cap)
{
    int must = __builtin_popcountll(S->must), next = -1;
    for (int i = 0; i < S->n; i++)
        if ((S->must >> i & 1) && !(S->best_done >> i & 1) &&
            (next < 0 || S->op[i].res < S->op[next].res))
            next = i;
    char a[192], st[64];
    describe(ops, S->op[next].idx, a, sizeof a);
    if (S->best_cell.ver == 0)
        snprintf(st, sizeof st, "is empty");
    else if (S->mode == WOM_ONCE)
        snprintf(st, sizeof st, "holds 0x%llx", (unsigned long long)S->best_cell.val);
    else
        snprintf(st, sizeof st, "holds 0x%llx at version %llu",
                 (unsigned long long)S->best_cell.val, (unsigned long long)S->best_cell.ver);
    say(why, cap,
        "no order explains the history: at most %d of its %d ops of known outcome fit one, "
        "after which the cell %s and %s, the first of the rest to return, cannot come next",
        S->best, must, st, a);
}

int lincheck_cell(const struct lin_op *ops, int n, wom_mode mode, char *why, size_t cap)
{
    say(why, cap, "%s", "");
    if (check_input(ops, n, mode, why, cap) < 0)
        return -1;
    if (!check_values(ops, n, mode, why, cap))
        return 0;
    struct search *S = calloc(1, sizeof *S);
    if (!S) {
        say(why, cap, "out of memory");
        return -1;
    }
    S->mode = mode;
    for (int i = 0; i < n; i++) {
        enum effect e = effect_of(&ops[i]);
        if (e == E_NONE)
            continue;
        S->op[S->n] = (struct sop){&ops[i], i, e == E_MAYBE, ops[i].inv,
                                   e == E_MAYBE ? INT64_MAX : ops[i].res};
        if (e == E_KNOWN)
            S->must |= (uint64_t)1 << S->n;
        S->n++;
    }
    int ok = search(S, 0, (struct cell){0, 0});
    if (!ok && S->gave_up)
        say(why, cap, "undecided: the search spent its budget (%zu states, %llu steps) on %d ops",
            S->used, (unsigned long long)S->steps, S->n);
    else if (!ok)
        explain(S, ops, why, cap);
    int rc = ok ? 1 : S->gave_up ? -1 : 0;
    free(S->memo);
    free(S);
    return rc;
}

/* ==== a log of appends ==================================================== */

/* An append that took effect at a known address, with the bounds of its
 * point (in doubled time, so that "after a read began" is a strict bound
 * on integer times: 2 inv + 1) and the ops that set them. */
struct entry {
    uint64_t addr;
    int op;          /* the append */
    int64_t lo, hi;  /* its point lies in [lo, hi] */
    int lo_op, hi_op; /* the op that set each bound (op itself at first) */
};

struct logcheck {
    const struct lin_logop *ops;
    size_t n;
    size_t *by_val;   /* the appends, sorted by value */
    size_t nappends;
    uint64_t *where;  /* per op: address + 1 of an append known or seen; 0 */
    struct entry *e;
    size_t ne;
};

static enum effect log_effect(const struct lin_logop *o)
{
    switch (o->rc) {
    case WOM_ENOTCONN:
        return E_NONE;
    case WOM_EUNKNOWN:
    case WOM_EUNAVAIL:
        return o->kind == LIN_APPEND ? E_MAYBE : E_NONE;
    case WOM_ETIMEDOUT:
        return o->kind == LIN_APPEND ? E_MAYBE : E_KNOWN;
    default:
        return E_KNOWN;
    }
}

/* "op 3 (append of 0x5 in [10, 20]: address 7)" into buf. */
static void log_describe(const struct lin_logop *ops, size_t i, char *buf, size_t cap)
{
    const struct lin_logop *o = &ops[i];
    unsigned long long val = o->val, addr = o->addr;
    char out[96];
    if (o->kind == LIN_APPEND && o->rc == 0)
        snprintf(out, sizeof out, "address %llu", addr);
    else if (o->kind == LIN_READ && o->rc == 0)
        snprintf(out, sizeof out, "read 0x%llx", val);
    else
        snprintf(out, sizeof out, "%s", wom_err_name(o->rc));
    if (o->kind == LIN_APPEND)
        snprintf(buf, cap, "op %zu (append of 0x%llx in [%lld, %lld]: %s)", i, val,
                 (long long)o->inv, (long long)o->res, out);
    else
        snprintf(buf, cap, "op %zu (read of address %llu in [%lld, %lld]: %s)", i, addr,
                 (long long)o->inv, (long long)o->res, out);
}

static const struct lin_logop *sort_ops; /* qsort has no argument */

static int by_value(const void *x, const void *y)
{
    uint64_t a = sort_ops[*(const size_t *)x].val, b = sort_ops[*(const size_t *)y].val;
    return (a > b) - (a < b);
}

static int by_addr(const void *x, const void *y)
{
    const struct entry *a = x, *b = y;
    return (a->addr > b->addr) - (a->addr < b->addr);
}

/* The append of value v, or -1. */
static long append_of(const struct logcheck *L, uint64_t v)
{
    size_t lo = 0, hi = L->nappends;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        uint64_t m = L->ops[L->by_val[mid]].val;
        if (m == v)
            return (long)L->by_val[mid];
        if (m < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* The entry at address a, or NULL. */
static struct entry *entry_at(const struct logcheck *L, uint64_t a)
{
    struct entry key = {.addr = a};
    return bsearch(&key, L->e, L->ne, sizeof *L->e, by_addr);
}

/* The input as lincheck_log takes it, the appends sorted by value: -1 with
 * why if it cannot be taken, 0 (an outcome outside the specification) or 1. */
static int log_input(struct logcheck *L, char *why, size_t cap)
{
    char a[192];
    for (size_t i = 0; i < L->n; i++) {
        const struct lin_logop *o = &L->ops[i];
        if (o->kind != LIN_APPEND && o->kind != LIN_READ) {
            say(why, cap, "op %zu is of kind %d, neither an append nor a read", i, (int)o->kind);
            return -1;
        }
        if (o->res < o->inv) {
            say(why, cap, "op %zu returned (%lld) before it was invoked (%lld)", i,
                (long long)o->res, (long long)o->inv);
            return -1;
        }
        if (o->inv < -(INT64_MAX / 4) || o->res > INT64_MAX / 4) {
            say(why, cap, "op %zu has times beyond +-2^61 ns, which the checker does not take", i);
            return -1;
        }
        if (o->kind == LIN_APPEND && o->val == 0) {
            say(why, cap, "op %zu appends value 0, which the checker does not take", i);
            return -1;
        }
        int known = log_effect(o) == E_KNOWN;
        int in_spec = o->kind == LIN_APPEND ? o->rc == 0
                                            : o->rc == 0 || o->rc == WOM_EEMPTY ||
                                                  o->rc == WOM_ETIMEDOUT;
        if (known && !in_spec) {
            log_describe(L->ops, i, a, sizeof a);
            say(why, cap, "%s: an outcome the specification of a log does not give", a);
            return 0;
        }
        if (o->kind == LIN_APPEND)
            L->by_val[L->nappends++] = i;
    }
    sort_ops = L->ops;
    qsort(L->by_val, L->nappends, sizeof *L->by_val, by_value);
    for (size_t i = 1; i < L->nappends; i++)
        if (L->ops[L->by_val[i]].val == L->ops[L->by_val[i - 1]].val) {
            say(why, cap, "ops %zu and %zu append the same value 0x%llx; the checker needs "
                          "unique values", L->by_val[i - 1], L->by_val[i],
                (unsigned long long)L->ops[L->by_val[i]].val);
            return -1;
        }
    return 1;
}

/* Where each append took effect: its own answer, or a read that saw its
 * value. 0 with why when a read saw a value no append wrote (or one that
 * did nothing, or one invoked after the read returned), or one value at
 * two addresses. */
static int log_places(struct logcheck *L, char *why, size_t cap)
{
    char a[192], b[192];
    for (size_t i = 0; i < L->n; i++)
        if (L->ops[i].kind == LIN_APPEND && L->ops[i].rc == 0)
            L->where[i] = L->ops[i].addr + 1;
    for (size_t i = 0; i < L->n; i++) {
        const struct lin_logop *o = &L->ops[i];
        if (o->kind != LIN_READ || o->rc != 0)
            continue;
        long w = append_of(L, o->val);
        log_describe(L->ops, i, a, sizeof a);
        if (w < 0) {
            say(why, cap, "%s saw a value no append wrote", a);
            return 0;
        }
        log_describe(L->ops, (size_t)w, b, sizeof b);
        if (log_effect(&L->ops[w]) == E_NONE || L->ops[w].inv > o->res) {
            say(why, cap, "%s saw the value of %s, %s", a, b,
                L->ops[w].inv > o->res ? "invoked only after the read returned"
                                       : "which did nothing");
            return 0;
        }
        if (L->where[w] && L->where[w] != o->addr + 1) {
            say(why, cap, "%s saw the value of %s at address %llu too: %s", a, b,
                (unsigned long long)(L->where[w] - 1),
                L->ops[w].rc == 0 ? "not where the append said it was" : "appended twice");
            return 0;
        }
        L->where[w] = o->addr + 1;
    }
    return 1;
}

/* The appends that took effect, by address, with their bounds from their
 * own intervals and from the reads; 0 with why for two at one address. */
static int log_entries(struct logcheck *L, char *why, size_t cap)
{
    char a[192], b[192];
    for (size_t i = 0; i < L->n; i++) {
        const struct lin_logop *o = &L->ops[i];
        if (!L->where[i])
            continue;
        int maybe = log_effect(o) == E_MAYBE;
        L->e[L->ne++] = (struct entry){L->where[i] - 1, (int)i, 2 * o->inv,
                                       maybe ? INT64_MAX : 2 * o->res, (int)i, (int)i};
    }
    qsort(L->e, L->ne, sizeof *L->e, by_addr);
    for (size_t k = 1; k < L->ne; k++)
        if (L->e[k].addr == L->e[k - 1].addr) {
            log_describe(L->ops, (size_t)L->e[k - 1].op, a, sizeof a);
            log_describe(L->ops, (size_t)L->e[k].op, b, sizeof b);
            say(why, cap, "%s and %s both wrote address %llu of a ONCE log", a, b,
                (unsigned long long)L->e[k].addr);
            return 0;
        }
    for (size_t i = 0; i < L->n; i++) {
        const struct lin_logop *o = &L->ops[i];
        struct entry *e = o->kind == LIN_READ && log_effect(o) == E_KNOWN ? entry_at(L, o->addr)
                                                                         : NULL;
        if (e && o->rc == 0 && 2 * o->res < e->hi)
            e->hi = 2 * o->res, e->hi_op = (int)i; /* it took effect before this read returned */
        else if (e && o->rc != 0 && 2 * o->inv + 1 > e->lo)
            e->lo = 2 * o->inv + 1, e->lo_op = (int)i; /* after this read began */
    }
    return 1;
}

/* Give each append, in address order, the earliest point its bounds and
 * the order allow; 0 with why at the first that has none. */
static int log_order(const struct logcheck *L, char *why, size_t cap)
{
    char a[192], b[192], c[192];
    int64_t p = INT64_MIN;
    int p_op = -1;
    for (size_t k = 0; k < L->ne; k++) {
        const struct entry *e = &L->e[k];
        if (e->lo > p)
            p = e->lo, p_op = e->lo_op;
        if (p <= e->hi)
            continue;
        log_describe(L->ops, (size_t)e->op, a, sizeof a);
        log_describe(L->ops, (size_t)p_op, b, sizeof b);
        log_describe(L->ops, (size_t)e->hi_op, c, sizeof c);
        say(why, cap, "no order explains the log: %s at address %llu must take effect by the "
                      "return of %s, but it or an append below it must take effect after %s %s",
            a, (unsigned long long)e->addr, e->hi_op == e->op ? "itself" : c, b,
            L->ops[p_op].kind == LIN_READ ? "began (it found its address empty)"
                                          : "was invoked");
        return 0;
    }
    return 1;
}

int lincheck_log(const struct lin_logop *ops, size_t n, char *why, size_t cap)
{
    say(why, cap, "%s", "");
    struct logcheck L = {ops, n, calloc(n + 1, sizeof(size_t)), 0, calloc(n + 1, sizeof(uint64_t)),
                         calloc(n + 1, sizeof(struct entry)), 0};
    int rc = -1;
    if (!L.by_val || !L.where || !L.e)
        say(why, cap, "out of memory");
    else if ((rc = log_input(&L, why, cap)) == 1 && (rc = log_places(&L, why, cap)) == 1 &&
             (rc = log_entries(&L, why, cap)) == 1)
        rc = log_order(&L, why, cap);
    free(L.by_val);
    free(L.where);
    free(L.e);
    return rc;
}
