-- Each event's country (ISO 3166 code) from the processor's offline GeoIP
-- database (-geoip-db); empty without one. ClickHouse 18.16 has no ADD
-- COLUMN IF NOT EXISTS: the migration runner skips this statement when the
-- column is already there.
ALTER TABLE events ADD COLUMN country String AFTER device;
