-- Custom metrics on status pages (issue 15): a tenant names a PromQL query against a
-- Prometheus-compatible URL of theirs; the app servers fetch it (through the SSRF guard) every
-- `refresh_seconds` and keep the last answer here, which the public page shows as a value and a
-- small chart. One row per metric: the definition, then the last fetch.
CREATE TABLE custom_metrics (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    query           text NOT NULL CHECK (length(query) BETWEEN 1 AND 2000),
    unit            text NOT NULL DEFAULT '' CHECK (length(unit) <= 20),
    source_url      text NOT NULL CHECK (length(source_url) <= 2048),
    -- Sent as the Authorization header of every query (shown masked); NULL: none.
    auth_header     text CHECK (length(auth_header) <= 4096),
    decimals        smallint NOT NULL DEFAULT 2 CHECK (decimals BETWEEN 0 AND 6),
    refresh_seconds integer NOT NULL DEFAULT 60 CHECK (refresh_seconds BETWEEN 30 AND 60),
    position        integer NOT NULL DEFAULT 0,
    version         integer NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- The last answer: the latest value and the last 24 hours ([[unix seconds, value], ...]).
    value           double precision,
    series          jsonb NOT NULL DEFAULT '[]',
    fetched_at      timestamptz,
    -- Why the last fetch failed (the value and series stay those of the last good one).
    error           text,
    next_fetch_at   timestamptz NOT NULL DEFAULT now(),
    -- A server's lease on the fetch under way.
    claimed_until   timestamptz,
    UNIQUE (tenant_id, name)
);
CREATE INDEX custom_metrics_due ON custom_metrics (next_fetch_at);

ALTER TABLE tenants
    ADD COLUMN max_custom_metrics integer NOT NULL DEFAULT 10 CHECK (max_custom_metrics >= 0);

-- A definition change is announced to the app servers (their pages rebuild at once); a fetch's
-- answer only writes the last-answer columns, which the page picks up at its next rebuild (the
-- render TTL), so a fetch every 30 s announces nothing.
CREATE TRIGGER custom_metrics_changed
    AFTER INSERT OR DELETE OR UPDATE OF name, query, unit, source_url, decimals, position
    ON custom_metrics FOR EACH ROW EXECUTE FUNCTION status_page_changed();
