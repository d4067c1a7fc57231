package main

import (
	"context"
	"fmt"
	"time"

	"footfall/internal/chsql"
	"footfall/internal/sites"
	"footfall/processor/chstore"
)

// sitesDB makes a database of db's name with the schema and the sites
// ids, for a collector to read its registry from (it takes hits of the
// sites it holds only), and returns how to drop it.
func sitesDB(cfg config, db string, ids ...string) (func(), error) {
	store, drop, err := scratchDB(cfg, db)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := chsql.Migrate(ctx, store.DB()); err != nil {
		drop()
		return nil, fmt.Errorf("migrate %s: %w", db, err)
	}
	if err := makeSites(store, ids...); err != nil {
		drop()
		return nil, err
	}
	return drop, nil
}

// makeSites makes the bench's sites in store's registry.
func makeSites(store *chstore.Store, ids ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st := sites.NewStore(store.DB())
	for _, id := range ids {
		if _, err := st.Create(ctx, sites.Site{ID: id, Name: id, TimeZone: "UTC", Currency: "EUR", LoyalOrders: 3, LoyalRevenue: 500, InactiveDays: 90}); err != nil {
			return fmt.Errorf("make site %s: %w", id, err)
		}
	}
	return nil
}
