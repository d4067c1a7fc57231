-- The weekly e-mail report (internal/weekly): the addresses each site's
-- report goes to, and the weeks already sent. A change of the recipients
-- is a new row with a higher version; readers take each site's row of the
-- highest version. A week sent is one row per (site, week): the sender
-- skips a week that has one, so a restart on Monday does not send twice.
CREATE TABLE IF NOT EXISTS report_recipients (
    site_id    String,
    emails     Array(String),
    updated_at DateTime,
    version    UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY site_id;

CREATE TABLE IF NOT EXISTS weekly_reports_sent (
    site_id    String,
    week       Date,
    sent_at    DateTime,
    recipients Array(String)
) ENGINE = ReplacingMergeTree
ORDER BY (site_id, week);
