"""The local outbox's tables (see backline/notify/local.py), as SQLite statements.

Written by ``python -m backline.store.schema`` from the tables of
backline/store/schema.py (a test fails when they differ): not to be edited by hand."""

# ruff: noqa: E501

STATEMENTS = (
    "CREATE TABLE IF NOT EXISTS channels ( id INTEGER NOT NULL, kind VARCHAR(16) NOT NULL, target TEXT NOT NULL, label VARCHAR(200), options TEXT DEFAULT '{}' NOT NULL, failing TEXT, failing_since VARCHAR(32), state TEXT DEFAULT '{}' NOT NULL, next_send_at VARCHAR(32) DEFAULT '' NOT NULL, wake_at VARCHAR(32) DEFAULT '' NOT NULL, lease_owner VARCHAR(64), lease_until VARCHAR(32), last_success_at VARCHAR(32), last_failure_at VARCHAR(32), last_result TEXT, created_at VARCHAR(32) NOT NULL, client TEXT, synced BOOLEAN DEFAULT 1 NOT NULL, PRIMARY KEY (id) )",
    "CREATE TABLE IF NOT EXISTS deliveries ( id VARCHAR(160) NOT NULL, channel_id INTEGER NOT NULL, event_id VARCHAR(100) NOT NULL, kind VARCHAR(16) NOT NULL, payload TEXT NOT NULL, status VARCHAR(16) DEFAULT 'pending' NOT NULL, created_at VARCHAR(32) NOT NULL, sent_at VARCHAR(32), error TEXT, PRIMARY KEY (id) )",
    "CREATE INDEX IF NOT EXISTS ix_deliveries_channel_status ON deliveries (channel_id, status, created_at)",
    "CREATE TABLE IF NOT EXISTS events ( id VARCHAR(100) NOT NULL, call_sid VARCHAR(64) NOT NULL, kind VARCHAR(16) NOT NULL, payload TEXT NOT NULL, created_at VARCHAR(32) NOT NULL, fanned_out BOOLEAN DEFAULT 0 NOT NULL, PRIMARY KEY (id) )",
    "CREATE INDEX IF NOT EXISTS ix_events_pending ON events (fanned_out, created_at)",
    'CREATE TABLE IF NOT EXISTS meta ( "key" TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY ("key") )',
    "CREATE TRIGGER IF NOT EXISTS channels_results AFTER UPDATE OF last_success_at, last_failure_at, failing ON channels WHEN NEW.last_success_at IS NOT OLD.last_success_at OR NEW.last_failure_at IS NOT OLD.last_failure_at OR (NEW.failing IS NOT NULL AND OLD.failing IS NULL) BEGIN UPDATE channels SET synced = 0 WHERE id = NEW.id; END",
)
