package chsql

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// Migration 0016 (visit attribution) ends by attaching what its
// statements computed.
func init() { after[16] = attachVisitBackfill }

var (
	qBackfillParts = New("migrate.visit_backfill_partitions", `SELECT DISTINCT partition FROM system.parts
WHERE database = currentDatabase() AND table = 'visit_backfill' AND active`)
	attachBackfill   = New("migrate.visit_backfill_attach", `ALTER TABLE events ATTACH PARTITION @partition FROM visit_backfill`)
	optimizeBackfill = New("migrate.visit_backfill_optimize", `OPTIMIZE TABLE events PARTITION @partition FINAL`)
	qUncredited      = New("migrate.visit_backfill_left", `SELECT count() FROM events WHERE toYYYYMM(time) = @partition AND visit_source = ''`)
	dropBackfill     = New("migrate.visit_backfill_drop", `DROP TABLE IF EXISTS visit_backfill`)
)

// attachVisitBackfill puts the credited copies of the events stored before
// migration 0016 (visit_backfill, which its statements filled) in their
// place: each month's copies are attached to events, then the month is
// merged, which keeps of each event (same key: site, time, event id) the
// copy attached last. Attaching fires no materialized view, and an insert
// meanwhile is not lost, unlike a partition replaced whole. Until its
// merge ends, a month counts its old events twice; a merge that another
// merge of the month kept from running (OPTIMIZE then does nothing) is
// tried again until no event of the month is left without its credit.
func attachVisitBackfill(ctx context.Context, c *Conn) error {
	rows, err := c.Query(ctx, qBackfillParts, nil)
	if err != nil {
		return fmt.Errorf("list visit_backfill partitions: %w", err)
	}
	var parts []uint32
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			rows.Close()
			return fmt.Errorf("list visit_backfill partitions: %w", err)
		}
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			rows.Close()
			return fmt.Errorf("visit_backfill partition %q is not a month", p)
		}
		parts = append(parts, uint32(n))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list visit_backfill partitions: %w", err)
	}
	for _, p := range parts {
		args := Args{"partition": p}
		if err := c.Exec(ctx, attachBackfill, args); err != nil {
			return fmt.Errorf("attach credited events of %d: %w", p, err)
		}
		for try := 0; ; try++ {
			if err := c.Exec(ctx, optimizeBackfill, args); err != nil {
				return fmt.Errorf("merge credited events of %d: %w", p, err)
			}
			var left uint64
			if err := c.QueryRow(ctx, qUncredited, args).Scan(&left); err != nil {
				return fmt.Errorf("count uncredited events of %d: %w", p, err)
			}
			if left == 0 {
				break
			}
			if try == 30 {
				return fmt.Errorf("%d events of %d still without their credit after merging: is a processor older than migration 0016 writing?", left, p)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
		}
	}
	if err := c.Exec(ctx, dropBackfill, nil); err != nil {
		return fmt.Errorf("drop visit_backfill: %w", err)
	}
	return nil
}
