/*
 * queue.c - queue group: each message of a channel to exactly one member.
 *
 * Member m takes message i by winning write-once cell i of N.G.claims with
 * its id. A member's cursor passes i only once claim i is written (by it or
 * by another member), so every address below any member's cursor is claimed
 * and a member that leaves strands nothing: the unclaimed messages lie at or
 * above every live cursor. For the same reason a joining member may start at
 * the claims tail (claim t-1 was won by a member whose cursor was t-1).
 */
#include <stdlib.h>
#include <string.h>

#include "forms/forms.h"

struct wom_queue {
    wom_chan *c;
    wom_region *claims;  /* N.G.claims: cell i = id of the member that took i */
    wom_region *members; /* N.G.members: one cell per member that ever joined */
    uint64_t id;         /* this member's address in members */
    uint64_t cursor;     /* every message below is claimed */
};

static int queue_regions(wom_queue *q, const char *group)
{
    char base[WOM_NAME_MAX + 2];
    int n = snprintf(base, sizeof base, "%s.%s", q->c->name, group);
    if (n < 0 || n > WOM_NAME_MAX)
        return WOM_ENAMETOOLONG;
    int rc = form_region(q->c->s, base, ".claims", WOM_ONCE, 0, &q->claims);
    if (!rc)
        rc = form_region(q->c->s, base, ".members", WOM_ONCE, 0, &q->members);
    return rc;
}

int wom_queue_join(wom_chan *c, const char *group, wom_queue **out)
{
    if (!c || !group || !*group || !out)
        return WOM_EINVAL;
    wom_queue *q = calloc(1, sizeof *q);
    if (!q)
        return WOM_ENOMEM;
    q->c = c;
    int rc = queue_regions(q, group);
    if (!rc)
        rc = wom_append(q->members, NULL, 0, &q->id);
    if (!rc)
        rc = wom_tail(q->claims, &q->cursor);
    if (rc) {
        wom_queue_leave(q);
        return rc;
    }
    *out = q;
    return 0;
}

void wom_queue_leave(wom_queue *q)
{
    if (!q)
        return;
    wom_region_close(q->claims);
    wom_region_close(q->members);
    free(q);
}

/* Claim message a: 1 if it is ours (won now, or won earlier by this member
 * in a take that then failed with WOM_ENOBUFS), 0 if another member has it
 * or a is trimmed. Claims are trimmed only below a floor first read from
 * the log (queue_trim_claims), and floors only rise, so a trimmed claim
 * means a trimmed message: one the contract lets every member skip. */
static int queue_claim(wom_queue *q, uint64_t a)
{
    int rc = wom_put(q->claims, a, &q->id, sizeof q->id);
    if (rc == WOM_ETRIMMED)
        return 0;
    if (rc != WOM_EWRITTEN)
        return rc ? rc : 1;
    uint64_t owner = 0;
    size_t len = 0;
    rc = wom_get(q->claims, a, &owner, sizeof owner, &len, 0);
    /* Trimmed between the put and this read: another member skipped to
     * the log's floor and raised the claims floor past a. The winner is
     * unknowable now, and "not ours" is the answer that keeps exactly-once:
     * if the claim is another member's, that member has the message; if it
     * is ours (a retry after WOM_ENOBUFS), message a is trimmed all the
     * same and skipping it is what the contract says of trimmed addresses. */
    if (rc == WOM_ETRIMMED)
        return 0;
    if (rc == WOM_ENOBUFS)
        return 0; /* not a member id: not ours */
    if (rc)
        return rc;
    return len == sizeof owner && owner == q->id;
}

/* Claims of messages below the log's floor decide nothing any more (those
 * messages are gone); trimming them keeps a group over a channel with
 * retention in bounded memory. A failure only keeps more. */
static void queue_trim_claims(wom_queue *q)
{
    wom_region_info info;
    if (wom_region_info_get(q->c->log, &info) == 0 && info.floor)
        (void)wom_trim(q->claims, info.floor);
}

/* Wait for the message at the cursor (skipping trimmed and abandoned ones)
 * and claim it; on success v holds our message at *at. */
static int queue_next(wom_queue *q, wom_view *v, uint64_t *at, int64_t timeout_ns)
{
    form_deadline dl = form_deadline_start(timeout_ns);
    for (;;) {
        int64_t left;
        int rc = form_left(&dl, &left);
        if (!rc)
            rc = wom_get_view(q->c->log, q->cursor, v, left);
        if (rc == WOM_EABANDONED) {
            q->cursor++;
            continue;
        }
        if (rc == WOM_ETRIMMED) {
            wom_region_info info;
            if ((rc = wom_region_info_get(q->c->log, &info)))
                return rc;
            if (info.floor <= q->cursor)
                return WOM_ETRIMMED;
            q->cursor = info.floor;
            queue_trim_claims(q);
            continue;
        }
        if (rc)
            return rc;
        int mine = queue_claim(q, q->cursor);
        if (mine == 1) {
            *at = q->cursor;
            return 0;
        }
        wom_view_release(v);
        if (mine < 0)
            return mine;
        q->cursor++;
    }
}

int wom_queue_take(wom_queue *q, void *buf, size_t cap, size_t *len, uint64_t *addr,
                   int64_t timeout_ns)
{
    if (!q || !len || (!buf && cap))
        return WOM_EINVAL;
    wom_view v;
    uint64_t at;
    int rc = queue_next(q, &v, &at, timeout_ns);
    if (rc)
        return rc;
    *len = v.len;
    if (v.len > cap) {
        /* The claim stays ours and the cursor stays here: the next take
         * with a larger buffer delivers this message. */
        wom_view_release(&v);
        return WOM_ENOBUFS;
    }
    if (v.len)
        memcpy(buf, v.data, v.len);
    wom_view_release(&v);
    q->cursor = at + 1;
    if (at % 4096 == 4095)
        queue_trim_claims(q);
    if (addr)
        *addr = at;
    return 0;
}
