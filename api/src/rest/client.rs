//! Where a request comes from, for the limits counted per client (sign-in, sign-up, page
//! passwords).

use axum::http::Extensions;
use std::net::IpAddr;

/// The client address as the app server determined it (the TCP peer, or the trusted
/// `X-Forwarded-For` entry behind proxies). The web router inserts it into every request;
/// without it the TCP peer from `ConnectInfo` is used, and without that, limits are per page only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The request's [`ClientAddr`], else its TCP peer; `None` when neither is known.
pub fn client_addr(extensions: &Extensions) -> Option<IpAddr> {
    extensions.get::<ClientAddr>().map(|c| c.0).or_else(|| {
        extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip())
    })
}
