package chaos

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Build compiles the collector and the processor into dir and returns
// their paths.
func Build(dir string) (collector, processor string, err error) {
	collector, processor = filepath.Join(dir, "collector"), filepath.Join(dir, "processor")
	for bin, pkg := range map[string]string{collector: "footfall/collector", processor: "footfall/processor"} {
		out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
		if err != nil {
			return "", "", fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	return collector, processor, nil
}

// Proc is a program the suite started; it is only ever ended by its pid.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	log  string
}

// Spawn starts bin with args, its output appended to logPath. The process
// dies with the test binary (Pdeathsig), so a test killed by its timeout
// leaves none behind.
func Spawn(name, bin, logPath string, args ...string) (*Proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(f, "=== %s %s %s\n", time.Now().Format(time.RFC3339Nano), name, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Env = cleanEnv()
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	p := &Proc{Name: name, cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitErr is how it ended (nil for status 0); valid once Exited.
func (p *Proc) ExitErr() error { return p.err }

// Signal sends sig to the process and waits up to timeout for it to end;
// it reports whether it ended. A process still running is left running.
func (p *Proc) Signal(sig syscall.Signal, timeout time.Duration) bool {
	if p.Exited() {
		return true
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// Kill sends SIGKILL and waits for the end.
func (p *Proc) Kill() {
	if !p.Signal(syscall.SIGKILL, 10*time.Second) {
		panic(fmt.Sprintf("%s (pid %d) outlived SIGKILL by 10 s", p.Name, p.Pid()))
	}
}

// Procs keeps every process a run started, to end them all at its end.
type Procs struct {
	mu    sync.Mutex
	procs []*Proc
}

// Add records p.
func (ps *Procs) Add(p *Proc) *Proc {
	ps.mu.Lock()
	ps.procs = append(ps.procs, p)
	ps.mu.Unlock()
	return p
}

// KillAll ends every recorded process still running, by its pid.
func (ps *Procs) KillAll() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, p := range ps.procs {
		if !p.Exited() {
			p.Kill()
		}
	}
	ps.procs = nil
}
