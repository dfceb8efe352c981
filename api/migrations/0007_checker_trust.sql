-- Nonces of accepted checker requests, kept until the request's timestamp leaves the allowed
-- window: a captured request is accepted once, by whichever app server sees it first.
CREATE TABLE checker_nonces (
    region     text NOT NULL,
    nonce      text NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (region, nonce)
);
CREATE INDEX checker_nonces_expiry ON checker_nonces (expires_at);

-- The kind of the last failure (`{"kind": "connection_refused"}`, ...): what visitors see of it,
-- while `last_error` keeps the full text for the tenant.
ALTER TABLE monitor_region_state ADD COLUMN last_failure jsonb;
