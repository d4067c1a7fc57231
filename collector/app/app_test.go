package app

import (
	"bytes"
	"flag"
	"log/slog"
	"strings"
	"testing"

	"footfall/internal/envflag"
)

func TestReadmeListsEveryFlag(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("collector", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := envflag.CheckDocumented(fs, "../../README.md"); err != nil {
		t.Error(err)
	}
}

// TestRemovedSiteFlags: -sites and -site-keys, which made every site's
// keys a process flag, are refused saying where sites are made now.
func TestRemovedSiteFlags(t *testing.T) {
	for _, f := range []string{"-site-keys=demo=demo-secret-key", "-sites=demo"} {
		var c Config
		fs := flag.NewFlagSet("collector", flag.ContinueOnError)
		fs.SetOutput(new(bytes.Buffer))
		c.RegisterFlags(fs)
		if err := fs.Parse([]string{f}); err == nil || !strings.Contains(err.Error(), "/api/v1/sites") {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestServerLogQuotesNoRequest: fasthttp's line for a request it could
// not read, which quotes it, is not logged; its other lines are.
func TestServerLogQuotesNoRequest(t *testing.T) {
	var buf bytes.Buffer
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	serverLog{}.Printf("error when serving connection %q<->%q: %v", "a", "b", "malformed mime header: missing colon: \"SECRET\"")
	if buf.Len() != 0 {
		t.Errorf("logged: %s", buf.String())
	}
	serverLog{}.Printf("Permanent error when accepting new connections: %v", "too many open files")
	if !strings.Contains(buf.String(), "too many open files") {
		t.Errorf("accept error not logged: %q", buf.String())
	}
}

// TestParseProxies: -trust-proxy is a list of networks; the switch it was
// is refused with what to give instead.
func TestParseProxies(t *testing.T) {
	r, err := parseProxies("10.0.0.0/8, 127.0.0.1", "forwarded")
	if err != nil || !r.Enabled() || r.Header().Name() != "Forwarded" {
		t.Fatalf("%v %v", r, err)
	}
	if r, err := parseProxies("", "X-Forwarded-For"); err != nil || r.Enabled() {
		t.Errorf("empty: %v %v", r, err)
	}
	for _, bad := range [][2]string{{"true", ""}, {"1", ""}, {"10.0.0.0/8", "X-Real-IP"}, {"10.0.0.0/99", ""}} {
		if _, err := parseProxies(bad[0], bad[1]); err == nil {
			t.Errorf("%q %q accepted", bad[0], bad[1])
		}
	}
	if _, err := parseProxies("true", ""); err == nil || !strings.Contains(err.Error(), "give the proxies' networks") {
		t.Errorf("true: %v", err)
	}
}
