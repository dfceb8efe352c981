//! Browser hardening on every response (pages, JSON, static files): a Content-Security-Policy,
//! `X-Content-Type-Options`, `Referrer-Policy`, framing refused, and HSTS when the platform is
//! served over HTTPS (`STATUSPAGE_SECURE_COOKIES=true`).
//!
//! Leptos pages get a policy with a fresh nonce per response ([`page_nonce`]), which Leptos puts
//! on its hydration script and the streamed resource chunks; the browser bundle needs
//! `'wasm-unsafe-eval'` to instantiate. Every other response gets the same policy without a
//! nonce (no inline script at all), set only where the handler did not set its own, so a route
//! that must differ (the embeddable widget, when it exists, with its own `frame-ancestors`) sets
//! its own headers.

use axum::http::{header, HeaderName, HeaderValue};
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::app::STYLE;

/// `'sha256-…'` of [`STYLE`], so the hand-written pages' inline `<style>` passes without a nonce.
fn style_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        use base64::Engine;
        use sha2::Digest;
        let digest = sha2::Sha256::digest(STYLE.as_bytes());
        format!(
            "'sha256-{}'",
            base64::engine::general_purpose::STANDARD.encode(digest)
        )
    })
}

/// The Content-Security-Policy; with `nonce`, inline scripts and styles carrying it run too.
///
/// - scripts: our own files and (on pages) the nonce; `'wasm-unsafe-eval'` for the wasm bundle;
/// - styles: our own files, the inlined stylesheet's hash and (on pages) the nonce;
/// - images: our own, `data:` (the favicon) and `https:` (tenants' logos are `https://` URLs);
/// - no plugins, no `<base>`, forms post only to us, and no site may frame us.
pub fn content_security_policy(nonce: Option<&str>) -> String {
    let nonce = nonce.map(|n| format!(" 'nonce-{n}'")).unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{nonce}; \
         style-src 'self' {}{nonce}; img-src 'self' data: https:; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        style_hash()
    )
}

/// Gives the page being rendered a fresh nonce and sends the policy that allows it. Call it
/// first in the Leptos shell, before `<HydrationScripts>` (which reads the nonce).
pub fn page_nonce() {
    use leptos::prelude::use_context;
    leptos::nonce::provide_nonce();
    let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) else {
        return;
    };
    if let Ok(policy) = HeaderValue::from_str(&content_security_policy(Some(&nonce))) {
        response.insert_header(header::CONTENT_SECURITY_POLICY, policy);
    }
}

/// HSTS: one year. Without `includeSubDomains`: the base domain's other subdomains may not all
/// be ours to promise HTTPS for.
pub const HSTS: &str = "max-age=31536000";

/// Adds the security headers to every response of `router`.
pub fn harden(router: Router, secure: bool) -> Router {
    let if_missing = |name: HeaderName, value: &str| {
        SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_str(value).expect("static header value"),
        )
    };
    let router = router
        .layer(if_missing(
            header::CONTENT_SECURITY_POLICY,
            &content_security_policy(None),
        ))
        .layer(if_missing(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // Not `no-referrer`: browsers would then send `Origin: null` on our own form posts,
        // which the same-origin check refuses (see `pages::check_same_origin`).
        .layer(if_missing(
            header::REFERRER_POLICY,
            "strict-origin-when-cross-origin",
        ))
        .layer(if_missing(header::X_FRAME_OPTIONS, "DENY"));
    if secure {
        router.layer(if_missing(header::STRICT_TRANSPORT_SECURITY, HSTS))
    } else {
        router
    }
}
