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
	"footfall/internal/money"
	"footfall/internal/orders"
	"footfall/internal/sites"
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
		if q, ok := v.Query.(string); ok && v.Type == "query" && q != "" {
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
	macros := strings.NewReplacer("$__fromTime", "@from", "$__toTime", "@to", "'${site}'", "@site",
		"'${currency}'", "@currency", "'${tz}'", "@tz")
	out := make([]*chsql.Query, len(sqls))
	for i, sql := range sqls {
		sql = timeFilter.ReplaceAllString(sql, "$1 >= @from AND $1 <= @to")
		out[i] = chsql.New(fmt.Sprintf("grafana.traffic_%d", i+1), macros.Replace(sql))
	}
	return out
}

// Site is what the dashboard's variables hold of the site shown: its
// id, and its reporting currency and time zone as the currency and tz
// variables read them from the site registry (Variables).
type Site struct{ ID, Currency, TimeZone string }

// Args are the macros' and variables' values for a dashboard of site over
// [from, to].
func Args(q *chsql.Query, site Site, from, to any) chsql.Args {
	args := chsql.Args{}
	sql := q.SQL()
	if strings.Contains(sql, "@site") {
		args["site"] = site.ID
	}
	if strings.Contains(sql, "@currency") {
		args["currency"] = site.Currency
	}
	if strings.Contains(sql, "@tz") {
		args["tz"] = site.TimeZone
	}
	if strings.Contains(sql, "@from") {
		args["from"] = from
	}
	if strings.Contains(sql, "@to") {
		args["to"] = to
	}
	return args
}

// The statements of the dashboard that show money are built here from
// the read side's pieces, the API's (internal/orders, internal/money,
// the reports' day step), in Grafana's spelling; the dashboard's file
// must hold them as built (TestGrafanaPanelsBuilt, which writes them with
// -update). Amounts are in the site's reporting currency (the currency
// variable), each order converted at the rate of its day, and an order no
// rate converts is counted in unconverted_orders, never summed as if it
// were in that currency; days are the site's (the tz variable).

// grafanaSpelling turns the read side's parameters into the dashboard's
// variables and macros.
var grafanaSpelling = strings.NewReplacer("@site", "'${site}'", "@currency", "'${currency}'", "@tz", "'${tz}'",
	"@from", "$__fromTime", "@to", "$__toTime")

// moneyDays are the rates a panel's orders, those of Grafana's time range
// ($__timeFilter: from and to included), can use.
var moneyDays = money.DaysOf("@from", "@to + 1")

var (
	// the purchases are converted after the grouping (orders.Money): a
	// rate looked up per purchase, not per event
	revenue     = orders.Revenue(money.ConvertPairs(moneyDays, orders.Money)) + " / 1e6 AS revenue"
	orderCount  = orders.Count(orders.Pairs) + " AS orders"
	unconverted = "toUInt64(arrayUniq(arrayMap(o -> tupleElement(o, 2), " + money.MissingOrders(moneyDays, orders.Money) + "))) AS unconverted_orders"
)

// Built is each statement of the dashboard built here: the variables' by
// name, the panels' by title.
func Built() (variables, panels map[string]string) {
	variables = map[string]string{
		"currency": sites.SettingSQL("currency", money.DefaultCurrency),
		"tz":       sites.SettingSQL("time_zone", "UTC"),
	}
	panels = map[string]string{
		// the day's first instant in the site's zone, as an instant (the
		// API's day step, internal/reports)
		"Revenue per day": `SELECT toTimeZone(toStartOfDay(time, @tz), 'UTC') AS day,
       ` + revenue + `,
       ` + orderCount + `,
       ` + unconverted + `
FROM events WHERE site_id = @site AND $__timeFilter(time) AND is_bot = 0
GROUP BY day ORDER BY day`,
		"Revenue by campaign and affiliate": `SELECT visit_utm_campaign AS campaign, visit_affiliate AS affiliate, uniq(visitor_id) AS visitors,
       ` + orderCount + `,
       ` + revenue + `,
       ` + unconverted + `
FROM events WHERE site_id = @site AND $__timeFilter(time) AND is_bot = 0 AND ingest != 'email'
GROUP BY visit_utm_campaign, visit_affiliate ORDER BY revenue DESC, visitors DESC, orders DESC, visit_utm_campaign, visit_affiliate LIMIT 50`,
	}
	for _, m := range []map[string]string{variables, panels} {
		for k, v := range m {
			m[k] = grafanaSpelling.Replace(v)
		}
	}
	return variables, panels
}
