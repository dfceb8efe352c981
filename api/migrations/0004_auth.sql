-- Sign-in hardening: failed sign-in attempts (rate limiting that holds across restarts and app
-- servers), and slug skeletons so no tenant can claim a look-alike of another's status page.

-- One row per sign-in attempt that is not (yet) known to have succeeded: a row is written before
-- the password is checked (under an advisory lock, so concurrent guesses cannot all slip under
-- the limit), and the email's rows are removed when a sign-in succeeds; attempts refused by the
-- limit are not recorded. Rows older than the window are deleted. The email is stored only as
-- a SHA-256 of its trimmed lower-case form (people type passwords into the email field); the
-- client is an IP address (IPv6 folded to its /64), NULL when the app server does not know it.
CREATE TABLE login_attempts (
    id          bigserial PRIMARY KEY,
    email_hash  bytea NOT NULL,
    client      text,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_attempts_email ON login_attempts (email_hash, at);
CREATE INDEX login_attempts_client ON login_attempts (client, at) WHERE client IS NOT NULL;
CREATE INDEX login_attempts_at ON login_attempts (at);

-- `tenants::slug_skeleton(slug)`: hyphens dropped, lower-cased, 0→o, 1/i→l, 3→e, 5→s, then
-- "rn"→"m" and "vv"→"w" (left to right, as Rust's `str::replace` and SQL's `replace` both do).
-- New tenants get it from Rust; existing ones are backfilled here with the same rules. Should two
-- existing tenants already share a skeleton, the older one keeps it and the newer one is left
-- NULL (grandfathered: the unique index ignores NULLs) rather than failing the migration.
ALTER TABLE tenants ADD COLUMN slug_skeleton text;

UPDATE tenants AS t
SET slug_skeleton = s.skeleton
FROM (
    SELECT id, skeleton,
           row_number() OVER (PARTITION BY skeleton ORDER BY created_at, id) AS n
    FROM (
        SELECT id, created_at,
               replace(replace(translate(lower(replace(slug, '-', '')), '01i35', 'olles'),
                               'rn', 'm'),
                       'vv', 'w') AS skeleton
        FROM tenants
    ) AS folded
) AS s
WHERE t.id = s.id AND s.n = 1;

CREATE UNIQUE INDEX tenants_slug_skeleton_key ON tenants (slug_skeleton);
