package consume

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	inserted = promauto.NewCounter(prometheus.CounterOpts{
		Name: "processor_events_inserted_total",
		Help: "Events written to ClickHouse.",
	})
	duplicatesVec = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "processor_events_duplicate_dropped_total",
		Help: "Copies of events already read or stored (a producer retry, a collector's replayed log, a partition read again after a crash or a rebalance), dropped before the insert, by where the original was found: memory (the ids the processor read lately) or clickhouse.",
	}, []string{"found"})
	duplicatesRemembered = duplicatesVec.WithLabelValues("memory")
	duplicatesStored     = duplicatesVec.WithLabelValues("clickhouse")
	lookedUp             = promauto.NewCounter(prometheus.CounterOpts{
		Name: "processor_events_looked_up_total",
		Help: "Event ids looked up in ClickHouse before their insert because the processor's memory could not vouch that they are new (after a start or a takeover, or older than the memory).",
	})
	lookUpSeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "processor_lookup_seconds",
		Help:    "Time to look up one batch's unvouched event ids in ClickHouse.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	})
	unknownTokens = promauto.NewCounter(prometheus.CounterOpts{
		Name: "processor_email_events_unknown_token_total",
		Help: "Newsletter events the collector did not mark unverified (a signed token, an unsubscribe) whose token matched no recipient (a deleted campaign), kept in events_rejected.",
	})
	droppedVec = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "processor_events_dropped_total",
		Help: "Events dropped, stored nowhere, by reason. unknown_token: a newsletter open or click whose token the collector could not verify (an earlier version's unsigned token, or an invented one) and no recipient has.",
	}, []string{"reason"})
	droppedUnknownToken = droppedVec.WithLabelValues("unknown_token")
	decodeErrors        = promauto.NewCounter(prometheus.CounterOpts{
		Name: "processor_messages_undecodable_total",
		Help: "Kafka messages that did not decode, kept in events_rejected.",
	})
	staleBatches = promauto.NewCounter(prometheus.CounterOpts{
		Name: "processor_batches_dropped_rebalance_total",
		Help: "Batches dropped uncommitted, not inserted, because the group rebalanced since they were read: their partitions are read again from the last commit, by whichever member owns them now.",
	})
	insertRetries = promauto.NewCounter(prometheus.CounterOpts{
		Name: "processor_insert_retries_total",
		Help: "ClickHouse batch writes retried after an error.",
	})
	commitErrors = promauto.NewCounter(prometheus.CounterOpts{
		Name: "processor_commit_errors_total",
		Help: "Kafka offset commits that failed (the events are skipped on redelivery).",
	})
	fetchErrors = promauto.NewCounter(prometheus.CounterOpts{
		Name: "processor_fetch_errors_total",
		Help: "Kafka fetches that failed.",
	})
	flushSeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "processor_flush_seconds",
		Help:    "Time to write and commit one batch.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
	})
	batchEvents = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "processor_batch_events",
		Help:    "Events per ClickHouse insert.",
		Buckets: prometheus.ExponentialBuckets(1, 4, 9),
	})
	freshness = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "processor_freshness_seconds",
		Help:    "Age of the newest event of a batch when ClickHouse acknowledged it.",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
	})
)
