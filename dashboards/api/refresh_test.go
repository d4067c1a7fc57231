package api_test

import (
	"context"
	"testing"

	"footfall/internal/profiles"
	"footfall/processor/chstore"
	"footfall/processor/derive"
)

// refresh runs one round of the processor's refresh job: the API reads
// the session statistics and the people table as the last refresh left
// them, and never refreshes them itself.
func refresh(t *testing.T, store *chstore.Store) {
	t.Helper()
	r := derive.New(profiles.NewStore(store.DB(), profiles.DefaultRules), derive.Config{})
	if err := r.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
}
