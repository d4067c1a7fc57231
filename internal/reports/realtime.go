package reports

import (
	"context"
	"time"

	"footfall/internal/chsql"
)

// realtimeWhere selects the site's human, on-site events since @since; the
// time index reads only them.
const realtimeWhere = `site_id = @site AND time >= @since AND is_bot = 0 AND ingest != 'email'`

var (
	qRealtime      = chsql.New("reports.realtime", statement("", source{overEvents, "events WHERE " + realtimeWhere}, []Metric{Visitors, Pageviews}, "", ""))
	qRealtimePages = chsql.New("reports.realtime_pages", statement("url_path", source{overEvents, "events WHERE " + realtimeWhere + " AND type = 'pageview'"},
		[]Metric{Visitors, Pageviews}, "url_path", "ORDER BY m_visitors DESC, m_pageviews DESC, url_path LIMIT 10"))
)

// RealtimeMinutes is how far back Realtime looks.
const RealtimeMinutes = 30

// Realtime is who is on the site now.
type Realtime struct {
	Site      string `json:"site"`
	Minutes   int    `json:"minutes"`
	Visitors  uint64 `json:"visitors"`
	Pageviews uint64 `json:"pageviews"`
	Pages     []Row  `json:"top_pages"`
}

// Live is the visitors and page views of site's last RealtimeMinutes
// before now, and their ten top pages (by visitors, then page views), each
// with its visitors and page views.
func Live(ctx context.Context, db *chsql.Conn, site string, now time.Time) (Realtime, error) {
	since := now.UTC().Add(-RealtimeMinutes * time.Minute).Truncate(time.Second)
	out := Realtime{Site: site, Minutes: RealtimeMinutes, Pages: []Row{}}
	args := chsql.Args{"site": site, "since": since}
	if err := db.QueryRow(ctx, qRealtime, args).Scan(&out.Visitors, &out.Pageviews); err != nil {
		return out, wrap("realtime", err)
	}
	err := each(ctx, db, qRealtimePages, args, func(scan func(...any) error) error {
		var row Row
		if err := scan(&row.Key, &row.Visitors, &row.Views); err != nil {
			return err
		}
		out.Pages = append(out.Pages, row)
		return nil
	})
	return out, wrap("realtime pages", err)
}
