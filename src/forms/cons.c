/*
 * cons.c - the two reductions between consensus and atomic broadcast.
 *
 * Consensus from atomic broadcast (wom_cons): a ONCE region used as a log is
 * atomic broadcast (every reader reads the same values at the same
 * addresses). To propose, append the value; the decision is the first value
 * in the log, which every proposer and learner reads alike because no cell
 * of it ever changes. The log is never trimmed, so the decision stays
 * readable; a cell whose appender died before publishing (ABANDONED, shm:)
 * holds no proposal and is passed over, which every reader does alike too.
 *
 * Atomic broadcast from consensus (wom_abcast): a ONCE cell is a consensus
 * object (the first put wins, and a loser learns the winner with WOM_EWRITTEN
 * and a get), so a log of them, instance i deciding entry i, is atomic
 * broadcast. A sender proposes its message at the first instance it has not
 * seen decided, and at the next one while it loses. Each proposal carries a
 * header {magic, sender id, sequence}: the sender id is an address won by an
 * append to region N.ids, so no two handles share one, and the sequence
 * counts the handle's messages. After an unknown outcome (WOM_EUNKNOWN: the
 * put may land, now or later) the sender reads instance i, and only a
 * header equal to its own says the message won there; it proposes again only
 * at i (where at most one of its proposals can win) until i is decided, so
 * a message is decided at most once. Receivers read instances 0, 1, 2, ...
 * in order and strip the header.
 */
#include <stdlib.h>
#include <string.h>

#include "forms/forms.h"

/* ---- consensus from atomic broadcast ---------------------------------- */

struct wom_cons {
    wom_region *log;
    size_t max_value;
    wom_a64 at; /* 1 + the address of the decision; 0 while not known here */
};

