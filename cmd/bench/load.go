package main

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/sys/unix"
)

// closedLoop sends as fast as conns connections allow for d and returns
// requests per second that got a 200. It uses wrk when installed (a C
// generator that outruns any server on one core here), else our own.
func closedLoop(addr, uri string, conns int, d time.Duration) (float64, error) {
	if _, err := exec.LookPath("wrk"); err == nil {
		return wrk(addr, uri, conns, d)
	}
	return goLoop(addr, uri, conns, d)
}

// wrk runs wrk with two threads and returns the rate of 200 answers: a
// collector whose queue is full answers 503 quickly, and those must not
// count as throughput. Socket errors fail the run.
func wrk(addr, uri string, conns int, d time.Duration) (float64, error) {
	secs := max(int(d.Seconds()), 1)
	out, err := exec.Command("wrk", "-t2", "-c"+strconv.Itoa(conns), "-d"+strconv.Itoa(secs)+"s",
		"-H", "User-Agent: "+userAgent, "http://"+addr+uri).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("wrk: %v: %s", err, out)
	}
	text := string(out)
	if strings.Contains(text, "Socket errors") {
		return 0, fmt.Errorf("wrk saw socket errors:\n%s", text)
	}
	var total, refused float64
	var elapsed time.Duration
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 4 && f[1] == "requests" && f[2] == "in":
			total, _ = strconv.ParseFloat(f[0], 64)
			elapsed, _ = time.ParseDuration(strings.TrimSuffix(f[3], ","))
		case strings.HasPrefix(strings.TrimSpace(line), "Non-2xx or 3xx responses:"):
			refused, _ = strconv.ParseFloat(f[len(f)-1], 64)
		}
	}
	if total == 0 || elapsed == 0 {
		return 0, fmt.Errorf("no request count in wrk output:\n%s", text)
	}
	if refused > 0 {
		fmt.Printf("  (%s refused %.0f of %.0f requests, counted out)\n", addr, refused, total)
	}
	return (total - refused) / elapsed.Seconds(), nil
}

func goLoop(addr, uri string, conns int, d time.Duration) (float64, error) {
	c := &fasthttp.HostClient{Addr: addr, MaxConns: conns, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}
	var ok, failed atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			req.SetRequestURI(uri)
			req.Header.SetHost(addr)
			req.Header.SetUserAgent(userAgent)
			for time.Now().Before(deadline) {
				if err := c.Do(req, resp); err == nil && resp.StatusCode() == 200 {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > ok.Load()/100 {
		return 0, errTooManyFailures(f)
	}
	return float64(ok.Load()) / time.Since(start).Seconds(), nil
}

// openLoop sends at a fixed rate for d. Latency counts from when a request
// was due, not when it left, so a stalled server shows in the tail instead
// of slowing the generator (no coordinated omission). uriFor gives request
// i's URI, and is called when it is sent, with when it was due.
//
// One OS thread drives every connection through epoll, with a timerfd for
// the next due request. A goroutine per connection, sleeping on a timer
// before each request (this generator's first form), cost as much CPU a
// hit as the collector itself; in the end-to-end step the generator shares
// the machine's cores with the pipeline being measured, so its CPU is the
// pipeline's loss.
func openLoop(addr string, rate float64, d time.Duration, uriFor func(i int, due time.Time) string) (latencies []time.Duration, failed int64) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	g, err := newGenerator(addr, 64)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open-loop generator:", err)
		return nil, int64(rate * d.Seconds())
	}
	defer g.close()
	return g.run(rate, d, uriFor)
}

type genConn struct {
	fd   int
	i    int       // request in flight, -1 when idle
	due  time.Time // when it was due
	rbuf []byte
}

type generator struct {
	addr  unix.SockaddrInet4
	host  string
	epfd  int
	timer int
	conns []*genConn
	byFD  map[int]*genConn
	idle  []*genConn
	req   []byte
}

func newGenerator(addr string, n int) (*generator, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return nil, fmt.Errorf("address %q: want IPv4 host:port", addr)
	}
	g := &generator{addr: unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}, host: addr, byFD: map[int]*genConn{}}
	if g.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	if g.timer, err = unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC); err != nil {
		unix.Close(g.epfd)
		return nil, fmt.Errorf("timerfd: %w", err)
	}
	if err := unix.EpollCtl(g.epfd, unix.EPOLL_CTL_ADD, g.timer, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(g.timer)}); err != nil {
		g.close()
		return nil, fmt.Errorf("epoll timerfd: %w", err)
	}
	for k := 0; k < n; k++ {
		c := &genConn{fd: -1, i: -1, rbuf: make([]byte, 0, 4096)}
		if err := g.dial(c); err != nil {
			g.close()
			return nil, err
		}
		g.conns = append(g.conns, c)
		g.idle = append(g.idle, c)
	}
	return g, nil
}

