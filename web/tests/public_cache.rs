//! The public site served like static files: every rendered file of the sample page answers with
//! its own bytes (by language and variant), an ETag and 304s, gzip and brotli bodies that decode
//! to those bytes, `Cache-Control` / `Vary` / Content-Security-Policy / CORS by kind and
//! visibility; and, through the real router and gate on PostgreSQL, HEAD, and a rebuild after an
//! announced change that gives changed files new ETags while unchanged ones keep theirs.

mod support;

use api::accounts::tenancy::Tenant;
use api::status_page::Visibility;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use sqlx::PgPool;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{gunzip, unbrotli};
use web::public::i18n::Lang;
use web::public::model::PageModel;
use web::public::render::{Loader, PublicSite, RenderConfig, RenderedSite};
use web::public::{fixture, site_files, File, FileKind};

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        map.append(*k, HeaderValue::from_str(v).unwrap());
    }
    map
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn ask(
    site: &RenderedSite,
    file: &File,
    query: &str,
    pairs: &[(&'static str, &str)],
) -> Answer {
    let response = site
        .respond(
            &file.path,
            (!query.is_empty()).then_some(query),
            &headers(pairs),
        )
        .unwrap_or_else(|| panic!("{} is served", file.path));
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

fn query_of(file: &File) -> String {
    let mut parts = Vec::new();
    if let Some(lang) = file.lang {
        parts.push(format!("lang={}", lang.tag()));
    }
    if !file.variant.is_empty() {
        parts.push(file.variant.clone());
    }
    parts.join("&")
}

#[tokio::test]
async fn every_file_answers_with_its_bytes_codings_and_headers() {
    let model = fixture::page(true);
    let files = site_files(&model);
    assert!(
        files.len() >= 3,
        "the sample site has files ({} now)",
        files.len()
    );
    let site = RenderedSite::render(model.clone(), None);
    let mut compressed = 0;
    for file in &files {
        let what = format!("{} {:?} {:?}", file.path, file.lang, file.variant);
        let query = query_of(file);
        // Identity: exactly the rendered bytes, for this language and variant.
        let plain = ask(&site, file, &query, &[]).await;
        assert_eq!(plain.status, StatusCode::OK, "{what}");
        assert_eq!(plain.body, file.body, "{what}: its own bytes");
        assert_eq!(
            plain.header("content-type"),
            Some(file.content_type),
            "{what}"
        );
        assert_eq!(plain.header("content-encoding"), None, "{what}");
        assert_eq!(
            plain.header("content-length"),
            Some(file.body.len().to_string().as_str()),
            "{what}"
        );
        assert_eq!(
            plain.header("content-language"),
            file.lang.map(Lang::tag),
            "{what}"
        );
        assert_eq!(
            plain.header("vary"),
            Some("Accept-Encoding"),
            "{what}: ?lang= given"
        );
        assert!(
            plain.header("last-modified").unwrap().ends_with(" GMT"),
            "{what}"
        );
        assert_eq!(
            plain.header("x-status-generated-at"),
            Some("2026-12-01T12:00:00Z"),
            "{what}"
        );
        let etag = plain.header("etag").expect("an ETag").to_owned();
        assert!(
            etag.starts_with('"') && etag.ends_with('"'),
            "{what}: strong"
        );

        // Cache-Control, CSP and CORS by kind (a public page).
        let cache = plain.header("cache-control").unwrap();
        let csp = plain.header("content-security-policy").unwrap();
        let cors = plain.header("access-control-allow-origin");
        match file.kind {
            FileKind::Asset => assert!(cache.starts_with("public, max-age=300"), "{what}: {cache}"),
            _ => {
                assert!(cache.starts_with("public, max-age="), "{what}: {cache}");
                assert!(cache.contains("s-maxage="), "{what}: {cache}");
                assert!(cache.contains("stale-while-revalidate="), "{what}: {cache}");
                assert!(cache.contains("stale-if-error="), "{what}: {cache}");
            }
        }
        match file.kind {
            FileKind::Page => {
                assert_eq!(csp, web::public::render::PAGE_CSP, "{what}");
                assert!(csp.contains("frame-ancestors 'none'"));
                assert!(csp.contains("script-src 'self'"));
            }
            FileKind::Widget => {
                assert!(csp.contains("frame-ancestors *"), "{what}: {csp}");
                assert_ne!(plain.header("x-frame-options"), Some("DENY"), "{what}");
            }
            _ => assert!(csp.contains("default-src 'none'"), "{what}: {csp}"),
        }
        let shared = matches!(
            file.kind,
            FileKind::Data | FileKind::Badge | FileKind::Feed | FileKind::Widget
        );
        assert_eq!(cors, shared.then_some("*"), "{what}");

        // gzip and brotli decode to the same bytes, with the same ETag.
        let br = ask(
            &site,
            file,
            &query,
            &[("accept-encoding", "gzip, deflate, br")],
        )
        .await;
        let gz = ask(
            &site,
            file,
            &query,
            &[("accept-encoding", "gzip;q=1, br;q=0.5")],
        )
        .await;
        assert_eq!(br.header("etag"), Some(etag.as_str()));
        assert_eq!(gz.header("etag"), Some(etag.as_str()));
        match br.header("content-encoding") {
            Some("br") => {
                compressed += 1;
                assert_eq!(unbrotli(&br.body), file.body, "{what}: brotli");
                assert!(br.body.len() < file.body.len());
            }
            None => assert_eq!(br.body, file.body, "{what}: too small to compress"),
            other => panic!("{what}: {other:?}"),
        }
        match gz.header("content-encoding") {
            Some("gzip") => assert_eq!(gunzip(&gz.body), file.body, "{what}: gzip"),
            None => assert_eq!(gz.body, file.body),
            other => panic!("{what}: {other:?}"),
        }
        let refused = ask(
            &site,
            file,
            &query,
            &[("accept-encoding", "br;q=0, gzip;q=0")],
        )
        .await;
        assert_eq!(refused.header("content-encoding"), None, "{what}");

        // Conditional requests: the ETag (also weak, in a list, or `*`) gives a 304 with the
        // caching headers and no body; another gives the file.
        for tag in [etag.clone(), format!("\"nope\", W/{etag}"), "*".to_owned()] {
            let again = ask(&site, file, &query, &[("if-none-match", &tag)]).await;
            assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{what}: {tag}");
            assert!(again.body.is_empty());
            assert_eq!(again.header("etag"), Some(etag.as_str()));
            assert_eq!(again.header("cache-control"), Some(cache));
            assert_eq!(again.header("vary"), Some("Accept-Encoding"));
        }
        let other = ask(
            &site,
            file,
            &query,
            &[("if-none-match", "\"something-else\"")],
        )
        .await;
        assert_eq!(other.status, StatusCode::OK);

        // Without ?lang=, Accept-Language picks the language and the answer varies by it.
        if let Some(lang) = file.lang {
            let bare_query = file.variant.clone();
            let header = match lang {
                Lang::De => "de-DE,de;q=0.9,en;q=0.5",
                Lang::En => "fr-FR, en;q=0.8, de;q=0.2",
            };
            let negotiated = ask(&site, file, &bare_query, &[("accept-language", header)]).await;
            assert_eq!(negotiated.body, file.body, "{what}: by Accept-Language");
            assert_eq!(negotiated.header("content-language"), Some(lang.tag()));
            assert_eq!(
                negotiated.header("vary"),
                Some("Accept-Encoding, Accept-Language")
            );
        }
    }
    assert!(compressed > 0, "some files are big enough to compress");

    // Unknown variants and other parameters fall back to the default file; unknown paths are
    // not served.
    if let Some(page) = files
        .iter()
        .find(|f| f.path == "/" && f.lang == Some(Lang::En) && f.variant.is_empty())
    {
        let odd = ask(&site, page, "utm_source=x&period=1y&lang=en", &[]).await;
        assert_eq!(odd.body, page.body);
    }
    assert!(site
        .respond("/no-such-file", None, &HeaderMap::new())
        .is_none());
    assert!(!site.has_path("/no-such-file"));

    // A password-protected page: never in shared caches, never readable cross-origin.
    let mut locked = model;
    locked.visibility = Visibility::Password;
    let locked_site = RenderedSite::render(locked, None);
    for file in &files {
        let answer = ask(&locked_site, file, &query_of(file), &[]).await;
        assert_eq!(
            answer.header("cache-control"),
            Some("private, no-cache"),
            "{}",
            file.path
        );
        assert_eq!(answer.header("access-control-allow-origin"), None);
    }
}

#[test]
fn a_re_render_reuses_the_bodies_of_files_that_did_not_change() {
    let one = RenderedSite::render(fixture::page(false), None);
    let mut changed = fixture::page(false);
    changed.title = "Acme status (renamed)".into();
    let two = RenderedSite::render(changed.clone(), Some(&one));
    let same = RenderedSite::render(changed, Some(&two));
    assert_eq!(same.stats().reused, same.stats().files, "nothing changed");
    assert!(
        two.stats().reused < two.stats().files,
        "the title is shown somewhere"
    );
    println!(
        "fixture::page(false): {} files, first render {} µs, after a rename {} µs ({} reused), unchanged {} µs",
        one.stats().files,
        one.stats().micros,
        two.stats().micros,
        two.stats().reused,
        same.stats().micros
    );
}

const CHECKER_SECRET: &str = "public-cache-test-secret-0123456789";

/// The sample page as `tenant`'s, with `title`.
fn sample_for(tenant: &Tenant, title: &str) -> PageModel {
    let mut model = fixture::page(false);
    model.tenant_id = tenant.id;
    model.slug = tenant.slug.clone();
    model.hosts = vec![format!("{}.localhost", tenant.slug)];
    model.title = title.to_owned();
    model
}

/// The real router and gate on PostgreSQL, serving tenants' hosts from `site`.
async fn serve(pool: PgPool, site: PublicSite) -> SocketAddr {
    // No ClickHouse tables: the loader never reads checks.
    let analytics = support::analytics_on(&support::clickhouse_url());
    let app = support::app_state_with_cookie_key(pool, analytics, CHECKER_SECRET).await;
    support::serve_site(app, site, "public-cache").await
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn through_the_gate_head_and_a_rebuild_after_a_change(pool: PgPool) {
    let title = Arc::new(Mutex::new("Acme status".to_owned()));
    let loads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let loader: Loader = {
        let (title, loads) = (title.clone(), loads.clone());
        Arc::new(move |_app, tenant| {
            let title = title.lock().unwrap().clone();
            loads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Box::pin(async move { Ok(sample_for(&tenant, &title)) })
        })
    };
    // A long TTL: only the announced change explains a rebuild.
    let site = PublicSite::with_loader(
        RenderConfig {
            dir: None,
            ttl: Duration::from_secs(600),
            bucket: None,
        },
        loader,
    );
    let addr = serve(pool, site.clone()).await;
    let http = reqwest::Client::new();
    let created = support::sign_up(&http, &format!("http://{addr}"), "acme", "Acme").await;
    let tenant = Tenant {
        id: created["tenant"]["id"].as_str().unwrap().parse().unwrap(),
        slug: "acme".into(),
        name: "Acme".into(),
    };
    let host = format!("acme.localhost:{}", addr.port());
    let get = |path: &str| {
        http.get(format!("http://{addr}{path}"))
            .header("host", &host)
            .header("accept-encoding", "br")
    };

    // The first request waits for the first render; the next ones are served from memory.
    let first = get("/status.json").send().await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(loads.load(std::sync::atomic::Ordering::SeqCst), 1);
    for _ in 0..5 {
        assert_eq!(get("/status.json").send().await.unwrap().status(), 200);
    }
    assert_eq!(
        loads.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one render"
    );

    // HEAD: the headers of the GET, no body.
    let full = get("/status.json").send().await.unwrap();
    let full_headers = full.headers().clone();
    let full_body = full.bytes().await.unwrap();
    let head = http
        .head(format!("http://{addr}/status.json"))
        .header("host", &host)
        .header("accept-encoding", "br")
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    for name in ["etag", "cache-control", "content-type", "vary"] {
        assert_eq!(head.headers().get(name), full_headers.get(name), "{name}");
    }
    assert_eq!(
        head.headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok()),
        Some(full_body.len().to_string().as_str())
    );
    assert!(head.bytes().await.unwrap().is_empty());
    // Our own security headers stand; the hardening layer adds only what is missing.
    assert_eq!(full_headers["x-content-type-options"], "nosniff");

    // The ETag of every file before the change.
    let before = site.current(tenant.id).expect("in memory");
    let old = sample_for(&tenant, "Acme status");
    let new = sample_for(&tenant, "Acme status (renamed)");
    let old_files = site_files(&old);
    let new_files = site_files(&new);
    let key = |f: &File| (f.path.clone(), f.lang, f.variant.clone());
    let unchanged: Vec<&File> = old_files
        .iter()
        .filter(|f| {
            new_files
                .iter()
                .any(|n| key(n) == key(f) && n.body == f.body)
        })
        .collect();
    let changed: Vec<&File> = old_files
        .iter()
        .filter(|f| {
            new_files
                .iter()
                .any(|n| key(n) == key(f) && n.body != f.body)
        })
        .collect();
    assert!(!changed.is_empty(), "the title shows somewhere");

    *title.lock().unwrap() = "Acme status (renamed)".into();
    site.changed(tenant.id);
    // Answered at once from the current render, which starts a rebuild in the background.
    let deadline = Instant::now() + Duration::from_secs(5);
    let after = loop {
        let probe = get("/status.json").send().await.unwrap();
        assert_eq!(probe.status(), 200);
        let now = site.current(tenant.id).unwrap();
        if !Arc::ptr_eq(&now, &before) {
            break now;
        }
        assert!(Instant::now() < deadline, "rebuilt after the change");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(loads.load(std::sync::atomic::Ordering::SeqCst), 2);
    for f in &changed {
        assert_ne!(
            before.etag(&f.path, f.lang, &f.variant),
            after.etag(&f.path, f.lang, &f.variant),
            "{} changed",
            f.path
        );
    }
    for f in &unchanged {
        assert_eq!(
            before.etag(&f.path, f.lang, &f.variant),
            after.etag(&f.path, f.lang, &f.variant),
            "{} did not change",
            f.path
        );
    }
    assert_eq!(after.stats().reused, unchanged.len());

    // The old ETag no longer matches a changed file; the new one does.
    let page = changed[0];
    let path_query = if query_of(page).is_empty() {
        page.path.clone()
    } else {
        format!("{}?{}", page.path, query_of(page))
    };
    let old_tag = before.etag(&page.path, page.lang, &page.variant).unwrap();
    let new_tag = after.etag(&page.path, page.lang, &page.variant).unwrap();
    let stale = get(&path_query)
        .header("if-none-match", &old_tag)
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);
    assert_eq!(stale.headers()["etag"].to_str().unwrap(), new_tag);
    let fresh = get(&path_query)
        .header("if-none-match", &new_tag)
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), 304);
}
