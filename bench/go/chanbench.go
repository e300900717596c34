// Command chanbench measures Go channels the way wom_bench measures the C
// transports, so the two can share one table: SPSC throughput (a producer
// and a consumer goroutine) and ping-pong round trips, for 64-byte and
// 4 KiB messages, over a buffered channel (capacity 1024) and an unbuffered
// one.
//
// A message is a []byte from a preallocated pool, which is how Go code
// passes buffers through a channel: the channel moves the slice header and
// the consumer reads the bytes. Like every C consumer, the Go consumer checks
// the sequence number at both ends of each message.
//
// Output, one line per measurement, read by wom_bench:
//
//	tput buf|unbuf SIZE msgs/s ...            (one value per run)
//	rtt  buf|unbuf SIZE p50ns p99ns ...       (one pair per run)
//
// Standard library only; built offline with GO111MODULE=off.
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
)

const (
	tailMagic = 0x9e3779b97f4a7c15
	poolSize  = 2048 // more than any number of messages in flight (capacity + 2)
	bufCap    = 1024
)

var (
	runs    = flag.Int("runs", 5, "runs per measurement")
	runTime = flag.Float64("time", 0.3, "seconds per run (approximate)")
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

// tput moves n messages producer -> consumer and returns the time from the
// first send to the last receive.
func tput(capacity, size int, n uint64) time.Duration {
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

// rtt runs n round trips and records each one in samples[i] (ns).
func rtt(capacity, size int, n uint64, samples []int64) {
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

func measureTput(name string, capacity, size int) {
	const n0 = 20000
	d := tput(capacity, size, n0)
	n := clamp(*runTime*1e9/(float64(d)/n0), 10000, 200000000)
	var out []string
	for r := 0; r < *runs; r++ {
		d = tput(capacity, size, n)
		out = append(out, fmt.Sprintf("%.1f", float64(n)*1e9/float64(d)))
	}
	fmt.Printf("tput %s %d %s\n", name, size, strings.Join(out, " "))
}

func measureRtt(name string, capacity, size int) {
	const n0, max = 2000, 400000
	s := make([]int64, max)
	rtt(capacity, size, n0, s)
	var mean float64
	for _, v := range s[:n0] {
		mean += float64(v) / n0
	}
	n := clamp(*runTime*1e9/mean, 1000, max)
	var out []string
	for r := 0; r < *runs; r++ {
		rtt(capacity, size, n, s)
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
	for _, size := range []int{64, 4096} {
		for _, c := range []struct {
			name     string
			capacity int
		}{{"buf", bufCap}, {"unbuf", 0}} {
			measureTput(c.name, c.capacity, size)
			measureRtt(c.name, c.capacity, size)
		}
	}
}
