-- The public subscription confirmation finds its subscriber by the token's hash alone (no
-- tenant in the link): index it, and make a collision impossible rather than unlikely.
CREATE UNIQUE INDEX subscribers_confirm_token ON subscribers (confirm_token_hash)
    WHERE confirm_token_hash IS NOT NULL;
