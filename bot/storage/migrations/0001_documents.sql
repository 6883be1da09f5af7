-- The Store: JSON documents by key with ETag optimistic concurrency (settings, drafts, audit,
-- provisioning sagas, conversation references, incidents, contact mail, ...).
CREATE TABLE documents (
    key TEXT COLLATE "C" PRIMARY KEY,
    value TEXT NOT NULL,
    etag TEXT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL DEFAULT extract(epoch FROM clock_timestamp())
);
