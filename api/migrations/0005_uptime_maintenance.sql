-- A status page may leave checks made during scheduled maintenance out of its uptime figures.
ALTER TABLE status_pages
    ADD COLUMN exclude_maintenance boolean NOT NULL DEFAULT false;
