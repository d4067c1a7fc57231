package attribute_test

import (
	"context"
	"testing"
	"time"

	"footfall/processor/attribute"
	"footfall/processor/chstore"
	"footfall/tests/stacktest"
)

// A retried batch is written with its first attempt's credits
// (chstore.Store.InsertCredited): on a cluster every table drops a block
// it already holds, so the retry must send the first attempt's block byte
// for byte, and a credit read again may differ once something of the
// visitor was stored in between. Here the first attempt credits a return
// visit as direct (no landing known yet); then the visitor's Google
// landing is stored; the retry keeps the direct credit, where crediting
// again says Google.
func TestResendKeepsCredits(t *testing.T) {
	ctx := context.Background()
	_, first := stacktest.ClickHouse(t)
	_, retry := stacktest.ClickHouse(t)
	t0 := time.Now().UTC().Truncate(time.Second).AddDate(0, 0, -10)
	back := ev{at: t0.Add(72 * time.Hour), visitor: "back", session: "b2", url: "/"}
	batch := []chstore.Row{back.row()}

	var credits []attribute.Touch
	if err := first.InsertCredited(ctx, batch, &credits); err != nil {
		t.Fatal(err)
	}
	if got := credited(t, first, "back", "b2", back.at); got != "(direct) / (none)" {
		t.Fatalf("first attempt: %s, want (direct) / (none)", got)
	}
	// What the retry's database holds by then: the landing.
	insert(t, retry, ev{at: t0, visitor: "back", session: "b1", url: "/", ref: google})
	if err := chstore.On(retry.DB()).InsertCredited(ctx, batch, &credits); err != nil {
		t.Fatal(err)
	}
	if got := credited(t, retry, "back", "b2", back.at); got != "(direct) / (none)" {
		t.Errorf("retry: %s, want the first attempt's (direct) / (none)", got)
	}
	// Without the kept credits the same row is credited afresh.
	if err := retry.DB().Driver().Exec(ctx, "TRUNCATE TABLE events"); err != nil {
		t.Fatal(err)
	}
	insert(t, retry, ev{at: t0, visitor: "back", session: "b1", url: "/", ref: google})
	if err := chstore.On(retry.DB()).InsertCredited(ctx, batch, nil); err != nil {
		t.Fatal(err)
	}
	if got := credited(t, retry, "back", "b2", back.at); got != "google / organic" {
		t.Errorf("credited afresh: %s, want google / organic", got)
	}
}
