//! Each tenant's site rendered once per change into bytes: gzip and brotli bodies, ETags,
//! `Cache-Control`; kept in memory ([`PublicSite`]) and on disk ([`disk`]); rebuilt when a change
//! is announced (PostgreSQL `LISTEN`/`NOTIFY`, [`run_change_listener`]) or the live figures are
//! older than the TTL.

pub mod bucket;
mod disk;
mod encode;
mod listen;
mod store;

pub use encode::{cache_control, choose_coding, Coding, PAGE_CSP, WIDGET_CSP};
pub use listen::{run_change_listener, CHANGE_CHANNEL};
pub use store::{Loader, PublicSite, MAX_BYTES_IN_MEMORY, MAX_SITES_IN_MEMORY};

use super::i18n::{self, Lang};
use super::model::PageModel;
use super::File;
use api::status_page::Visibility;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use chrono::{DateTime, Utc};
use encode::{Encoded, Entry, Meta};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Where renders are kept and how long live figures may age.
#[derive(Debug, Clone)]
pub struct RenderConfig {
    /// `STATUSPAGE_RENDER_DIR`: the last good model of every page, kept across restarts.
    pub dir: Option<PathBuf>,
    /// `STATUSPAGE_RENDER_TTL_SECS`: a render older than this is rebuilt in the background on
    /// the next request (which is still answered from the old one).
    pub ttl: Duration,
    /// `STATUSPAGE_RENDER_BUCKET`: the kept models also in S3-compatible storage ([`bucket`]).
    pub bucket: Option<infra::keep::ObjectKeep>,
}

impl Default for RenderConfig {
    fn default() -> Self {
        Self {
            dir: None,
            ttl: Duration::from_secs(30),
            bucket: None,
        }
    }
}

/// The files of one path: which languages and variants it has.
#[derive(Debug, Default)]
struct PathFiles {
    /// Empty for a file that is the same in every language.
    langs: Vec<Lang>,
    /// Canonical `key=value` of each variant besides the default (`""`).
    variants: Vec<String>,
    files: HashMap<(Option<Lang>, String), Entry>,
}

/// One tenant's rendered site.
#[derive(Debug)]
pub struct RenderedSite {
    pub tenant_id: Uuid,
    pub visibility: Visibility,
    pub hosts: Vec<String>,
    pub model_generated_at: DateTime<Utc>,
    /// The model it was rendered from (kept on disk after a live render).
    model: Arc<PageModel>,
    paths: HashMap<String, PathFiles>,
    rendered_at: DateTime<Utc>,
    last_modified: HeaderValue,
    generated_at: HeaderValue,
    stats: RenderStats,
}

/// What a render did, for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RenderStats {
    pub files: usize,
    /// Files whose bytes were the same as in the previous render (bodies and ETag reused).
    pub reused: usize,
    /// Bytes held, every coding of every file.
    pub bytes: usize,
    pub micros: u64,
}

impl RenderedSite {
    /// Renders every file of `model` ([`super::site_files`]), reusing the compressed bodies of
    /// `previous` for files whose bytes did not change.
    pub fn render(model: PageModel, previous: Option<&RenderedSite>) -> Self {
        let started = Instant::now();
        let files = super::site_files(&model);
        Self::from_files(model, files, previous, started)
    }

