//! The access token: when the server has one, every request must carry it as `?token=…`, as
//! `Authorization: Bearer …`, or in the cookie set on the first page load with the token.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// The cookie that carries the token after a page was opened with `?token=…`.
pub(crate) const COOKIE: &str = "nabla_token";

/// Lets a request through when no token is set or it carries the right one; else 401.
pub(crate) async fn require_token(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let Some(expected) = state.token.as_deref() else {
        return next.run(request).await;
    };
    let from_query = request
        .uri()
        .query()
        .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "token").map(|(_, v)| v.into_owned()));
    let headers = request.headers();
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let from_cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value);
    let query_ok = from_query.as_deref().is_some_and(|t| same(t, expected));
    let authorised =
        query_ok || from_header.is_some_and(|t| same(t, expected)) || from_cookie.is_some_and(|t| same(t, expected));
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
    given.len() == expected.len() && given.bytes().zip(expected.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::same;

    #[test]
    fn token_comparison() {
        assert!(same("abc", "abc"));
        assert!(!same("abd", "abc"));
        assert!(!same("ab", "abc"));
        assert!(!same("", "abc"));
    }
}
