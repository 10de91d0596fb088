//! `GET /api/report?runs=ID,ID` and `GET /api/report?sweep=ID`: the report `nabla report`
//! writes (one self-contained HTML page with the plots inlined), as a download. It is made by
//! `nabla-report` from the same store, on the blocking pool, behind the same token and `Host`
//! checks as every other path.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use nabla_report::ReportError;
use nabla_sweep::SweepError;

use crate::api::{with_store, ApiError};
use crate::AppState;

/// What a report is asked of.
#[derive(Debug, PartialEq)]
enum Target {
    /// Runs by id or unique prefix.
    Runs(Vec<String>),
    /// A sweep by id.
    Sweep(String),
}

/// The most runs one report takes (as many as the runs table shows on a page).
pub(crate) const MAX_REPORT_RUNS: usize = 100;

/// Reads `runs=ID,ID` (may repeat) or `sweep=ID` from the query; other keys (`token`) are
/// left to the layers that read them.
fn target(query: &str) -> Result<Target, ApiError> {
    let mut runs: Vec<String> = Vec::new();
    let mut sweep = None;
    let bad = |message: &str| ApiError::new(StatusCode::BAD_REQUEST, message);
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match &*key {
            "runs" => {
                for id in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    // Each run once, and not without end: a page the user visits could send
                    // one id thousands of times to make the server build a huge report.
                    if !runs.iter().any(|r| r == id) {
                        if runs.len() == MAX_REPORT_RUNS {
                            return Err(bad(&format!("at most {MAX_REPORT_RUNS} runs in one report")));
                        }
                        runs.push(id.to_string());
                    }
                }
            }
            "sweep" => sweep = Some(value.trim().to_string()),
            _ => {}
        }
    }
    match (sweep, runs.is_empty()) {
        (Some(_), false) => Err(bad("give either runs=ID,ID or sweep=ID, not both")),
        (Some(id), true) if id.is_empty() => Err(bad("sweep= needs a sweep id")),
        (Some(id), true) => Ok(Target::Sweep(id)),
        (None, false) => Ok(Target::Runs(runs)),
        (None, true) => Err(bad("no runs to report on: give runs=ID,ID or sweep=ID")),
    }
}

impl From<ReportError> for ApiError {
    fn from(err: ReportError) -> ApiError {
        let err = match err {
            // An unknown run is 404 and an ambiguous prefix 400, as everywhere in the API.
            ReportError::Track(track) => return ApiError::from(track),
            other => other,
        };
        let status = match &err {
            ReportError::Track(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ReportError::Sweep(SweepError::UnknownSweep { .. }) | ReportError::Empty(_) => StatusCode::NOT_FOUND,
            ReportError::Input(_) | ReportError::Sweep(SweepError::Input(_)) => StatusCode::BAD_REQUEST,
            ReportError::Plot(_) | ReportError::Sweep(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        // One line with its causes, as the command line prints it.
        let mut message = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            message = format!("{message}: {cause}");
            source = cause.source();
        }
        ApiError::new(status, message)
    }
}

/// `GET /api/report?runs=ID,ID` | `?sweep=ID`: the report as an HTML download.
pub(crate) async fn report(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let target = target(query.as_deref().unwrap_or_default())?;
    let tracking = state.tracking_dir.clone();
    let report = with_store(&state, move |store| {
        let report = match target {
            Target::Sweep(id) => nabla_sweep::load_def(&tracking, &id)
                .map_err(ReportError::from)
                .and_then(|def| nabla_report::sweep_report(store, &def)),
            Target::Runs(ids) => nabla_report::runs_report(store, &ids),
        };
        Ok(report?)
    })
    .await?;
    // `Report::file_name` holds only letters, digits, `.`, `-` and `_`: safe unquoted in a header.
    let disposition = format!("attachment; filename=\"{}\"", report.file_name);
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        report.html,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_names_runs_or_a_sweep() {
        assert_eq!(target("runs=ab12,cd34&token=x").unwrap(), Target::Runs(vec!["ab12".into(), "cd34".into()]));
        assert_eq!(target("runs=ab12&runs=%20cd34%20,").unwrap(), Target::Runs(vec!["ab12".into(), "cd34".into()]));
        assert_eq!(target("sweep=0a1b2c3d").unwrap(), Target::Sweep("0a1b2c3d".into()));
        for bad in ["", "runs=", "runs=,,", "sweep=", "runs=a&sweep=b", "token=x"] {
            assert!(target(bad).is_err(), "{bad}");
        }
    }

    // Regression (issue 21): one id repeated 6,000 times built a 308 MB report.
    #[test]
    fn repeated_runs_count_once_and_a_report_takes_at_most_a_page_of_runs() {
        let repeated = vec!["ab12"; 6000].join(",");
        assert_eq!(target(&format!("runs={repeated}")).unwrap(), Target::Runs(vec!["ab12".into()]));
        let ids = |n: usize| (0..n).map(|i| format!("r{i}")).collect::<Vec<_>>().join(",");
        assert!(
            matches!(target(&format!("runs={}", ids(MAX_REPORT_RUNS))), Ok(Target::Runs(r)) if r.len() == MAX_REPORT_RUNS)
        );
        let e = target(&format!("runs={}", ids(MAX_REPORT_RUNS + 1))).unwrap_err();
        assert_eq!((e.status, e.message.as_str()), (StatusCode::BAD_REQUEST, "at most 100 runs in one report"));
    }
}
