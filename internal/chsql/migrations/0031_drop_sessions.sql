-- The sessions table (0005, 0018) has had no reader since the session
-- statistics read session_parts (0010) and the reports compute a
-- session's entry and exit pages from its events; its view was the
-- dearest of all on every insert (13.1 of 123 ms of ClickHouse's CPU for
-- 10,000 generated events, then 66 ms a merge of ten parts: docs/perf.md,
-- "The views one by one") and the table 131 of 294 bytes per event on
-- disk. The view goes first, so that an insert between the two
-- statements has no view writing to a table that is gone. A processor of
-- an earlier version still running during an upgrade writes events as
-- before; its retention round logs the table as missing until it stops.
DROP TABLE IF EXISTS sessions_mv;
DROP TABLE IF EXISTS sessions;
-- hours_touched has had no writer since 0030, which kept it for the
-- processors of the version before during an upgrade.
DROP TABLE IF EXISTS hours_touched;
