//! Who may talk to the server. On a loopback address the `Host` header must name this machine
//! (`localhost`, `127.0.0.1`, `[::1]`, with any port): a web page elsewhere that points its own
//! domain at 127.0.0.1 (DNS rebinding) sends its domain as `Host` and is refused with 403. When
//! the server has an access token, every request must carry it as `?token=…`, as
//! `Authorization: Bearer …`, or in the cookie set on the first page load with the token.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// The cookie that carries the token after a page was opened with `?token=…`.
pub(crate) const COOKIE: &str = "nabla_token";

/// On a loopback bind, refuses a request whose `Host` is not this machine by name or address.
pub(crate) async fn require_local_host(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    if !state.local_host_only {
        return next.run(request).await;
    }
    let host = request.headers().get(header::HOST).and_then(|v| v.to_str().ok());
    if host.is_some_and(is_local_host) {
        return next.run(request).await;
    }
    (
        StatusCode::FORBIDDEN,
        format!(
            "Host {} is not this machine: open the dashboard as http://127.0.0.1:PORT/ or http://localhost:PORT/\n",
            host.map_or_else(|| "(none)".to_string(), |h| format!("`{h}`"))
        ),
    )
        .into_response()
}

/// Whether a `Host` header value (`name[:port]`) names this machine: `localhost` or a loopback
/// address literal.
pub(crate) fn is_local_host(value: &str) -> bool {
    let value = value.trim().to_ascii_lowercase();
    let name = if let Some(rest) = value.strip_prefix('[') {
        // `[v6]` or `[v6]:port`
        match rest.split_once(']') {
            Some((inside, after)) if after.is_empty() || valid_port(after) => inside.to_string(),
            _ => return false,
        }
    } else {
        match value.rsplit_once(':') {
            Some((name, port)) if valid_port(&format!(":{port}")) => name.to_string(),
            Some(_) => return false,
            None => value.clone(),
        }
    };
    let name = name.strip_suffix('.').unwrap_or(&name);
    name == "localhost" || name.parse::<std::net::IpAddr>().is_ok_and(crate::is_loopback)
}

/// `:` followed by 1 to 5 digits.
fn valid_port(text: &str) -> bool {
    text.strip_prefix(':').is_some_and(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Lets a request through when no token is set or it carries the right one; else 401.
pub(crate) async fn require_token(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let Some(expected) = state.token.as_deref() else {
        return next.run(request).await;
    };
    let Presented { query: from_query, header: from_header, cookie: from_cookie } = presented(&request);
    let query_ok = from_query.as_deref().is_some_and(|t| same(t, expected));
    let authorised = query_ok
        || from_header.as_deref().is_some_and(|t| same(t, expected))
        || from_cookie.as_deref().is_some_and(|t| same(t, expected));
    if !authorised {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "missing or wrong token: open the URL `nabla ui` printed\n",
        )
            .into_response();
    }
    let mut response = next.run(request).await;
    if query_ok {
        // The page's own fetches and its event stream then carry the token without putting it
        // in every URL.
        let cookie = format!("{COOKIE}={expected}; Path=/; HttpOnly; SameSite=Strict");
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// Compares in time independent of where the strings differ.
fn same(given: &str, expected: &str) -> bool {
    nabla_track::constant_time_eq(given.as_bytes(), expected.as_bytes())
}

/// The tokens a request carries: in the query (`?token=`), as `Authorization: Bearer`, and in
/// the dashboard's cookie.
pub(crate) struct Presented {
    pub query: Option<String>,
    pub header: Option<String>,
    pub cookie: Option<String>,
}

impl Presented {
    /// The first token found: header, then query, then cookie.
    pub(crate) fn any(&self) -> Option<&str> {
        self.header.as_deref().or(self.query.as_deref()).or(self.cookie.as_deref())
    }
}

pub(crate) fn presented(request: &Request) -> Presented {
    let query = request
        .uri()
        .query()
        .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "token").map(|(_, v)| v.into_owned()));
    let headers = request.headers();
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        // The scheme's name is case-insensitive (RFC 9110, 11.1): `bearer` is `Bearer`.
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_string());
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string());
    Presented { query, header, cookie }
}

#[cfg(test)]
mod tests {
    use super::{is_local_host, same};

    #[test]
    fn only_this_machine_is_a_local_host() {
        for ok in [
            "localhost",
            "localhost:6006",
            "LOCALHOST:1",
            "localhost.:80",
            "127.0.0.1",
            "127.0.0.1:6006",
            "127.1.2.3:9",
            "[::1]",
            "[::1]:6006",
        ] {
            assert!(is_local_host(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:6006",
            "localhost.evil.example:6006",
            "127.0.0.1.nip.io:6006",
            "10.0.0.1:6006",
            "0.0.0.0:6006",
            "[::2]:6006",
            "[::1]x",
            "localhost:abc",
            "localhost:123456",
            "::1",
            "",
        ] {
            assert!(!is_local_host(bad), "{bad}");
        }
    }

    #[test]
    fn token_comparison() {
        assert!(same("abc", "abc"));
        assert!(!same("abd", "abc"));
        assert!(!same("ab", "abc"));
        assert!(!same("", "abc"));
    }
}
