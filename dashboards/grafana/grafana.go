// Package grafana holds the Grafana dashboards that ship with Footfall and
// registers the SQL of the ClickHouse one, so that the statements Grafana
// sends are checked like the programs' own (on ClickHouse 18.16 and on
// current ClickHouse).
package grafana

import (
	"embed"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"footfall/internal/chsql"
)

//go:embed *.json
var files embed.FS

// Dashboard is the part of a Grafana dashboard file Footfall reads.
type Dashboard struct {
	Title      string
	Templating struct {
		List []struct {
			Type, Name string
			Query      any
		}
	}
	Panels []struct {
		Title   string
		Targets []struct {
			RawSQL string `json:"rawSql"`
			Expr   string
		}
	}
}

// Read parses the embedded dashboard file name.
func Read(name string) (Dashboard, error) {
	var d Dashboard
	raw, err := files.ReadFile(name)
	if err != nil {
		return d, err
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return d, fmt.Errorf("%s: %w", name, err)
	}
	if d.Title == "" || len(d.Panels) == 0 {
		return d, fmt.Errorf("%s: no title or no panels", name)
	}
	return d, nil
}

// ClickHouseFile is the dashboard of traffic read from ClickHouse.
const ClickHouseFile = "clickhouse-traffic.json"

// Queries are the ClickHouse dashboard's statements (its variables'
// queries, then each panel's), registered as grafana.traffic_<n>, with the
// data source's macros as the parameters @site, @from and @to. Grafana's
// ClickHouse plugin expands $__timeFilter(c) to c >= toDateTime(from) AND
// c <= toDateTime(to), and $__fromTime/$__toTime to toDateTime(...).
var Queries = mustRegister()

var timeFilter = regexp.MustCompile(`\$__timeFilter\(([a-z_]+)\)`)

func mustRegister() []*chsql.Query {
	d, err := Read(ClickHouseFile)
	if err != nil {
		panic(err)
	}
	var sqls []string
	for _, v := range d.Templating.List {
		if q, ok := v.Query.(string); ok && v.Type == "query" {
			sqls = append(sqls, q)
		}
	}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			if tg.RawSQL != "" {
				sqls = append(sqls, tg.RawSQL)
			}
		}
	}
	macros := strings.NewReplacer("$__fromTime", "@from", "$__toTime", "@to", "'${site}'", "@site")
	out := make([]*chsql.Query, len(sqls))
	for i, sql := range sqls {
		sql = timeFilter.ReplaceAllString(sql, "$1 >= @from AND $1 <= @to")
		out[i] = chsql.New(fmt.Sprintf("grafana.traffic_%d", i+1), macros.Replace(sql))
	}
	return out
}

// Args are the macros' values for a dashboard of site over [from, to].
func Args(q *chsql.Query, site string, from, to any) chsql.Args {
	args := chsql.Args{}
	sql := q.SQL()
	if strings.Contains(sql, "@site") {
		args["site"] = site
	}
	if strings.Contains(sql, "@from") {
		args["from"] = from
	}
	if strings.Contains(sql, "@to") {
		args["to"] = to
	}
	return args
}
