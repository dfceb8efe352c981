//! One rendered file as it is served: the identity bytes, gzip and brotli bodies made once, a
//! strong ETag; and the HTTP conversation around it (conditional requests, content coding,
//! caching and security headers).

use crate::public::{File, FileKind};
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::io::Write;

/// Bodies shorter than this are sent as they are (compression would not pay for its header).
const MIN_COMPRESS: usize = 256;
/// Brotli quality (0–11): 5 compresses nearly as well as 11 on HTML/JSON/SVG at a small
/// fraction of the time, so a re-render stays cheap.
const BROTLI_QUALITY: u32 = 5;
const BROTLI_WINDOW: u32 = 22;

/// The bodies of one file's bytes, shared between renders while the bytes stay the same.
#[derive(Debug)]
pub struct Encoded {
    pub hash: [u8; 32],
    /// `"…"`: strong, from the identity bytes.
    pub etag: HeaderValue,
    pub identity: Bytes,
    pub gzip: Option<Bytes>,
    pub br: Option<Bytes>,
}

impl Encoded {
    pub fn hash_of(body: &[u8]) -> [u8; 32] {
        Sha256::digest(body).into()
    }

    /// Compresses `body` (already hashed into `hash`).
    pub fn new(body: Vec<u8>, hash: [u8; 32]) -> Self {
        use base64::Engine;
        let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&hash[..18]);
        let etag = HeaderValue::from_str(&format!("\"{tag}\"")).expect("base64 is a valid header");
        let (gzip, br) = if body.len() >= MIN_COMPRESS {
            (
                gzip(&body)
                    .filter(|z| z.len() < body.len())
                    .map(Bytes::from),
                brotli(&body)
                    .filter(|z| z.len() < body.len())
                    .map(Bytes::from),
            )
        } else {
            (None, None)
        };
        Self {
            hash,
            etag,
            identity: Bytes::from(body),
            gzip,
            br,
        }
    }

    /// Bytes held, all codings together.
    pub fn size(&self) -> usize {
        self.identity.len()
            + self.gzip.as_ref().map_or(0, Bytes::len)
            + self.br.as_ref().map_or(0, Bytes::len)
    }
}

fn gzip(body: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 3),
        flate2::Compression::new(6),
    );
    encoder.write_all(body).ok()?;
    encoder.finish().ok()
}

fn brotli(body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len() / 3);
    {
        let mut writer =
            brotli::CompressorWriter::new(&mut out, 16 * 1024, BROTLI_QUALITY, BROTLI_WINDOW);
        writer.write_all(body).ok()?;
        writer.flush().ok()?;
    }
    Some(out)
}

/// One file of a rendered site.
#[derive(Debug, Clone)]
pub struct Entry {
    pub content_type: &'static str,
    pub kind: FileKind,
    pub encoded: std::sync::Arc<Encoded>,
}

impl Entry {
    pub fn from_file(file: &File, encoded: std::sync::Arc<Encoded>) -> Self {
        Self {
            content_type: file.content_type,
            kind: file.kind,
            encoded,
        }
    }
}

/// The content codings we have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Br,
    Gzip,
    Identity,
}

