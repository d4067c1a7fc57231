package envflag

import (
	"flag"
	"os"
	"strings"
	"testing"
)

func TestParseEnvFallback(t *testing.T) {
	env := map[string]string{
		"FOOTFALL_LISTEN":        "0.0.0.0:1",
		"FOOTFALL_KAFKA_BROKERS": "k:1",
		"FOOTFALL_BATCH_SIZE":    "7",
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8080", "")
	brokers := fs.String("kafka-brokers", "127.0.0.1:9092", "")
	size := fs.Int("batch-size", 100, "")
	other := fs.String("other", "def", "")
	if err := Parse(fs, []string{"-listen", "cli:2"}, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if *listen != "cli:2" {
		t.Errorf("command line must win over env, got %q", *listen)
	}
	if *brokers != "k:1" || *size != 7 || *other != "def" {
		t.Errorf("got brokers=%q size=%d other=%q", *brokers, *size, *other)
	}
}

func TestParseBadEnv(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.Int("batch-size", 100, "")
	err := Parse(fs, nil, func(k string) string {
		if k == "FOOTFALL_BATCH_SIZE" {
			return "many"
		}
		return ""
	})
	if err == nil {
		t.Fatal("want an error for a non-numeric env value")
	}
}

func TestDescribeHidesSecrets(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.String("site-keys", "demo=s3cret", "")
	kv := Describe(fs, Secret{"site-keys": true})
	if kv[1] != "(set)" {
		t.Fatalf("secret printed: %v", kv)
	}
}

func TestCheckDocumented(t *testing.T) {
	doc := t.TempDir() + "/README.md"
	os.WriteFile(doc, []byte("| `-listen` | where |\n"), 0o644)
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.String("listen", "", "")
	if err := CheckDocumented(fs, doc); err != nil {
		t.Fatal(err)
	}
	fs.String("hidden", "", "")
	if err := CheckDocumented(fs, doc); err == nil || !strings.Contains(err.Error(), "[hidden]") {
		t.Fatalf("got %v", err)
	}
}
