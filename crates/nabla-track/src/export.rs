//! Export runs to plain files and import them back.
//!
//! An exported run is a folder named after its id:
//! - `run.json`: `{"format": "nabla-run", "version": 1, "run": …, "metrics": […], "artifacts": […]}`
//!   with the run as [`RunRecord`] serialises it (plus `stored_status`), the metric summaries,
//!   and each artifact with the `file` that holds it;
//! - `metrics.csv`: every point, `metric,step,value,wall_time`, one per line (values in Rust's
//!   shortest round-trip form, so an import restores them bit for bit; `NaN`, `inf`);
//! - `artifacts/<sha256>`: the artifact files.

use std::fs;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use rusqlite::params;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::artifacts::{artifact_lock, store_blob_checked};
use crate::error::{Result, TrackError};
use crate::query::{ArtifactRecord, MetricSummary, RunRecord};
use crate::status::RunStatus;
use crate::store::Store;

const FORMAT: &str = "nabla-run";
const FORMAT_VERSION: u32 = 1;
const RUN_JSON: &str = "run.json";
const METRICS_CSV: &str = "metrics.csv";

#[derive(Serialize, Deserialize)]
struct ExportedArtifact {
    #[serde(flatten)]
    record: ArtifactRecord,
    /// The file in the export folder, relative to it.
    file: String,
}

#[derive(Serialize, Deserialize)]
struct ExportedRun {
    format: String,
    version: u32,
    run: RunRecord,
    /// The status as stored (`running` for a run shown as crashed).
    stored_status: RunStatus,
    metrics: Vec<MetricSummary>,
    artifacts: Vec<ExportedArtifact>,
}

fn io<'a>(context: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> TrackError + 'a {
    move |e| TrackError::io(context, path, e)
}

/// Quotes a CSV field when it holds a comma, a quote or leading/trailing space.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"']) || text.trim() != text {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// Splits one CSV line into fields (quotes with doubled-quote escapes).
fn csv_split(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    fields.push(field);
    fields
}

impl Store {
    /// Writes the run (id or unique prefix) into `<to>/<id>/` and returns that folder.
    pub fn export_run(&self, run_id: &str, to: &Path) -> Result<PathBuf> {
        let run = self.run(run_id)?;
        let dir = to.join(&run.id);
        let artifacts_dir = dir.join("artifacts");
        fs::create_dir_all(&artifacts_dir).map_err(io("creating", &artifacts_dir))?;
        let metrics = self.metrics(&run.id)?;

        let csv_path = dir.join(METRICS_CSV);
        let file = fs::File::create(&csv_path).map_err(io("creating", &csv_path))?;
        let mut csv = BufWriter::new(file);
        writeln!(csv, "metric,step,value,wall_time").map_err(io("writing", &csv_path))?;
        for metric in &metrics {
            let name = csv_field(&metric.name);
            for p in self.history(&run.id, &metric.name, ..)? {
                writeln!(csv, "{name},{},{},{}", p.step, p.value, p.wall_time).map_err(io("writing", &csv_path))?;
            }
        }
        csv.flush().map_err(io("writing", &csv_path))?;

        let mut artifacts = Vec::new();
        for record in self.artifacts(&run.id)? {
            let file = format!("artifacts/{}", record.sha256);
            let target = dir.join(&file);
            fs::copy(&record.path, &target).map_err(io("copying", &record.path))?;
            artifacts.push(ExportedArtifact { record, file });
        }
        let stored_status = if run.status == RunStatus::Crashed { RunStatus::Running } else { run.status };
        let exported =
            ExportedRun { format: FORMAT.into(), version: FORMAT_VERSION, run, stored_status, metrics, artifacts };
        let json_path = dir.join(RUN_JSON);
        let text = serde_json::to_string_pretty(&exported)
            .map_err(|source| TrackError::Json { context: "serialising the run".into(), source })?;
        fs::write(&json_path, text).map_err(io("writing", &json_path))?;
        Ok(dir)
    }

