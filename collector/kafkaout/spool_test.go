package kafkaout

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
)

func TestSpoolKeepsWhatKafkaDidNotTakeAndReplaysIt(t *testing.T) {
	dir := t.TempDir()
	// A half-written file from a crash during spooling must be left alone.
	if err := os.WriteFile(filepath.Join(dir, "spool-1.tmp"), []byte{9, 9}, 0o644); err != nil {
		t.Fatal(err)
	}
	lostBefore := testutil.ToFloat64(lost)

	down := &recorder{gate: make(chan struct{})} // Kafka never answers
	p := NewWithWriter(Config{BatchEvents: 2, Linger: time.Hour, SpoolDir: dir}, down)
	const n = 5
	for i := 0; i < n; i++ {
		if err := p.Enqueue(Msg{Key: []byte("k" + strconv.Itoa(i)), Value: []byte("v" + strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := p.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("close: %v", err)
	}
	if d := testutil.ToFloat64(lost) - lostBefore; d != 0 {
		t.Fatalf("%v events counted lost with a spool configured", d)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "spool-*[0-9]"))
	var spooledMsgs []string
	for _, f := range files {
		msgs, err := spoolRead(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			spooledMsgs = append(spooledMsgs, string(m.Key)+"="+string(m.Value))
		}
	}
	sort.Strings(spooledMsgs)
	if len(spooledMsgs) != n || spooledMsgs[0] != "k0=v0" || spooledMsgs[4] != "k4=v4" {
		t.Fatalf("spooled %v", spooledMsgs)
	}

	// The next start produces them and removes the files.
	up := &recorder{gate: open()}
	p2 := NewWithWriter(Config{SpoolDir: dir}, up)
	deadline := time.Now().Add(5 * time.Second)
	for len(up.values()) < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := p2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := up.values()
	sort.Strings(got)
	if len(got) != n || got[0] != "v0" || got[4] != "v4" {
		t.Fatalf("replayed %v", got)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "spool-*"))
	if len(left) != 1 || filepath.Base(left[0]) != "spool-1.tmp" {
		t.Fatalf("left in the spool: %v", left)
	}
}

func TestSpoolReadRejectsTornFile(t *testing.T) {
	name := filepath.Join(t.TempDir(), "spool-1")
	os.WriteFile(name, []byte{3, 'a', 'b'}, 0o644) // says 3 bytes, has 2
	if _, err := spoolRead(name); err == nil {
		t.Fatal("a torn file read as whole")
	}
}

// TestSpoolFilesAreTheCollectorsAlone: spooled events hold personal data
// (addresses, user ids, newsletter tokens); no other user may read them.
func TestSpoolFilesAreTheCollectorsAlone(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	if err := spoolWrite(dir, []kafka.Message{{Key: []byte("v1"), Value: []byte("ann@x.example")}}); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "spool-*"))
	if len(files) != 1 {
		t.Fatalf("spool files %v", files)
	}
	for name, want := range map[string]os.FileMode{dir: 0o700, files[0]: 0o600} {
		st, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", name, got, want)
		}
	}
}

// TestSpoolMadeBeforeIsTightened: a spool directory and files left by a
// version that made them readable by others (0755, 0644) become the
// collector's alone when it spools or starts (replays) again.
func TestSpoolMadeBeforeIsTightened(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(dir, "spool-1")
	if err := os.WriteFile(old, []byte("ann@x.example"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755) // whatever the umask made of it
	os.Chmod(old, 0o644)
	tightenSpool(dir)
	for name, want := range map[string]os.FileMode{dir: 0o700, old: 0o600} {
		st, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", name, got, want)
		}
	}
}
