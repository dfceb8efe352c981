-- The shard count the app server last gave each region's EventBridge schedules, and how that went.
CREATE TABLE checker_schedules (
    region            text PRIMARY KEY,
    shards            integer NOT NULL CHECK (shards BETWEEN 1 AND 1000),
    -- Checks per minute the region's monitors asked for when the count was chosen.
    checks_per_minute double precision NOT NULL,
    synced_at         timestamptz,
    -- Why the last sync failed (NULL: it worked).
    error             text,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
