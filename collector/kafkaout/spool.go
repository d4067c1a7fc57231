package kafkaout

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// The spool keeps events that Kafka had not taken when shutdown's deadline
// passed: written to a file instead of lost, and produced again by the next
// start. A file holds records of uvarint key length, key, uvarint value
// length, value; it is fsynced before the producer reports the events safe,
// and deleted only after Kafka acknowledged all of them. The events hold
// personal data (addresses, user ids, tokens): files and the directory the
// collector makes are its user's alone (0600, 0700).

const spoolPrefix = "spool-"

// spoolWrite writes msgs to a new file in dir.
func spoolWrite(dir string, msgs []kafka.Message) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create spool dir: %w", err)
	}
	tightenSpool(dir)
	name := filepath.Join(dir, spoolPrefix+strconv.FormatInt(time.Now().UnixNano(), 10))
	f, err := os.OpenFile(name+".tmp", os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("create spool file: %w", err)
	}
	w := bufio.NewWriter(f)
	var n [binary.MaxVarintLen64]byte
	for _, m := range msgs {
		w.Write(n[:binary.PutUvarint(n[:], uint64(len(m.Key)))])
		w.Write(m.Key)
		w.Write(n[:binary.PutUvarint(n[:], uint64(len(m.Value)))])
		w.Write(m.Value)
	}
	err = errors.Join(w.Flush(), f.Sync(), f.Close())
	if err != nil {
		os.Remove(name + ".tmp")
		return fmt.Errorf("write spool file: %w", err)
	}
	// The rename makes the file visible to a replay only once it is whole.
	if err := os.Rename(name+".tmp", name); err != nil {
		return fmt.Errorf("publish spool file: %w", err)
	}
	return nil
}

// spoolRead reads a spool file back.
func spoolRead(name string) ([]kafka.Message, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var msgs []kafka.Message
	read := func() ([]byte, error) {
		n, err := binary.ReadUvarint(r)
		if err != nil {
			return nil, err
		}
		if n > 64<<20 {
			return nil, fmt.Errorf("record of %d bytes", n)
		}
		b := make([]byte, n)
		_, err = io.ReadFull(r, b)
		return b, err
	}
	for {
		k, err := read()
		if errors.Is(err, io.EOF) {
			return msgs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read spool file %s: %w", name, err)
		}
		v, err := read()
		if err != nil {
			return nil, fmt.Errorf("read spool file %s: %w", name, err)
		}
		msgs = append(msgs, kafka.Message{Key: k, Value: v})
	}
}

// tightenSpool makes dir and the spool files in it the collector's user's
// alone: MkdirAll leaves a directory made before (by a version that made
// it 0755, or by hand) as it was, and files spooled by such a version
// 0644 until they are replayed.
func tightenSpool(dir string) {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		slog.Warn("spool dir: cannot make it the collector's alone", "dir", dir, "err", err)
	}
	names, _ := filepath.Glob(filepath.Join(dir, spoolPrefix+"*"))
	for _, name := range names {
		if err := os.Chmod(name, 0o600); err != nil {
			slog.Warn("spool file: cannot make it the collector's alone", "file", name, "err", err)
		}
	}
}

// replaySpool produces every spool file in dir, oldest first, retrying until
// Kafka takes it or ctx ends; a file is deleted once all of it is written.
func (p *Producer) replaySpool(ctx context.Context, dir string) {
	tightenSpool(dir)
	names, _ := filepath.Glob(filepath.Join(dir, spoolPrefix+"*[0-9]"))
	sort.Strings(names)
	for _, name := range names {
		msgs, err := spoolRead(name)
		if err != nil {
			slog.Error("spool file unreadable, kept for inspection", "file", name, "err", err)
			continue
		}
		backoff := 100 * time.Millisecond
		for {
			err := p.w.WriteMessages(ctx, msgs...)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return
			}
			slog.Warn("spool replay failed, retrying", "file", name, "events", len(msgs), "err", err)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(backoff*2, 5*time.Second)
		}
		if err := os.Remove(name); err != nil {
			slog.Error("remove replayed spool file", "file", name, "err", err)
		}
		spoolReplayed.Add(float64(len(msgs)))
		slog.Info("spool replayed", "file", name, "events", len(msgs))
	}
}
