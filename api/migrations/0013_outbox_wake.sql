-- Issue 11: wake the delivery workers when outbox rows are committed. A statement-level
-- trigger covers every way rows are written (outbox::enqueue, and the one-statement inserts
-- for many subscribers); PostgreSQL delivers the notification at commit and never for a
-- rollback, and folds identical notifications of one transaction into one. Workers also poll,
-- for a notification lost while their listener reconnected.
CREATE FUNCTION outbox_wake() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('statuspage_outbox', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER outbox_wake AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_wake();
