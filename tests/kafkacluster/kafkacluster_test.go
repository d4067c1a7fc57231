package kafkacluster_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	collector "footfall/collector/app"
	"footfall/internal/event"
	"footfall/processor/triggers"
	"footfall/tests/kafkacluster"
	"footfall/tests/stacktest"
)

// chrome is a browser's user agent: the collector drops Go's as a bot's.
const chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"

// TestKafkaCluster starts 3 KRaft nodes, lets the programs' own code make
// their topics with -kafka-replication 3, reads the layout and settings
// back from the brokers, then SIGKILLs the broker that leads the most
// partitions of the events topic while a collector (delivery=kafka: a
// hit's 200 means Kafka acknowledged it with acks=all) takes hits from
// several clients. It prints how long no hit was acknowledged, and
// fails if a hit that got its 200 is not in the topic afterwards.
//
// It needs the Kafka jars of the local stack and its ClickHouse (the
// collector's site registry); make test-kafka-cluster runs it
// (FOOTFALL_KAFKA_CLUSTER=1), make test leaves it out.
func TestKafkaCluster(t *testing.T) {
	if os.Getenv("FOOTFALL_KAFKA_CLUSTER") == "" {
		t.Skip("a 3-broker Kafka cluster test: make test-kafka-cluster (FOOTFALL_KAFKA_CLUSTER=1)")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	began := time.Now()
	cluster, err := kafkacluster.Start(ctx, kafkacluster.Libs(root), t.TempDir(), 3)
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Stop()
	t.Logf("3 KRaft nodes up in %s: %s", time.Since(began).Round(time.Millisecond), strings.Join(cluster.Brokers(), ","))

	ch, store := stacktest.ClickHouse(t)
	stacktest.Site(t, store, "demo")
	events, trig := stacktest.Name(t, "events"), stacktest.Name(t, "triggers")

	// The collector as its main.go configures it, from flags: every broker.
	var cc collector.Config
	fs := flag.NewFlagSet("collector", flag.ContinueOnError)
	cc.RegisterFlags(fs)
	if err := fs.Parse([]string{
		"-listen", "127.0.0.1:0", "-collector-ops-listen", "127.0.0.1:0",
		"-kafka-brokers", strings.Join(cluster.Brokers(), ","), "-kafka-topic", events,
		"-kafka-replication", "3", "-kafka-partitions", "6",
		"-delivery", "kafka", "-wal-dir", t.TempDir(),
		"-rate-limit-address", "0", "-rate-limit-site", "0",
	}); err != nil {
		t.Fatal(err)
	}
	cc.CH = ch
	col, err := collector.Start(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	collectorUp := true
	defer func() {
		if collectorUp {
			col.Shutdown(context.Background())
		}
	}()
	// The processor's triggers topic, made by its own code from the same
	// Kafka flags.
	n, err := triggers.New(ctx, triggers.Config{Topic: trig, Partitions: 1, Retention: time.Hour}, cc.Kafka)
	if err != nil {
		t.Fatal(err)
	}
	n.Close(ctx)

	admin := &kafka.Client{Addr: kafka.TCP(cluster.Brokers()...), Timeout: 10 * time.Second}
	// A new topic reaches each broker's metadata a moment after the one
	// that created it answered.
	var meta *kafka.MetadataResponse
	for wait := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		meta, err = admin.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{events, trig}})
		if err == nil && len(meta.Topics) == 2 && meta.Topics[0].Error == nil && meta.Topics[1].Error == nil {
			break
		}
		if time.Now().After(wait) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	leads := map[int]int{} // broker id -> partitions of the events topic it leads
	for _, tp := range meta.Topics {
		want := map[string]int{events: 6, trig: 1}[tp.Name]
		if tp.Error != nil || len(tp.Partitions) != want {
			t.Fatalf("topic %s: %d partitions (%v), want %d", tp.Name, len(tp.Partitions), tp.Error, want)
		}
		for _, p := range tp.Partitions {
			if len(p.Replicas) != 3 || len(p.Isr) != 3 {
				t.Errorf("topic %s partition %d: %d replicas, %d in sync, want 3", tp.Name, p.ID, len(p.Replicas), len(p.Isr))
			}
			if tp.Name == events {
				leads[p.Leader.ID]++
			}
		}
	}
	cfgs, err := admin.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{
		{ResourceType: kafka.ResourceTypeTopic, ResourceName: events, ConfigNames: []string{"min.insync.replicas"}},
		{ResourceType: kafka.ResourceTypeTopic, ResourceName: trig, ConfigNames: []string{"min.insync.replicas"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range cfgs.Resources {
		got := ""
		for _, e := range r.ConfigEntries {
			if e.ConfigName == "min.insync.replicas" {
				got = e.ConfigValue
			}
		}
		if r.Error != nil || got != "2" {
			t.Errorf("topic %s: min.insync.replicas %q (%v), want 2", r.ResourceName, got, r.Error)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// Load: clients sending hits one after another, each with its own
	// page, until stop; the ledger keeps when each 200 came.
	type ack struct {
		page     string
		sent, at time.Time
	}
	var (
		mu      sync.Mutex
		acked   []ack
		refused = map[int]int{}
		failed  int
	)
	stop := make(chan struct{})
	var load sync.WaitGroup
	client := &http.Client{Timeout: 60 * time.Second}
	base := "http://" + col.Addr()
	const clients = 16
	for w := 0; w < clients; w++ {
		load.Add(1)
		go func() {
			defer load.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				page := fmt.Sprintf("c%d-%d", w, i)
				req, _ := http.NewRequest("GET", fmt.Sprintf("%s/p.gif?site=demo&visitor_id=v%d&url=https%%3A%%2F%%2Fshop.example%%2F%s", base, w, page), nil)
				req.Header.Set("User-Agent", chrome)
				sent := time.Now()
				resp, err := client.Do(req)
				mu.Lock()
				switch {
				case err != nil:
					failed++
				case resp.StatusCode/100 == 2:
					acked = append(acked, ack{page, sent, time.Now()})
				default:
					refused[resp.StatusCode]++
				}
				mu.Unlock()
				if err == nil {
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode/100 != 2 {
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}

	victim, most := 0, -1
	for id, k := range leads {
		if k > most {
			victim, most = id, k
		}
	}
	time.Sleep(4 * time.Second)
	mu.Lock()
	before := len(acked)
	mu.Unlock()
	killed := time.Now()
	if err := cluster.Kill(cluster.Node(victim)); err != nil {
		t.Fatal(err)
	}
	controller := ""
	if meta.Controller.ID == victim {
		controller = ", the controller"
	}
	t.Logf("SIGKILL broker %d (leader of %d of 6 partitions%s) after %d acknowledged hits", victim, most, controller, before)
	time.Sleep(20 * time.Second)
	close(stop)
	load.Wait()

	// The stall: the longest time without an acknowledgement from the
	// kill on, and the slowest acknowledged hit.
	mu.Lock()
	sort.Slice(acked, func(i, j int) bool { return acked[i].at.Before(acked[j].at) })
	last, stall, slowest, after := killed, time.Duration(0), time.Duration(0), 0
	for _, a := range acked {
		if a.at.Before(killed) {
			continue
		}
		after++
		stall = max(stall, a.at.Sub(last))
		slowest = max(slowest, a.at.Sub(a.sent))
		last = a.at
	}
	ledger := append([]ack(nil), acked...)
	mu.Unlock()
	t.Logf("after the kill: %d hits acknowledged in 20 s; longest time without an acknowledgement %s, slowest hit %s; refused %v; no answer %d",
		after, stall.Round(time.Millisecond), slowest.Round(time.Millisecond), refused, failed)
	if after == 0 {
		t.Fatal("no hit acknowledged after the broker was killed")
	}

	sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
	defer scancel()
	if err := col.Shutdown(sctx); err != nil {
		t.Errorf("collector shutdown: %v", err)
	}
	collectorUp = false

	// Every acknowledged hit is in the topic, read from the live brokers.
	var live []string
	for _, node := range cluster.Alive() {
		live = append(live, node.Addr())
	}
	stored := readPages(t, ctx, live, events, 6)
	lost, doubled := 0, 0
	for _, a := range ledger {
		switch stored[a.page] {
		case 0:
			if lost < 5 {
				t.Errorf("hit %s acknowledged at %s (%s after the kill) is not in the topic", a.page, a.at.Format("15:04:05.000"), a.at.Sub(killed).Round(time.Millisecond))
			}
			lost++
		case 1:
		default:
			doubled++
		}
	}
	t.Logf("ledger: %d hits acknowledged, %d stored in Kafka, %d lost, %d written twice (the processor drops the second by event id); stall %s",
		len(ledger), len(stored), lost, doubled, stall.Round(time.Millisecond))
	fmt.Printf("kafka cluster: broker %d of 3 killed under load: stall %s, slowest hit %s, %d acknowledged, %d lost, %d written twice, refused %v\n",
		victim, stall.Round(time.Millisecond), slowest.Round(time.Millisecond), len(ledger), lost, doubled, refused)
	if lost > 0 {
		t.Errorf("%d acknowledged hits lost", lost)
	}
}

// readPages reads every partition of topic from its first offset to its
// end and counts the events by the last path segment of their URL.
func readPages(t *testing.T, ctx context.Context, brokers []string, topic string, partitions int) map[string]int {
	t.Helper()
	pages := map[string]int{}
	var e event.Event
	count := func(encoded []byte) {
		e.Reset()
		if err := event.Decode(encoded, &e); err != nil {
			t.Errorf("decode event: %v", err)
			return
		}
		u := e.Get(event.URL)
		pages[u[strings.LastIndexByte(u, '/')+1:]]++
	}
	for p := 0; p < partitions; p++ {
		conn, err := kafka.DialLeader(ctx, "tcp", brokers[0], topic, p)
		if err != nil {
			t.Fatalf("partition %d: %v", p, err)
		}
		first, end, err := conn.ReadOffsets()
		conn.Close()
		if err != nil {
			t.Fatalf("partition %d offsets: %v", p, err)
		}
		if end <= first {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p, MaxWait: 500 * time.Millisecond})
		if err := r.SetOffset(first); err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithTimeout(ctx, time.Minute)
		for {
			m, err := r.ReadMessage(rctx)
			if err != nil {
				cancel()
				r.Close()
				t.Fatalf("partition %d: read up to %d of %d: %v", p, len(pages), end, errors.Join(err))
			}
			if event.IsPack(m.Value) {
				if _, err := event.Unpack(m.Value, count); err != nil {
					t.Errorf("partition %d offset %d: %v", p, m.Offset, err)
				}
			} else {
				count(m.Value)
			}
			if m.Offset >= end-1 {
				break
			}
		}
		cancel()
		r.Close()
	}
	return pages
}
