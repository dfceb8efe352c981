-- Issue 12: every app server keeps each tenant's public site rendered in memory; when a row the
-- page shows is written (by any server, or the incident engine), PostgreSQL announces the tenant
-- on channel `status_page_changed` so each server rebuilds it (web::public::render::listen).
-- Row-level triggers (the payload is the tenant id); PostgreSQL delivers at commit, never for a
-- rollback, and folds identical notifications of one transaction into one, so a statement
-- touching many rows of one tenant costs one announcement.

-- Tables carrying tenant_id.
CREATE FUNCTION status_page_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('status_page_changed', OLD.tenant_id::text);
    ELSE
        PERFORM pg_notify('status_page_changed', NEW.tenant_id::text);
        IF TG_OP = 'UPDATE' AND OLD.tenant_id IS DISTINCT FROM NEW.tenant_id THEN
            PERFORM pg_notify('status_page_changed', OLD.tenant_id::text);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

-- monitor_region_state has no tenant_id: it is the monitor's. (When a monitor is deleted its
-- region states go with it and the lookup finds nothing; the monitors trigger announces that.)
CREATE FUNCTION status_page_region_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    tenant uuid;
BEGIN
    SELECT tenant_id INTO tenant FROM monitors
        WHERE id = CASE WHEN TG_OP = 'DELETE' THEN OLD.monitor_id ELSE NEW.monitor_id END;
    IF tenant IS NOT NULL THEN
        PERFORM pg_notify('status_page_changed', tenant::text);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER status_page_changed AFTER INSERT OR UPDATE OR DELETE ON status_pages
    FOR EACH ROW EXECUTE FUNCTION status_page_changed();
CREATE TRIGGER status_page_changed AFTER INSERT OR UPDATE OR DELETE ON components
    FOR EACH ROW EXECUTE FUNCTION status_page_changed();
CREATE TRIGGER status_page_changed AFTER INSERT OR UPDATE OR DELETE ON component_groups
    FOR EACH ROW EXECUTE FUNCTION status_page_changed();
CREATE TRIGGER status_page_changed AFTER INSERT OR UPDATE OR DELETE ON incidents
    FOR EACH ROW EXECUTE FUNCTION status_page_changed();
CREATE TRIGGER status_page_changed AFTER INSERT OR UPDATE OR DELETE ON incident_updates
    FOR EACH ROW EXECUTE FUNCTION status_page_changed();
CREATE TRIGGER status_page_changed AFTER INSERT OR UPDATE OR DELETE ON incident_components
    FOR EACH ROW EXECUTE FUNCTION status_page_changed();
CREATE TRIGGER status_page_changed AFTER INSERT OR UPDATE OR DELETE ON maintenances
    FOR EACH ROW EXECUTE FUNCTION status_page_changed();
CREATE TRIGGER status_page_changed AFTER INSERT OR UPDATE OR DELETE ON maintenance_components
    FOR EACH ROW EXECUTE FUNCTION status_page_changed();
CREATE TRIGGER status_page_changed AFTER INSERT OR UPDATE OR DELETE ON monitors
    FOR EACH ROW EXECUTE FUNCTION status_page_changed();

-- The engine rewrites these rows on every evaluation (streaks, timers, last check): only a
-- change of what the page shows is announced.
CREATE TRIGGER status_page_changed AFTER INSERT OR DELETE ON monitor_state
    FOR EACH ROW EXECUTE FUNCTION status_page_changed();
CREATE TRIGGER status_page_changed_update AFTER UPDATE ON monitor_state
    FOR EACH ROW
    WHEN (OLD.state IS DISTINCT FROM NEW.state OR OLD.flapping IS DISTINCT FROM NEW.flapping)
    EXECUTE FUNCTION status_page_changed();
CREATE TRIGGER status_page_changed AFTER INSERT OR DELETE ON monitor_region_state
    FOR EACH ROW EXECUTE FUNCTION status_page_region_changed();
CREATE TRIGGER status_page_changed_update AFTER UPDATE ON monitor_region_state
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION status_page_region_changed();
