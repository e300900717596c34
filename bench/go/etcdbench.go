// Command etcdbench measures etcd's own Go client (clientv3 of etcd 3.4, as
// Debian's golang-etcd-server-dev ships it, built in GOPATH mode) doing the
// operations that wom_bench's cluster rows do through wom's etcd:// scope, so
// the two can share one table:
//
//   - put-once: Txn(If(CreateRevision(key) == 0)).Then(OpPut(key, value)),
//     every key fresh (a write-once cell, one per transaction); the
//     transaction must succeed.
//   - put: a plain Put of a fresh key.
//   - get: a linearizable Get of a key written before the run (goroutine g
//     reads key g again and again); the value is checked.
//   - get-serializable: the same Get with WithSerializable() (the member the
//     client talks to answers from its own state, no quorum).
//   - watch: -watchers goroutines each Watch the run's prefix, then one
//     writer puts -msgs keys one after the other; every watcher must see
//     every key, in order, with its value. ops/s is the delivered rate:
//     watchers * msgs / (last delivery - first put); latency is put start ->
//     delivery.
//
// All goroutines share one clientv3.Client (one gRPC connection), as a Go
// program would. Each value carries its sequence number in its first and
// last 8 bytes, as wom_bench's messages do.
//
// Output, one line per run, read by wom_bench:
//
//	run OP SIZE CONC OPS_PER_S P50_NS P99_NS MAXGAP_NS ERRORS
//
// MAXGAP_NS is the longest time without a completed operation during the
// run (from its start to its end). With -tolerate, failed operations are
// counted in ERRORS and the run goes on (for a leader kill under load);
// without it the first failure ends the program with status 1.
//
// Built offline: GO111MODULE=off GOPATH=/usr/share/gocode (see
// bench/CMakeLists.txt).
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.uber.org/zap"
)

const tailMagic = 0x9e3779b97f4a7c15

var (
	endpoints = flag.String("endpoints", "", "client endpoints, H:P,H:P,...")
	op        = flag.String("op", "put-once", "put-once, put, get, get-serializable or watch")
	sizes     = flag.String("size", "64", "value sizes in bytes, comma-separated (>= 16)")
	concs     = flag.String("conc", "1", "concurrencies (goroutines), comma-separated")
	runs      = flag.Int("runs", 3, "runs per (size, concurrency)")
	runTime   = flag.Float64("time", 0.4, "seconds per run")
	warmup    = flag.Float64("warmup", 0.1, "seconds of warm-up before the runs (0: none)")
	prefix    = flag.String("prefix", "", "key prefix (default /wom-bench-go/PID)")
	watchers  = flag.Int("watchers", 64, "watch: number of watchers")
	msgs      = flag.Int("msgs", 200, "watch: keys the writer puts per run")
	tolerate  = flag.Bool("tolerate", false, "count failed operations instead of stopping")
	opTimeout = flag.Float64("op-timeout", 5, "seconds one operation may take")
)

func fail(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "etcdbench: "+format+"\n", a...)
	os.Exit(1)
}

func ints(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fail("bad number %q", f)
		}
		out = append(out, n)
	}
	return out
}

func value(size int, seq uint64) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(i*31 + 7)
	}
	binary.LittleEndian.PutUint64(b, seq)
	binary.LittleEndian.PutUint64(b[size-8:], seq^tailMagic)
	return b
}

func valueOK(b []byte, size int, seq uint64) bool {
	return len(b) == size && binary.LittleEndian.Uint64(b) == seq &&
		binary.LittleEndian.Uint64(b[size-8:]) == seq^tailMagic
}

// quantile returns the q-quantile (nearest rank) of sorted samples.
func quantile(s []int64, q float64) int64 {
	if len(s) == 0 {
		return 0
	}
	k := int(float64(len(s))*q+0.999999) - 1
	if k < 0 {
		k = 0
	}
	if k >= len(s) {
		k = len(s) - 1
	}
	return s[k]
}

