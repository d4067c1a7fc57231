package kafkaout

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The log is the collector's write-ahead log: what it holds has not been
// acknowledged by Kafka yet. With -delivery=disk every hit is in it before
// its 2xx; in the other modes it receives what Kafka had not taken when
// shutdown's deadline passed. Whatever it holds at start is produced again,
// oldest first.
//
// The log is a directory of segments, wal-<sequence>, appended to and never
// rewritten. A segment starts with segMagic, then records of
//
//	uint32 payload length | uint32 CRC-32C of the payload | payload
//
// (little endian). A payload is one batch: uvarint message count, then per
// message uvarint events (1, or a pack's count), uvarint key length, key,
// uvarint value length, value. Records reach the disk together and one
// fsync covers them (group commit). A record cut short or garbled, the tail
// a power loss leaves, fails its length or checksum when the log is opened:
// the segment is truncated there and the records before it are kept.
//
// A segment is deleted once the reader has passed its end and Kafka has
// acknowledged every record read from it. The active segment is closed
// (sealed) and a new one started when it passes segmentBytes or has been
// written to for segmentAge, so an acknowledged segment goes away soon and
// a crash replays at most about that much again (the processor drops the
// duplicates by event id).
//
// The events hold personal data (addresses, user ids, tokens): the
// directory and its files are the collector's user's alone (0700, 0600),
// also when an older version made them readable by others.

