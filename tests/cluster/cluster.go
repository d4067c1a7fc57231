// Package cluster drives the cluster test's servers: one ZooKeeper, 2
// shards x 2 replicas of ClickHouse 18.16 and 3 KRaft Kafka nodes, started
// and stopped by deploy/cluster/cluster.sh on ports of their own. The test
// (tests/chaos, TestCluster) kills nodes with SIGKILL by the pid the script
// wrote, and starts them again through the script; it never touches a
// process it did not start.
package cluster

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Cluster is a running test cluster.
type Cluster struct {
	script string
	Dir    string   // data, logs and pid files
	CH     []string // ClickHouse native addresses, ch1..ch4
	Kafka  []string // Kafka brokers, kafka1..kafka3
	ZK     string
}

// Attach reads what cluster.sh env says of the cluster started from root
// (make test-cluster starts it before the tests and stops it after).
func Attach(root string) (*Cluster, error) {
	c := &Cluster{script: filepath.Join(root, "deploy/cluster/cluster.sh")}
	out, err := exec.Command(c.script, "env").Output()
	if err != nil {
		return nil, fmt.Errorf("cluster.sh env: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		switch k {
		case "CLUSTER_DIR":
			c.Dir = v
		case "CLICKHOUSE_ADDRS":
			c.CH = strings.Split(v, ",")
		case "KAFKA_BROKERS":
			c.Kafka = strings.Split(v, ",")
		case "ZOOKEEPER":
			c.ZK = v
		}
	}
	if len(c.CH) != 4 || len(c.Kafka) != 3 {
		return nil, fmt.Errorf("cluster.sh env: %q", out)
	}
	return c, nil
}

// Pid is the process id of node (zk, ch1..ch4, kafka1..kafka3), 0 when it
// is not running.
func (c *Cluster) Pid(node string) int {
	b, err := os.ReadFile(filepath.Join(c.Dir, node+".pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return 0
	}
	return pid
}

// Kill sends SIGKILL to node and waits until it is gone.
func (c *Cluster) Kill(node string) error {
	pid := c.Pid(node)
	if pid == 0 {
		return fmt.Errorf("%s is not running", node)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill %s (pid %d): %w", node, pid, err)
	}
	for i := 0; i < 200; i++ {
		if syscall.Kill(pid, 0) != nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s (pid %d) outlived SIGKILL by 10 s", node, pid)
}

// Start starts node again and waits until it serves (ClickHouse: reads
// system.zookeeper; Kafka: its port is open); it returns how long that
// took (every attempt) and how many times the node was started again. A
// node that exits while starting is started again by cluster.sh (at most
// 3 attempts); what the script said of it, with the failed attempt's last
// log lines, goes to the test's stderr.
func (c *Cluster) Start(node string) (took time.Duration, restarts int, err error) {
	start := time.Now()
	out, err := exec.Command(c.script, "start", node, "120").CombinedOutput()
	if err != nil {
		return time.Since(start), 0, fmt.Errorf("cluster.sh start %s: %v: %s", node, err, out)
	}
	if len(out) > 0 {
		fmt.Fprintf(os.Stderr, "cluster.sh start %s:\n%s", node, out)
	}
	return time.Since(start), strings.Count(string(out), node+" restarted (attempt"), nil
}

// Node is the name of the ClickHouse node at addr (ch1..ch4) or of the
// Kafka broker (kafka1..kafka3).
func (c *Cluster) Node(addr string) string {
	for i, a := range c.CH {
		if a == addr {
			return fmt.Sprintf("ch%d", i+1)
		}
	}
	for i, a := range c.Kafka {
		if a == addr {
			return fmt.Sprintf("kafka%d", i+1)
		}
	}
	return ""
}

// Memory is the resident memory of every node, in bytes.
func (c *Cluster) Memory() uint64 {
	var total uint64
	for _, n := range []string{"zk", "ch1", "ch2", "ch3", "ch4", "kafka1", "kafka2", "kafka3"} {
		pid := c.Pid(n)
		if pid == 0 {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseUint(f[1], 10, 64)
				total += kb * 1024
			}
		}
	}
	return total
}
