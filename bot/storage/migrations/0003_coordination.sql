-- Coordination between instances: Teams' rate limits counted across all of them, and work
-- that runs once per period (retention, scheduled jobs).
CREATE TABLE rate_slots (
    key TEXT COLLATE "C" NOT NULL,
    at DOUBLE PRECISION NOT NULL
);
CREATE INDEX rate_slots_key_at ON rate_slots(key, at);
CREATE TABLE rate_blocks (
    key TEXT COLLATE "C" PRIMARY KEY,
    until DOUBLE PRECISION NOT NULL
);
CREATE TABLE scheduled_runs (
    job TEXT COLLATE "C" NOT NULL,
    period TEXT COLLATE "C" NOT NULL,
    owner TEXT NOT NULL,
    started_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (job, period)
);