int wom_cons_open(wom_space *s, const char *name, wom_cons **out)
{
    if (!s || !name || !out)
        return WOM_EINVAL;
    wom_cons *c = calloc(1, sizeof *c);
    if (!c)
        return WOM_ENOMEM;
    int rc = form_log(s, name, &c->log, &c->max_value);
    if (rc) {
        wom_cons_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

void wom_cons_close(wom_cons *c)
{
    if (!c)
        return;
    wom_region_close(c->log);
    free(c);
}

/* Errors after which the operation may or may not have taken effect, or
 * did not and may be tried again (remote scopes). */
static int transient(int rc)
{
    return rc == WOM_EUNKNOWN || rc == WOM_ENOTCONN || rc == WOM_EUNAVAIL;
}

/* 1 when the deadline leaves room for another try after a failure: never
 * for timeout 0, always for < 0. */
static int may_retry(const form_deadline *dl)
{
    int64_t left;
    return dl->timeout != 0 && form_left(dl, &left) == 0;
}

/* Read the decision into out: the first written address of the log, from
 * address 0 (or the one found before). Waits for each empty address within
 * dl; WOM_EEMPTY / WOM_ETIMEDOUT while the first proposal is not readable
 * yet, WOM_ENOBUFS with *outlen, WOM_ETRIMMED if someone trimmed the log. */
static int cons_learn(wom_cons *c, void *out, size_t cap, size_t *outlen,
                      const form_deadline *dl)
{
    /* relaxed: `at` only names an address, whose value the get below reads
     * (and that cell never changes); a stale 0 costs a scan, nothing more. */
    uint64_t known = ld_relaxed(&c->at);
    for (uint64_t a = known ? known - 1 : 0;; a++) {
        int64_t left;
        int rc = form_left(dl, &left);
        if (rc)
            return rc;
        size_t n = 0;
        rc = wom_get(c->log, a, out, cap, &n, left);
        if (rc == WOM_EABANDONED)
            continue; /* its appender died: no proposal there, for anyone */
        if (rc == 0 || rc == WOM_ENOBUFS) {
            st_relaxed(&c->at, a + 1); /* relaxed: see the load above */
            *outlen = n;
        }
        return rc;
    }
}

int wom_cons_read(wom_cons *c, void *out, size_t cap, size_t *outlen, int64_t timeout_ns)
{
    if (!c || !outlen || (!out && cap))
        return WOM_EINVAL;
    form_deadline dl = form_deadline_start(timeout_ns);
    return cons_learn(c, out, cap, outlen, &dl);
}

int wom_cons_propose(wom_cons *c, const void *buf, size_t len, void *out, size_t cap,
                     size_t *outlen, int64_t timeout_ns)
{
    if (!c || (!buf && len) || !outlen || (!out && cap))
        return WOM_EINVAL;
    if (len > c->max_value)
        return WOM_EMSGSIZE;
    form_deadline now = form_deadline_start(0), dl = form_deadline_start(timeout_ns);
    /* Decided already: proposing would change nothing, and costs a cell.
     * (A look that failed on the way costs a proposal, nothing more.) */
    int rc = cons_learn(c, out, cap, outlen, &now);
    if (rc != WOM_EEMPTY && !transient(rc))
        return rc;
    for (;;) {
        uint64_t a;
        rc = wom_append(c->log, buf, len, &a);
        if (rc == 0)
            break;
        if (!transient(rc))
            return rc;
        /* The proposal may be in the log or not; either way a decision
         * that is readable now is the decision. */
        int got = cons_learn(c, out, cap, outlen, &now);
        if (got != WOM_EEMPTY && !transient(got))
            return got;
        if (!may_retry(&dl))
            return rc;
        /* Appending again is safe: a second copy of a proposal decides
         * nothing that the first did not. */
    }
    do
        rc = cons_learn(c, out, cap, outlen, &dl);
    while (transient(rc) && may_retry(&dl));
    return rc == WOM_EEMPTY ? WOM_ETIMEDOUT : rc;
}

/* ---- atomic broadcast from consensus ---------------------------------- */

#define AB_MAGIC "WAB1"
#define AB_HDR 20 /* magic[4], sender id (u64 LE), sequence (u64 LE) */

struct wom_abcast {
    wom_space *s;
    char name[WOM_NAME_MAX + 1];
    wom_region *log;   /* N: instance i decides entry i */
    wom_region *ids;   /* N.ids: sender ids, one append each; opened by the
                          first send */
    size_t max_value;  /* region N's limit, header included */
    uint64_t id;       /* this handle's sender id; 0 until its first send */
    uint64_t seq;      /* the sequence number of its next new message */
    uint64_t next;     /* the instance its next proposal tries first */
    uint64_t cursor;   /* the instance its next receive reads */
    unsigned char *val; /* the proposal being sent: header and payload */
    size_t vlen, vcap;
    uint64_t at;       /* the instance the proposal in val tries */
    int pending;       /* 1: a proposal of val at `at` may land (unknown
                          outcome); val must be settled before another */
};

static void le_put(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

int wom_abcast_open(wom_space *s, const char *name, wom_abcast **out)
{
    if (!s || !name || !out)
        return WOM_EINVAL;
    if (strlen(name) + strlen(".ids") > WOM_NAME_MAX)
        return WOM_ENAMETOOLONG;
    wom_abcast *b = calloc(1, sizeof *b);
    if (!b)
        return WOM_ENOMEM;
    b->s = s;
    strcpy(b->name, name);
    int rc = form_log(s, name, &b->log, &b->max_value);
    if (rc) {
        wom_abcast_close(b);
        return rc;
    }
    *out = b;
    return 0;
}

void wom_abcast_close(wom_abcast *b)
{
    if (!b)
        return;
    wom_region_close(b->log);
    wom_region_close(b->ids);
    free(b->val);
    free(b);
}

/* Take this handle's sender id: an address of N.ids that its append won
 * (+1, so that 0 means none). An append lost to an unknown outcome is tried
 * again; the id it may have taken is then simply never used. */
static int ab_id(wom_abcast *b, const form_deadline *dl)
{
    int rc = 0;
    if (!b->ids)
        rc = form_region(b->s, b->name, ".ids", WOM_ONCE, 0, &b->ids);
    while (!rc && !b->id) {
        uint64_t a;
        rc = wom_append(b->ids, NULL, 0, &a);
        if (rc == 0)
            b->id = a + 1;
        else if (transient(rc) && may_retry(dl))
            rc = 0;
    }
    return rc;
}

/* Whose proposal won instance a: 1 this one's (the header in val), 0
 * another's (or none: its writer died), WOM_EEMPTY if a is undecided, or
 * the get's error. */
static int ab_won(wom_abcast *b, uint64_t a)
{
    wom_view v = WOM_VIEW_INIT;
    int rc = wom_get_view(b->log, a, &v, 0);
    if (rc == WOM_EABANDONED)
        return 0;
    if (rc)
        return rc;
    int mine = v.len >= AB_HDR && !memcmp(v.data, b->val, AB_HDR);
    wom_view_release(&v);
    return mine;
}

/* The first instance to try after losing instance a: past a, at the tail
 * (every instance below it was decided when it was read) and, after a
 * trim, at the floor. Both are hints: walking on by one is always right. */
static uint64_t ab_after(wom_abcast *b, uint64_t a, int trimmed)
{
    uint64_t next = a + 1, t = 0;
    wom_region_info info;
    if (wom_tail(b->log, &t) == 0 && t > next)
        next = t;
    if (trimmed && wom_region_info_get(b->log, &info) == 0 && info.floor > next)
        next = info.floor;
    return next;
}

/* Propose val at b->at and onwards until it is decided (0, its instance in
 * *index) or an error ends the try. While b->pending an earlier proposal
 * at b->at may still land, so b->at is read before it is proposed at
 * again, and never left until another proposal won it. Errors: the put's;
 * WOM_EUNKNOWN (b->pending stays set) when the try ends while a proposal
 * may land; WOM_ETRIMMED with b->pending cleared when b->at was trimmed
 * before its outcome was read (it can never be learnt). */
static int ab_propose(wom_abcast *b, const form_deadline *dl, uint64_t *index)
{
    for (;;) {
        int rc = b->pending ? ab_won(b, b->at) : WOM_EEMPTY;
        if (rc == 1) {
            rc = 0; /* an earlier proposal of this message won b->at */
        } else if (rc == 0) {
            b->pending = 0; /* another's won b->at: ours never will */
            rc = WOM_EWRITTEN;
        } else if (rc == WOM_EEMPTY) {
            rc = wom_put(b->log, b->at, b->val, b->vlen);
        }
        if (rc == WOM_EABANDONED) /* decided as no message (shm: a dead appender) */
            rc = WOM_EWRITTEN;
        if (rc == 0) {
            *index = b->at;
            b->next = b->at + 1;
            b->pending = 0;
            return 0;
        }
        if (rc == WOM_EWRITTEN && b->pending)
            continue; /* maybe ours, from an earlier proposal: read it */
        if (rc == WOM_EWRITTEN) {
            b->at = ab_after(b, b->at, 0);
            continue;
        }
        if (rc == WOM_ETRIMMED && b->pending) {
            b->pending = 0; /* the outcome went with the trimmed cell */
            return WOM_ETRIMMED;
        }
        if (rc == WOM_ETRIMMED) {
            b->at = ab_after(b, b->at, 1);
            continue;
        }
        if (rc == WOM_EUNKNOWN)
            b->pending = 1;
        if (!transient(rc) || !may_retry(dl))
            return b->pending ? WOM_EUNKNOWN : rc;
    }
}

/* Put the header and payload of a new message into val. */
static int ab_prepare(wom_abcast *b, const void *buf, size_t len)
{
    size_t need = AB_HDR + len;
    if (need > b->vcap) {
        unsigned char *v = realloc(b->val, need);
        if (!v)
            return WOM_ENOMEM;
        b->val = v;
        b->vcap = need;
    }
    memcpy(b->val, AB_MAGIC, 4);
    le_put(b->val + 4, b->id);
    le_put(b->val + 12, b->seq++);
    if (len)
        memcpy(b->val + AB_HDR, buf, len);
    b->vlen = need;
    b->at = b->next;
    return 0;
}

int wom_abcast_send(wom_abcast *b, const void *buf, size_t len, int64_t timeout_ns,
                    uint64_t *index)
{
    if (!b || (!buf && len))
        return WOM_EINVAL;
    if (b->max_value < AB_HDR || len > b->max_value - AB_HDR)
        return WOM_EMSGSIZE;
    form_deadline dl = form_deadline_start(timeout_ns);
    int rc = 0;
    if (b->pending) { /* only the message whose outcome is unknown */
        if (b->vlen != AB_HDR + len || (len && memcmp(b->val + AB_HDR, buf, len)))
            return WOM_EINVAL;
    } else if (!(rc = ab_id(b, &dl))) {
        rc = ab_prepare(b, buf, len);
    } else if (rc == WOM_EUNKNOWN) {
        rc = WOM_ENOTCONN; /* about the id: this message was not proposed */
    }
    uint64_t at = 0;
    if (!rc)
        rc = ab_propose(b, &dl, &at);
    if (!rc && index)
        *index = at;
    return rc;
}

int wom_abcast_recv(wom_abcast *b, void *buf, size_t cap, size_t *len, uint64_t *index,
                    int64_t timeout_ns)
{
    if (!b || !len || (!buf && cap))
        return WOM_EINVAL;
    form_deadline dl = form_deadline_start(timeout_ns);
    for (;;) {
        int64_t left;
        int rc = form_left(&dl, &left);
        wom_view v = WOM_VIEW_INIT;
        if (!rc)
            rc = wom_get_view(b->log, b->cursor, &v, left);
        if (rc == WOM_EABANDONED) { /* decided as no message, for everyone */
            b->cursor++;
            continue;
        }
        if (rc == WOM_ETRIMMED) { /* someone trimmed the log: go on at its floor */
            wom_region_info info;
            if (wom_region_info_get(b->log, &info) == 0 && info.floor > b->cursor)
                b->cursor = info.floor;
        }
        if (rc)
            return rc;
        const unsigned char *p = v.data;
        if (v.len < AB_HDR || memcmp(p, AB_MAGIC, 4)) {
            rc = WOM_ECORRUPT; /* not a proposal of wom_abcast_send: passed */
            b->cursor++;
        } else if (v.len - AB_HDR > cap) {
            rc = WOM_ENOBUFS;
            *len = v.len - AB_HDR;
        } else {
            if (v.len > AB_HDR)
                memcpy(buf, p + AB_HDR, v.len - AB_HDR);
            *len = v.len - AB_HDR;
            if (index)
                *index = b->cursor;
            b->cursor++;
        }
        wom_view_release(&v);
        return rc;
    }
}

uint64_t wom_abcast_cursor(const wom_abcast *b) { return b ? b->cursor : 0; }
