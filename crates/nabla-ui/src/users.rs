//! `nabla server`'s access rules: every request names its user by a token from the store's
//! users (`nabla server user add`), and sees only what that user may see.
//!
//! - A request without a valid token is refused with 401, except reads on a `--public-read`
//!   server. A token that is malformed, unknown or revoked is 401 even there.
//! - A read of one run (`/api/runs/{id}…`) by a user who may not see it answers 404, as an
//!   unknown run would: ids of other users' runs are not confirmed.
//! - The runs list and the projects list hold only the runs the user may see
//!   ([`nabla_track::Store::can_read_run`]). Reports are for admins (and public-read servers)
//!   for now.
//! - Writes ([`crate::ingest`]) check ownership in the store: a run belongs to its writer.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use nabla_track::{Principal, Store};

use crate::api::ApiError;
use crate::AppState;

/// Who is asking: `None` on a public-read server for a request without a token.
#[derive(Clone, Debug)]
pub(crate) struct Viewer(pub Option<Principal>);

impl Viewer {
    /// The user whose view a runs query takes (`None`: everything).
    pub(crate) fn filter(&self) -> Option<Principal> {
        self.0.clone().filter(|p| !p.admin)
    }
}

fn unauthorised(message: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        axum::Json(serde_json::json!({ "error": message })),
    )
        .into_response()
}

/// The middleware of a server with users: authenticates, refuses, and leaves the [`Viewer`] in
/// the request's extensions for the handlers.
pub(crate) async fn require_user(State(state): State<Arc<AppState>>, mut request: Request, next: Next) -> Response {
    let presented = crate::auth::presented(&request);
    let token = presented.any().map(str::to_string);
    // A page opened with `?token=` keeps it in a cookie, so the page's own requests carry it.
    let from_query = presented.query.filter(|q| Some(q.as_str()) == token.as_deref());
    let dir = state.tracking_dir.clone();
    let principal = match token {
        None => None,
        Some(token) => {
            let found = tokio::task::spawn_blocking(move || Store::open_read_only(&dir)?.authenticate(&token)).await;
            match found {
                Ok(Ok(Some(principal))) => Some(principal),
                Ok(Ok(None)) => return unauthorised("invalid or revoked token"),
                Ok(Err(e)) => return ApiError::from(e).into_response(),
                Err(e) => return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
            }
        }
    };
    let reading = matches!(*request.method(), Method::GET | Method::HEAD);
    if principal.is_none() && !(reading && state.public_read) {
        return unauthorised("this server needs a token: `Authorization: Bearer TOKEN` (from `nabla server user add`)");
    }
    let viewer = Viewer(principal);
    if reading {
        if let Some(who) = viewer.filter() {
            if let Some(refused) = check_read(&state, &who, request.uri().path()).await {
                return refused;
            }
        }
    }
    let signed_in = viewer.0.is_some();
    request.extensions_mut().insert(viewer);
    let mut response = next.run(request).await;
    if let Some(token) = from_query.filter(|_| signed_in) {
        let cookie = format!("{}={token}; Path=/; HttpOnly; SameSite=Strict", crate::auth::COOKIE);
        if let Ok(value) = axum::http::HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// For a read of one run by a user who may not see it, the 404 an unknown run gets; a report
/// is refused (403) to users who are not admins.
async fn check_read(state: &AppState, who: &Principal, path: &str) -> Option<Response> {
    if path == "/api/report" {
        return Some(
            ApiError::new(
                StatusCode::FORBIDDEN,
                "reports on a shared server are for admins (or a --public-read server)",
            )
            .into_response(),
        );
    }
    let id = path.strip_prefix("/api/runs/")?.split('/').next()?.to_string();
    let id = percent_decoded(&id)?;
    let dir = state.tracking_dir.clone();
    let who = who.clone();
    let visible = tokio::task::spawn_blocking(move || {
        let store = Store::open_read_only(&dir)?;
        let full = store.resolve_run_id(&id)?;
        store.can_read_run(&who, &full)
    })
    .await;
    match visible {
        Ok(Ok(true)) => None,
        // Unknown, ambiguous or another user's: let the handler answer an unknown or ambiguous
        // id as it does, and answer another user's run as unknown.
        Ok(Ok(false)) => {
            Some(ApiError::new(StatusCode::NOT_FOUND, format!("unknown run `{}`", path_id(path))).into_response())
        }
        Ok(Err(e)) => Some(ApiError::from(e).into_response()),
        Err(e) => Some(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()),
    }
}

fn path_id(path: &str) -> &str {
    path.strip_prefix("/api/runs/").and_then(|rest| rest.split('/').next()).unwrap_or("")
}

/// A path segment, percent-decoded; `None` if it is not UTF-8 once decoded.
fn percent_decoded(segment: &str) -> Option<String> {
    let bytes: Vec<u8> = form_urlencoded::parse(format!("x={}", segment.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned().into_bytes())?;
    String::from_utf8(bytes).ok()
}