    /// [`Self::render`] of files made elsewhere (`started`: when making them began).
    pub fn from_files(
        model: PageModel,
        files: Vec<File>,
        previous: Option<&RenderedSite>,
        started: Instant,
    ) -> Self {
        let old: HashMap<[u8; 32], Arc<Encoded>> = previous
            .map(|p| {
                p.paths
                    .values()
                    .flat_map(|f| f.files.values())
                    .map(|e| (e.encoded.hash, e.encoded.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let mut stats = RenderStats::default();
        let mut paths: HashMap<String, PathFiles> = HashMap::new();
        for file in files {
            let hash = Encoded::hash_of(&file.body);
            let encoded = match old.get(&hash) {
                Some(same) => {
                    stats.reused += 1;
                    same.clone()
                }
                None => Arc::new(Encoded::new(file.body.clone(), hash)),
            };
            stats.files += 1;
            stats.bytes += encoded.size();
            let entry = Entry::from_file(&file, encoded);
            let at = paths.entry(file.path.clone()).or_default();
            if let Some(lang) = file.lang {
                if !at.langs.contains(&lang) {
                    at.langs.push(lang);
                }
            }
            if !file.variant.is_empty() && !at.variants.contains(&file.variant) {
                at.variants.push(file.variant.clone());
            }
            at.files.insert((file.lang, file.variant), entry);
        }
        let rendered_at = Utc::now();
        stats.micros = started.elapsed().as_micros() as u64;
        let http_date = rendered_at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        let iso = model
            .generated_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        Self {
            tenant_id: model.tenant_id,
            visibility: model.visibility,
            hosts: model.hosts.clone(),
            model_generated_at: model.generated_at,
            model: Arc::new(model),
            paths,
            rendered_at,
            last_modified: HeaderValue::from_str(&http_date).expect("a date is a header"),
            generated_at: HeaderValue::from_str(&iso).expect("a date is a header"),
            stats,
        }
    }

    /// The model this site was rendered from.
    pub fn model(&self) -> &PageModel {
        &self.model
    }

    pub fn rendered_at(&self) -> DateTime<Utc> {
        self.rendered_at
    }

    pub fn stale(&self) -> bool {
        self.model.stale
    }

    pub fn stats(&self) -> RenderStats {
        self.stats
    }

    /// The ETag of one file (`lang` `None` for files that are the same in every language;
    /// `variant` `""` for the default).
    pub fn etag(&self, path: &str, lang: Option<Lang>, variant: &str) -> Option<String> {
        let files = self.paths.get(path)?;
        let entry = files.files.get(&(lang, variant.to_owned()))?;
        entry.encoded.etag.to_str().ok().map(str::to_owned)
    }

    /// Every path of the site.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.paths.keys().map(String::as_str)
    }

    /// The file for this request (language from `?lang=` / `Accept-Language`, variant from the
    /// query), with ETag / 304, the best encoding the client accepts and `Cache-Control`;
    /// `None` when the site has no such path.
    pub fn respond(
        &self,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
    ) -> Option<Response> {
        let files = self.paths.get(super::routes::canonical(path))?;
        let params: Vec<(&str, &str)> = query
            .unwrap_or_default()
            .split('&')
            .take(32)
            .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
            .filter(|(k, _)| !k.is_empty())
            .collect();
        let query_lang = params.iter().find(|(k, _)| *k == "lang").map(|(_, v)| *v);
        let (lang, negotiated) = if files.langs.is_empty() {
            (None, false)
        } else {
            let accept = headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok());
            let chosen = i18n::negotiate(query_lang, accept);
            let explicit = query_lang.and_then(Lang::parse).is_some();
            let lang = if files.langs.contains(&chosen) {
                chosen
            } else if files.langs.contains(&Lang::En) {
                Lang::En
            } else {
                files.langs[0]
            };
            (Some(lang), !explicit)
        };
        let variant = params
            .iter()
            .filter(|(k, _)| *k != "lang")
            .map(|(k, v)| format!("{k}={v}"))
            .find(|v| files.variants.contains(v))
            .unwrap_or_default();
        let entry = files
            .files
            .get(&(lang, variant))
            .or_else(|| files.files.get(&(lang, String::new())))
            .or_else(|| files.files.values().next())?;
        let meta = Meta {
            entry,
            public: self.visibility == Visibility::Public,
            lang: lang.map(Lang::tag),
            lang_negotiated: negotiated,
            last_modified: &self.last_modified,
            generated_at: &self.generated_at,
            stale: self.model.stale,
        };
        Some(meta.respond(headers))
    }

    /// Whether the site has a file at this path (any language or variant).
    pub fn has_path(&self, path: &str) -> bool {
        self.paths.contains_key(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::public::{fixture, FileKind, HTML, JSON, SVG};
    use axum::http::StatusCode;

    fn sample_files(title: &str) -> Vec<File> {
        let page = |lang: Lang, period: Option<&str>| {
            let body = format!(
                "<html lang={}><h1>{title}</h1>{}{}</html>",
                lang.tag(),
                period.unwrap_or("24h"),
                "<p>padding to compress</p>".repeat(40)
            );
            let f = File::new("/", FileKind::Page, HTML, body.into_bytes()).in_lang(lang);
            match period {
                Some(p) => f.with_variant("period", p),
                None => f,
            }
        };
        let mut files = Vec::new();
        for lang in Lang::ALL {
            files.push(page(lang, None));
            files.push(page(lang, Some("7d")));
        }
        files.push(File::new(
            "/status.json",
            FileKind::Data,
            JSON,
            format!("{{\"title\":\"{title}\"}}").into_bytes(),
        ));
        files.push(File::new(
            "/badge.svg",
            FileKind::Badge,
            SVG,
            b"<svg>ok</svg>".to_vec(),
        ));
        files.push(File::new(
            "/widget",
            FileKind::Widget,
            HTML,
            b"<p>widget</p>".to_vec(),
        ));
        files
    }

    fn site(title: &str, previous: Option<&RenderedSite>) -> RenderedSite {
        RenderedSite::from_files(
            fixture::page(false),
            sample_files(title),
            previous,
            Instant::now(),
        )
    }

    fn get(
        site: &RenderedSite,
        path: &str,
        query: Option<&str>,
        headers: &[(&'static str, &str)],
    ) -> Response {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(*k, HeaderValue::from_str(v).unwrap());
        }
        site.respond(path, query, &map).expect("the path exists")
    }

    fn header<'a>(r: &'a Response, name: &str) -> Option<&'a str> {
        r.headers().get(name).and_then(|v| v.to_str().ok())
    }

    #[test]
    fn languages_variants_and_conditional_requests() {
        let site = site("One", None);
        assert!(site.has_path("/") && !site.has_path("/nope"));
        assert!(site.respond("/nope", None, &HeaderMap::new()).is_none());

        let r = get(&site, "/", None, &[("accept-language", "de-DE,de;q=0.9")]);
        assert_eq!(header(&r, "content-language"), Some("de"));
        assert_eq!(header(&r, "vary"), Some("Accept-Encoding, Accept-Language"));
        assert_eq!(
            header(&r, "etag").map(str::to_owned),
            site.etag("/", Some(Lang::De), "")
        );

        let r = get(
            &site,
            "/",
            Some("lang=en&period=7d"),
            &[("accept-language", "de")],
        );
        assert_eq!(header(&r, "content-language"), Some("en"));
        assert_eq!(header(&r, "vary"), Some("Accept-Encoding"));
        assert_eq!(
            header(&r, "etag").map(str::to_owned),
            site.etag("/", Some(Lang::En), "period=7d")
        );
        // An unknown variant or other parameters: the default file.
        let r = get(&site, "/", Some("utm=x&period=99d"), &[]);
        assert_eq!(
            header(&r, "etag").map(str::to_owned),
            site.etag("/", Some(Lang::En), "")
        );

        let etag = site.etag("/status.json", None, "").unwrap();
        let r = get(&site, "/status.json", None, &[("if-none-match", &etag)]);
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(header(&r, "etag"), Some(etag.as_str()));
        assert!(header(&r, "cache-control").unwrap().contains("s-maxage"));
        let r = get(
            &site,
            "/status.json",
            None,
            &[("if-none-match", "\"other\"")],
        );
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "access-control-allow-origin"), Some("*"));
        assert_eq!(header(&r, "content-language"), None);
    }

    #[test]
    fn headers_follow_the_kind_and_the_visibility() {
        let site = site("One", None);
        let page = get(&site, "/", None, &[("accept-encoding", "gzip, br")]);
        assert_eq!(header(&page, "content-encoding"), Some("br"));
        assert_eq!(header(&page, "content-security-policy"), Some(PAGE_CSP));
        assert_eq!(header(&page, "access-control-allow-origin"), None);
        assert!(header(&page, "x-status-generated-at")
            .unwrap()
            .starts_with("2026-12-01T12:00:00"));
        let widget = get(&site, "/widget", None, &[]);
        assert!(header(&widget, "content-security-policy")
            .unwrap()
            .contains("frame-ancestors *"));
        assert_ne!(header(&widget, "x-frame-options"), Some("DENY"));

        let mut model = fixture::page(false);
        model.visibility = Visibility::Password;
        let locked = RenderedSite::from_files(model, sample_files("One"), None, Instant::now());
        for path in ["/", "/status.json", "/badge.svg", "/widget"] {
            let r = get(&locked, path, None, &[]);
            assert_eq!(header(&r, "cache-control"), Some("private, no-cache"));
            assert_eq!(header(&r, "access-control-allow-origin"), None, "{path}");
        }
    }

    #[test]
    fn a_re_render_keeps_the_bodies_of_unchanged_files() {
        let one = site("One", None);
        let two = site("Two", Some(&one));
        // The page and status.json changed; the badge and the widget did not.
        assert_eq!(two.stats().files, 7);
        assert_eq!(two.stats().reused, 2);
        assert_eq!(
            one.etag("/badge.svg", None, ""),
            two.etag("/badge.svg", None, "")
        );
        assert_ne!(
            one.etag("/status.json", None, ""),
            two.etag("/status.json", None, "")
        );
    }

    #[test]
    fn the_sample_site_renders() {
        let started = Instant::now();
        let files = crate::public::site_files(&fixture::page(true));
        let making = started.elapsed();
        if let Some(dir) = std::env::var_os("RENDER_DUMP_DIR") {
            // For measuring the compression alone in an optimised build.
            for (i, f) in files.iter().enumerate() {
                std::fs::write(std::path::Path::new(&dir).join(format!("{i}.bin")), &f.body)
                    .unwrap();
            }
        }
        let site = RenderedSite::from_files(fixture::page(true), files, None, Instant::now());
        eprintln!(
            "site_files {} µs; encoding {} µs",
            making.as_micros(),
            site.stats().micros
        );
        let site = RenderedSite::render(fixture::page(true), None);
        let again = RenderedSite::render(fixture::page(true), Some(&site));
        assert_eq!(
            again.stats().reused,
            again.stats().files,
            "pure: same bytes"
        );
        eprintln!(
            "fixture::page(true): {} files, {} bytes held, first render {} µs, re-render {} µs",
            site.stats().files,
            site.stats().bytes,
            site.stats().micros,
            again.stats().micros
        );
    }
}
