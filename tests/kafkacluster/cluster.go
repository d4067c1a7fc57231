// Package kafkacluster starts a Kafka cluster of several combined KRaft
// nodes (each a broker and a controller voter) from the jars the local
// stack fetched (.local/kafka/libs, deploy/local/stack.sh), on free ports
// and in a directory of its own, so that a test can kill one of them and
// disturb no one else. It stops only the processes it started, by pid.
package kafkacluster

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
)

// Node is one KRaft node: a broker and a controller voter.
type Node struct {
	ID         int
	Port, Ctrl int
	dir        string
	cmd        *exec.Cmd
	exited     chan struct{}
}

// Addr is the node's broker address.
func (n *Node) Addr() string { return fmt.Sprintf("127.0.0.1:%d", n.Port) }

// Cluster is a running set of nodes.
type Cluster struct {
	Nodes []*Node
	libs  string
	dir   string
}

// Properties are the broker settings every node gets beyond its
// listeners: the internal topics replicated on 3 nodes, and the lost
// broker fenced after 4 s without a heartbeat (Kafka's default is 9 s),
// which bounds how long the partitions it led have no leader. Topic
// settings (replication, min.insync.replicas) are left to the product,
// which the test checks.
var Properties = []string{
	"offsets.topic.replication.factor=3",
	"offsets.topic.num.partitions=6",
	"transaction.state.log.replication.factor=3",
	"transaction.state.log.min.isr=2",
	"group.initial.rebalance.delay.ms=0",
	"auto.create.topics.enable=false",
	"delete.topic.enable=true",
	"unclean.leader.election.enable=false",
	"broker.session.timeout.ms=4000",
	"broker.heartbeat.interval.ms=1000",
	"replica.lag.time.max.ms=10000",
}

// Libs is where the Kafka jars are: FOOTFALL_KAFKA_LIBS, else the local
// stack's under root.
func Libs(root string) string {
	if d := os.Getenv("FOOTFALL_KAFKA_LIBS"); d != "" {
		return d
	}
	if d := os.Getenv("FOOTFALL_STATE_DIR"); d != "" {
		return filepath.Join(d, "kafka", "libs")
	}
	return filepath.Join(root, ".local", "kafka", "libs")
}

// Start formats and starts n nodes under dir and waits until every one
// is a broker of the cluster. On an error it stops what it started.
func Start(ctx context.Context, libs, dir string, n int) (*Cluster, error) {
	if _, err := os.Stat(filepath.Join(libs, ".complete")); err != nil {
		return nil, fmt.Errorf("no Kafka jars in %s (make stack fetches them): %w", libs, err)
	}
	c := &Cluster{libs: libs, dir: dir}
	var voters []string
	for i := 1; i <= n; i++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		ctrl, err := freePort()
		if err != nil {
			return nil, err
		}
		c.Nodes = append(c.Nodes, &Node{ID: i, Port: port, Ctrl: ctrl, dir: filepath.Join(dir, fmt.Sprintf("kafka%d", i))})
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", i, ctrl))
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	clusterID := base64.RawURLEncoding.EncodeToString(id)
	// Format the nodes' storage concurrently: each is a JVM start.
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, node := range c.Nodes {
		props := append([]string{
			"process.roles=broker,controller",
			fmt.Sprintf("node.id=%d", node.ID),
			"controller.quorum.voters=" + strings.Join(voters, ","),
			fmt.Sprintf("listeners=PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", node.Port, node.Ctrl),
			fmt.Sprintf("advertised.listeners=PLAINTEXT://127.0.0.1:%d", node.Port),
			"controller.listener.names=CONTROLLER",
			"listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
			"inter.broker.listener.name=PLAINTEXT",
			"log.dirs=" + filepath.Join(node.dir, "data"),
			"num.partitions=1",
		}, Properties...)
		if err := os.MkdirAll(node.dir, 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(node.props(), []byte(strings.Join(props, "\n")+"\n"), 0o644); err != nil {
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := c.java(ctx, "kafka.tools.StorageTool", "format", "-t", clusterID, "-c", node.props()).CombinedOutput()
			if err != nil {
				errs[i] = fmt.Errorf("format kafka node %d: %v\n%s", node.ID, err, out)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, node := range c.Nodes {
		if err := c.start(node); err != nil {
			c.Stop()
			return nil, err
		}
	}
	if err := c.WaitBrokers(ctx, n, 3*time.Minute); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func (n *Node) props() string { return filepath.Join(n.dir, "server.properties") }

func (c *Cluster) java(ctx context.Context, class string, args ...string) *exec.Cmd {
	log4j := filepath.Join(c.libs, "..", "..", "..", "deploy", "local", "kafka", "log4j.properties")
	a := []string{"-cp", filepath.Join(c.libs, "*"), "-Xms128m", "-Xmx512m", "-XX:+UseG1GC"}
	if _, err := os.Stat(log4j); err == nil {
		a = append(a, "-Dlog4j.configuration=file:"+log4j)
	}
	return exec.CommandContext(ctx, "java", append(append(a, class), args...)...)
}

// start runs node's JVM in a process group of its own, its output in its
// directory.
func (c *Cluster) start(node *Node) error {
	out, err := os.OpenFile(filepath.Join(node.dir, "kafka.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := c.java(context.Background(), "kafka.Kafka", node.props())
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("start kafka node %d: %w", node.ID, err)
	}
	node.cmd, node.exited = cmd, make(chan struct{})
	go func() {
		cmd.Wait()
		out.Close()
		close(node.exited)
	}()
	return nil
}

// Brokers is every node's broker address, the list the programs take.
func (c *Cluster) Brokers() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr()
	}
	return out
}

// Node returns the node with the broker id.
func (c *Cluster) Node(id int) *Node {
	for _, n := range c.Nodes {
		if n.ID == id {
			return n
		}
	}
	return nil
}

// Alive is the nodes that have not been killed.
func (c *Cluster) Alive() []*Node {
	var out []*Node
	for _, n := range c.Nodes {
		if n.cmd != nil && !n.dead() {
			out = append(out, n)
		}
	}
	return out
}

func (n *Node) dead() bool {
	select {
	case <-n.exited:
		return true
	default:
		return false
	}
}

// WaitBrokers waits until a live node's metadata lists want brokers.
func (c *Cluster) WaitBrokers(ctx context.Context, want int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		var addrs []string
		for _, n := range c.Alive() {
			addrs = append(addrs, n.Addr())
		}
		client := &kafka.Client{Addr: kafka.TCP(addrs...), Timeout: 2 * time.Second}
		res, err := client.Metadata(ctx, &kafka.MetadataRequest{})
		if err == nil && len(res.Brokers) >= want {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("%d of %d brokers registered", len(res.Brokers), want)
		}
		last = err
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("kafka cluster not up: %w", last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Kill sends SIGKILL to node's JVM (its pid, which Start started) and
// waits until it has exited.
func (c *Cluster) Kill(node *Node) error {
	if node.cmd == nil || node.dead() {
		return nil
	}
	if err := node.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	select {
	case <-node.exited:
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("kafka node %d (pid %d) still runs 30 s after SIGKILL", node.ID, node.cmd.Process.Pid)
	}
}

// Stop ends every node it started: SIGTERM, then SIGKILL after 20 s.
func (c *Cluster) Stop() {
	for _, n := range c.Nodes {
		if n.cmd != nil && !n.dead() {
			n.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, n := range c.Nodes {
		if n.cmd == nil {
			continue
		}
		select {
		case <-n.exited:
		case <-time.After(20 * time.Second):
			n.cmd.Process.Signal(syscall.SIGKILL)
			<-n.exited
		}
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
