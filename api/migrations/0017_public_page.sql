-- Issue 12: the public status site. A tenant may show each component's regions (status,
-- latency and a chart per region; otherwise the regions are combined), and chooses the uptime
-- window shown beside each component. The favicon lives in `branding` (JSON) with the logo.
ALTER TABLE status_pages
    ADD COLUMN show_region_detail boolean NOT NULL DEFAULT false,
    ADD COLUMN uptime_window text NOT NULL DEFAULT '90d'
        CHECK (uptime_window IN ('24h', '7d', '30d', '90d'));
