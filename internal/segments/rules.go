// Package segments keeps rule segments: definitions made through the API,
// compiled to conditions on the people query and evaluated in ClickHouse;
// their members and sizes over time; and the evaluation that tells who
// entered or left a segment or a lifecycle class, for triggers.
package segments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"footfall/internal/campaigns"
	"footfall/internal/chsql"
	"footfall/internal/profiles"
	"footfall/internal/urlform"
)

// Condition is one rule of a segment; a segment's conditions all hold for
// its members. A condition may instead be a group: "any" holds when one
// of its conditions does, "all" when every one does; groups nest (up to
// maxDepth), and the plain list stays the AND of its conditions.
//
//	{"any": [{"all": [{"field": "population", "value": "pro"}, {"field": "orders", "value": 2}]},
//	         {"field": "class", "value": "VIP"}]}
//
//	{"field": "revenue", "op": ">=", "value": 100}
//	{"field": "class", "op": "in", "value": ["customer", "loyal"]}
//	{"field": "population", "value": "pro"}
//	{"field": "population", "value": ["revendeur", "grossiste"]}   (any of them; "op": "not": none)
//	{"field": "viewed_section", "value": "/shoes", "days": 30}
//	{"field": "event", "value": "email_open", "campaign": "spring", "days": 60}
//	{"field": "event", "op": "not", "value": "email_click", "campaign": "spring"}
//	{"field": "consent", "value": "newsletter"}
//	{"field": "not_opened_last_campaigns", "value": 3}
type Condition struct {
	Field    string          `json:"field"`
	Op       string          `json:"op,omitempty"`
	Value    json.RawMessage `json:"value,omitempty"`
	Days     int             `json:"days,omitempty"`
	Name     string          `json:"name,omitempty"`     // event: the event's name
	Campaign string          `json:"campaign,omitempty"` // event: its utm_campaign
	Any      []Condition     `json:"any,omitempty"`      // a group: one of these holds
	All      []Condition     `json:"all,omitempty"`      // a group: all of these hold
}

// Bounds of a definition: its conditions (groups' included, groups not
// counted) and how deep groups nest.
const (
	maxConditions = 20
	maxDepth      = 3
)

// CheckShape refuses a definition with no condition, more than
// maxConditions, groups nested deeper than maxDepth, an empty group, or a
// condition that is both a group and a field.
func CheckShape(conds []Condition) error {
	n, err := shape(conds, 1)
	if err != nil {
		return err
	}
	if n == 0 || n > maxConditions {
		return fmt.Errorf("a segment needs 1 to %d conditions, groups' included (it has %d)", maxConditions, n)
	}
	return nil
}

func shape(conds []Condition, depth int) (int, error) {
	if depth > maxDepth {
		return 0, fmt.Errorf("groups nest at most %d deep", maxDepth)
	}
	n := 0
	for _, c := range conds {
		group := c.Any != nil || c.All != nil
		switch {
		case c.Any != nil && c.All != nil:
			return 0, errors.New(`a group is "any" or "all", not both`)
		case group && (c.Field != "" || (len(c.Value) > 0 && string(c.Value) != "null")):
			return 0, errors.New(`a group ("any" or "all") has no field or value of its own`)
		case group && len(c.Any)+len(c.All) == 0:
			return 0, errors.New("an empty group")
		case group:
			k, err := shape(append(c.Any, c.All...), depth+1)
			if err != nil {
				return 0, err
			}
			n += k
		default:
			n++
		}
	}
	return n, nil
}

// numeric person columns a condition can compare, and the factor from the
// API's unit to the column's.
var numeric = map[string]struct {
	column string
	scale  float64
}{
	"orders":                {"orders", 1},
	"revenue":               {"revenue", 1e6},
	"sessions":              {"sessions", 1},
	"pageviews":             {"pageviews", 1},
	"carts":                 {"carts", 1},
	"devices":               {"devices", 1},
	"days_since_last_seen":  {"days_seen", 1},
	"days_since_last_order": {"days_ordered", 1},
}

