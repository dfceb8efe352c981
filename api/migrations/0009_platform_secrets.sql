-- Secrets the platform generates for itself, shared by every app server: today only the key
-- that signs status-page access cookies (`page_access_cookie`), generated on first start unless
-- STATUSPAGE_COOKIE_SECRET is set. Deliberately not CHECKER_SECRET, which every checker region
-- holds: a leaked checker environment must not open password-protected pages.
CREATE TABLE platform_secrets (
    name        text PRIMARY KEY,
    secret      bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