/// The best coding the client accepts (`Accept-Encoding` with q-values; `*` covers codings it
/// does not name), among those the file has; brotli before gzip at equal weight.
pub fn choose_coding(accept: Option<&str>, has_br: bool, has_gzip: bool) -> Coding {
    let Some(accept) = accept else {
        return Coding::Identity;
    };
    let (mut br, mut gzip, mut star) = (None::<f32>, None::<f32>, None::<f32>);
    for entry in accept.split(',').take(32) {
        let mut parts = entry.split(';');
        let name = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q=").map(str::to_owned))
            .and_then(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match name.as_str() {
            "br" => br = Some(q),
            "gzip" | "x-gzip" => gzip = Some(q),
            "*" => star = Some(q),
            _ => {}
        }
    }
    let br = if has_br {
        br.or(star).unwrap_or(0.0)
    } else {
        0.0
    };
    let gzip = if has_gzip {
        gzip.or(star).unwrap_or(0.0)
    } else {
        0.0
    };
    if br > 0.0 && br >= gzip {
        Coding::Br
    } else if gzip > 0.0 {
        Coding::Gzip
    } else {
        Coding::Identity
    }
}

/// Whether `If-None-Match` matches `etag` (weak comparison; lists and `*`).
pub fn none_match(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let ours = opaque(etag.to_str().unwrap_or_default());
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .take(64)
        .map(str::trim)
        .any(|tag| tag == "*" || opaque(tag) == ours)
}

fn opaque(tag: &str) -> &str {
    tag.trim().strip_prefix("W/").unwrap_or(tag.trim())
}

/// What a response says beyond the file: who may cache it, how long.
pub fn cache_control(kind: FileKind, public: bool) -> &'static str {
    if !public {
        // Password-protected (or private) pages: never in shared caches; browsers revalidate.
        return "private, no-cache";
    }
    match kind {
        FileKind::Page | FileKind::Data | FileKind::Widget => {
            "public, max-age=15, s-maxage=30, stale-while-revalidate=300, stale-if-error=86400"
        }
        FileKind::Badge => {
            "public, max-age=60, s-maxage=60, stale-while-revalidate=600, stale-if-error=86400"
        }
        FileKind::Feed => {
            "public, max-age=60, s-maxage=120, stale-while-revalidate=600, stale-if-error=86400"
        }
        FileKind::Asset => "public, max-age=300, stale-while-revalidate=3600",
    }
}

/// The page's Content-Security-Policy; the widget may be framed anywhere.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' https: data:; connect-src 'self'; form-action 'self'; base-uri 'none'; \
     frame-ancestors 'none'";
pub const WIDGET_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' https: data:; connect-src 'self'; form-action 'self'; base-uri 'none'; \
     frame-ancestors *";
/// Everything else is not a document: nothing may run in it.
pub const FILE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'";

/// The headers every answer about a file carries (the 200 and the 304 alike).
pub struct Meta<'a> {
    pub entry: &'a Entry,
    pub public: bool,
    pub lang: Option<&'static str>,
    /// `Accept-Language` chose the language (no `?lang=`).
    pub lang_negotiated: bool,
    pub last_modified: &'a HeaderValue,
    pub generated_at: &'a HeaderValue,
    pub stale: bool,
}

const GENERATED_AT: HeaderName = HeaderName::from_static("x-status-generated-at");
const STALE: HeaderName = HeaderName::from_static("x-status-stale");

