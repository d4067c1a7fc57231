package chaos

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"footfall/internal/kafkaadmin"
)

// Broker is a single-node KRaft Kafka of the suite's own, started by
// deploy/local/stack.sh kafka with its own state directory and ports, so
// that stopping it disturbs no one else.
type Broker struct {
	root       string // the repository
	state      string // FOOTFALL_STATE_DIR of this broker
	libs       string // the Kafka jars, shared with the local stack
	port, ctrl int
}

// NewBroker prepares a broker under state on two free ports; Start starts it.
func NewBroker(root, state string) (*Broker, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	ctrl, err := FreePort()
	if err != nil {
		return nil, err
	}
	libs := filepath.Join(root, ".local", "kafka", "libs")
	if d := os.Getenv("FOOTFALL_STATE_DIR"); d != "" {
		libs = filepath.Join(d, "kafka", "libs")
	}
	if _, err := os.Stat(filepath.Join(libs, ".complete")); err != nil {
		libs = filepath.Join(state, "kafka", "libs") // stack.sh fetches them there
	}
	return &Broker{root: root, state: state, libs: libs, port: port, ctrl: ctrl}, nil
}

// Addr is the broker's bootstrap address.
func (b *Broker) Addr() string { return fmt.Sprintf("127.0.0.1:%d", b.port) }

// Brokers is Addr as a list.
func (b *Broker) Brokers() []string { return []string{b.Addr()} }

// Start starts the broker (formatting its data directory the first time)
// and waits until it answers metadata requests.
func (b *Broker) Start(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, filepath.Join(b.root, "deploy", "local", "stack.sh"), "kafka")
	cmd.Env = append(cleanEnv(),
		"FOOTFALL_STATE_DIR="+b.state,
		"FOOTFALL_KAFKA_LIBS="+b.libs,
		"FOOTFALL_KAFKA_PORT="+strconv.Itoa(b.port),
		"FOOTFALL_KAFKA_CONTROLLER_PORT="+strconv.Itoa(b.ctrl),
	)
	out, err := cmd.CombinedOutput()
	if err != nil && b.pid() == 0 {
		return fmt.Errorf("stack.sh kafka: %v\n%s", err, out)
	}
	// stack.sh gives up after 90 s without the port; on a loaded machine
	// a broker can take longer, and one that runs is waited for.
	return b.answers(ctx, 3*time.Minute)
}

// Ready waits until the broker answers metadata requests; a broker that
// does not run is started.
func (b *Broker) Ready(ctx context.Context, timeout time.Duration) error {
	if b.pid() == 0 {
		return b.Start(ctx)
	}
	return b.answers(ctx, timeout)
}

// answers waits until the broker answers a metadata request.
func (b *Broker) answers(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := kafkaadmin.Ping(pctx, b.Brokers())
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("broker on %s: %w", b.Addr(), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pid is the broker's process, from the pid file stack.sh wrote, checked
// to be a java process with this broker's state directory on its command
// line; 0 when none runs.
func (b *Broker) pid() int {
	raw, err := os.ReadFile(filepath.Join(b.state, "kafka.pid"))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 1 || !alive(pid) {
		return 0
	}
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if !strings.Contains(string(cmdline), b.state) {
		return 0
	}
	return pid
}

// Stop sends sig to the broker and waits until it has exited; after
// timeout it sends SIGKILL.
func (b *Broker) Stop(sig syscall.Signal, timeout time.Duration) error {
	pid := b.pid()
	if pid == 0 {
		return nil
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("signal broker %d: %w", pid, err)
	}
	deadline := time.Now().Add(timeout)
	for alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			deadline = time.Now().Add(timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// Watchdog starts a small shell process that kills the broker when the
// process with pid owner (the test binary) is gone, so that a test killed
// by its timeout leaves no broker behind. It reads the pid file at that
// moment, since the broker's pid changes with each restart.
func (b *Broker) Watchdog(owner int) (*exec.Cmd, error) {
	pidfile := filepath.Join(b.state, "kafka.pid")
	script := fmt.Sprintf(`while kill -0 %d 2>/dev/null; do sleep 1; done
p="$(cat %q 2>/dev/null)"
[ -n "$p" ] && tr '\0' ' ' </proc/"$p"/cmdline 2>/dev/null | grep -qF %q && kill -9 "$p"
exit 0`, owner, pidfile, b.state)
	cmd := exec.Command("sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go cmd.Wait()
	return cmd, nil
}

// alive reports whether pid runs and is no zombie.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) S ...: the state follows the last ')'.
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

// FreePort returns a TCP port free on 127.0.0.1 a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// cleanEnv is this process's environment without FOOTFALL_ variables,
// which the programs would read as flags.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FOOTFALL_") {
			env = append(env, kv)
		}
	}
	return env
}