var comparisons = map[string]bool{"=": true, "!=": true, ">": true, ">=": true, "<": true, "<=": true}

// maxDays bounds how far back an event condition looks.
const maxDays = 3660

// compile returns condition c, named p (its parameters are named p*, so
// that two conditions on one field never share a name; @site is the
// people query's own), as a condition on q's person columns and its
// arguments. now anchors the "in the last N days" windows. A group is its
// conditions joined by OR (any) or AND (all), each in parentheses.
func compile(q *profiles.Query, p string, c Condition, now time.Time) (string, chsql.Args, error) {
	if c.Any != nil || c.All != nil {
		list, join := c.All, ") AND ("
		if c.Any != nil {
			list, join = c.Any, ") OR ("
		}
		var parts []string
		args := chsql.Args{}
		for j, sub := range list {
			cond, a, err := compile(q, fmt.Sprintf("%sg%d_", p, j+1), sub, now)
			if err != nil {
				return "", nil, fmt.Errorf("group condition %d: %w", j+1, err)
			}
			if args, err = profiles.MergeArgs(args, a); err != nil {
				return "", nil, err
			}
			parts = append(parts, cond)
		}
		return "(" + strings.Join(parts, join) + ")", args, nil
	}
	return leaf(q, p, c, now)
}

// leaf compiles one condition on a field (compile).
func leaf(q *profiles.Query, p string, c Condition, now time.Time) (string, chsql.Args, error) {
	if n, ok := numeric[c.Field]; ok {
		op := c.Op
		if op == "" {
			op = ">="
		}
		if !comparisons[op] {
			return "", nil, fmt.Errorf("%s: op %q, want one of = != > >= < <=", c.Field, c.Op)
		}
		var v float64
		if err := json.Unmarshal(c.Value, &v); err != nil {
			return "", nil, fmt.Errorf("%s: value must be a number", c.Field)
		}
		cond := fmt.Sprintf("toFloat64(%s) %s @%sv", n.column, op, p)
		if c.Field == "days_since_last_order" {
			cond = "orders > 0 AND " + cond // who never ordered has no such number
		}
		return cond, chsql.Args{p + "v": v * n.scale}, nil
	}
	switch c.Field {
	case "class", "stage":
		vals, err := stringList(c.Value)
		if err != nil {
			return "", nil, fmt.Errorf("%s: %w", c.Field, err)
		}
		for _, v := range vals {
			// A class is a lifecycle class or one the shop set by hand
			// (profiles.CheckClass); a stage is one of the lifecycle's.
			if c.Field == "class" {
				if err := profiles.CheckClass(v); err != nil {
					return "", nil, err
				}
			} else if !contains(profiles.Stages, v) {
				return "", nil, fmt.Errorf("%s %q: want one of %v", c.Field, v, profiles.Stages)
			}
		}
		args := chsql.Args{p + "v": chsql.Set[string](vals)} // stringList is never empty
		switch c.Op {
		case "", "=", "in":
			return c.Field + " IN @" + p + "v", args, nil
		case "!=", "not in":
			return c.Field + " NOT IN @" + p + "v", args, nil
		default:
			return "", nil, fmt.Errorf("%s: op %q, want = != in or not in", c.Field, c.Op)
		}
	case "population":
		// One population or a list: the person is in any of them ("not":
		// in none of them).
		vals, err := stringList(c.Value)
		if err != nil {
			return "", nil, fmt.Errorf("population: %w", err)
		}
		for _, v := range vals {
			if err := profiles.CheckPopulation(v); err != nil {
				return "", nil, err
			}
		}
		return negatable(c, "hasAny(populations, @"+p+"v)", chsql.Args{p + "v": vals})
	case "identified", "subscribed":
		var b bool
		if err := json.Unmarshal(c.Value, &b); err != nil {
			return "", nil, fmt.Errorf("%s: value must be true or false", c.Field)
		}
		cond := map[string]string{"identified": "user_id != ''", "subscribed": "subscribed = 1"}[c.Field]
		if !b {
			cond = "NOT (" + cond + ")"
		}
		return cond, nil, nil
	case "consent":
		purpose, err := oneString(c.Value)
		if err != nil {
			return "", nil, fmt.Errorf("consent: %w", err)
		}
		return negatable(c, "cityHash64(person_key) IN (SELECT cityHash64(person_key) FROM ("+consented(p+"purpose")+"))",
			chsql.Args{"site": q.Site, p + "purpose": purpose})
	case "not_opened_last_campaigns":
		var n int
		if err := json.Unmarshal(c.Value, &n); err != nil || n < 1 || n > 50 {
			return "", nil, fmt.Errorf("not_opened_last_campaigns: value must be 1 to 50 campaigns")
		}
		return negatable(c, notOpened(p+"n"), chsql.Args{"site": q.Site, p + "n": uint64(n)})
	case "viewed_section", "event":
		v, err := oneString(c.Value)
		if err != nil {
			return "", nil, fmt.Errorf("%s: %w", c.Field, err)
		}
		if c.Field == "viewed_section" {
			v = urlform.Path(v) // the form url_path is stored in: /caf%C3%A9 is /café
		}
		days := c.Days
		if days == 0 {
			days = 30
		}
		if days < 0 || days > maxDays {
			return "", nil, fmt.Errorf("%s: days %d, want 1 to %d", c.Field, c.Days, maxDays)
		}
		// N of the site's days back, at the same time of day on its clock
		// (a day its clocks change is 23 or 25 hours).
		zone := q.Rules.Zone
		if zone == nil {
			zone = time.UTC
		}
		since := now.In(zone).AddDate(0, 0, -days).UTC().Truncate(time.Second)
		args := chsql.Args{"site": q.Site, p + "v": v, p + "since": since}
		if c.Field == "viewed_section" && isSection(v) {
			// A section's visitors are a range of interest_visitors, a
			// row or a few per visitor instead of every page view: any
			// row whose own latest view is recent enough makes the
			// visitor match, so no state needs merging.
			return negatable(c, inPeople(`SELECT visitor_id FROM interest_visitors
    WHERE site_id = @site AND kind = 'section' AND interest = @`+p+`v AND finalizeAggregation(last_seen) >= @`+p+`since`), args)
		}
		what := "type = 'pageview' AND startsWith(url_path, @" + p + "v)"
		if c.Field == "event" {
			what = "type = @" + p + "v"
			if v == "email_open" {
				what = campaigns.Opened // a click is an open, images blocked or not
				delete(args, p+"v")
			}
			if c.Name != "" {
				what += " AND name = @" + p + "name"
				args[p+"name"] = c.Name
			}
			if c.Campaign != "" {
				what += " AND utm_campaign = @" + p + "campaign"
				args[p+"campaign"] = c.Campaign
			}
		}
		return negatable(c, inPeople(`SELECT visitor_id FROM events WHERE site_id = @site AND time >= @`+p+`since AND is_bot = 0 AND `+what), args)
	}
	return "", nil, fmt.Errorf("unknown field %q", c.Field)
}

