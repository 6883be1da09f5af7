-- The notifications ledger: outbox, webhook receipts, customer events. Units of work commit
-- with the documents in one transaction. Leases carry an owner token and an expiry, so that
-- another instance takes over the work of one that died.
CREATE TABLE notification_outbox (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    partition TEXT COLLATE "C" NOT NULL,
    kind TEXT NOT NULL,
    revision INTEGER NOT NULL DEFAULT 0,
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    enqueued_at DOUBLE PRECISION NOT NULL,
    available_at DOUBLE PRECISION NOT NULL,
    lease_until DOUBLE PRECISION,
    lease_id TEXT,
    finished_at DOUBLE PRECISION,
    last_error TEXT NOT NULL DEFAULT '',
    emailed BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX notification_outbox_open
    ON notification_outbox(partition, seq) WHERE state IN ('pending', 'leased');
CREATE INDEX notification_outbox_due
    ON notification_outbox(available_at) WHERE state = 'pending';
CREATE INDEX notification_outbox_lease
    ON notification_outbox(lease_until) WHERE state = 'leased';
CREATE INDEX notification_outbox_finished
    ON notification_outbox(finished_at) WHERE state IN ('done', 'dead');
CREATE TABLE notification_receipts (
    id TEXT PRIMARY KEY,
    received_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX notification_receipts_received ON notification_receipts(received_at);
CREATE TABLE notification_events (
    cursor BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    body TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL
);
CREATE INDEX notification_events_at ON notification_events(at);
