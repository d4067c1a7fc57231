package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// ext4 without a journal, and only then, skips every inode freed in the last
// 60 s (360 s while its inode table block is dirty, which new files in the
// same block keep it) each time it creates a file, with a buffer-cache
// look-up per skipped inode. ClickHouse creates about 200 files per insert
// of the end-to-end step, so after a database is dropped (every test and
// every bench step drops its own) its inserts cost more for up to six
// minutes, most of it kernel time, and freshness is worse. What that cost
// on the machine the figures come from is in docs/perf.md, "The filesystem
// under ClickHouse".

// settledCreate separates a settled filesystem's cost of creating a file
// from one still skipping recently freed inodes (see above).
const settledCreate = 60 * time.Microsecond

// journallessClickHouse is the data directory of the local ClickHouse at
// addr when it is on ext4 without a journal, and "" otherwise, or without
// a local ClickHouse.
func journallessClickHouse(addr string) string {
	dir := clickhouseDataDir(addr)
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if dir == "" || err != nil {
		return ""
	}
	fsType, source := mountOf(dir, string(mounts))
	if fsType != "ext4" {
		return ""
	}
	// A journaled ext4 lists its data mode (data=ordered and so on) among
	// its options; one without a journal has none.
	opts, err := os.ReadFile("/proc/fs/ext4/" + filepath.Base(source) + "/options")
	if err != nil || strings.Contains(string(opts), "data=") {
		return ""
	}
	return dir
}

// settleFilesystem waits, for at most limit, until creating files in dir,
// a table's directory, costs what it does on a settled filesystem, so that
// the end-to-end step measures the pipeline rather than the deletions of
// whatever ran in the minutes before it, and says what it found and how
// long it waited. Its probe files stay until the table is dropped: deleting
// them at once would itself unsettle the filesystem for the step.
func settleFilesystem(dir string, limit time.Duration) {
	start := time.Now()
	for n := 0; ; n++ {
		// The dearest of three probes: as inodes freed minutes ago age out
		// of the window, one probe can already find a clean stretch while
		// the next still skips hundreds.
		var cost time.Duration
		for range 3 {
			c, _, err := fileCreation(dir, 32)
			if err != nil {
				fmt.Printf("\nnote: could not time file creation in %s: %v\n", dir, err)
				return
			}
			cost = max(cost, c)
		}
		waited := time.Since(start).Round(time.Second)
		if n == 0 {
			fmt.Printf("\nClickHouse's filesystem: a file creation there costs %s (settled: under %s).\n", us(cost), us(settledCreate))
		}
		if cost < settledCreate {
			if n > 0 {
				fmt.Printf("settled after %s: %s a file.\n", waited, us(cost))
			}
			return
		}
		if n == 0 {
			fmt.Printf("Files were deleted there in the last minutes; waiting up to %s for it to settle ... ", limit)
		}
		if waited >= limit {
			fmt.Printf("not settled after %s (%s a file): the end-to-end figures pay for it.\n", waited, us(cost))
			return
		}
		time.Sleep(min(30*time.Second, limit-waited))
	}
}

// fileCreation times creating n empty files in a new directory under
// parent, spread over four subdirectories as ClickHouse spreads an insert's
// files over a part directory per table (ext4 picks a block group for each
// directory, and some are cleaner than others), and returns the time per
// file and the directory.
func fileCreation(parent string, n int) (time.Duration, string, error) {
	d, err := os.MkdirTemp(parent, ".bench-probe-")
	if err != nil {
		return 0, "", err
	}
	// The directories are made first: a mkdir searches the groups for a
	// home, which is not the cost looked for here.
	for i := range 4 {
		if err := os.Mkdir(filepath.Join(d, strconv.Itoa(i)), 0o755); err != nil {
			return 0, d, err
		}
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := time.Now()
	for i := range n {
		f, err := os.OpenFile(filepath.Join(d, strconv.Itoa(i%4), strconv.Itoa(i)), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return 0, d, err
		}
		f.Close()
	}
	return time.Since(start) / time.Duration(n), d, nil
}

// mountOf finds the filesystem type and source of the mount holding dir, in
// the text of /proc/self/mountinfo: the one whose mount point is the
// longest above dir.
func mountOf(dir, mountinfo string) (fsType, source string) {
	var point string
	for _, line := range strings.Split(mountinfo, "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 2 {
			continue
		}
		mp := f[4]
		if (dir == mp || strings.HasPrefix(dir, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > len(point) {
			point, fsType, source = mp, g[0], g[1]
		}
	}
	return fsType, source
}

// clickhouseDataDir is the data directory of the local ClickHouse at addr
// (serverOf), found by the status file it keeps open there; "" without a
// local ClickHouse.
func clickhouseDataDir(addr string) string {
	for _, pid := range serverOf(addr, "clickhouse-server") {
		if t, ok := openFile(pid, func(t string) bool { return filepath.Base(t) == "status" }); ok {
			return filepath.Dir(t)
		}
	}
	return ""
}
