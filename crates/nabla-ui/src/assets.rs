//! The page: HTML, CSS and JavaScript compiled into the binary, so the dashboard works offline
//! and needs no files next to the executable.

use std::sync::Arc;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::AppState;

const INDEX_HTML: &str = include_str!("../assets/index.html");
const STYLE_CSS: &str = include_str!("../assets/style.css");
const APP_JS: &str = include_str!("../assets/app.js");
const CHART_JS: &str = include_str!("../assets/chart.js");

/// `/` and the files it loads.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }))
        .route("/static/style.css", get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }))
        .route("/static/app.js", get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }))
        .route("/static/chart.js", get(|| async { asset("text/javascript; charset=utf-8", CHART_JS) }))
}

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    // `no-cache`: a browser revalidates, so a new nabla's page is never mixed with an old script.
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body)
}