// dial (re)connects c: blocking connect, then non-blocking reads and writes.
func (g *generator) dial(c *genConn) error {
	if c.fd >= 0 {
		delete(g.byFD, c.fd)
		unix.Close(c.fd) // closing also takes it out of the epoll set
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	if err := unix.Connect(fd, &g.addr); err != nil {
		unix.Close(fd)
		return fmt.Errorf("connect %s: %w", g.host, err)
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return fmt.Errorf("nonblock: %w", err)
	}
	if err := unix.EpollCtl(g.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
		unix.Close(fd)
		return fmt.Errorf("epoll add: %w", err)
	}
	c.fd, c.i, c.rbuf = fd, -1, c.rbuf[:0]
	g.byFD[fd] = c
	return nil
}

func (g *generator) close() {
	for _, c := range g.conns {
		if c.fd >= 0 {
			unix.Close(c.fd)
		}
	}
	unix.Close(g.timer)
	unix.Close(g.epfd)
}

func (g *generator) run(rate float64, d time.Duration, uriFor func(i int, due time.Time) string) (latencies []time.Duration, failed int64) {
	total := int(rate * d.Seconds())
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now().Add(50 * time.Millisecond)
	// Answers still missing this long after the last request was due count
	// as failed, as the old client's 5 s read timeout did.
	giveUp := start.Add(d + 5*time.Second)
	latencies = make([]time.Duration, 0, total)
	events := make([]unix.EpollEvent, len(g.conns)+1)
	next, busy, armed := 0, 0, -1 // armed: the request the timer is set for
	for next < total || busy > 0 {
		now := time.Now()
		if now.After(giveUp) {
			failed += int64(total-next) + int64(busy)
			break
		}
		for next < total && len(g.idle) > 0 {
			due := start.Add(time.Duration(next) * interval)
			if due.After(now) {
				break
			}
			c := g.idle[len(g.idle)-1]
			g.idle = g.idle[:len(g.idle)-1]
			g.req = append(g.req[:0], "GET "...)
			g.req = append(g.req, uriFor(next, due)...)
			g.req = append(g.req, " HTTP/1.1\r\nHost: "...)
			g.req = append(g.req, g.host...)
			g.req = append(g.req, "\r\nUser-Agent: "+userAgent+"\r\n\r\n"...)
			next++
			if n, err := unix.Write(c.fd, g.req); err != nil || n != len(g.req) {
				// A request of a few hundred bytes fits any socket buffer;
				// a short write means the server is gone.
				failed++
				if err := g.dial(c); err != nil {
					fmt.Fprintln(os.Stderr, "open-loop generator:", err)
					return latencies, failed + int64(total-next) + int64(busy)
				}
				g.idle = append(g.idle, c)
				continue
			}
			c.i, c.due = next-1, due
			busy++
		}
		wait := -1 // no request to send: only answers can wake us
		if next < total && len(g.idle) > 0 {
			until := time.Until(start.Add(time.Duration(next) * interval))
			if until <= 0 {
				continue
			}
			if armed != next { // an answer woke us before the timer: it still holds
				spec := unix.ItimerSpec{Value: unix.NsecToTimespec(until.Nanoseconds())}
				unix.TimerfdSettime(g.timer, 0, &spec, nil)
				armed = next
			}
		} else if busy > 0 {
			wait = int(time.Until(giveUp)/time.Millisecond) + 1
		}
		n, err := unix.EpollWait(g.epfd, events, wait)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			fmt.Fprintln(os.Stderr, "open-loop generator: epoll:", err)
			return latencies, failed + int64(total-next) + int64(busy)
		}
		for _, ev := range events[:n] {
			if int(ev.Fd) == g.timer {
				var b [8]byte
				unix.Read(g.timer, b[:])
				armed = -1
				continue
			}
			c := g.byFD[int(ev.Fd)]
			if c == nil {
				continue
			}
			done, ok, reuse := c.read()
			if !done {
				continue
			}
			wasBusy := c.i >= 0
			if wasBusy {
				busy--
				if ok {
					latencies = append(latencies, time.Since(c.due))
				} else {
					failed++
				}
			}
			if !reuse { // the server closed the connection, or will
				if err := g.dial(c); err != nil {
					fmt.Fprintln(os.Stderr, "open-loop generator:", err)
					return latencies, failed + int64(total-next) + int64(busy)
				}
			}
			c.i, c.rbuf = -1, c.rbuf[:0]
			if wasBusy { // an idle connection is on the list already
				g.idle = append(g.idle, c)
			}
		}
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	return latencies, failed
}

// read takes what the socket has and reports whether an answer is complete
// (done), whether it was a 200 (ok), and whether the connection can carry
// the next request (reuse).
func (c *genConn) read() (done, ok, reuse bool) {
	if cap(c.rbuf)-len(c.rbuf) < 1024 {
		c.rbuf = append(c.rbuf, make([]byte, 4096)...)[:len(c.rbuf)]
	}
	n, err := unix.Read(c.fd, c.rbuf[len(c.rbuf):cap(c.rbuf)])
	if err == unix.EAGAIN || err == unix.EINTR {
		return false, false, true
	}
	if err != nil || n == 0 {
		return true, false, false
	}
	c.rbuf = c.rbuf[:len(c.rbuf)+n]
	head := bytes.Index(c.rbuf, []byte("\r\n\r\n"))
	if head < 0 {
		return false, false, true
	}
	body, reuse := 0, true
	// Line by line without bytes.Split, which allocated for every answer.
	for rest := c.rbuf[:head]; len(rest) > 0; {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		k, v, found := bytes.Cut(line, []byte(":"))
		switch {
		case !found:
		case bytes.EqualFold(k, []byte("Content-Length")):
			body, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		case bytes.EqualFold(k, []byte("Connection")):
			reuse = !bytes.EqualFold(bytes.TrimSpace(v), []byte("close"))
		}
	}
	if len(c.rbuf) < head+4+body {
		return false, false, true
	}
	return true, bytes.HasPrefix(c.rbuf, []byte("HTTP/1.1 200 ")), reuse
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p / 100 * float64(len(sorted)-1))
	return sorted[i]
}
