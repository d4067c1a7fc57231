package profiles

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"footfall/internal/chsql"
)

// MaxLabel bounds a manual class's and a population's length, in
// characters.
const MaxLabel = 64

// CheckClass accepts a class a person may be given by hand: a lifecycle
// class (Classes) or the shop's own words ("VIP", "clients fidèles"), 1 to
// MaxLabel characters of printable UTF-8, without leading or trailing
// spaces. A manual class wins over the computed one, in the class column
// and every rule on it.
func CheckClass(c string) error {
	if err := checkLabel(c); err != nil {
		return fmt.Errorf("class %q: %w", c, err)
	}
	return nil
}

// BuiltinClass returns the lifecycle class c names, written in any case,
// with or without accents, in English or in French as the pages say them
// ("Customer", "client", "Fidèle", "FIDELE" are customer and loyal), or c
// itself when it names none (the shop's own words: "VIP", "clients
// fidèles"). A manual class is stored as this, so that a built-in class
// typed another way is that class, not a new one of the shop's.
func BuiltinClass(c string) string {
	if k, ok := classNames[foldClass(c)]; ok {
		return k
	}
	return c
}

// classNames are the lifecycle classes by their folded English and French
// names (the pages' dictionaries: dashboards/web people.html, index.html).
var classNames = map[string]string{
	"visitor": ClassVisitor, "visiteur": ClassVisitor,
	"subscriber": ClassSubscriber, "abonne": ClassSubscriber,
	"prospect": ClassProspect,
	"customer": ClassCustomer, "client": ClassCustomer,
	"loyal": ClassLoyal, "fidele": ClassLoyal,
}

// foldClass is c in lower case without accents and surrounding spaces.
func foldClass(c string) string {
	var sb strings.Builder
	for _, r := range norm.NFD.String(strings.ToLower(strings.TrimSpace(c))) {
		if !unicode.Is(unicode.Mn, r) {
			sb.WriteRune(r)
		}
	}
	return sb.String()
}

// CheckPopulation accepts a population name: as a class, without "|",
// which joins a person's populations in the segment export's CSV column
// ("Pro B2B|revendeur").
func CheckPopulation(p string) error {
	err := checkLabel(p)
	if err == nil && strings.Contains(p, "|") {
		err = errors.New(`"|" separates populations in exports`)
	}
	if err != nil {
		return fmt.Errorf("population %q: %w", p, err)
	}
	return nil
}

func checkLabel(s string) error {
	switch {
	case s == "" || utf8.RuneCountInString(s) > MaxLabel:
		return fmt.Errorf("want 1 to %d characters", MaxLabel)
	case !utf8.ValidString(s):
		return errors.New("not UTF-8")
	case strings.TrimSpace(s) != s:
		return errors.New("leading or trailing space")
	}
	for _, r := range s {
		if !unicode.IsPrint(r) && r != ' ' {
			return errors.New("a control or invisible character")
		}
	}
	return nil
}

// Override is what a person's manual changes are: a class that wins over
// the computed one ("" for none) and populations.
type Override struct {
	Class       string   `json:"class"`
	Populations []string `json:"populations"`
}

var (
	qOverride = chsql.New("profiles.override", `SELECT argMax(class, version), argMax(populations, version)
FROM profile_overrides WHERE site_id = @site AND person_key = @key GROUP BY person_key`)
	insertOverride = chsql.New("profiles.insert_override",
		`INSERT INTO profile_overrides (site_id, person_key, class, populations, updated_at, version)`)
)

// SetOverride changes a person's manual class and/or populations; a nil
// field is left as it was. Recomputed classes never touch these.
//
// An erased person's key (a tombstone's) is refused with ErrErased: a
// manual record would recreate them.
func (s *Store) SetOverride(ctx context.Context, site, key string, class *string, populations []string) (Override, error) {
	if gone, err := s.erased(ctx, site, key); err != nil || gone {
		if err == nil {
			err = ErrErased
		}
		return Override{}, err
	}
	cur, err := s.Manual(ctx, site, key)
	if err != nil {
		return cur, err
	}
	if class != nil {
		c := *class
		if c != "" {
			if err := CheckClass(c); err != nil {
				return cur, err
			}
			c = BuiltinClass(c)
		}
		cur.Class = c
	}
	if populations != nil {
		for _, p := range populations {
			if err := CheckPopulation(p); err != nil {
				return cur, err
			}
		}
		cur.Populations = populations
	}
	if cur.Populations == nil {
		cur.Populations = []string{}
	}
	b, err := s.db.PrepareBatch(ctx, insertOverride)
	if err != nil {
		return cur, fmt.Errorf("prepare override: %w", err)
	}
	defer b.Abort()
	// The wall clock, not s.now (the classification clock): versions must
	// grow with every change.
	now := time.Now()
	if err := b.Append(site, key, cur.Class, cur.Populations, now.UTC(), uint64(now.UnixNano())); err != nil {
		return cur, fmt.Errorf("append override: %w", err)
	}
	if err := b.Send(); err != nil {
		return cur, fmt.Errorf("write override: %w", err)
	}
	return cur, nil
}

// Used is a manual class or population and how many people have it.
type Used struct {
	Name   string `json:"name"`
	People uint64 `json:"people"`
}

var (
	qManualClasses = chsql.New("profiles.manual_classes", `SELECT c, count() FROM (
    SELECT argMax(class, version) AS c FROM profile_overrides WHERE site_id = @site GROUP BY person_key
) WHERE c != '' GROUP BY c ORDER BY c`)
	qPopulations = chsql.New("profiles.populations", `SELECT p, uniqExact(k) FROM (
    SELECT person_key AS k, arrayJoin(argMax(populations, version)) AS p FROM profile_overrides WHERE site_id = @site GROUP BY person_key
) GROUP BY p ORDER BY p`)
)

// Labels lists the manual classes and the populations a site's people
// have now (their latest manual record's), with how many people each.
func (s *Store) Labels(ctx context.Context, site string) (classes, populations []Used, err error) {
	read := func(q *chsql.Query) ([]Used, error) {
		out := []Used{}
		err := s.each(ctx, q, chsql.Args{"site": site}, func(r scanner) error {
			var u Used
			if err := r.Scan(&u.Name, &u.People); err != nil {
				return err
			}
			out = append(out, u)
			return nil
		})
		return out, err
	}
	if classes, err = read(qManualClasses); err != nil {
		return nil, nil, fmt.Errorf("list manual classes: %w", err)
	}
	if populations, err = read(qPopulations); err != nil {
		return nil, nil, fmt.Errorf("list populations: %w", err)
	}
	return classes, populations, nil
}

// Manual reads a person's manual changes.
func (s *Store) Manual(ctx context.Context, site, key string) (Override, error) {
	cur := Override{Populations: []string{}}
	err := s.each(ctx, qOverride, chsql.Args{"site": site, "key": key}, func(r scanner) error {
		return r.Scan(&cur.Class, &cur.Populations)
	})
	if err != nil {
		return cur, fmt.Errorf("read manual changes: %w", err)
	}
	return cur, nil
}
