package chaos

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// The ledger's verdicts, without a stack: a hit acknowledged and not
// stored is lost, a refused one stored is no fault, a rollup that counts
// more or less than the distinct events fails the run.
func TestTally(t *testing.T) {
	sheet := Sheet{
		States: []uint8{stateAcked, stateAcked, stateRefused, stateRefused, stateAcked},
		At:     []time.Duration{0, time.Second, time.Second, 2 * time.Second, 2 * time.Second},
		Status: map[string]int{"202": 3, "dial error": 2},
	}
	extra := map[string]int64{}
	for _, k := range Rollups {
		extra[k] = 0
	}
	st := Stored{Markers: map[int]uint64{0: 1, 3: 1, 4: 1}, Rows: 3, Distinct: 3, Extra: extra}
	r := Tally("f", sheet, st)
	if r.Sent != 5 || r.Acked != 3 || r.Refused != 2 || r.Stored != 3 || r.Lost != 1 || r.RefusedStored != 1 {
		t.Fatalf("tally %+v", r)
	}
	if f := r.Failures(); len(f) != 1 || !strings.Contains(f[0], "1 acknowledged hits lost") {
		t.Errorf("failures %q", f)
	}

	st.Markers[1] = 2 // hit 1 stored twice (a retry), found by its marker
	st.Rows = 5
	st.Distinct = 4
	extra["session_parts"] = 1
	r = Tally("f", sheet, st)
	f := strings.Join(r.Failures(), "\n")
	for _, want := range []string{"1 duplicate rows in events", "1 hits stored more than once", "session_parts counts +1"} {
		if !strings.Contains(f, want) {
			t.Errorf("failures %q lack %q", f, want)
		}
	}
	if r.Lost != 0 {
		t.Errorf("lost %d, want 0", r.Lost)
	}
	table := Table([]Row{r})
	if !strings.Contains(table, "| f | 5 | 3 | 2 | 4 | 1 | 0 | 0 | 0 | 1 | 0 | 0 | 0 | 0 |\n") {
		t.Errorf("table:\n%s", table)
	}
}

// Cut refuses connections and breaks the open ones; Restore serves again
// on the same address.
func TestProxyCut(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go io.Copy(c, c)
		}
	}()
	p, err := NewProxy(echo.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ping := func(c net.Conn) error {
		c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write([]byte("x")); err != nil {
			return err
		}
		_, err := io.ReadFull(c, make([]byte, 1))
		return err
	}
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if err := ping(c); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	p.Cut()
	if err := ping(c); err == nil {
		t.Fatal("a connection open at the cut still works")
	}
	if c, err := net.Dial("tcp", p.Addr()); err == nil {
		c.Close()
		t.Fatal("the cut proxy takes connections")
	}
	if err := p.Restore(); err != nil {
		t.Fatal(err)
	}
	c, err = net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := ping(c); err != nil {
		t.Fatalf("after restore: %v", err)
	}
}
