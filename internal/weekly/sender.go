package weekly

import (
	"context"
	"log/slog"
	"time"

	"footfall/internal/campaigns"
	"footfall/internal/chsql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// SendHour is the hour of Monday, on each site's clock, from which the
// report of the week before is sent.
const SendHour = 8

var (
	mSent = promauto.NewCounter(prometheus.CounterOpts{Name: "footfall_weekly_reports_sent_total",
		Help: "Weekly e-mail reports sent (one per site and week)."})
	mFailed = promauto.NewCounter(prometheus.CounterOpts{Name: "footfall_weekly_reports_failed_total",
		Help: "Weekly e-mail reports that could not be built or sent (tried again at the next check)."})
)

// Sender sends each site's report of the week before on Monday from
// 08:00 on the site's clock, once: a week sent is recorded (Store.MarkSent)
// and not sent again, after a restart either. A report that fails is
// tried again at the next check, until the week ends.
type Sender struct {
	// Read reads the figures; Store holds the recipients and the weeks
	// sent (on a connection that writes); Campaigns the newsletters.
	Read      *chsql.Conn
	Store     *Store
	Campaigns *campaigns.Store
	// Sites lists the sites as they are now (the site registry).
	Sites func() []Site
	SMTP  SMTP
	// Now is the clock (nil: time.Now); Every how often the sender checks
	// (0: a minute).
	Now   func() time.Time
	Every time.Duration
}

// Run checks at once and then every s.Every until ctx ends.
func (s *Sender) Run(ctx context.Context) {
	every := s.Every
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		s.Check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Check sends every report that is due and not sent yet; it returns how
// many it sent.
func (s *Sender) Check(ctx context.Context) int {
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	all, err := s.Store.Recipients(rctx, "")
	cancel()
	if err != nil {
		slog.Error("weekly report: recipients", "err", err)
		mFailed.Inc()
		return 0
	}
	sent := 0
	for _, site := range s.Sites() {
		to := all[site.ID]
		if len(to) == 0 {
			continue
		}
		week, due := Due(now, site.Zone)
		if !due {
			continue
		}
		if err := s.send(ctx, site, week, to, now); err != nil {
			slog.Error("weekly report", "site", site.ID, "week", week.Format(time.DateOnly), "err", err)
			mFailed.Inc()
			continue
		}
		sent++
	}
	return sent
}

// Due says which week's report is due at now on loc's clock (nil: UTC):
// the week before this one, from Monday 08:00.
func Due(now time.Time, loc *time.Location) (time.Time, bool) {
	if loc == nil {
		loc = time.UTC
	}
	monday := Monday(now, loc)
	l := monday.In(loc)
	from := time.Date(l.Year(), l.Month(), l.Day(), SendHour, 0, 0, 0, loc)
	return LastWeek(now, loc), !now.Before(from)
}

func (s *Sender) send(ctx context.Context, site Site, week time.Time, to []string, now time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	done, err := s.Store.Sent(ctx, site.ID, week)
	if err != nil || done {
		return err
	}
	f, err := Build(ctx, s.Read, s.Campaigns, site, week)
	if err != nil {
		return err
	}
	if err := s.SMTP.Send(Compose(f, s.SMTP.From, to), now, time.Minute); err != nil {
		return err
	}
	mSent.Inc()
	slog.Info("weekly report sent", "site", site.ID, "week", week.Format(time.DateOnly), "recipients", len(to))
	return s.Store.MarkSent(ctx, site.ID, week, to)
}
