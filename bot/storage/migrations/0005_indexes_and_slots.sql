-- Indexes the hot queries need as the tables grow (tests/postgres/test_query_plans.py asks
-- PostgreSQL for each plan): an incident's messages, newest first, for the experts' delivery
-- state (as on SQLite); the leases an instance renews, by lease id, among the leased rows.
CREATE INDEX notification_outbox_partition ON notification_outbox(partition, seq);
CREATE INDEX notification_outbox_lease_id
    ON notification_outbox(lease_id) WHERE state = 'leased';
-- The dead letters, counted for /metrics without reading the delivered history.
CREATE INDEX notification_outbox_dead ON notification_outbox(seq) WHERE state = 'dead';
-- A rate-limit slot stays counted while its call is in flight: ``done_at`` is set once the
-- call has its answer (PostgresRateLimiter), so a call that reaches Teams late is still
-- counted in every window it may land in, whatever the delay.
ALTER TABLE rate_slots ADD COLUMN slot BIGINT GENERATED ALWAYS AS IDENTITY;
ALTER TABLE rate_slots ADD COLUMN done_at DOUBLE PRECISION;
