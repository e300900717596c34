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
// Output, one line per measurement, read by wom_bench:
//
//	gomaxprocs N                                   (first line)
//	tput buf-ptr|buf-copy|unbuf-ptr|unbuf-copy SIZE msgs/s ...      (one value per run)
//	rtt  buf-ptr|buf-copy|unbuf-ptr|unbuf-copy SIZE p50ns p99ns ... (one pair per run)
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

// tputPtr moves n pool buffers producer -> consumer and returns the time
// from the first send to the last receive.
func tputPtr(capacity, size int, n uint64) time.Duration {
	ch := make(chan []byte, capacity)
	p := newPool(size)
	ready := make(chan struct{})
	done := make(chan time.Time)
	go func() {
		close(ready)
		for i := uint64(0); i < n; i++ {
			check(<-ch, size, i)
		}
		done <- time.Now()
	}()
	<-ready
	start := time.Now()
	for i := uint64(0); i < n; i++ {
		b := p.get(i)
		fill(b, i)
		ch <- b
	}
	return (<-done).Sub(start)
}

// rttPtr runs n round trips of pool buffers and records each one in
// samples[i] (ns).
func rttPtr(capacity, size int, n uint64, samples []int64) {
	ping := make(chan []byte, capacity)
	pong := make(chan []byte, capacity)
	pp, pq := newPool(size), newPool(size)
	go func() {
		for i := uint64(0); i < n; i++ {
			check(<-ping, size, i)
			b := pq.get(i)
			fill(b, i)
			pong <- b
		}
	}()
	for i := uint64(0); i < n; i++ {
		t0 := time.Now()
		b := pp.get(i)
		fill(b, i)
		ping <- b
		check(<-pong, size, i)
		samples[i] = int64(time.Since(t0))
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

// tputCopy moves n messages by value producer -> consumer and returns the
// time from the first send to the last receive.
func tputCopy[M msg](capacity int, n uint64) time.Duration {
	ch := make(chan M, capacity)
	ready := make(chan struct{})
	done := make(chan time.Time)
	go func() {
		in := new(M)
		b := bytesOf(in)
		close(ready)
		for i := uint64(0); i < n; i++ {
			*in = <-ch
			check(b, len(b), i)
		}
		done <- time.Now()
	}()
	out := patterned[M]()
	b := bytesOf(out)
	<-ready
	start := time.Now()
	for i := uint64(0); i < n; i++ {
		fill(b, i)
		ch <- *out
	}
	return (<-done).Sub(start)
}

// rttCopy runs n round trips of messages passed by value and records each
// one in samples[i] (ns).
func rttCopy[M msg](capacity int, n uint64, samples []int64) {
	ping := make(chan M, capacity)
	pong := make(chan M, capacity)
	go func() {
		in, out := new(M), patterned[M]()
		bi, bo := bytesOf(in), bytesOf(out)
		for i := uint64(0); i < n; i++ {
			*in = <-ping
			check(bi, len(bi), i)
			fill(bo, i)
			pong <- *out
		}
	}()
	in, out := new(M), patterned[M]()
	bi, bo := bytesOf(in), bytesOf(out)
	for i := uint64(0); i < n; i++ {
		t0 := time.Now()
		fill(bo, i)
		ping <- *out
		*in = <-pong
		check(bi, len(bi), i)
		samples[i] = int64(time.Since(t0))
	}
}

// form is one way of passing messages of one size.
type form struct {
	tput func(capacity int, n uint64) time.Duration
	rtt  func(capacity int, n uint64, samples []int64)
}

func ptrForm(size int) form {
	return form{
		func(c int, n uint64) time.Duration { return tputPtr(c, size, n) },
		func(c int, n uint64, s []int64) { rttPtr(c, size, n, s) },
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

func measureTput(name string, size int, capacity int, f form) {
	const n0 = 20000
	d := f.tput(capacity, n0)
	n := clamp(*runTime*1e9/(float64(d)/n0), 10000, 200000000)
	var out []string
	for r := 0; r < *runs; r++ {
		d = f.tput(capacity, n)
		out = append(out, fmt.Sprintf("%.1f", float64(n)*1e9/float64(d)))
	}
	fmt.Printf("tput %s %d %s\n", name, size, strings.Join(out, " "))
}

func measureRtt(name string, size int, capacity int, f form) {
	const n0, max = 2000, 400000
	s := make([]int64, max)
	f.rtt(capacity, n0, s)
	var mean float64
	for _, v := range s[:n0] {
		mean += float64(v) / n0
	}
	n := clamp(*runTime*1e9/mean, 1000, max)
	var out []string
	for r := 0; r < *runs; r++ {
		f.rtt(capacity, n, s)
		p50, p99 := quantile(s[:n], 0.50), quantile(s[:n], 0.99)
		out = append(out, fmt.Sprintf("%d %d", p50, p99))
	}
	fmt.Printf("rtt %s %d %s\n", name, size, strings.Join(out, " "))
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
