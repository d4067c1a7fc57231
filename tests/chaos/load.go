package chaos

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

const chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"

// What the ledger knows of one hit.
const (
	stateSent    = iota // handed to a worker, no answer yet
	stateAcked          // a 2xx without X-Footfall-Dropped
	stateRefused        // any other answer, or none (connection refused, reset, timeout)
)

// Ledger is what the load generator knows of each hit it sent, by the
// hit's marker (its number, in the prop m).
type Ledger struct {
	mu     sync.Mutex
	start  time.Time
	state  []uint8
	at     []time.Duration // when each hit was sent, since the load began
	status map[string]int  // answers by status code or error kind, for the notes
}

// Sent is the number of hits sent.
func (l *Ledger) Sent() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.state)
}

func (l *Ledger) next() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.state = append(l.state, stateSent)
	l.at = append(l.at, time.Since(l.start))
	return len(l.state) - 1
}

func (l *Ledger) answer(i int, acked bool, status string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if acked {
		l.state[i] = stateAcked
	} else {
		l.state[i] = stateRefused
	}
	if l.status == nil {
		l.status = map[string]int{}
	}
	l.status[status]++
}

// Sheet is a copy of the ledger.
type Sheet struct {
	States []uint8
	At     []time.Duration
	Status map[string]int
}

// Snapshot copies the ledger.
func (l *Ledger) Snapshot() Sheet {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := make(map[string]int, len(l.status))
	for k, v := range l.status {
		st[k] = v
	}
	return Sheet{States: append([]uint8(nil), l.state...), At: append([]time.Duration(nil), l.at...), Status: st}
}

// Load sends hits to a collector at a bounded rate, alternating the pixel
// (page views) and POST /e (page views and product views), each hit one
// event with a unique marker, and records every answer in its Ledger. A
// hit is never retried: what a browser does not get acknowledged, it does
// not send again.
type Load struct {
	Addr    string // host:port of the collector
	Site    string // the site id of every hit
	Rate    int    // hits a second
	Workers int    // connections at once
	Ledger  Ledger
}

// Run sends until ctx is done, then waits for the answers of what it sent.
func (ld *Load) Run(ctx context.Context) {
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < ld.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ld.worker(jobs)
		}()
	}
	interval := time.Second / time.Duration(ld.Rate)
	start := time.Now()
	ld.Ledger.mu.Lock()
	ld.Ledger.start = start
	ld.Ledger.mu.Unlock()
	for n := 0; ; n++ {
		if d := time.Until(start.Add(time.Duration(n) * interval)); d > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
		}
		if ctx.Err() != nil {
			break
		}
		select {
		case jobs <- 0:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(jobs)
	wg.Wait()
}

// worker sends hits over one kept-alive connection, dialled again after
// any failure, with no retry of its own (net/http's transport retries
// some requests on a connection that broke, which would send a hit twice).
func (ld *Load) worker(jobs <-chan int) {
	var conn net.Conn
	var rd *bufio.Reader
	buf := make([]byte, 0, 1024)
	for range jobs {
		i := ld.Ledger.next()
		buf = appendHit(buf[:0], ld.Site, i)
		if conn == nil {
			c, err := net.DialTimeout("tcp", ld.Addr, 2*time.Second)
			if err != nil {
				ld.Ledger.answer(i, false, "dial error")
				continue
			}
			conn, rd = c, bufio.NewReader(c)
		}
		acked, status, keep := roundTrip(conn, rd, buf)
		ld.Ledger.answer(i, acked, status)
		if !keep {
			conn.Close()
			conn = nil
		}
	}
	if conn != nil {
		conn.Close()
	}
}

func roundTrip(conn net.Conn, rd *bufio.Reader, req []byte) (acked bool, status string, keep bool) {
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write(req); err != nil {
		return false, "write error", false
	}
	resp, err := http.ReadResponse(rd, nil)
	if err != nil {
		return false, "no answer", false
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	dropped := resp.Header.Get("X-Footfall-Dropped")
	acked = resp.StatusCode/100 == 2 && dropped == ""
	status = fmt.Sprint(resp.StatusCode)
	if dropped != "" {
		status += " dropped " + dropped
	}
	return acked, status, err == nil && !resp.Close
}

// appendHit writes hit i's request: i%3 picks the door and the type. Every
// hit has a visitor and a session, so it reaches the sessions rollups; a
// product view has an id, so it reaches viewed_products.
func appendHit(b []byte, site string, i int) []byte {
	visitor, session, page := i%500, i%250, i%40
	switch i % 3 {
	case 0:
		b = fmt.Appendf(b, "GET /p.gif?site=%s&type=pageview&visitor_id=v%d&session_id=s%d&url=https%%3A%%2F%%2Fchaos.example%%2Fp%%2F%d&p.m=%d HTTP/1.1\r\n"+
			"Host: chaos.example\r\nUser-Agent: %s\r\n\r\n", site, visitor, session, page, i, chrome)
		return b
	case 1:
		body := fmt.Sprintf(`{"site":%q,"type":"pageview","visitor_id":"v%d","session_id":"s%d","url":"https://chaos.example/p/%d","props":{"m":"%d"}}`,
			site, visitor, session, page, i)
		return appendPost(b, body)
	default:
		body := fmt.Sprintf(`{"site":%q,"type":"product_view","visitor_id":"v%d","session_id":"s%d","url":"https://chaos.example/product/%d","props":{"m":"%d","id":"sku%d"}}`,
			site, visitor, session, i%20, i, i%20)
		return appendPost(b, body)
	}
}

func appendPost(b []byte, body string) []byte {
	return fmt.Appendf(b, "POST /e HTTP/1.1\r\nHost: chaos.example\r\nUser-Agent: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		chrome, len(body), body)
}
