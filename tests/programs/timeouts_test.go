package programs_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	dashboards "footfall/dashboards/app"
	"footfall/tests/stacktest"
)

// TestDashboardsDropSlowAndIdleClients: a client that sends its body
// slower than -dashboards-read-timeout, or keeps a connection idle past
// -dashboards-idle-timeout, is cut off instead of holding the connection
// for ever (before, neither was bounded).
func TestDashboardsDropSlowAndIdleClients(t *testing.T) {
	ch, _ := stacktest.ClickHouse(t)
	ctx := context.Background()
	var dc dashboards.Config
	defaults(t, dc.RegisterFlags)
	if dc.ReadTimeout <= 0 || dc.WriteTimeout <= 0 || dc.IdleTimeout <= 0 {
		t.Fatalf("default timeouts %v %v %v: each must be set", dc.ReadTimeout, dc.WriteTimeout, dc.IdleTimeout)
	}
	dc.Listen, dc.Ops.Listen, dc.CH, dc.Token = "127.0.0.1:0", "", ch, "tok"
	dc.ReadTimeout, dc.IdleTimeout = 500*time.Millisecond, 500*time.Millisecond
	dash, err := dashboards.Start(ctx, dc)
	if err != nil {
		t.Fatal(err)
	}
	defer dash.Shutdown(ctx)

	// closedWithin says whether the server closed c within d.
	// A close reads as EOF, or as a reset when the server closed with the
	// client's bytes unread (the slow body: seen once in make test); only
	// the deadline passing means it was held.
	closedWithin := func(c net.Conn, d time.Duration) bool {
		c.SetReadDeadline(time.Now().Add(d))
		_, err := io.Copy(io.Discard, c)
		var ne net.Error
		return err == nil || !(errors.As(err, &ne) && ne.Timeout())
	}

	// A body announced as 1000 bytes, sent one byte at a time.
	slow, err := net.Dial("tcp", dash.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	io.WriteString(slow, "POST /api/v1/segments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\nContent-Length: 1000\r\n\r\n{")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 30; i++ {
			time.Sleep(100 * time.Millisecond)
			if _, err := slow.Write([]byte(" ")); err != nil {
				return
			}
		}
	}()
	if !closedWithin(slow, 5*time.Second) {
		t.Error("a slow body held its connection past 5 s with -dashboards-read-timeout 500ms")
	}
	<-done

	// A keep-alive connection after one answered request, left idle.
	idle, err := net.Dial("tcp", dash.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	io.WriteString(idle, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	line, err := bufio.NewReader(idle).ReadString('\n')
	if err != nil || line != "HTTP/1.1 200 OK\r\n" {
		t.Fatalf("healthz: %q %v", line, err)
	}
	if !closedWithin(idle, 5*time.Second) {
		t.Error("an idle keep-alive connection stayed open past 5 s with -dashboards-idle-timeout 500ms")
	}
}