// maxGap is the longest stretch of [0, end] without a time in done
// (nanoseconds since the run's start); done is sorted in place.
func maxGap(done []int64, end int64) int64 {
	sort.Slice(done, func(i, j int) bool { return done[i] < done[j] })
	var gap, last int64
	for _, t := range done {
		if t-last > gap {
			gap = t - last
		}
		last = t
	}
	if end-last > gap {
		gap = end - last
	}
	return gap
}

type result struct {
	opsPerS              float64
	p50, p99, gap, nerrs int64
}

func (r result) print(size, conc int) {
	fmt.Printf("run %s %d %d %.1f %d %d %d %d\n", *op, size, conc, r.opsPerS, r.p50, r.p99,
		r.gap, r.nerrs)
}

// bench runs the request loop of one op on conc goroutines for d.
type bench struct {
	cli  *clientv3.Client
	size int
	run  int // distinguishes the keys of each run
	seq  uint64
}

// once does operation i of goroutine g; nil or the error.
func (b *bench) once(ctx context.Context, g int, i uint64) error {
	switch *op {
	case "put-once", "put":
		key := fmt.Sprintf("%s/%s/%d/%d/%016x", *prefix, *op, b.size, b.run, i)
		v := string(value(b.size, i))
		if *op == "put" {
			_, err := b.cli.Put(ctx, key, v)
			return err
		}
		resp, err := b.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
			Then(clientv3.OpPut(key, v)).Commit()
		if err == nil && !resp.Succeeded {
			err = fmt.Errorf("%s: written already", key)
		}
		return err
	default: // get, get-serializable
		var opts []clientv3.OpOption
		if *op == "get-serializable" {
			opts = append(opts, clientv3.WithSerializable())
		}
		resp, err := b.cli.Get(ctx, b.getKey(g), opts...)
		if err == nil && (len(resp.Kvs) != 1 || !valueOK(resp.Kvs[0].Value, b.size, uint64(g))) {
			err = fmt.Errorf("%s: wrong value", b.getKey(g))
		}
		return err
	}
}

func (b *bench) getKey(g int) string {
	return fmt.Sprintf("%s/g/%d/%d", *prefix, b.size, g)
}

// prepare writes the keys the get ops read (once per size).
func (b *bench) prepare(conc int) {
	for g := 0; g < conc; g++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(*opTimeout*1e9))
		_, err := b.cli.Put(ctx, b.getKey(g), string(value(b.size, uint64(g))))
		cancel()
		if err != nil {
			fail("put %s: %v", b.getKey(g), err)
		}
	}
}

func (b *bench) loop(conc int, d time.Duration) result {
	b.run++
	var (
		next  uint64
		nerrs int64
		wg    sync.WaitGroup
		mu    sync.Mutex
		lats  []int64
		dones []int64
	)
	start := time.Now()
	end := start.Add(d)
	for g := 0; g < conc; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			var lat, done []int64
			for time.Now().Before(end) {
				i := atomic.AddUint64(&next, 1) - 1
				ctx, cancel := context.WithTimeout(context.Background(),
					time.Duration(*opTimeout*1e9))
				t0 := time.Now()
				err := b.once(ctx, g, i)
				t1 := time.Now()
				cancel()
				if err != nil {
					if !*tolerate {
						fail("%s: %v", *op, err)
					}
					atomic.AddInt64(&nerrs, 1)
					continue
				}
				lat = append(lat, int64(t1.Sub(t0)))
				done = append(done, int64(t1.Sub(start)))
			}
			mu.Lock()
			lats = append(lats, lat...)
			dones = append(dones, done...)
			mu.Unlock()
		}(g)
	}
	wg.Wait()
	el := time.Since(start)
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	return result{
		opsPerS: float64(len(lats)) / el.Seconds(),
		p50:     quantile(lats, 0.5),
		p99:     quantile(lats, 0.99),
		gap:     maxGap(dones, int64(el)),
		nerrs:   nerrs,
	}
}

