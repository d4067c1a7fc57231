package reports

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"footfall/internal/chsql"
)

// Goal is a saved conversion of a site: a custom event's name (Kind
// "event"), a page path (Kind "page": the path itself, or a pattern in
// which * stands for any run of characters, /blog/* for every page under
// /blog/), or an order (Kind "order", no Value).
type Goal struct {
	ID        string    `json:"id"`
	Site      string    `json:"site"`
	Name      string    `json:"name"`
	Kind      string    `json:"kind"`
	Value     string    `json:"value"`
	CreatedAt time.Time `json:"created_at"`
}

// Goal kinds.
const (
	GoalEvent = "event"
	GoalPage  = "page"
	GoalOrder = "order"
)

// Check says what is wrong with g as the caller sent it, as an
// InputError, or nil.
func (g Goal) Check() error {
	if strings.TrimSpace(g.Name) == "" || len(g.Name) > 200 || !utf8.ValidString(g.Name) {
		return inputErrorf("a goal needs a name of 1 to 200 bytes")
	}
	switch g.Kind {
	case GoalEvent:
		if g.Value == "" || len(g.Value) > 200 || !utf8.ValidString(g.Value) {
			return inputErrorf("an event goal needs the event's name (value), up to 200 bytes")
		}
	case GoalPage:
		if !strings.HasPrefix(g.Value, "/") || len(g.Value) > 1000 || !utf8.ValidString(g.Value) {
			return inputErrorf("a page goal needs a path starting with / (value), * for any characters")
		}
	case GoalOrder:
		if g.Value != "" {
			return inputErrorf("an order goal takes no value")
		}
	default:
		return inputErrorf("goal kind %q: want event, page or order", g.Kind)
	}
	return nil
}

// reachedBy is the condition on an events row that reaches g, its value
// added to args (param).
func (g Goal) reachedBy(args chsql.Args) string {
	switch g.Kind {
	case GoalEvent:
		return "type = 'event' AND name = " + param(args, g.Value)
	case GoalPage:
		if !strings.Contains(g.Value, "*") {
			return "type = 'pageview' AND url_path = " + param(args, g.Value)
		}
		return "type = 'pageview' AND match(url_path, " + param(args, pathPattern(g.Value)) + ")"
	}
	return "type = 'purchase'"
}

// pathPattern is the regular expression (re2, which every ClickHouse's
// match uses) of a page goal's pattern: the whole path, * any characters.
func pathPattern(value string) string {
	parts := strings.Split(value, "*")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return "^" + strings.Join(parts, ".*") + "$"
}

// GoalColumns are the columns of the goals report: the goal, then the
// visitors of the period who reached it, their share of the period's
// visitors, and for an order goal the orders' revenue (nil for others).
var GoalColumns = []string{"goal_id", "name", "kind", "value", "conversions", "conversion_rate", "revenue"}

// qGoals: the period's visitors, then per goal ({{goals}}: g0, g1, ...)
// the visitors who reached it, then the revenue ({{revenue}}: the
// Revenue metric when a goal is an order, else 0). A visitor counts as
// Visitors counts them (CountedVisitor), so a rate is never above 1.
var qGoals = chsql.New("reports.goals", `SELECT `+Visitors.Events+` AS m_visitors{{goals}},
       {{revenue}} AS m_revenue
FROM events WHERE `+eventsWhere)

// Goals is the goals report of q's period and filters: one row per goal,
// in the order given.
func Goals(ctx context.Context, db *chsql.Conn, q Query, goals []Goal) (Table, error) {
	t := q.table("goals", GoalColumns...)
	t.Currency = q.currency()
	if len(goals) == 0 {
		return t, nil
	}
	args := chsql.Args{}
	filters := q.where(args)
	var cols strings.Builder
	revenue, orders := "toInt64(0)", false
	for i, g := range goals {
		cols.WriteString(",\n       uniqIf(visitor_id, " + CountedVisitor + " AND " + g.reachedBy(args) + ") AS g" + strconv.Itoa(i))
		if g.Kind == GoalOrder {
			revenue, orders = Revenue.Events, true
		}
	}
	stmt := qGoals.With(map[string]string{"filters": filters, "goals": cols.String(), "revenue": revenue})
	var visitors uint64
	reached := make([]uint64, len(goals))
	var micros int64
	dests := []any{&visitors}
	for i := range reached {
		dests = append(dests, &reached[i])
	}
	dests = append(dests, &micros)
	if err := db.QueryRow(ctx, stmt, q.priced(stmt, args)).Scan(dests...); err != nil {
		return t, wrap("goals", err)
	}
	for i, g := range goals {
		var rate float64
		if visitors > 0 {
			rate = roundTo(float64(reached[i])/float64(visitors), 4)
		}
		var rev any
		if g.Kind == GoalOrder {
			rev = roundTo(float64(micros)/1e6, 2)
		}
		t.Rows = append(t.Rows, []any{g.ID, g.Name, g.Kind, g.Value, reached[i], rate, rev})
	}
	if orders {
		if err := q.unconverted(ctx, db, "events", &t); err != nil {
			return t, wrap("goals' unconverted orders", err)
		}
	}
	return t, nil
}
