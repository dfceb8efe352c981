//! The tenant host's routes and the one access gate they all pass.
//!
//! A tenant's host (`<slug>.<base domain>` or its verified custom domain) serves only the routes
//! of [`SITE_ROUTES`]: the rendered site (page, history, incident pages, JSON, feeds, badges,
//! widget, calendar, assets) and the two forms (subscribe, password). Every one of them goes
//! through [`crate::server::site_gate`], which decides with [`api::status_page::access::admit`]
//! — the same check the public JSON API on the platform host makes — before anything is read:
//! private pages look unknown (404), password-protected ones ask for the password (401).
//! `web/tests/public_gate.rs` walks this table and every rendered file and fails on one that
//! the gate does not cover.

use axum::http::Method;

/// One route of a tenant's host. `{name}` stands for one path segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SiteRoute {
    pub pattern: &'static str,
    /// Served from the rendered site ([`super::render::RenderedSite::respond`]); otherwise a
    /// form handled by the app server.
    pub rendered: bool,
    pub post: bool,
}

const fn file(pattern: &'static str) -> SiteRoute {
    SiteRoute {
        pattern,
        rendered: true,
        post: false,
    }
}

/// Everything a tenant's host answers. A path outside it is a 404 before any lookup of the page.
pub const SITE_ROUTES: &[SiteRoute] = &[
    file("/"),
    file("/history"),
    file("/incidents/{incident}"),
    file("/status.json"),
    file("/feed.rss"),
    file("/feed.atom"),
    file("/history.rss"),
    file("/history.atom"),
    file("/calendar.ics"),
    file("/api/v2/summary.json"),
    file("/api/v2/status.json"),
    file("/api/v2/components.json"),
    file("/api/v2/incidents.json"),
    file("/api/v2/incidents/unresolved.json"),
    file("/api/v2/scheduled-maintenances.json"),
    file("/api/v2/scheduled-maintenances/upcoming.json"),
    file("/api/v2/scheduled-maintenances/active.json"),
    file("/badge.svg"),
    file("/badges/{component}/status.svg"),
    file("/badges/{component}/uptime.svg"),
    file("/badges/{component}/response-time.svg"),
    file("/widget"),
    file("/widget.js"),
    file("/_assets/{file}"),
    SiteRoute {
        pattern: api::subscribers::links::SUBSCRIBE_PATH,
        rendered: false,
        post: true,
    },
    SiteRoute {
        pattern: crate::server::UNLOCK_PATH,
        rendered: false,
        post: true,
    },
];

/// Other names of rendered files: Atlassian Statuspage's feed URLs, which readers already hold.
pub const ALIASES: &[(&str, &str)] = &[
    ("/history.rss", super::feeds::RSS_PATH),
    ("/history.atom", super::feeds::ATOM_PATH),
];

/// The rendered file's own path for `path` (itself unless it is one of [`ALIASES`]).
pub fn canonical(path: &str) -> &str {
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == path)
        .map_or(path, |(_, own)| own)
}

/// Whether `path` matches `pattern` (`{name}` matches one non-empty segment).
pub fn matches(pattern: &str, path: &str) -> bool {
    let mut want = pattern.split('/');
    let mut have = path.split('/');
    loop {
        match (want.next(), have.next()) {
            (None, None) => return true,
            (Some(w), Some(h)) if w.starts_with('{') && w.ends_with('}') => {
                if h.is_empty() {
                    return false;
                }
            }
            (Some(w), Some(h)) if w == h => {}
            _ => return false,
        }
    }
}

/// The route of a tenant's host that `path` is, if any.
pub fn route(path: &str) -> Option<&'static SiteRoute> {
    SITE_ROUTES.iter().find(|r| matches(r.pattern, path))
}

/// Whether the route answers `method` (HEAD wherever GET; POST only on the forms).
pub fn allows(route: &SiteRoute, method: &Method) -> bool {
    *method == Method::GET || *method == Method::HEAD || (route.post && *method == Method::POST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_one_segment_per_name() {
        assert!(matches("/", "/"));
        assert!(!matches("/", "/x"));
        assert!(matches("/incidents/{incident}", "/incidents/abc"));
        assert!(!matches("/incidents/{incident}", "/incidents/"));
        assert!(!matches("/incidents/{incident}", "/incidents/a/b"));
        assert!(matches(
            "/badges/{component}/status.svg",
            "/badges/1/status.svg"
        ));
        assert!(!matches(
            "/badges/{component}/status.svg",
            "/badges/1/uptime.svg"
        ));
        assert_eq!(route("/admin"), None);
        assert_eq!(route("/login"), None);
        assert_eq!(route("/api/v1/status"), None);
    }

    #[test]
    fn every_file_of_a_site_is_a_route_of_the_host() {
        for show_regions in [false, true] {
            let files = super::super::site_files(&super::super::fixture::page(show_regions));
            for f in files {
                let route = route(&f.path)
                    .unwrap_or_else(|| panic!("{} is rendered but no route serves it", f.path));
                assert!(route.rendered, "{} is served from the render", f.path);
            }
        }
    }

    #[test]
    fn aliases_are_routes_and_name_rendered_files() {
        let files = super::super::site_files(&super::super::fixture::page(false));
        for (alias, own) in ALIASES {
            assert!(route(alias).is_some_and(|r| r.rendered), "{alias}");
            assert_eq!(canonical(alias), *own);
            assert!(files.iter().any(|f| f.path == *own), "{own} is rendered");
        }
        assert_eq!(canonical("/feed.rss"), "/feed.rss");
    }
}
