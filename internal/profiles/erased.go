package profiles

import (
	"context"
	"errors"
	"fmt"

	"footfall/internal/erasure"
	"footfall/internal/event"
)

// ErrErased says a person was erased at their request: nothing is
// recorded about them again (a manual record would recreate them).
var ErrErased = errors.New("this person was erased at their request: nothing is recorded about them again")

// erased says whether key, a person key (a user id or, for an anonymous
// person, a visitor id), is one of an erased person's identifiers, by
// the tombstones (in any spelling of an address: event.FoldUser).
func (s *Store) erased(ctx context.Context, site, key string) (bool, error) {
	if key == "" {
		return false, nil
	}
	f := erasure.NewFilter(s.db, s.erasureSecret)
	if err := f.Sync(ctx, true); err != nil {
		return false, fmt.Errorf("read the tombstones: %w", err)
	}
	return f.Erased(site, erasure.User, event.NormalizeUser(key)) || f.Erased(site, erasure.Visitor, key), nil
}

// knownElsewhere says whether any table holds rows of ids although no
// event nor newsletter list does (link found nothing): a person known only
// by kept messages (events_rejected, searched in every spelling as
// rejectedMessages searches them) or by a manual record
// (profile_overrides), say, is still a person to export and erase. It
// reads the identifiers through ks, as the erasure's count does (rows).
func (s *Store) knownElsewhere(ctx context.Context, site string, ids *Identifiers, ks keySource) (bool, error) {
	places, err := s.places(ctx)
	if err != nil {
		return false, err
	}
	n, err := s.rows(ctx, site, places, ids, ks)
	if err != nil {
		return false, err
	}
	return len(n) > 0, nil
}
