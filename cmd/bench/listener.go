package main

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// serverOf is the process listening on the port of addr (host:port) on
// this machine, as ss would say: the one a bench's statements or records
// reach. pgrep by name would also count another server of the same
// program (a second ClickHouse or broker of other work) and charge its CPU
// to the pipeline. Without one found (a remote server, or /proc not
// readable), it falls back to pgrep of name.
func serverOf(addr, name string) []int {
	_, p, err := net.SplitHostPort(strings.TrimSpace(strings.Split(addr, ",")[0]))
	if err == nil {
		if port, err := strconv.Atoi(p); err == nil {
			if pid := listener(port); pid > 0 {
				return []int{pid}
			}
		}
	}
	return pgrep(name)
}

// listener is the process holding a TCP socket in LISTEN state on port (on
// any address, IPv4 or IPv6), 0 if none is found: /proc/net/tcp{,6} give
// the socket's inode, a process's fd links name it socket:[inode].
func listener(port int) int {
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		file, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(file)
		for sc.Scan() {
			// sl local_address rem_address st ... inode: the local
			// address is hex ip:port, st 0A is LISTEN.
			fs := strings.Fields(sc.Text())
			if len(fs) < 10 || fs[3] != "0A" {
				continue
			}
			i := strings.LastIndexByte(fs[1], ':')
			if p, err := strconv.ParseInt(fs[1][i+1:], 16, 32); err == nil && int(p) == port {
				inodes["socket:["+fs[9]+"]"] = true
			}
		}
		file.Close()
	}
	if len(inodes) == 0 {
		return 0
	}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range procs {
		pid, _ := strconv.Atoi(filepath.Base(dir))
		if _, ok := openFile(pid, func(t string) bool { return inodes[t] }); ok {
			return pid
		}
	}
	return 0
}

// openFile is the first of pid's open files (what its /proc/<pid>/fd
// links name: a path, socket:[inode]) that match accepts, and whether
// there is one.
func openFile(pid int, match func(target string) bool) (string, bool) {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	fds, _ := os.ReadDir(dir)
	for _, fd := range fds {
		if t, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil && match(t) {
			return t, true
		}
	}
	return "", false
}
