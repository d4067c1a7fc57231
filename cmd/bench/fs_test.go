package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMountOf(t *testing.T) {
	const info = `27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
30 27 0:26 / /dev/shm rw,nosuid - tmpfs tmpfs rw
42 27 7:0 / /mnt/chj rw,relatime - ext4 /dev/loop0 rw
43 27 7:0 /data /work/main/.local/clickhouse/data rw,relatime - ext4 /dev/loop0 rw`
	for dir, want := range map[string]string{
		"/work/main/.local/clickhouse/data":     "ext4 /dev/loop0", // a bind mount
		"/work/main/.local/clickhouse/data/tmp": "ext4 /dev/loop0",
		"/work/main/.local/clickhouse/database": "ext4 /dev/vda", // a prefix, not a parent
		"/dev/shm/x":                            "tmpfs tmpfs",
		"/":                                     "ext4 /dev/vda",
	} {
		if fs, src := mountOf(dir, info); fs+" "+src != want {
			t.Errorf("%s: %s %s, want %s", dir, fs, src, want)
		}
	}
}

// The probe must create the files it times, in a directory of its own
// under the parent it is given, and leave them for the caller to remove.
func TestFileCreation(t *testing.T) {
	parent := t.TempDir()
	cost, dir, err := fileCreation(parent, 8)
	if err != nil {
		t.Fatal(err)
	}
	if cost <= 0 {
		t.Errorf("cost %s, want more than 0", cost)
	}
	if filepath.Dir(dir) != parent {
		t.Errorf("probe directory %s is not in %s", dir, parent)
	}
	files := 0
	filepath.WalkDir(dir, func(path string, e os.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			files++
		}
		return err
	})
	if files != 8 {
		t.Errorf("%d files under the probe directory, want 8", files)
	}
}
