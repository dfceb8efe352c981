//! The web front end: public status pages routed by `Host`, the landing page, sign-in and the
//! tenant admin. Rendered on the server (Leptos SSR) and hydrated in the browser for live parts.
#![recursion_limit = "256"]

pub mod app;
pub mod views;

#[cfg(feature = "ssr")]
pub mod public;
#[cfg(feature = "ssr")]
pub mod server;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