    /// Imports the exported run in `dir`, or every exported run in its subfolders. Nothing is
    /// imported when any of them is malformed or already in the store. Returns the run ids.
    pub fn import_runs(&mut self, dir: &Path) -> Result<Vec<String>> {
        let mut folders = Vec::new();
        if dir.join(RUN_JSON).is_file() {
            folders.push(dir.to_path_buf());
        } else {
            let entries = fs::read_dir(dir).map_err(io("reading", dir))?;
            for entry in entries {
                let path = entry.map_err(io("reading", dir))?.path();
                if path.join(RUN_JSON).is_file() {
                    folders.push(path);
                }
            }
            folders.sort();
        }
        if folders.is_empty() {
            return Err(TrackError::BadExport {
                path: dir.to_path_buf(),
                reason: format!("no {RUN_JSON} in it or in its subfolders"),
            });
        }
        // Everything is checked before anything is stored: every run.json and metrics.csv, no
        // run already here, and every artifact a plain file inside its export folder.
        let mut runs = Vec::new();
        for folder in &folders {
            let run = read_export(folder)?;
            let exists = self.resolve_run_id(&run.0.run.id).is_ok_and(|id| id == run.0.run.id);
            if exists {
                return Err(TrackError::RunExists(run.0.run.id));
            }
            for a in &run.0.artifacts {
                artifact_file(folder, a)?;
            }
            runs.push(run);
        }
        // Artifacts go in only when their content is what run.json says; a refused one leaves
        // nothing behind (blobs stored for an earlier artifact are unreferenced until `gc`).
        // `gc` waits until the rows are in.
        let _lock = artifact_lock(self.dir(), false)?;
        for (exported, _, folder) in &runs {
            for a in &exported.artifacts {
                let path = artifact_file(folder, a)?;
                let file = fs::File::open(&path).map_err(io("opening", &path))?;
                store_blob_checked(self.dir(), file, &path, Some((&a.record.sha256, "run.json says")))?;
            }
        }
        // All runs in one transaction: all of them or none.
        self.write(|tx| {
            for (exported, points, _) in &runs {
                insert_exported(tx, exported, points)?;
            }
            Ok(())
        })?;
        Ok(runs.into_iter().map(|(e, _, _)| e.run.id).collect())
    }
}

/// The file of an exported artifact, checked to be where an export puts it: `artifacts/SHA256`
/// inside `folder` (the run.json's own sha256, 64 hex digits), a regular file and not a link,
/// in an `artifacts` folder that is no link either. Nothing outside the export is ever read.
fn artifact_file(folder: &Path, a: &ExportedArtifact) -> Result<PathBuf> {
    let json = folder.join(RUN_JSON);
    let bad = |reason: String| TrackError::BadExport { path: json.clone(), reason };
    let sha = &a.record.sha256;
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(bad(format!("artifact `{}`: `{sha}` is not a sha256 (64 lowercase hex digits)", a.record.name)));
    }
    if a.file != format!("artifacts/{sha}") {
        return Err(bad(format!(
            "artifact `{}`: its file is `{}`; an export keeps it at artifacts/{sha}",
            a.record.name,
            printable(&a.file)
        )));
    }
    for path in [folder.join("artifacts"), folder.join(&a.file)] {
        let meta = fs::symlink_metadata(&path).map_err(io("opening", &path))?;
        if meta.file_type().is_symlink() {
            return Err(TrackError::BadExport { path, reason: "a symbolic link; an export holds plain files".into() });
        }
    }
    let path = folder.join(&a.file);
    if !fs::symlink_metadata(&path).map_err(io("opening", &path))?.is_file() {
        return Err(TrackError::BadExport { path, reason: "not a regular file".into() });
    }
    Ok(path)
}

/// `text` with control characters shown as escapes, for an error message.
fn printable(text: &str) -> String {
    text.chars().flat_map(char::escape_debug).collect::<String>().chars().take(200).collect()
}