// consented lists the person keys whose latest proven word on the
// purpose @<purpose> was yes (a browser's claim is none); parameters:
// @site and it.
func consented(purpose string) string {
	return `SELECT person_key FROM (
    SELECT ` + profiles.PersonKey + ` AS person_key, ` + profiles.ProvenWord + ` AS g
    FROM (SELECT visitor_id, granted, time, event_id, proof FROM consents WHERE site_id = @site AND purpose = @` + purpose + `) AS c
    ANY LEFT JOIN (` + profiles.PersonMap + `) AS m USING visitor_id
    GROUP BY person_key
) WHERE g = 1`
}

// notOpened: the person was sent the last @<n> campaigns (any of them) by
// send time and opened or clicked none. Parameters: @site and n.
func notOpened(n string) string {
	lastCampaigns := `SELECT campaign_id FROM campaigns WHERE site_id = @site
    GROUP BY campaign_id ORDER BY max(sent_at) DESC, campaign_id LIMIT @` + n
	return `person_key IN (SELECT email FROM recipients WHERE site_id = @site AND campaign_id IN (` + lastCampaigns + `))
    AND person_key NOT IN (SELECT user_id FROM events WHERE site_id = @site AND ingest = 'email'
        AND ` + campaigns.Opened + ` AND utm_campaign IN (` + lastCampaigns + `))`
}

