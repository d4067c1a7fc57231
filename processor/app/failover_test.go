package app

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"footfall/internal/event"
	"footfall/processor/chstore"
	"footfall/tests/stacktest"
)

// TestKilledMemberIsReplaced measures how long a consumer group of two
// processors stalls when one is killed with SIGKILL (it cannot leave the
// group): one event is produced to every partition right after the kill,
// and the stall is the time until the last of them is stored. Until the
// coordinator declares the dead member gone (the session timeout), its
// partitions wait; then the group rebalances, which pauses the survivor's
// own partitions too. With the defaults it must stay under 10 s (6 s of
// session timeout, the broker's least, plus the rebalance and an insert);
// FOOTFALL_FAILOVER_COMPARE=1 also measures the previous settings (10 s
// session, 1 s heartbeat, 10 s rebalance timeout).
func TestKilledMemberIsReplaced(t *testing.T) {
	brokers := stacktest.Brokers(t)
	bin := filepath.Join(t.TempDir(), "processor")
	build := exec.Command("go", "build", "-o", bin, "footfall/processor")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the processor: %v\n%s", err, out)
	}
	configs := map[string][]string{"defaults": nil}
	if os.Getenv("FOOTFALL_FAILOVER_COMPARE") != "" {
		configs["previous"] = []string{"-kafka-session-timeout=10s", "-kafka-heartbeat-interval=1s"}
	}
	for name, flags := range configs {
		t.Run(name, func(t *testing.T) {
			var worst time.Duration
			for round := range 2 {
				stall := killOneOfTwo(t, brokers, bin, flags)
				t.Logf("%s, round %d: the group stalled %v after a member's SIGKILL", name, round+1, stall.Round(10*time.Millisecond))
				worst = max(worst, stall)
			}
			if name == "defaults" && worst > 10*time.Second {
				t.Errorf("the group stalled %v after a member's SIGKILL, want under 10 s", worst)
			}
		})
	}
}

func killOneOfTwo(t *testing.T, brokers []string, bin string, flags []string) time.Duration {
	const partitions = 6
	topic := stacktest.Topic(t, brokers, partitions)
	chcfg, store := stacktest.ClickHouse(t)
	group := stacktest.Name(t, "g")
	args := append([]string{
		"-kafka-brokers=" + strings.Join(brokers, ","), "-kafka-topic=" + topic, "-kafka-group=" + group,
		"-clickhouse-addr=" + chcfg.Addr, "-clickhouse-db=" + chcfg.Database,
		"-processor-ops-listen=", "-refresh-interval=0", "-segments-interval=0", "-flush-interval=100ms",
	}, flags...)
	procs := make([]*exec.Cmd, 2)
	for i := range procs {
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = nil, nil
		if testing.Verbose() {
			cmd.Stderr = os.Stderr
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs[i] = cmd
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				<-done
			}
		})
	}
	stacktest.WaitAssigned(t, brokers, group, 2)
	// Both hold partitions and are consuming: one event to each.
	toEach(t, brokers, topic, partitions, "before")
	waitStored(t, store, partitions, "before", 60*time.Second)

	if err := procs[0].Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	toEach(t, brokers, topic, partitions, "after")
	waitStored(t, store, partitions, "after", 60*time.Second)
	return time.Since(killed)
}

// toEach writes one pageview of site tag to every partition of topic.
func toEach(t *testing.T, brokers []string, topic string, partitions int, tag string) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll, Transport: &kafka.Transport{},
		Balancer: kafka.BalancerFunc(func(m kafka.Message, _ ...int) int { p, _ := strconv.Atoi(string(m.Key)); return p })}
	defer w.Close()
	var msgs []kafka.Message
	now := time.Now().UnixMilli()
	for p := range partitions {
		e := event.Event{ID: event.NewID(now), TimeMs: now, Ingest: event.IngestBeacon}
		e.F[event.Site], e.F[event.Type] = []byte(tag), []byte("pageview")
		e.F[event.VisitorID] = []byte(fmt.Sprintf("v%d", p))
		e.F[event.URL] = []byte(fmt.Sprintf("https://shop.example/p/%d", p))
		e.F[event.UserAgent] = []byte("Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0")
		msgs = append(msgs, kafka.Message{Key: []byte(strconv.Itoa(p)), Value: event.Append(nil, &e)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
}

// waitStored polls every 50 ms until site tag has n events.
func waitStored(t *testing.T, store *chstore.Store, n uint64, tag string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := stacktest.Count(t, store, "SELECT count() FROM events WHERE site_id = ?", tag)
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events of %s stored after %v, want %d", got, tag, timeout, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
