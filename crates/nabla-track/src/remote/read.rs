//! Reading runs back from a `nabla server`, as the values the local store's reading API gives
//! ([`RunRecord`], [`RunDetail`], [`Point`]), so that `nabla runs list`,
//! `show` and `metrics` print a server's runs with the same code as the local ones.
//!
//! It uses the dashboard's JSON API (`GET /api/runs`, `/api/runs/{id}`,
//! `/api/runs/{id}/metrics/{name}`) with the user's token: the server answers with the runs that
//! user may read, and a run they may not read as an unknown one.

use serde::Deserialize;
use serde_json::Value;

use super::Remote;
use crate::error::{Result, TrackError};
use crate::query::{MetricSummary, Point, RunDetail, RunRecord};
use crate::wire::{ArtifactView, Columns};

/// The most points one history request asks for; a longer history is fetched in step ranges.
const HISTORY_PAGE: usize = 1_000_000;

#[derive(Deserialize)]
struct RunsPage {
    runs: Vec<RunRecord>,
}

#[derive(Deserialize)]
struct DetailJson {
    run: RunRecord,
    metrics: Vec<MetricSummary>,
    artifacts: Vec<ArtifactView>,
}

#[derive(Deserialize)]
struct History {
    total: usize,
    #[serde(flatten)]
    columns: Columns,
}

impl Remote {
    /// The runs this user may read, as [`crate::Store::runs`] lists them: only `project`'s,
    /// only those matching every filter (`KEY OP VALUE`), sorted by `sort` (newest first by
    /// default), at most `limit`. The server parses the filters and the sort key.
    pub fn runs(
        &self,
        project: Option<&str>,
        filters: &[String],
        sort: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<RunRecord>> {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(project) = project {
            query.push(("project", project.to_string()));
        }
        query.extend(filters.iter().map(|f| ("filter", f.clone())));
        if let Some(sort) = sort {
            query.push(("sort", sort.to_string()));
        }
        if let Some(limit) = limit {
            query.push(("limit", limit.to_string()));
        }
        let page: RunsPage = self.decode(self.get("/api/runs", &query)?, "the runs list")?;
        Ok(page.runs)
    }

    /// One run (`id` or a unique prefix of it) with its metrics and artifacts, as
    /// [`crate::Store::run_detail`] gives it; an artifact's `path` is its download URL.
    pub fn run(&self, id: &str) -> Result<RunDetail> {
        let detail: DetailJson =
            self.decode(self.get(&format!("/api/runs/{}", encode_path(id, false)), &[])?, "a run")?;
        let artifacts = detail.artifacts.into_iter().map(|a| a.into_record(&self.base)).collect();
        Ok(RunDetail { run: detail.run, metrics: detail.metrics, artifacts })
    }

    /// Every point of run `id`'s metric `name`, in step order, as [`crate::Store::history`]
    /// gives them (a NaN logged is NaN). A history longer than one request takes is fetched
    /// in halves of its step range.
    pub fn history(&self, id: &str, name: &str) -> Result<Vec<Point>> {
        self.history_in_pages(id, name, HISTORY_PAGE)
    }

    /// [`Remote::history`] asking for at most `page` points per request (at least 2); tests
    /// use a small page to walk the splitting of a long history.
    #[doc(hidden)]
    pub fn history_in_pages(&self, id: &str, name: &str, page: usize) -> Result<Vec<Point>> {
        let page = page.max(2);
        let path = format!("/api/runs/{}/metrics/{}", encode_path(id, false), encode_path(name, true));
        let mut out = Vec::new();
        let mut ranges = vec![(0u64, u64::MAX)];
        // Depth first, upper half pushed first: the pieces come back in step order.
        while let Some((from, to)) = ranges.pop() {
            let query = [("points", page.to_string()), ("from", from.to_string()), ("to", to.to_string())];
            let page: History = self.decode(self.get(&path, &query)?, "a metric's history")?;
            let whole = page.total == page.columns.steps.len();
            if whole || from == to {
                let points = page.columns.into_points();
                out.extend(points.ok_or_else(|| self.malformed("a metric's history", "its columns differ in length"))?);
                continue;
            }
            let mid = from + (to - from) / 2;
            ranges.push((mid + 1, to));
            ranges.push((from, mid));
        }
        Ok(out)
    }

    /// `GET path?query` as JSON; a status ≥ 400 is an error naming the server.
    fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut request = self.agent.get(&url);
        if let Some(token) = &self.token {
            request = request.header("Authorization", &format!("Bearer {token}"));
        }
        for (key, value) in query {
            request = request.query(*key, value);
        }
        self.answer(request.call())
    }

    fn decode<T: serde::de::DeserializeOwned>(&self, value: Value, what: &str) -> Result<T> {
        serde_json::from_value(value).map_err(|e| self.malformed(what, &e.to_string()))
    }

    fn malformed(&self, what: &str, detail: &str) -> TrackError {
        TrackError::Remote {
            uri: self.base.clone(),
            message: format!("{what} came back in a shape this nabla does not read ({detail}); is it a nabla server?"),
            status: None,
        }
    }
}

/// `text` percent-encoded for a URL path: unreserved characters as they are, `/` kept when
/// `slashes` (a metric name spans the rest of the path), every other byte as `%XX`.
fn encode_path(text: &str, slashes: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        let keep = byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) || (slashes && byte == b'/');
        if keep {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::encode_path;

    #[test]
    fn paths_keep_only_unreserved_characters() {
        assert_eq!(encode_path("train/loss", true), "train/loss");
        assert_eq!(encode_path("train/loss", false), "train%2Floss");
        assert_eq!(encode_path("a b?c#d%é", true), "a%20b%3Fc%23d%25%C3%A9");
    }
}
