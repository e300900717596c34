// Command chanbench measures Go channels the way wom_bench measures the C
// transports, so the two can share one table: SPSC throughput (a producer
// and a consumer goroutine) and ping-pong round trips, for 64-byte and
// 4 KiB messages, over a buffered channel (capacity 1024) and an unbuffered
// one, each in two forms:
//
//   - ptr: the message is a []byte from a preallocated pool, which is how Go
//     code usually passes buffers: the channel moves the slice header (24
//     bytes) and the consumer reads the bytes it checks in place.
//   - copy: the channel element is the message itself ([64]byte or
//     [4096]byte), so every send copies the whole payload into the channel
//     and every receive copies it out into the receiver's variable (or, when
//     a receiver is already waiting, the sender copies it straight there),
//     as wom, ZeroMQ and NNG copy it in and out.
//
// Like every C consumer, the Go consumer checks the sequence number at both
// ends of each message.
//
// As in wom_bench, each run makes a fresh channel and pool, first moves a
// quarter as many messages (round trips) as it times through them untimed
// (the warm-up), and is timed by the consumer from its first timed receive
// to its last. Around each run, the same placement probe as wom_bench's: the
// median round trip of one cache line between two threads spinning on it.
//
// Output, one line per measurement, read by wom_bench:
//
//	gomaxprocs N                                   (first line)
//	tput buf-ptr|buf-copy|unbuf-ptr|unbuf-copy SIZE msgs/s ...      (one value per run)
//	rtt  buf-ptr|buf-copy|unbuf-ptr|unbuf-copy SIZE p50ns p99ns ... (one pair per run)
//	probe tput|rtt FORM SIZE before after ...      (ns, one pair per run)
//
// GOMAXPROCS is 2 unless the environment sets it. Standard library only;
// built offline with GO111MODULE=off.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"
)

const (
	tailMagic = 0x9e3779b97f4a7c15
	poolSize  = 2048 // more than any number of messages in flight (capacity + 2)
	bufCap    = 1024
)

var (
	runs    = flag.Int("runs", 5, "runs per measurement")
	runTime = flag.Float64("time", 0.3, "seconds per run (approximate)")
	only    = flag.String("only", "", "only the forms whose name contains this (buf-ptr, unbuf-copy, ...)")
)

func fill(b []byte, seq uint64) {
	binary.LittleEndian.PutUint64(b, seq)
	binary.LittleEndian.PutUint64(b[len(b)-8:], seq^tailMagic)
}

func check(b []byte, size int, seq uint64) {
	if len(b) != size || binary.LittleEndian.Uint64(b) != seq ||
		binary.LittleEndian.Uint64(b[size-8:]) != seq^tailMagic {
		fmt.Fprintf(os.Stderr, "chanbench: message check failed at seq %d\n", seq)
		os.Exit(1)
	}
}

// pool holds poolSize pattern-filled buffers of one size, 64-byte aligned
// strides inside one allocation.
type pool [][]byte

func newPool(size int) pool {
	stride := (size + 63) &^ 63
	mem := make([]byte, stride*poolSize)
	for i := range mem {
		mem[i] = byte(i*31 + 7)
	}
	p := make(pool, poolSize)
	for i := range p {
		p[i] = mem[i*stride : i*stride+size : i*stride+size]
	}
	return p
}

func (p pool) get(seq uint64) []byte { return p[seq%poolSize] }

// tputPtr moves warm + n pool buffers producer -> consumer and returns the
// consumer's time from its first timed receive (message warm) to its last.
func tputPtr(capacity, size int, warm, n uint64) time.Duration {
	ch := make(chan []byte, capacity)
	p := newPool(size)
	ready := make(chan struct{})
	done := make(chan time.Duration)
	go func() {
		var start time.Time
		close(ready)
		for i := uint64(0); i < warm+n; i++ {
			if i == warm {
				start = time.Now()
			}
			check(<-ch, size, i)
		}
		done <- time.Since(start)
	}()
	<-ready
	for i := uint64(0); i < warm+n; i++ {
		b := p.get(i)
		fill(b, i)
		ch <- b
	}
	return <-done
}

