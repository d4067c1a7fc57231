package app

import (
	"flag"
	"fmt"
	"strings"
	"testing"

	"footfall/internal/envflag"
)

func TestReadmeListsEveryFlag(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("processor", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := envflag.CheckDocumented(fs, "../../README.md"); err != nil {
		t.Error(err)
	}
}

// TestStartLogHidesCredentials: the start-up log lists every flag; a
// webhook URL may carry a password or a token (Slack's is in the path),
// so it is shown as set, never as written.
func TestStartLogHidesCredentials(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("processor", flag.ContinueOnError)
	c.RegisterFlags(fs)
	secrets := map[string]string{
		"webhook-urls":        "https://user:s3cret-pw@hooks.example/T0/B0/tokenpath?key=qk",
		"webhook-secret":      "hmac-key-123",
		"clickhouse-password": "ch-pw-456",
	}
	for name, v := range secrets {
		if err := fs.Set(name, v); err != nil {
			t.Fatal(err)
		}
	}
	log := fmt.Sprint(envflag.Describe(fs, Secrets)...)
	for _, bit := range []string{"s3cret-pw", "tokenpath", "qk", "hmac-key-123", "ch-pw-456"} {
		if strings.Contains(log, bit) {
			t.Errorf("the start-up log shows %q: %s", bit, log)
		}
	}
}
