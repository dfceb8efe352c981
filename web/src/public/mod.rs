//! A tenant's public status site: the page, its history and incident pages, feeds, the
//! Statuspage-compatible JSON, badges and the widget. Everything is rendered from one
//! [`model::PageModel`] into files ([`File`]) once per change ([`render`]), kept in memory and on
//! disk, and served like static files behind one access gate ([`routes`]).

pub mod badges;
pub mod charts;
pub mod feeds;
pub mod fixture;
pub mod html;
pub mod i18n;
pub mod model;
pub mod render;
pub mod routes;
pub mod statuspage_v2;
pub mod widget;

use i18n::Lang;

/// One file of a tenant's public site as rendered (compression and ETag come later, in
/// [`render`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// The request path: `/`, `/history`, `/incidents/<id>`, `/badges/<component id>/status.svg`.
    pub path: String,
    /// `Some` for a file rendered once per language (the request's language picks it), `None`
    /// for one that is the same in every language.
    pub lang: Option<Lang>,
    /// The query variant this file answers, canonical `key=value` (`period=7d`, `window=30d`);
    /// empty for the default. A request's other query parameters are ignored.
    pub variant: String,
    pub content_type: &'static str,
    pub kind: FileKind,
    pub body: Vec<u8>,
}

impl File {
    pub fn new(
        path: impl Into<String>,
        kind: FileKind,
        content_type: &'static str,
        body: Vec<u8>,
    ) -> Self {
        Self {
            path: path.into(),
            lang: None,
            variant: String::new(),
            content_type,
            kind,
            body,
        }
    }

    pub fn in_lang(mut self, lang: Lang) -> Self {
        self.lang = Some(lang);
        self
    }

    pub fn with_variant(mut self, key: &str, value: &str) -> Self {
        self.variant = format!("{key}={value}");
        self
    }
}

/// What a file is: decides its `Cache-Control`, its Content-Security-Policy and whether other
/// sites may frame it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// An HTML page of the site (page, history, incident).
    Page,
    /// JSON for programs (`/status.json`, `/api/v2/...`).
    Data,
    /// RSS, Atom, iCalendar.
    Feed,
    /// An SVG badge (embedded anywhere as an image).
    Badge,
    /// The embeddable widget's HTML (framed by other sites) and its script.
    Widget,
    /// The page's own script and stylesheets (`/_assets/...`).
    Asset,
}

pub const HTML: &str = "text/html; charset=utf-8";
pub const JSON: &str = "application/json";
pub const SVG: &str = "image/svg+xml";
pub const RSS: &str = "application/rss+xml; charset=utf-8";
pub const ATOM: &str = "application/atom+xml; charset=utf-8";
pub const ICS: &str = "text/calendar; charset=utf-8";
pub const JS: &str = "text/javascript; charset=utf-8";
pub const CSS: &str = "text/css; charset=utf-8";

/// Every file of a tenant's site, from its model. Pure: the same model gives the same bytes.
pub fn site_files(model: &model::PageModel) -> Vec<File> {
    let mut files = html::files(model);
    files.extend(badges::files(model));
    files.extend(widget::files(model));
    files.extend(feeds::files(model));
    files.extend(statuspage_v2::files(model));
    files
}