// rttPtr runs warm + n round trips of pool buffers and records each timed
// one in samples[i - warm] (ns).
func rttPtr(capacity, size int, warm, n uint64, samples []int64) {
	ping := make(chan []byte, capacity)
	pong := make(chan []byte, capacity)
	pp, pq := newPool(size), newPool(size)
	go func() {
		for i := uint64(0); i < warm+n; i++ {
			check(<-ping, size, i)
			b := pq.get(i)
			fill(b, i)
			pong <- b
		}
	}()
	for i := uint64(0); i < warm+n; i++ {
		t0 := time.Now()
		b := pp.get(i)
		fill(b, i)
		ping <- b
		check(<-pong, size, i)
		if i >= warm {
			samples[i-warm] = int64(time.Since(t0))
		}
	}
}

// msg is a message passed by value: the channel element is the payload.
type msg interface{ [64]byte | [4096]byte }

// bytesOf views the message at m as a slice.
func bytesOf[M msg](m *M) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(m)), unsafe.Sizeof(*m))
}

// patterned returns a new message filled with the pool's pattern.
func patterned[M msg]() *M {
	m := new(M)
	b := bytesOf(m)
	for i := range b {
		b[i] = byte(i*31 + 7)
	}
	return m
}

// Each side of a by-value exchange keeps one message of its own (allocated
// once per run) and stamps or checks it in place; the channel copies the
// payload between them. `ch <- *out` copies straight from out into the
// channel. `*in = <-ch` is how a Go program receives a value into its own
// variable; for large values Go 1.19 compiles it as a receive into a zeroed
// temporary plus a copy into *in, and that cost belongs to the form.

// tputCopy moves warm + n messages by value producer -> consumer and
// returns the consumer's time from its first timed receive to its last.
func tputCopy[M msg](capacity int, warm, n uint64) time.Duration {
	ch := make(chan M, capacity)
	ready := make(chan struct{})
	done := make(chan time.Duration)
	go func() {
		in := new(M)
		b := bytesOf(in)
		var start time.Time
		close(ready)
		for i := uint64(0); i < warm+n; i++ {
			if i == warm {
				start = time.Now()
			}
			*in = <-ch
			check(b, len(b), i)
		}
		done <- time.Since(start)
	}()
	out := patterned[M]()
	b := bytesOf(out)
	<-ready
	for i := uint64(0); i < warm+n; i++ {
		fill(b, i)
		ch <- *out
	}
	return <-done
}

// rttCopy runs warm + n round trips of messages passed by value and
// records each timed one in samples[i - warm] (ns).
func rttCopy[M msg](capacity int, warm, n uint64, samples []int64) {
	ping := make(chan M, capacity)
	pong := make(chan M, capacity)
	go func() {
		in, out := new(M), patterned[M]()
		bi, bo := bytesOf(in), bytesOf(out)
		for i := uint64(0); i < warm+n; i++ {
			*in = <-ping
			check(bi, len(bi), i)
			fill(bo, i)
			pong <- *out
		}
	}()
	in, out := new(M), patterned[M]()
	bi, bo := bytesOf(in), bytesOf(out)
	for i := uint64(0); i < warm+n; i++ {
		t0 := time.Now()
		fill(bo, i)
		ping <- *out
		*in = <-pong
		check(bi, len(bi), i)
		if i >= warm {
			samples[i-warm] = int64(time.Since(t0))
		}
	}
}

// form is one way of passing messages of one size.
type form struct {
	tput func(capacity int, warm, n uint64) time.Duration
	rtt  func(capacity int, warm, n uint64, samples []int64)
}

func ptrForm(size int) form {
	return form{
		func(c int, w, n uint64) time.Duration { return tputPtr(c, size, w, n) },
		func(c int, w, n uint64, s []int64) { rttPtr(c, size, w, n, s) },
	}
}

func copyForm[M msg]() form {
	return form{tputCopy[M], rttCopy[M]}
}

func clamp(want float64, lo, hi uint64) uint64 {
	if math.IsNaN(want) || want < float64(lo) {
		return lo
	}
	if want > float64(hi) {
		return hi
	}
	return uint64(want)
}

// quantile returns the q-quantile (nearest rank) of s, sorting it.
func quantile(s []int64, q float64) int64 {
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	k := int(math.Ceil(q * float64(len(s))))
	if k > 0 {
		k--
	}
	return s[k]
}

// warmOf is the untimed count before n timed messages, as in wom_bench.
func warmOf(n uint64) uint64 {
	if n/4 > 1000 {
		return n / 4
	}
	return 1000
}

const (
	probeTrips = 2048                  // round trips per probe,
	probeBlock = 8                     // timed in blocks of this many
	probeLimit = 10 * time.Millisecond // a probe that takes longer stops early
	probeStop  = math.MaxUint64
	probeSpins = 1 << 14 // loads before a waiting side yields: ~10 us, as bench_spin's pauses
)