// watch: *watchers watchers on the run's prefix, one writer of *msgs keys.
func (b *bench) watch() result {
	b.run++
	pfx := fmt.Sprintf("%s/w/%d/%d/", *prefix, b.size, b.run)
	n := *msgs
	sent := make([]int64, n) // ns since start, atomically
	var wg, ready sync.WaitGroup
	var mu sync.Mutex
	var lats, lasts []int64
	start := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for w := 0; w < *watchers; w++ {
		wg.Add(1)
		ready.Add(1)
		go func(w int) {
			defer wg.Done()
			wch := b.cli.Watch(ctx, pfx, clientv3.WithPrefix(), clientv3.WithCreatedNotify())
			first := <-wch
			if !first.Created {
				fail("watcher %d: no created notification", w)
			}
			ready.Done()
			lat := make([]int64, 0, n)
			var last int64
			got := 0
			for resp := range wch {
				if err := resp.Err(); err != nil {
					fail("watcher %d: %v", w, err)
				}
				for _, ev := range resp.Events {
					t := int64(time.Since(start))
					want := fmt.Sprintf("%s%016x", pfx, got)
					if string(ev.Kv.Key) != want || !valueOK(ev.Kv.Value, b.size, uint64(got)) {
						fail("watcher %d: got %q, want %q and its value", w, ev.Kv.Key, want)
					}
					lat = append(lat, t-atomic.LoadInt64(&sent[got]))
					last = t
					got++
				}
				if got == n {
					break
				}
			}
			if got != n {
				fail("watcher %d: %d of %d events", w, got, n)
			}
			mu.Lock()
			lats = append(lats, lat...)
			lasts = append(lasts, last)
			mu.Unlock()
		}(w)
	}
	ready.Wait()
	var t0 int64 = -1
	for i := 0; i < n; i++ {
		t := int64(time.Since(start))
		if t0 < 0 {
			t0 = t
		}
		atomic.StoreInt64(&sent[i], t)
		c, cc := context.WithTimeout(context.Background(), time.Duration(*opTimeout*1e9))
		_, err := b.cli.Put(c, fmt.Sprintf("%s%016x", pfx, i), string(value(b.size, uint64(i))))
		cc()
		if err != nil {
			fail("watch writer: put %d: %v", i, err)
		}
	}
	wg.Wait()
	var end int64
	for _, l := range lasts {
		if l > end {
			end = l
		}
	}
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	return result{
		opsPerS: float64(len(lats)) / (float64(end-t0) / 1e9),
		p50:     quantile(lats, 0.5),
		p99:     quantile(lats, 0.99),
	}
}

func main() {
	flag.Parse()
	if *endpoints == "" || *runs < 1 || *runTime <= 0 {
		fail("usage: etcdbench -endpoints H:P,... -op OP [-size N,..] [-conc N,..] " +
			"[-runs N] [-time S] [-warmup S] [-watchers N] [-msgs N] [-tolerate]")
	}
	switch *op {
	case "put-once", "put", "get", "get-serializable", "watch":
	default:
		fail("unknown op %q", *op)
	}
	if *prefix == "" {
		*prefix = fmt.Sprintf("/wom-bench-go/%d", os.Getpid())
	}
	// The client's own log says every retry at warning level: only errors.
	lc := zap.NewProductionConfig()
	lc.Level = zap.NewAtomicLevelAt(zap.ErrorLevel)
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   strings.Split(*endpoints, ","),
		DialTimeout: 5 * time.Second,
		LogConfig:   &lc,
	})
	if err != nil {
		fail("connect: %v", err)
	}
	defer cli.Close()
	for _, size := range ints(*sizes) {
		if size < 16 {
			fail("size %d below 16", size)
		}
		b := &bench{cli: cli, size: size}
		if *op == "watch" {
			if *warmup > 0 {
				b.watch()
			}
			for r := 0; r < *runs; r++ {
				b.watch().print(size, *watchers)
			}
			continue
		}
		cs := ints(*concs)
		if strings.HasPrefix(*op, "get") {
			most := 0
			for _, c := range cs {
				if c > most {
					most = c
				}
			}
			b.prepare(most)
		}
		for _, conc := range cs {
			if *warmup > 0 {
				b.loop(conc, time.Duration(*warmup*1e9))
			}
			for r := 0; r < *runs; r++ {
				b.loop(conc, time.Duration(*runTime*1e9)).print(size, conc)
			}
		}
	}
}
