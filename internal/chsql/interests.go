package chsql

import (
	"context"
	"fmt"
)

// Migration 0028 (one table of interests) ends in Go: the copy of
// visitor_interests is made only while that table is there, since 0029
// drops it and a database taken back to an earlier version runs 0028
// again after 0029.
func init() { after[28] = moveInterests }

var (
	qVisitorInterests = New("migrate.interests_source", `SELECT count() FROM system.tables
WHERE database = currentDatabase() AND name = 'visitor_interests'`)
	truncateInterests = New("migrate.interests_truncate", `TRUNCATE TABLE interest_visitors`)
	copyInterests     = New("migrate.interests_copy", `INSERT INTO interest_visitors (site_id, kind, interest, visitor_id, views, last_seen)
SELECT site_id, kind, interest, visitor_id, views, last_seen FROM visitor_interests`)
	// The view of 0009 with the count of views of 0007's.
	createInterestsView = New("migrate.interests_view", `CREATE MATERIALIZED VIEW IF NOT EXISTS interest_visitors_mv TO interest_visitors AS
SELECT site_id, if(type = 'pageview', 'section', 'category') AS kind,
       if(type = 'pageview', concat('/', splitByChar('/', url_path)[2]), prop_values[indexOf(prop_keys, 'category')]) AS interest,
       visitor_id, countState() AS views, maxState(time) AS last_seen
FROM events
WHERE is_bot = 0 AND visitor_id != '' AND type IN ('pageview', 'product_view') AND interest NOT IN ('', '/')
GROUP BY site_id, kind, interest, visitor_id`)
)

// moveInterests fills interest_visitors again from visitor_interests
// (both views dropped by 0028's statements, so neither table changes
// meanwhile), then makes interest_visitors' view with the count.
func moveInterests(ctx context.Context, c *Conn) error {
	var there uint64
	if err := c.QueryRow(ctx, qVisitorInterests, nil).Scan(&there); err != nil {
		return fmt.Errorf("look for visitor_interests: %w", err)
	}
	if there > 0 {
		if err := c.Exec(ctx, truncateInterests, nil); err != nil {
			return fmt.Errorf("empty interest_visitors: %w", err)
		}
		if err := c.Exec(ctx, copyInterests, nil); err != nil {
			return fmt.Errorf("copy visitor_interests into interest_visitors: %w", err)
		}
	}
	if err := c.Exec(ctx, createInterestsView, nil); err != nil {
		return fmt.Errorf("create interest_visitors_mv: %w", err)
	}
	return nil
}
