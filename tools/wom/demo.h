/*
 * demo.h - what the two files of wom demo share: demo.c sets a run up,
 * supervises and reports it; demo_roles.c is the producers and consumers
 * and their checks.
 *
 * P producers send over one channel; C consumers either each subscribe and
 * must see every message (channel mode) or join one queue group and must
 * together see every message exactly once (queue mode). A message is a
 * struct msg_hdr and a payload derived from (producer, seq) that the
 * checksum covers. When the producers are done, the main thread sends stop
 * messages carrying every producer's count: one in channel mode, C in queue
 * mode (each member takes one and stops, so every data message before them
 * has been claimed).
 *
 * Every run uses channel "demo" and queue group "demo", starting at their
 * tails, and trims the channel behind its consumers, so repeated runs on a
 * persistent space neither add regions nor keep old messages. Messages of
 * other runs (older leftovers, or a concurrent run) carry another run id and
 * are skipped.
 */
#ifndef WOM_CLI_DEMO_H
#define WOM_CLI_DEMO_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

#include "cli.h"

#define DEMO_CHANNEL "demo"
#define DEMO_GROUP "demo"
#define KIND_DATA 0x57444154u /* "WDAT" */
#define KIND_STOP 0x5753544fu /* "WSTO" */

struct msg_hdr {
    uint32_t producer;
    uint32_t kind;
    uint64_t run; /* this run's id */
    uint64_t seq; /* data: the producer's sequence number; stop: 0 */
    uint64_t sum; /* data: checksum of the payload; stop: 0 */
};
_Static_assert(sizeof(struct msg_hdr) == 32, "message header has no padding");
#define HDR_SIZE sizeof(struct msg_hdr)
#define RECV_POLL_NS 100000000 /* consumers look at the abort flag this often */
#define STALL_S 30.0           /* no message for this long is a failure */
#define DEMO_WINDOW (1u << 18) /* messages sent but not yet received */
#define DEMO_WINDOW_BYTES (16u << 20) /* ... and at most this many bytes of them */

enum fault { F_NONE, F_DUPLICATE, F_DROP, F_CORRUPT, F_REORDER };

struct demo_cfg {
    const char *uri;
    unsigned producers, consumers;
    uint64_t messages; /* UINT64_MAX: until --seconds */
    size_t size;
    uint64_t seconds; /* 0: no time limit */
    int queue;
    enum fault fault; /* --inject */
    int procs;        /* roles are processes sharing the demo's state */
    int remote;       /* an etcd:// space: each send is timed */
    int own_space;    /* --procs on etcd://: each role process opens the space
                         itself (a gRPC connection does not survive fork), so
                         the roles are forked before anything is opened */
};

/* Queue mode's global record of delivered sequence numbers: one bit per
 * message, in chunks allocated on first use. */
#define BM_CHUNK_BITS (1u << 20)
#define BM_CHUNKS 4096u /* so up to 2^32 messages per producer */

struct bitmap {
    _Atomic(_Atomic uint64_t *) chunk[BM_CHUNKS];
};

struct consumer {
    struct demo *d;
    unsigned id;
    pthread_t th;
    pid_t pid;                /* --procs */
    uint64_t *next;           /* per producer: channel: next expected seq;
                                 queue: one past the last seq seen */
    uint64_t *got;            /* per producer: messages received */
    _Atomic uint64_t done;    /* messages received (for progress) */
    _Atomic uint64_t cursor;  /* every address below is processed */
    wom_sub *sub;
    wom_queue *q;
    uint64_t stall_seen;      /* messages received by all at stall_since */
    double stall_since;
};

struct producer {
    struct demo *d;
    unsigned id;
    pthread_t th;
    pid_t pid; /* --procs */
    wom_chan *ch; /* the channel it sends on: the run's, or with own_space
                     its own process's (meaningful there only) */
    uint64_t quota;
    _Atomic uint64_t sent;
    double slowest;           /* remote: the longest send, in seconds */
    uint64_t slowest_seq;     /* and its message */
    double slowest_at;        /* and when it began (cli_now_s) */
};

struct demo {
    struct demo_cfg cfg;
    wom_space *s;
    wom_chan *ch;
    wom_region *log;    /* the channel's region, for trimming */
    wom_region *claims; /* queue mode: the group's claims (wom.h names it) */
    uint64_t run;    /* this run's id, in every message */
    uint64_t start;  /* the channel's tail when this run began */
    uint64_t trimmed, trimmed_claims; /* main thread: the last trims made */
    double pause, pause_at; /* main thread: the longest wait for a message, and
                               when it began (cli_now_s) */
    struct producer *prod;
    struct consumer *cons;
    struct bitmap *bm; /* queue mode: one per producer */
    _Atomic int stop_sending;
    _Atomic int abort;
    unsigned started_p, started_c; /* threads created */
    _Atomic unsigned producers_done, consumers_done;
    _Atomic unsigned consumers_joined; /* own_space: subscribed or joined; the
                                          producers send only once all are */
    pthread_mutex_t lock;
    char error[256]; /* the first failure */
    int exit;        /* its exit code */
    /* --procs: this struct and everything the roles share live in one
     * shared anonymous mapping, handed out by demo_calloc. */
    size_t arena_len;
    _Atomic size_t arena_used;
};

#define DEMO_ARENA (256u << 20) /* reserved, touched only as used */

/* Zeroed memory the roles share: the shared arena with --procs (never
 * freed one by one), calloc otherwise. */
void *demo_calloc(struct demo *d, size_t n, size_t size);
void demo_free(struct demo *d, void *p);
/* A delivery check failed: the run fails with EX_VERIFY and this reason
 * (the first failure wins; every role stops). */
__attribute__((format(printf, 2, 3))) void demo_fail(struct demo *d, const char *fmt, ...);
/* A wom call failed with err; the message gets ": <strerror> (<name>)" and
 * the run the exit code of err. */
__attribute__((format(printf, 3, 4))) void demo_err(struct demo *d, int err, const char *fmt,
                                                    ...);
/* Messages sent so far, and messages received: channel mode counts the
 * slowest consumer, queue mode the sum over members. */
void demo_counts(struct demo *d, uint64_t *sent, uint64_t *recvd);

static inline int demo_aborted(struct demo *d)
{
    return atomic_load_explicit(&d->abort, memory_order_relaxed);
}

/* Send len bytes over channel ch (the run's or a role's own), waiting for
 * room in slices (to notice an abort) when someone else created it with a
 * bound. */
int demo_send(struct demo *d, wom_chan *ch, const void *m, size_t len);
/* The roles, as thread or process bodies: arg is a struct producer or a
 * struct consumer. */
void *demo_producer(void *arg);
void *demo_consumer(void *arg);

#endif