// inPeople is the condition that a person owns one of the visitor ids
// visitors lists (parameters: visitors', @site). Keys are compared by a
// 64-bit hash: a set of a million hashes builds several times faster than
// one of strings, and two of a million people sharing a hash is a chance of
// about 3 in 10^8.
func inPeople(visitors string) string {
	return `cityHash64(person_key) IN (SELECT cityHash64(` + profiles.PersonKey + `) FROM (
    ` + visitors + `
) AS v ANY LEFT JOIN (` + profiles.PersonMap + `) AS m USING visitor_id)`
}

// isSection says whether a path is a section, its first segment ("/shoes"),
// which interest_visitors keeps.
func isSection(path string) bool {
	return len(path) > 1 && path[0] == '/' && !strings.Contains(path[1:], "/")
}

func negatable(c Condition, cond string, args chsql.Args) (string, chsql.Args, error) {
	switch c.Op {
	case "", "=", "has", "did":
		return cond, args, nil
	case "not", "!=":
		return "NOT (" + cond + ")", args, nil
	default:
		return "", nil, fmt.Errorf("%s: op %q, want none or \"not\"", c.Field, c.Op)
	}
}

func oneString(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || s == "" {
		return "", fmt.Errorf("value must be a non-empty string")
	}
	return s, nil
}

func stringList(raw json.RawMessage) ([]string, error) {
	var list []string
	if err := json.Unmarshal(raw, &list); err == nil && len(list) > 0 {
		for _, v := range list {
			if v == "" {
				return nil, fmt.Errorf("an empty string in the list")
			}
		}
		if len(list) > 100 {
			return nil, fmt.Errorf("at most 100 values")
		}
		return list, nil
	}
	s, err := oneString(raw)
	if err != nil {
		return nil, fmt.Errorf("value must be a string or a list of strings")
	}
	return []string{s}, nil
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// Compile turns conditions into a people query of site.
func Compile(store *profiles.Store, site string, conds []Condition) (*profiles.Query, error) {
	if err := CheckShape(conds); err != nil {
		return nil, err
	}
	q := store.Query(site)
	for i, c := range conds {
		cond, args, err := compile(q, fmt.Sprintf("c%d_", i+1), c, q.Now)
		if err == nil {
			err = q.Where(cond, args)
		}
		if err != nil {
			return nil, fmt.Errorf("condition %d: %w", i+1, err)
		}
	}
	return q, nil
}

// compile compiles conds into a query of the people table as the last
// refresh left it, read at the site's base (profiles.Store.AtBase).
func (s *Store) compile(ctx context.Context, site string, conds []Condition) (*profiles.Query, error) {
	q, err := Compile(s.people, site, conds)
	if err != nil {
		return nil, err
	}
	return q, s.people.AtBase(ctx, q)
}

// Builtin segments follow the lifecycle classes and the reactivation
// stage, so that a new subscriber, a first order, a newly loyal customer
// or one gone quiet fires a trigger like any segment does.
func Builtin() []Segment {
	var out []Segment
	for _, c := range profiles.Classes[1:] {
		out = append(out, Segment{ID: "class:" + c, Name: "class " + c,
			Conditions: []Condition{{Field: "class", Value: json.RawMessage(`"` + c + `"`)}}})
	}
	return append(out, Segment{ID: "stage:reactivation", Name: "stage reactivation",
		Conditions: []Condition{{Field: "stage", Value: json.RawMessage(`"reactivation"`)}}})
}

// IsBuiltin says whether id names a built-in segment.
func IsBuiltin(id string) bool {
	return strings.HasPrefix(id, "class:") || strings.HasPrefix(id, "stage:")
}
