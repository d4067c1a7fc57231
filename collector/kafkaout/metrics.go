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
		Help: "Accepted events abandoned because shutdown's deadline passed before Kafka took them.",
	})
	spooled = promauto.NewCounter(prometheus.CounterOpts{
		Name: "collector_kafka_spooled_events_total",
		Help: "Events written to the spool because Kafka had not taken them by shutdown's deadline.",
	})
	spoolReplayed = promauto.NewCounter(prometheus.CounterOpts{
		Name: "collector_kafka_spool_replayed_events_total",
		Help: "Spooled events produced to Kafka at a later start.",
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