/// Inserts an exported run, its metrics, points and artifact rows.
fn insert_exported(
    tx: &rusqlite::Connection,
    e: &ExportedRun,
    points: &[(String, i64, f64, f64)],
) -> rusqlite::Result<()> {
    let r = &e.run;
    let json = |v: &Value| v.to_string();
    let tags = Value::from(r.tags.clone()).to_string();
    tx.execute(
        "INSERT INTO runs (id, project, name, status, config, summary, tags, started, ended, heartbeat,
                     heartbeat_secs, host, pid, git_commit, command, nabla_version, threads, data_checksum, system)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
        params![
            r.id,
            r.project,
            r.name,
            e.stored_status.as_str(),
            json(&r.config),
            json(&r.summary),
            tags,
            r.started,
            r.ended,
            r.heartbeat,
            r.heartbeat_interval,
            r.meta.host,
            r.pid,
            r.meta.git_commit,
            r.meta.command,
            r.meta.nabla_version,
            r.meta.threads.map(|t| t as i64),
            r.meta.data_checksum,
            json(&r.system),
        ],
    )?;
    let mut ids = std::collections::HashMap::new();
    let names = e.metrics.iter().map(|m| m.name.as_str()).chain(points.iter().map(|p| p.0.as_str()));
    for name in names {
        if !ids.contains_key(name) {
            tx.execute("INSERT INTO metrics (run_id, name) VALUES (?1, ?2)", params![r.id, name])?;
            ids.insert(name.to_string(), tx.last_insert_rowid());
        }
    }
    let mut insert = tx.prepare("INSERT INTO points (metric_id, step, value, wall_time) VALUES (?1, ?2, ?3, ?4)")?;
    for (name, step, value, wall) in points {
        insert.execute(params![ids[name.as_str()], step, value, wall])?;
    }
    for &metric in ids.values() {
        crate::blocks::rebuild_metric(tx, metric)?;
    }
    for a in &e.artifacts {
        let a = &a.record;
        tx.execute(
                    "INSERT INTO artifacts (run_id, sha256, kind, name, source, bytes, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![r.id, a.sha256, a.kind, a.name, a.source, a.bytes as i64, a.created],
                )?;
    }
    Ok(())
}

type Points = Vec<(String, i64, f64, f64)>;

fn read_export(folder: &Path) -> Result<(ExportedRun, Points, PathBuf)> {
    let json_path = folder.join(RUN_JSON);
    let text = fs::read_to_string(&json_path).map_err(io("reading", &json_path))?;
    let bad = |path: &Path, reason: String| TrackError::BadExport { path: path.to_path_buf(), reason };
    let exported: ExportedRun = serde_json::from_str(&text).map_err(|e| bad(&json_path, e.to_string()))?;
    if exported.format != FORMAT || exported.version > FORMAT_VERSION {
        return Err(bad(&json_path, format!("not a {FORMAT} version {FORMAT_VERSION} export")));
    }
    let csv_path = folder.join(METRICS_CSV);
    let file = fs::File::open(&csv_path).map_err(io("opening", &csv_path))?;
    let mut points = Vec::new();
    let mut last: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(io("reading", &csv_path))?;
        if n == 0 || line.is_empty() {
            continue;
        }
        let fields = csv_split(&line);
        let parsed = match fields.as_slice() {
            [name, step, value, wall] => step
                .parse::<i64>()
                .ok()
                .zip(value.parse::<f64>().ok())
                .zip(wall.parse::<f64>().ok())
                .map(|((step, value), wall)| (name.clone(), step, value, wall)),
            _ => None,
        };
        let Some(point) = parsed else {
            return Err(bad(&csv_path, format!("line {}: expected metric,step,value,wall_time", n + 1)));
        };
        if last.get(&point.0).is_some_and(|&l| point.1 <= l) {
            return Err(bad(&csv_path, format!("line {}: steps of `{}` do not increase", n + 1, point.0)));
        }
        last.insert(point.0.clone(), point.1);
        points.push(point);
    }
    Ok((exported, points, folder.to_path_buf()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_round_trip() {
        for name in ["plain", "a,b", "say \"hi\"", " padded "] {
            let line = format!("{},1,2", csv_field(name));
            assert_eq!(csv_split(&line), vec![name.to_string(), "1".into(), "2".into()]);
        }
    }
}
