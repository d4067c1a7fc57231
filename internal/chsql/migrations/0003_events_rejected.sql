-- Kafka messages the processor could not decode, kept whole so that a bad
-- deploy loses nothing: they can be replayed once the decoder is fixed.
CREATE TABLE IF NOT EXISTS events_rejected (
    time            DateTime,
    topic           String,
    kafka_partition Int32,
    kafka_offset    Int64,
    error           String,
    payload         String
) ENGINE = MergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (time, kafka_partition, kafka_offset);