const (
	segPrefix    = "wal-"
	segMagic     = "FFWAL01\n"
	recHeader    = 8
	maxRecord    = 256 << 20
	segmentAge   = time.Second
	lockName     = "LOCK"
	legacyPrefix = "spool-" // files of the shutdown spool the log replaced
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ErrLogFull is Enqueue's answer when the log is at its bound.
var ErrLogFull = fmt.Errorf("%w: the write-ahead log is at -wal-max-bytes", ErrFull)

type segment struct {
	seq       uint64
	path      string
	size      int64 // bytes written and synced
	sealed    bool  // no more appends
	read      bool  // the reader has passed its end
	pending   int   // batches read from it that Kafka has not acknowledged
	recovered bool  // found at open: what it holds is a replay
}

type wal struct {
	dir      string
	segBytes int64
	lockFile *os.File

	mu      sync.Mutex
	cond    *sync.Cond
	segs    []*segment // oldest first
	nextSeq uint64
	active  *os.File // the last segment's, while it is appended to
	since   time.Time

	// The reader's position.
	rseg  *segment
	rfile *os.File
	roff  int64
	// rbuf holds the segment's bytes from rbufAt: one read brings in
	// many records.
	rbuf   []byte
	rbufAt int64
	// draining: the reader stops at the end of what is committed;
	// stopped: at once.
	draining, stopped bool
	closed            bool // no more commits

	bytes atomic.Int64 // on disk, all segments

	// wmu is held while records are put in wbuf and committed.
	wmu  sync.Mutex
	wbuf []byte
}

// openWAL opens (creating) the log in dir, checks every segment and cuts a
// torn tail, and takes in the files of the spool it replaced.
func openWAL(dir string, segBytes int64) (*wal, error) {
	if segBytes <= 0 {
		segBytes = 8 << 20
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create wal dir: %w", err)
	}
	tighten(dir)
	lf, err := os.OpenFile(filepath.Join(dir, lockName), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open wal lock: %w", err)
	}
	if err := unix.Flock(int(lf.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lf.Close()
		return nil, fmt.Errorf("wal dir %s is in use by another collector: %w", dir, err)
	}
	w := &wal{dir: dir, segBytes: segBytes, lockFile: lf}
	w.cond = sync.NewCond(&w.mu)
	names, _ := filepath.Glob(filepath.Join(dir, segPrefix+"*"))
	sort.Strings(names) // fixed-width sequence numbers
	for _, name := range names {
		seq, err := strconv.ParseUint(strings.TrimPrefix(filepath.Base(name), segPrefix), 10, 64)
		if err != nil {
			continue
		}
		size, err := recoverSegment(name)
		if err != nil {
			lf.Close()
			return nil, err
		}
		w.nextSeq = seq + 1
		if size <= int64(len(segMagic)) {
			os.Remove(name)
			continue
		}
		w.segs = append(w.segs, &segment{seq: seq, path: name, size: size, sealed: true, recovered: true})
		w.bytes.Add(size)
	}
	if err := w.importSpool(); err != nil {
		w.close()
		return nil, err
	}
	walBytes.Set(float64(w.bytes.Load()))
	walSegments.Set(float64(len(w.segs)))
	return w, nil
}

// recoverSegment checks name's records and truncates it after the last
// whole one, returning its size.
func recoverSegment(name string) (int64, error) {
	f, err := os.OpenFile(name, os.O_RDWR, 0o600)
	if err != nil {
		return 0, fmt.Errorf("open wal segment: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	r := bufio.NewReaderSize(f, 1<<20)
	magic := make([]byte, len(segMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != segMagic {
		if st.Size() <= int64(len(segMagic)) && strings.HasPrefix(segMagic, string(magic[:st.Size()])) {
			return 0, nil // torn while being created: empty
		}
		return 0, fmt.Errorf("wal segment %s: not a log segment (move it away to start)", name)
	}
	good := int64(len(segMagic))
	var hdr [recHeader]byte
	var payload []byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			break
		}
		n := binary.LittleEndian.Uint32(hdr[:4])
		if n > maxRecord {
			break
		}
		if cap(payload) < int(n) {
			payload = make([]byte, n)
		}
		payload = payload[:n]
		if _, err := io.ReadFull(r, payload); err != nil {
			break
		}
		if crc32.Checksum(payload, crcTable) != binary.LittleEndian.Uint32(hdr[4:]) {
			break
		}
		if _, err := decodeRecord(payload, nil); err != nil {
			break
		}
		good += recHeader + int64(n)
	}
	if good < st.Size() {
		torn := st.Size() - good
		walTornBytes.Add(float64(torn))
		slog.Warn("wal segment has a torn or garbled tail: cut after its last whole record", "file", name, "kept_bytes", good, "dropped_bytes", torn)
		if err := f.Truncate(good); err != nil {
			return 0, fmt.Errorf("cut torn wal segment: %w", err)
		}
		if err := f.Sync(); err != nil {
			return 0, fmt.Errorf("cut torn wal segment: %w", err)
		}
	}
	return good, nil
}

// appendRecord encodes msgs (counts nil: one event each) as one record
// after the ones already in w.wbuf.
func (w *wal) appendRecord(keys, values [][]byte, counts []int) {
	start := len(w.wbuf)
	w.wbuf = append(w.wbuf, make([]byte, recHeader)...)
	w.wbuf = binary.AppendUvarint(w.wbuf, uint64(len(keys)))
	for i := range keys {
		c := 1
		if counts != nil {
			c = counts[i]
		}
		w.wbuf = binary.AppendUvarint(w.wbuf, uint64(c))
		w.wbuf = binary.AppendUvarint(w.wbuf, uint64(len(keys[i])))
		w.wbuf = append(w.wbuf, keys[i]...)
		w.wbuf = binary.AppendUvarint(w.wbuf, uint64(len(values[i])))
		w.wbuf = append(w.wbuf, values[i]...)
	}
	payload := w.wbuf[start+recHeader:]
	binary.LittleEndian.PutUint32(w.wbuf[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(w.wbuf[start+4:], crc32.Checksum(payload, crcTable))
}

// appendBatch encodes the messages of b as one record.
func (w *wal) appendBatch(b *batch) {
	start := len(w.wbuf)
	w.wbuf = append(w.wbuf, make([]byte, recHeader)...)
	n := b.count()
	w.wbuf = binary.AppendUvarint(w.wbuf, uint64(n))
	from := int32(0)
	for i := 0; i < len(b.ends); i += 2 {
		k, v := b.ends[i], b.ends[i+1]
		w.wbuf = binary.AppendUvarint(w.wbuf, 1)
		w.wbuf = binary.AppendUvarint(w.wbuf, uint64(k-from))
		w.wbuf = append(w.wbuf, b.buf[from:k]...)
		w.wbuf = binary.AppendUvarint(w.wbuf, uint64(v-k))
		w.wbuf = append(w.wbuf, b.buf[k:v]...)
		from = v
	}
	payload := w.wbuf[start+recHeader:]
	binary.LittleEndian.PutUint32(w.wbuf[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(w.wbuf[start+4:], crc32.Checksum(payload, crcTable))
}

// commit writes the records in w.wbuf to the active segment and fsyncs
// it: one write, one sync for all of them. On failure the segment is cut
// back to where it was, and none of them is in the log. The caller holds
// w.wmu.
func (w *wal) commit() error {
	defer func() { w.wbuf = w.wbuf[:0] }()
	if len(w.wbuf) == 0 {
		return nil
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	var err error
	if w.active != nil && (w.segs[len(w.segs)-1].size >= w.segBytes || time.Since(w.since) >= segmentAge) {
		w.sealLocked()
	}
	if w.active == nil {
		err = w.startSegmentLocked()
	}
	if err != nil {
		w.mu.Unlock()
		return err
	}
	seg := w.segs[len(w.segs)-1]
	f := w.active
	w.mu.Unlock()

	t0 := time.Now()
	_, err = f.WriteAt(w.wbuf, seg.size)
	if err == nil {
		err = f.Sync()
	}
	walFsyncSeconds.Observe(time.Since(t0).Seconds())
	if err != nil {
		f.Truncate(seg.size)
		walWriteErrors.Inc()
		return fmt.Errorf("write-ahead log: %w", err)
	}
	w.mu.Lock()
	seg.size += int64(len(w.wbuf))
	w.bytes.Add(int64(len(w.wbuf)))
	walBytes.Set(float64(w.bytes.Load()))
	w.cond.Broadcast()
	w.mu.Unlock()
	return nil
}

// startSegmentLocked creates the next segment, its magic synced, and
// makes its name durable.
func (w *wal) startSegmentLocked() error {
	name := filepath.Join(w.dir, fmt.Sprintf("%s%020d", segPrefix, w.nextSeq))
	f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("create wal segment: %w", err)
	}
	if _, err := f.WriteString(segMagic); err != nil {
		f.Close()
		os.Remove(name)
		return fmt.Errorf("create wal segment: %w", err)
	}
	if err := errors.Join(f.Sync(), syncDir(w.dir)); err != nil {
		f.Close()
		os.Remove(name)
		return fmt.Errorf("create wal segment: %w", err)
	}
	w.nextSeq++
	w.segs = append(w.segs, &segment{seq: w.nextSeq - 1, path: name, size: int64(len(segMagic))})
	w.bytes.Add(int64(len(segMagic)))
	w.active, w.since = f, time.Now()
	walSegments.Set(float64(len(w.segs)))
	return nil
}

// sealLocked ends the active segment: no more appends go to it.
func (w *wal) sealLocked() {
	if w.active == nil {
		return
	}
	w.active.Close()
	w.active = nil
	w.segs[len(w.segs)-1].sealed = true
	w.cond.Broadcast()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// next decodes the reader's next record into b, waiting for one while
// wait is set (else reporting false at once), and notes in b the segment
// it came from: a batch may hold the records of several segments, so a
// drain after a long outage (many segments, sealed every segmentAge)
// sends full batches instead of one Kafka write per segment. It reports
// false when the reader is stopped, or draining and at the end of the
// log.
func (w *wal) next(b *batch, wait bool) bool {
	w.mu.Lock()
	for {
		if w.stopped {
			w.mu.Unlock()
			return false
		}
		if w.rseg == nil {
			for _, s := range w.segs {
				if !s.read {
					w.rseg, w.roff = s, int64(len(segMagic))
					break
				}
			}
		}
		s := w.rseg
		if s != nil && w.roff < s.size {
			break
		}
		if s != nil && s.sealed {
			w.passedLocked()
			continue
		}
		if !wait || w.draining {
			w.mu.Unlock()
			return false
		}
		w.cond.Wait()
	}
	seg, off := w.rseg, w.roff
	if w.rfile == nil {
		f, err := os.Open(seg.path)
		if err != nil {
			w.mu.Unlock()
			slog.Error("open wal segment to produce it", "file", seg.path, "err", err)
			return false
		}
		w.rfile = f
	}
	f, size := w.rfile, seg.size
	w.mu.Unlock()

	payload, err := w.readRecord(f, off, size)
	events := 0
	if err == nil {
		events, err = decodeRecord(payload, b)
	}
	if err != nil {
		// Written and synced by this process or checked at open: a
		// segment that reads back wrong now is damaged under it.
		slog.Error("wal segment unreadable: the rest of it is skipped", "file", seg.path, "offset", off, "err", err)
		w.mu.Lock()
		w.roff = seg.size
		w.mu.Unlock()
		return false
	}
	w.mu.Lock()
	w.roff = off + recHeader + int64(len(payload))
	seg.pending++
	w.mu.Unlock()
	if n := len(b.from); n > 0 && b.from[n-1].seg == seg {
		b.from[n-1].records++
		b.from[n-1].events += events
	} else {
		b.from = append(b.from, segRecords{seg: seg, records: 1, events: events})
	}
	return true
}

// readBuffer is what the reader reads of a segment at once.
const readBuffer = 1 << 20

// readRecord returns the payload of the record at off, checked, from the
// read buffer, refilled from f (committed up to size) when it does not
// hold the whole record.
func (w *wal) readRecord(f *os.File, off, size int64) ([]byte, error) {
	hdr, err := w.buffered(f, off, recHeader, size)
	if err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint32(hdr)
	sum := binary.LittleEndian.Uint32(hdr[4:])
	if n > maxRecord {
		return nil, fmt.Errorf("record of %d bytes", n)
	}
	rec, err := w.buffered(f, off, recHeader+int64(n), size)
	if err != nil {
		return nil, err
	}
	payload := rec[recHeader:]
	if crc32.Checksum(payload, crcTable) != sum {
		return nil, errors.New("checksum mismatch")
	}
	return payload, nil
}

// buffered returns the n bytes at off, reading from off on (up to
// readBuffer, or n when larger, at most to size) when the buffer lacks
// them.
func (w *wal) buffered(f *os.File, off, n, size int64) ([]byte, error) {
	if off >= w.rbufAt && off+n <= w.rbufAt+int64(len(w.rbuf)) {
		i := off - w.rbufAt
		return w.rbuf[i : i+n], nil
	}
	want := min(max(n, readBuffer), size-off)
	if want < n {
		return nil, io.ErrUnexpectedEOF
	}
	if int64(cap(w.rbuf)) < want {
		w.rbuf = make([]byte, want)
	}
	w.rbuf, w.rbufAt = w.rbuf[:want], off
	if _, err := f.ReadAt(w.rbuf, off); err != nil {
		w.rbuf = w.rbuf[:0]
		return nil, err
	}
	return w.rbuf[:n], nil
}

// decodeRecord appends a record's messages to b (when not nil) and
// returns their events.
func decodeRecord(p []byte, b *batch) (int, error) {
	n, k := binary.Uvarint(p)
	if k <= 0 {
		return 0, errors.New("bad message count")
	}
	p = p[k:]
	events := 0
	field := func() ([]byte, error) {
		l, k := binary.Uvarint(p)
		if k <= 0 || uint64(len(p)-k) < l {
			return nil, errors.New("bad field length")
		}
		f := p[k : k+int(l)]
		p = p[k+int(l):]
		return f, nil
	}
	for i := uint64(0); i < n; i++ {
		c, k := binary.Uvarint(p)
		if k <= 0 || c == 0 {
			return 0, errors.New("bad event count")
		}
		p = p[k:]
		key, err := field()
		if err != nil {
			return 0, err
		}
		val, err := field()
		if err != nil {
			return 0, err
		}
		events += int(c)
		if b != nil {
			b.buf = append(b.buf, key...)
			kEnd := int32(len(b.buf))
			b.buf = append(b.buf, val...)
			b.ends = append(b.ends, kEnd, int32(len(b.buf)))
			b.counts = append(b.counts, int(c))
		}
	}
	if len(p) != 0 {
		return 0, errors.New("trailing bytes")
	}
	return events, nil
}

// ending reports whether waiting for more records is pointless: the
// reader is draining or stopped, or it is at the end of a segment that
// takes no more (and none follows yet).
func (w *wal) ending() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.draining || w.rseg == nil || w.rseg.sealed
}

// passedLocked marks the reader's sealed segment read and moves on.
func (w *wal) passedLocked() {
	s := w.rseg
	s.read = true
	if w.rfile != nil {
		w.rfile.Close()
		w.rfile = nil
	}
	w.rbuf = w.rbuf[:0]
	w.rseg = nil
	if w.dropLocked(s) {
		removeSegment(s)
	}
}

// ack records that Kafka acknowledged records read from s, and deletes s
// when that was the last of it. The file is removed outside the lock: an
// unlink of an fsynced segment took 1.1 ms on the test machine's ext4,
// and under the lock it held up the reader and the committer (a hit's
// acknowledgement) once a segment; the writers' unlinks overlap (0.5 ms a
// segment with four).
func (w *wal) ack(s *segment, records int) {
	w.mu.Lock()
	s.pending -= records
	drop := w.dropLocked(s)
	w.mu.Unlock()
	if drop {
		removeSegment(s)
	}
}

// removeSegment deletes the file of a segment dropLocked let go. A file
// that stays (the error logged) is produced again at the next start, its
// events dropped there as copies by the processor.
func removeSegment(s *segment) {
	if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		slog.Error("remove acknowledged wal segment", "file", s.path, "err", err)
	}
}

// dropLocked takes s out of the log once it is read and acknowledged
// whole, and reports whether it did: the caller then removes its file.
func (w *wal) dropLocked(s *segment) bool {
	if !s.read || s.pending > 0 {
		return false
	}
	for i, x := range w.segs {
		if x == s {
			w.segs = append(w.segs[:i], w.segs[i+1:]...)
			break
		}
	}
	w.bytes.Add(-s.size)
	walBytes.Set(float64(w.bytes.Load()))
	walSegments.Set(float64(len(w.segs)))
	return true
}

// drain lets the reader finish what is committed, then stop.
func (w *wal) drain() {
	w.mu.Lock()
	w.draining = true
	w.cond.Broadcast()
	w.mu.Unlock()
}

// stopReading stops the reader at once.
func (w *wal) stopReading() {
	w.mu.Lock()
	w.draining, w.stopped = true, true
	w.cond.Broadcast()
	w.mu.Unlock()
}

// close seals the active segment, deletes it when Kafka has all of it,
// and releases the directory.
func (w *wal) close() {
	w.mu.Lock()
	w.stopped, w.closed = true, true
	w.sealLocked()
	if w.rseg != nil && w.roff >= w.rseg.size {
		w.passedLocked()
	}
	if w.rfile != nil {
		w.rfile.Close()
		w.rfile = nil
	}
	w.cond.Broadcast()
	w.mu.Unlock()
	w.lockFile.Close()
}

// importSpool moves the files of the shutdown spool an earlier version
// wrote (uvarint key length, key, uvarint value length, value, ...) into
// the log, then deletes them.
func (w *wal) importSpool() error {
	names, _ := filepath.Glob(filepath.Join(w.dir, legacyPrefix+"*[0-9]"))
	sort.Strings(names)
	w.wmu.Lock()
	defer w.wmu.Unlock()
	defer func() {
		w.mu.Lock()
		w.sealLocked() // what comes next is no replay
		w.mu.Unlock()
	}()
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			return fmt.Errorf("read spool file: %w", err)
		}
		var keys, values [][]byte
		for p := data; len(p) > 0; {
			k, v, rest, ok := spoolRecord(p)
			if !ok {
				break // a torn tail: what came before it is whole
			}
			keys, values, p = append(keys, k), append(values, v), rest
		}
		if len(keys) > 0 {
			w.appendRecord(keys, values, nil)
			if err := w.commit(); err != nil {
				return fmt.Errorf("move spool file %s into the log: %w", name, err)
			}
			w.mu.Lock()
			w.segs[len(w.segs)-1].recovered = true
			w.mu.Unlock()
		}
		if err := os.Remove(name); err != nil {
			return fmt.Errorf("remove spool file: %w", err)
		}
		slog.Info("spool file of an earlier version moved into the write-ahead log", "file", name, "events", len(keys))
	}
	return nil
}

// writeMessages puts msgs in the log as one record, synced; the
// producer's writers call it for what Kafka had not taken by shutdown's
// deadline.
func (w *wal) writeMessages(keys, values [][]byte, counts []int) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	w.appendRecord(keys, values, counts)
	return w.commit()
}

func spoolRecord(p []byte) (key, value, rest []byte, ok bool) {
	for i := 0; i < 2; i++ {
		n, k := binary.Uvarint(p)
		if k <= 0 || uint64(len(p)-k) < n {
			return nil, nil, nil, false
		}
		if i == 0 {
			key = p[k : k+int(n)]
		} else {
			value = p[k : k+int(n)]
		}
		p = p[k+int(n):]
	}
	return key, value, p, true
}

// tighten makes dir and the files in it the collector's user's alone:
// MkdirAll leaves a directory made before (by a version that made it
// 0755, or by hand) as it was.
func tighten(dir string) {
	if err := os.Chmod(dir, 0o700); err != nil {
		slog.Warn("wal dir: cannot make it the collector's alone", "dir", dir, "err", err)
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, name := range names {
		if err := os.Chmod(name, 0o600); err != nil {
			slog.Warn("wal file: cannot make it the collector's alone", "file", name, "err", err)
		}
	}
}
