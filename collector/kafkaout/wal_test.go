package kafkaout

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// segments lists the log's segment files.
func segments(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, segPrefix+"*"))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// fillLog enqueues n events with disk delivery while Kafka never answers,
// and closes at once: the events are in the log only.
func fillLog(t *testing.T, dir string, n int, cfg Config) {
	t.Helper()
	cfg.Delivery, cfg.WALDir = Disk, dir
	down := &recorder{gate: make(chan struct{})}
	p := mustProducer(t, cfg, down)
	for i := 0; i < n; i++ {
		if err := p.Enqueue(Msg{Key: []byte("k"), Value: []byte("v" + strconv.Itoa(i))}); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	p.Close(ctx)
	if got := len(down.values()); got != 0 {
		t.Fatalf("kafka took %d events while down", got)
	}
}

// replay starts a producer on dir with Kafka up and returns what it
// produced once it has produced want events (or waited long enough).
func replay(t *testing.T, dir string, want int, d Delivery) []string {
	t.Helper()
	up := &recorder{gate: open()}
	p := mustProducer(t, Config{WALDir: dir, Delivery: d, Writers: 1}, up)
	deadline := time.Now().Add(5 * time.Second)
	for len(up.values()) < want && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	return up.values()
}

func histCount(t *testing.T, h prometheus.Histogram) uint64 {
	t.Helper()
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// TestDiskAcknowledgesAfterGroupCommit: with disk delivery Enqueue
// returns once the event is in the log, Kafka or not; hits that arrive
// together share an fsync; and every acknowledged event is produced, in
// order, by the next start.
func TestDiskAcknowledgesAfterGroupCommit(t *testing.T) {
	dir := t.TempDir()
	down := &recorder{gate: make(chan struct{})}
	p := mustProducer(t, Config{Delivery: Disk, WALDir: dir, BatchEvents: 50}, down)
	commits0, written0 := histCount(t, walFsyncSeconds), testutil.ToFloat64(walWritten)
	const clients, each = 16, 50
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := p.Enqueue(Msg{Key: []byte("k"), Value: []byte(fmt.Sprintf("c%d-%03d", c, i))}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	commits := histCount(t, walFsyncSeconds) - commits0
	if w := testutil.ToFloat64(walWritten) - written0; w != clients*each {
		t.Fatalf("%v events in the log, %d acknowledged", w, clients*each)
	}
	if commits == 0 || commits >= clients*each/2 {
		t.Fatalf("%d fsyncs for %d hits from %d clients at once: no group commit", commits, clients*each, clients)
	}
	t.Logf("%d hits, %d fsyncs", clients*each, commits)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	p.Close(ctx)

	got := replay(t, dir, clients*each, Disk)
	if len(got) != clients*each {
		t.Fatalf("replayed %d of %d", len(got), clients*each)
	}
	// Each client's events in the order it sent them.
	last := map[string]string{}
	for _, v := range got {
		c := v[:len(v)-4]
		if v <= last[c] {
			t.Fatalf("%s after %s: out of order", v, last[c])
		}
		last[c] = v
	}
	if left := segments(t, dir); len(left) != 0 {
		t.Fatalf("segments left after Kafka took everything: %v", left)
	}
}

// TestTornTailIsCut: a record cut short or garbled at the end of a
// segment (a power loss during the write) is dropped at start; the records
// before it are all produced.
func TestTornTailIsCut(t *testing.T) {
	for name, damage := range map[string]func(f string, size int64) error{
		"cut in the payload": func(f string, size int64) error { return os.Truncate(f, size-3) },
		"cut in the header":  func(f string, size int64) error { return os.Truncate(f, size-lastRecord+3) },
		"garbled last byte": func(f string, size int64) error {
			return patch(f, size-1, []byte{0xff})
		},
		"garbled checksum": func(f string, size int64) error {
			return patch(f, size-lastRecord+5, []byte{0x55})
		},
		"zeros after it": func(f string, size int64) error {
			return patch(f, size, make([]byte, 4096)) // a file extended but never written
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			// One event per record: the last record is the last event.
			fillLog(t, dir, 10, Config{BatchEvents: 1})
			segs := segments(t, dir)
			if len(segs) != 1 {
				t.Fatalf("segments %v", segs)
			}
			st, _ := os.Stat(segs[0])
			if err := damage(segs[0], st.Size()); err != nil {
				t.Fatal(err)
			}
			torn0 := testutil.ToFloat64(walTornBytes)
			want := 9
			if name == "zeros after it" {
				want = 10
			}
			got := replay(t, dir, want, Memory)
			if len(got) != want {
				t.Fatalf("replayed %d events %v, want %d", len(got), got, want)
			}
			for i, v := range got {
				if v != "v"+strconv.Itoa(i) {
					t.Fatalf("event %d is %q", i, v)
				}
			}
			if testutil.ToFloat64(walTornBytes) == torn0 {
				t.Error("the torn tail was not counted")
			}
		})
	}
}

// lastRecord is the size of fillLog's last record: header, one message of
// one event with key "k" and value "v9".
const lastRecord = recHeader + 1 + 1 + 1 + 1 + 1 + 2

func patch(name string, off int64, b []byte) error {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteAt(b, off)
	return err
}

// TestFullLogRefuses: at -wal-max-bytes the producer refuses (ErrFull,
// so 503), counts it, and takes hits again once Kafka has drained the log.
func TestFullLogRefuses(t *testing.T) {
	dir := t.TempDir()
	gate := make(chan struct{})
	rec := &recorder{gate: gate}
	p := mustProducer(t, Config{Delivery: Disk, WALDir: dir, WALMaxBytes: 4 << 10, WALSegmentBytes: 1 << 10, BatchEvents: 10}, rec)
	full0 := testutil.ToFloat64(walFull)
	accepted := 0
	var err error
	for i := 0; i < 10000; i++ {
		if err = p.Enqueue(Msg{Key: []byte("k"), Value: make([]byte, 100)}); err != nil {
			break
		}
		accepted++
	}
	if !errors.Is(err, ErrLogFull) || !errors.Is(err, ErrFull) {
		t.Fatalf("after %d events: %v, want the log full", accepted, err)
	}
	if accepted < 20 || accepted > 40 {
		t.Fatalf("%d events of 100 bytes in a log of 4 KiB", accepted)
	}
	if testutil.ToFloat64(walFull) == full0 {
		t.Fatal("refusal not counted")
	}
	close(gate) // Kafka is back: the log drains and its segments go
	deadline := time.Now().Add(5 * time.Second)
	for {
		err = p.Enqueue(Msg{Key: []byte("k"), Value: make([]byte, 100)})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still refused after Kafka came back: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(rec.values()); got != accepted+1 {
		t.Fatalf("kafka got %d of %d", got, accepted+1)
	}
}

// TestSegmentsGoOnlyAfterKafkaAcknowledged: segments stay while Kafka has
// not acknowledged their events, even when closed and read, and go once it
// has.
func TestSegmentsGoOnlyAfterKafkaAcknowledged(t *testing.T) {
	dir := t.TempDir()
	gate := make(chan struct{})
	rec := &recorder{gate: gate}
	p := mustProducer(t, Config{Delivery: Disk, WALDir: dir, WALSegmentBytes: 256, BatchEvents: 5}, rec)
	for i := 0; i < 100; i++ {
		if err := p.Enqueue(Msg{Key: []byte("k"), Value: []byte(fmt.Sprintf("event-%03d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond) // the reader hands what it can to the writers
	if n := len(segments(t, dir)); n < 5 {
		t.Fatalf("%d segments for 100 events in segments of 256 bytes, Kafka away", n)
	}
	close(gate)
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(rec.values()); got != 100 {
		t.Fatalf("kafka got %d", got)
	}
	if left := segments(t, dir); len(left) != 0 {
		t.Fatalf("left %v", left)
	}
}

// TestMemoryModeKeepsUnsentInTheLog: with memory delivery, what Kafka has
// not taken by Close's deadline goes to the log, packs counted as their
// events, and the next start produces it.
func TestMemoryModeKeepsUnsentInTheLog(t *testing.T) {
	dir := t.TempDir()
	lost0, replayed0 := testutil.ToFloat64(lost), testutil.ToFloat64(walReplayed)
	down := &recorder{gate: make(chan struct{})}
	p, err := newProducer(Config{WALDir: dir, BatchEvents: 100, Linger: time.Millisecond}, down, func() int { return 2 })
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	for i := 0; i < n; i++ {
		if err := p.Enqueue(Msg{Key: []byte("k" + strconv.Itoa(i)), Value: []byte("v" + strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(20 * time.Millisecond) // lingered into a packed write
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("close: %v", err)
	}
	if d := testutil.ToFloat64(lost) - lost0; d != 0 {
		t.Fatalf("%v events counted lost with a log", d)
	}
	got := replay(t, dir, 2, Memory) // two packs, one per partition
	if len(got) != 2 {
		t.Fatalf("replayed %d messages, want the 2 packs", len(got))
	}
	if d := testutil.ToFloat64(walReplayed) - replayed0; d != n {
		t.Fatalf("replayed counted %v, want %d events", d, n)
	}
}

// TestKafkaDeliveryWaitsForTheAck: with kafka delivery Enqueue returns
// only once Kafka has taken the event.
func TestKafkaDeliveryWaitsForTheAck(t *testing.T) {
	gate := make(chan struct{})
	rec := &recorder{gate: gate}
	p := mustProducer(t, Config{Delivery: Kafka, Linger: time.Millisecond}, rec)
	done := make(chan error, 1)
	go func() { done <- p.Enqueue(Msg{Key: []byte("k"), Value: []byte("x")}) }()
	select {
	case err := <-done:
		t.Fatalf("returned %v before Kafka took the event", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := rec.values(); len(got) != 1 {
		t.Fatalf("kafka has %v", got)
	}
	p.Close(context.Background())
}

// TestKafkaDeliveryRefusedAtShutdown: a hit still waiting for Kafka when
// shutdown's deadline passes is refused (ErrClosed, 503), not left hanging.
func TestKafkaDeliveryRefusedAtShutdown(t *testing.T) {
	rec := &recorder{gate: make(chan struct{})}
	p := mustProducer(t, Config{Delivery: Kafka, Linger: time.Millisecond}, rec)
	done := make(chan error, 1)
	go func() { done <- p.Enqueue(Msg{Key: []byte("k"), Value: []byte("x")}) }()
	time.Sleep(20 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	p.Close(ctx)
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("got %v, want ErrClosed", err)
	}
}

func TestDiskEnqueueDoesNotAllocate(t *testing.T) {
	p := mustProducer(t, Config{Delivery: Disk, WALDir: t.TempDir()}, discard{})
	defer p.Close(context.Background())
	m := Msg{Key: []byte("visitor"), Value: make([]byte, 200)}
	for i := 0; i < 100; i++ { // buffers grow to their size once
		p.Enqueue(m)
	}
	// AllocsPerRun counts the whole process's allocations, the log's
	// writer and sender goroutines' too: on a loaded machine each call can
	// become a group commit of its own, and what that allocates falls in
	// the count (1 per call seen in make test). An allocation of Enqueue's
	// own shows in every round; the best of five rounds is Enqueue's.
	best := math.Inf(1)
	for round := 0; round < 5 && best != 0; round++ {
		best = min(best, testing.AllocsPerRun(200, func() { _ = p.Enqueue(m) }))
	}
	if best != 0 {
		t.Fatalf("Enqueue with disk delivery allocates %v per call", best)
	}
}

// BenchmarkEnqueueDisk: disk delivery, many clients at once (each waits
// for its group commit).
func BenchmarkEnqueueDisk(b *testing.B) {
	p := mustProducer(b, Config{Delivery: Disk, WALDir: b.TempDir()}, discard{})
	defer p.Close(context.Background())
	m := Msg{Key: []byte("visitor-123"), Value: make([]byte, 300)}
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			for p.Enqueue(m) != nil {
			}
		}
	})
}

// TestLegacySpoolIsReplayed: the files of the shutdown spool an earlier
// version wrote are moved into the log and produced.
func TestLegacySpoolIsReplayed(t *testing.T) {
	dir := t.TempDir()
	// Two events, then a torn third.
	data := []byte{2, 'k', '1', 2, 'v', '1', 2, 'k', '2', 2, 'v', '2', 5, 'k'}
	if err := os.WriteFile(filepath.Join(dir, "spool-1700000000000000000"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	got := replay(t, dir, 2, Memory)
	if len(got) != 2 || got[0] != "v1" || got[1] != "v2" {
		t.Fatalf("replayed %v", got)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "spool-*")); len(left) != 0 {
		t.Fatalf("spool files left: %v", left)
	}
}

// TestLogIsTheCollectorsAlone: the logged events hold personal data
// (addresses, user ids, newsletter tokens); no other user may read them,
// also when an older version or a hand made the directory and files
// readable by others.
func TestLogIsTheCollectorsAlone(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(dir, "spool-1")
	os.WriteFile(old, []byte{1, 'k', 1, 'v'}, 0o644)
	os.Chmod(dir, 0o755)
	os.Chmod(old, 0o644)
	w, err := openWAL(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	w.wmu.Lock()
	w.appendRecord([][]byte{[]byte("v1")}, [][]byte{[]byte("ann@x.example")}, nil)
	err = w.commit()
	w.wmu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) < 2 {
		t.Fatalf("files %v", files)
	}
	want := map[string]os.FileMode{dir: 0o700}
	for _, f := range files {
		want[f] = 0o600
	}
	for name, mode := range want {
		st, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != mode {
			t.Errorf("%s: mode %v, want %v", name, got, mode)
		}
	}
	w.close()
}

// TestOneCollectorPerLog: a second collector on the same directory is
// refused rather than interleaving its records.
func TestOneCollectorPerLog(t *testing.T) {
	dir := t.TempDir()
	p := mustProducer(t, Config{Delivery: Disk, WALDir: dir}, discard{})
	defer p.Close(context.Background())
	if _, err := NewWithWriter(Config{Delivery: Disk, WALDir: dir}, discard{}); err == nil {
		t.Fatal("a second producer opened the same log")
	}
}

// TestDiskCloseDrainsWhateverTheLinger: the log's reader waits up to
// Linger for more records before a Kafka write, but a Close sends what it
// holds at once, also with a linger of an hour.
func TestDiskCloseDrainsWhateverTheLinger(t *testing.T) {
	rec := &recorder{gate: open()}
	p := mustProducer(t, Config{Delivery: Disk, WALDir: t.TempDir(), Linger: time.Hour}, rec)
	for i := 0; i < 3; i++ {
		if err := p.Enqueue(Msg{Key: []byte("k"), Value: []byte{byte('a' + i)}}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond) // the reader lingers
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	if got := rec.values(); len(got) != 3 {
		t.Fatalf("kafka got %v", got)
	}
}