// probe returns the median round trip (ns) of one cache line handed back
// and forth between two OS threads spinning on it, as wom_bench's
// bench_probe_ns does: it tells which cores the two vCPUs sit on now.
func probe() float64 {
	var line struct {
		_ [64]byte
		v atomic.Uint64
		_ [56]byte
	}
	wait := func(want uint64, stopOK bool, deadline time.Time) bool {
		for spins := 0; ; spins++ {
			v := line.v.Load()
			if v == want || (stopOK && v == probeStop) {
				return v == want
			}
			if spins > probeSpins {
				runtime.Gosched()
				if !deadline.IsZero() && time.Now().After(deadline) {
					return false
				}
			}
		}
	}
	echoed := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		// The answer is a compare-and-swap from 2k-1, so that a stop
		// stored meanwhile (a probe out of time) is never overwritten.
		for k := uint64(1); wait(2*k-1, true, time.Time{}) && line.v.CompareAndSwap(2*k-1, 2*k); k++ {
		}
		close(echoed)
	}()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := time.Now()
	deadline := start.Add(probeLimit)
	var blocks []int64
	k, t0, late := uint64(0), start, false
	for len(blocks) < probeTrips/probeBlock && !late {
		for b := 0; b < probeBlock && !late; b++ {
			k++
			line.v.Store(2*k - 1)
			late = !wait(2*k, false, deadline)
		}
		t1 := time.Now()
		late = late || t1.After(deadline)
		if !late || len(blocks) == 0 {
			blocks = append(blocks, int64(t1.Sub(t0)))
		}
		t0 = t1
	}
	line.v.Store(probeStop)
	<-echoed
	sort.Slice(blocks, func(i, j int) bool { return blocks[i] < blocks[j] })
	return float64(blocks[len(blocks)/2]) / probeBlock
}

func measureTput(name string, size int, capacity int, f form) {
	const n0 = 20000
	d := f.tput(capacity, 0, n0)
	n := clamp(*runTime*1e9/(float64(d)/n0), 10000, 200000000)
	var out, probes []string
	for r := 0; r < *runs; r++ {
		before := probe()
		d = f.tput(capacity, warmOf(n), n)
		probes = append(probes, fmt.Sprintf("%.0f %.0f", before, probe()))
		out = append(out, fmt.Sprintf("%.1f", float64(n)*1e9/float64(d)))
	}
	fmt.Printf("tput %s %d %s\n", name, size, strings.Join(out, " "))
	fmt.Printf("probe tput %s %d %s\n", name, size, strings.Join(probes, " "))
}

func measureRtt(name string, size int, capacity int, f form) {
	const n0, max = 2000, 400000
	s := make([]int64, max)
	f.rtt(capacity, 0, n0, s)
	var mean float64
	for _, v := range s[:n0] {
		mean += float64(v) / n0
	}
	n := clamp(*runTime*1e9/mean, 1000, max)
	var out, probes []string
	for r := 0; r < *runs; r++ {
		before := probe()
		f.rtt(capacity, warmOf(n), n, s)
		probes = append(probes, fmt.Sprintf("%.0f %.0f", before, probe()))
		p50, p99 := quantile(s[:n], 0.50), quantile(s[:n], 0.99)
		out = append(out, fmt.Sprintf("%d %d", p50, p99))
	}
	fmt.Printf("rtt %s %d %s\n", name, size, strings.Join(out, " "))
	fmt.Printf("probe rtt %s %d %s\n", name, size, strings.Join(probes, " "))
}

func main() {
	flag.Parse()
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(2)
	}
	fmt.Printf("gomaxprocs %d\n", runtime.GOMAXPROCS(0))
	for _, size := range []int{64, 4096} {
		copied := copyForm[[64]byte]()
		if size == 4096 {
			copied = copyForm[[4096]byte]()
		}
		for _, c := range []struct {
			name     string
			capacity int
			f        form
		}{
			{"buf-ptr", bufCap, ptrForm(size)},
			{"buf-copy", bufCap, copied},
			{"unbuf-ptr", 0, ptrForm(size)},
			{"unbuf-copy", 0, copied},
		} {
			if *only != "" && !strings.Contains(c.name, *only) {
				continue
			}
			measureTput(c.name, size, c.capacity, c.f)
			measureRtt(c.name, size, c.capacity, c.f)
		}
	}
}
