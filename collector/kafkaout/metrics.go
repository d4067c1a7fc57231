package kafkaout

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Created once: the hot path touches these without a label lookup.
var (
	queued = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "collector_kafka_queue_events",
		Help: "Events accepted and not yet acknowledged by Kafka.",
	})
	queueCapacity = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "collector_kafka_queue_capacity_events",
		Help: "Events the queue holds at most (batches times events per batch).",
	})
	produced = promauto.NewCounter(prometheus.CounterOpts{
		Name: "collector_kafka_produced_events_total",
		Help: "Events acknowledged by Kafka.",
	})
	retries = promauto.NewCounter(prometheus.CounterOpts{
		Name: "collector_kafka_retries_total",
		Help: "Batch writes retried after a Kafka error.",
	})
	lost = promauto.NewCounter(prometheus.CounterOpts{
		Name: "collector_kafka_lost_events_total",
		Help: "Accepted events abandoned because shutdown's deadline passed before Kafka took them, with no write-ahead log to keep them.",
	})
	walBytes = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "collector_wal_bytes",
		Help: "Bytes in the write-ahead log: events Kafka has not acknowledged (and the rest of their segments).",
	})
	walCapacity = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "collector_wal_capacity_bytes",
		Help: "Bytes the write-ahead log holds at most with disk delivery (-wal-max-bytes); beyond, hits get 503.",
	})
	walSegments = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "collector_wal_segments",
		Help: "Segment files in the write-ahead log.",
	})
	walWritten = promauto.NewCounter(prometheus.CounterOpts{
		Name: "collector_wal_written_events_total",
		Help: "Events written to the write-ahead log, fsynced: every hit with disk delivery; in the other modes what Kafka had not taken by shutdown's deadline.",
	})
	walReplayed = promauto.NewCounter(prometheus.CounterOpts{
		Name: "collector_wal_replayed_events_total",
		Help: "Events an earlier run left in the write-ahead log, produced to Kafka after this start (events, not records: a record holds many).",
	})
	walFull = promauto.NewCounter(prometheus.CounterOpts{
		Name: "collector_wal_full_events_total",
		Help: "Events refused (503) because the write-ahead log was at -wal-max-bytes.",
	})
	walWriteErrors = promauto.NewCounter(prometheus.CounterOpts{
		Name: "collector_wal_write_errors_total",
		Help: "Group commits to the write-ahead log that failed (write or fsync); their hits got 503.",
	})
	walTornBytes = promauto.NewCounter(prometheus.CounterOpts{
		Name: "collector_wal_torn_bytes_total",
		Help: "Bytes cut from the end of a segment at start because they were not a whole record with a good checksum (a write cut short by a crash or power loss).",
	})
	walFsyncSeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "collector_wal_fsync_seconds",
		Help:    "Time of one group commit to the write-ahead log: write and fsync.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 14),
	})
	walCommitEvents = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "collector_wal_commit_events",
		Help:    "Events covered by one fsync of the write-ahead log (group commit).",
		Buckets: prometheus.ExponentialBuckets(1, 4, 8),
	})
	produceSeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "collector_kafka_produce_seconds",
		Help:    "Time from a batch being sealed to Kafka acknowledging it.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	})
	batchEvents = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "collector_kafka_batch_events",
		Help:    "Events per batch written to Kafka.",
		Buckets: prometheus.ExponentialBuckets(1, 4, 8),
	})
	batchBytes = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "collector_kafka_batch_bytes",
		Help:    "Bytes per batch written to Kafka, before compression.",
		Buckets: prometheus.ExponentialBuckets(256, 4, 8),
	})
)