impl Meta<'_> {
    fn apply(&self, headers: &mut HeaderMap) {
        let kind = self.entry.kind;
        headers.insert(header::ETAG, self.entry.encoded.etag.clone());
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(cache_control(kind, self.public)),
        );
        headers.insert(
            header::VARY,
            HeaderValue::from_static(if self.lang_negotiated {
                "Accept-Encoding, Accept-Language"
            } else {
                "Accept-Encoding"
            }),
        );
        headers.insert(header::LAST_MODIFIED, self.last_modified.clone());
        headers.insert(GENERATED_AT, self.generated_at.clone());
        if self.stale {
            headers.insert(STALE, HeaderValue::from_static("1"));
        }
        if let Some(lang) = self.lang {
            headers.insert(header::CONTENT_LANGUAGE, HeaderValue::from_static(lang));
        }
        let csp = match kind {
            FileKind::Page => PAGE_CSP,
            FileKind::Widget => WIDGET_CSP,
            _ => FILE_CSP,
        };
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(csp),
        );
        if kind == FileKind::Widget {
            // Set so the global hardening layer (which adds `DENY` where the header is missing)
            // leaves it: `ALLOWALL` is no restriction to browsers, and `frame-ancestors *`
            // (which takes precedence where CSP is supported) allows every embedder.
            headers.insert(
                header::X_FRAME_OPTIONS,
                HeaderValue::from_static("ALLOWALL"),
            );
        }
        let cross_origin = matches!(
            kind,
            FileKind::Data | FileKind::Badge | FileKind::Feed | FileKind::Widget
        );
        if cross_origin && self.public {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        }
    }

    /// `304 Not Modified` when `If-None-Match` matches, else the file in the best coding.
    pub fn respond(&self, request: &HeaderMap) -> Response {
        let encoded = &self.entry.encoded;
        let mut response = if none_match(request, &encoded.etag) {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            r
        } else {
            let accept = request
                .get(header::ACCEPT_ENCODING)
                .and_then(|v| v.to_str().ok());
            let coding = choose_coding(accept, encoded.br.is_some(), encoded.gzip.is_some());
            let (body, name) = match coding {
                Coding::Br => (encoded.br.clone().expect("chosen"), Some("br")),
                Coding::Gzip => (encoded.gzip.clone().expect("chosen"), Some("gzip")),
                Coding::Identity => (encoded.identity.clone(), None),
            };
            let length = body.len();
            let mut r = Response::new(Body::from(body));
            let headers = r.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(self.entry.content_type),
            );
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
            if let Some(name) = name {
                headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(name));
            }
            r
        };
        self.apply(response.headers_mut());
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codings_follow_q_values() {
        assert_eq!(choose_coding(None, true, true), Coding::Identity);
        assert_eq!(choose_coding(Some("gzip, br"), true, true), Coding::Br);
        assert_eq!(choose_coding(Some("gzip, br"), false, true), Coding::Gzip);
        assert_eq!(
            choose_coding(Some("br;q=0.5, gzip;q=0.8"), true, true),
            Coding::Gzip
        );
        assert_eq!(
            choose_coding(Some("br;q=0, gzip"), true, true),
            Coding::Gzip
        );
        assert_eq!(choose_coding(Some("*"), true, true), Coding::Br);
        assert_eq!(choose_coding(Some("*;q=0"), true, true), Coding::Identity);
        assert_eq!(
            choose_coding(Some("identity, deflate"), true, true),
            Coding::Identity
        );
        assert_eq!(choose_coding(Some("GZIP"), true, true), Coding::Gzip);
    }

    #[test]
    fn if_none_match_compares_weakly_and_takes_lists() {
        let etag = HeaderValue::from_static("\"abc\"");
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::IF_NONE_MATCH, HeaderValue::from_str(v).unwrap());
            h
        };
        assert!(none_match(&with("\"abc\""), &etag));
        assert!(none_match(&with("W/\"abc\""), &etag));
        assert!(none_match(&with("\"x\", \"abc\""), &etag));
        assert!(none_match(&with("*"), &etag));
        assert!(!none_match(&with("\"abcd\""), &etag));
        assert!(!none_match(&HeaderMap::new(), &etag));
    }

    #[test]
    fn small_bodies_stay_uncompressed_and_large_ones_decode_back() {
        let small = b"{}".to_vec();
        let e = Encoded::new(small.clone(), Encoded::hash_of(&small));
        assert!(e.gzip.is_none() && e.br.is_none());
        let big = "operational ".repeat(500).into_bytes();
        let e = Encoded::new(big.clone(), Encoded::hash_of(&big));
        let mut out = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(&e.gzip.as_ref().unwrap()[..]),
            &mut out,
        )
        .unwrap();
        assert_eq!(out, big);
        let mut out = Vec::new();
        std::io::Read::read_to_end(
            &mut brotli::Decompressor::new(&e.br.as_ref().unwrap()[..], 4096),
            &mut out,
        )
        .unwrap();
        assert_eq!(out, big);
        assert!(e.etag.to_str().unwrap().starts_with('"'));
    }
}
