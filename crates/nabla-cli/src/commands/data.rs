//! `nabla data`: list, verify and download data sets.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use nabla_data::{data_roots, spec, survey, DataRoot, DatasetSpec, Lookup, Progress, DATASETS, DATA_ENV};
use serde_json::json;

/// `nabla data …` subcommands.
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Show each data set, where it was looked for, whether it is present and whether its
    /// checksums verify.
    List(ListArgs),
    /// Download a data set (and verify it) into the first data directory.
    Fetch(FetchArgs),
}

/// Flags of `nabla data list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Look in DIR first (then $NABLA_DATA, then the user data directory).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `nabla data fetch`.
#[derive(Debug, clap::Args)]
pub struct FetchArgs {
    /// The data set: mnist, fashion-mnist or digits.
    pub name: String,
    /// Download into DIR (default: $NABLA_DATA, else the user data directory).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Download from this base URL (holding the data set's files) instead of the official source.
    #[arg(long, value_name = "URL")]
    pub mirror: Option<String>,
}

/// Runs a `nabla data` subcommand.
pub fn run(cmd: DataCommand) -> anyhow::Result<()> {
    match cmd {
        DataCommand::List(args) => list(&args),
        DataCommand::Fetch(args) => fetch(&args),
    }
}

/// What `data list` found for one data set.
struct Report {
    spec: &'static DatasetSpec,
    lookups: Vec<Lookup>,
    /// The first complete lookup, and the result of verifying it.
    found: Option<(usize, Result<(), String>)>,
}

fn list(args: &ListArgs) -> anyhow::Result<()> {
    let roots = data_roots(args.data.as_deref());
    // Verifying means decompressing and hashing ~100 MB: one thread per data set.
    let reports: Vec<Report> = std::thread::scope(|s| {
        let handles: Vec<_> = DATASETS.iter().map(|spec| s.spawn(|| report(spec, &roots))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
    });
    let mut out = io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&list_json(&roots, &reports))?)?;
        return Ok(());
    }
    if roots.is_empty() {
        writeln!(out, "no data directory: pass --data DIR or set {DATA_ENV}")?;
    }
    for r in &reports {
        let status = match &r.found {
            Some((i, Ok(()))) => format!("present in {}, checksums verified", r.lookups[*i].dir.display()),
            Some((i, Err(e))) => format!("present in {}, CHECKSUM FAILED: {e}", r.lookups[*i].dir.display()),
            None => format!("not found (get it with `nabla data fetch {}`)", r.spec.name),
        };
        writeln!(out, "{}: {status}", r.spec.name)?;
        for (i, lookup) in r.lookups.iter().enumerate() {
            let lead = if i == 0 { "  looked in:" } else { "            " };
            writeln!(
                out,
                "{lead} {} ({}): {}",
                lookup.dir.display(),
                lookup.root.source,
                lookup_state(r.spec, lookup)
            )?;
        }
    }
    Ok(())
}

fn report(spec: &'static DatasetSpec, roots: &[DataRoot]) -> Report {
    let lookups = survey(spec, roots);
    let found = lookups.iter().position(Lookup::is_complete).map(|i| {
        let verified = nabla_data::verify(spec, &lookups[i].dir).map_err(|e| e.to_string());
        (i, verified)
    });
    Report { spec, lookups, found }
}

fn lookup_state(spec: &DatasetSpec, lookup: &Lookup) -> String {
    let missing = lookup.missing(spec);
    if missing.is_empty() {
        "complete".to_string()
    } else if missing.len() == spec.files.len() {
        "absent".to_string()
    } else {
        format!("missing {}", missing.join(", "))
    }
}

fn list_json(roots: &[DataRoot], reports: &[Report]) -> serde_json::Value {
    let datasets: Vec<_> = reports
        .iter()
        .map(|r| {
            let (dir, verified, error) = match &r.found {
                Some((i, result)) => {
                    (Some(r.lookups[*i].dir.display().to_string()), Some(result.is_ok()), result.clone().err())
                }
                None => (None, None, None),
            };
            json!({
                "name": r.spec.name,
                "description": r.spec.description,
                "classes": r.spec.classes,
                "present": r.found.is_some(),
                "dir": dir,
                "verified": verified,
                "error": error,
                "looked_in": r.lookups.iter().map(|l| json!({
                    "dir": l.dir.display().to_string(),
                    "source": l.root.source.to_string(),
                    "complete": l.is_complete(),
                    "missing": l.missing(r.spec),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "roots": roots.iter().map(|r| json!({"path": r.path.display().to_string(), "source": r.source.to_string()})).collect::<Vec<_>>(),
        "datasets": datasets,
    })
}

fn fetch(args: &FetchArgs) -> anyhow::Result<()> {
    let spec = spec(&args.name)?;
    let root = data_roots(args.data.as_deref())
        .into_iter()
        .next()
        .with_context(|| format!("no data directory to download into: pass --data DIR or set {DATA_ENV}"))?;
    let mut reporter = FetchReporter::new(io::stderr().is_terminal());
    let dir = nabla_data::fetch(spec.name, &root.path, args.mirror.as_deref(), &mut |p| reporter.report(p))
        .with_context(|| format!("fetching {} into {}", spec.name, root.path.join(spec.name).display()))?;
    reporter.finish();
    writeln!(io::stdout().lock(), "{} is in {}", spec.name, dir.display())?;
    Ok(())
}

/// Shows download progress on stderr: a progress bar per file on a terminal, else one plain
/// line per event worth a line.
pub(crate) struct FetchReporter {
    terminal: bool,
    bar: Option<ProgressBar>,
}

impl FetchReporter {
    pub(crate) fn new(terminal: bool) -> Self {
        FetchReporter { terminal, bar: None }
    }

    fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => {
                let _ = writeln!(io::stderr(), "{text}");
            }
        }
    }

    pub(crate) fn report(&mut self, progress: Progress) {
        match progress {
            Progress::AlreadyPresent { file, path } => {
                self.line(&format!("{file}: already present and verified ({})", display(&path)));
            }
            Progress::Start { file, url, resumed_from, total } => {
                let resume =
                    if resumed_from > 0 { format!(", resuming at byte {resumed_from}") } else { String::new() };
                if self.terminal {
                    self.finish();
                    let bar = total.map_or_else(ProgressBar::new_spinner, ProgressBar::new);
                    let style = ProgressStyle::with_template(
                        "{msg:28} [{bar:30}] {bytes:>10}/{total_bytes:10} {bytes_per_sec:>12} eta {eta}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> ");
                    bar.set_style(style);
                    bar.set_message(file);
                    bar.set_position(resumed_from);
                    self.bar = Some(bar);
                } else {
                    let size = total.map_or(String::new(), |t| format!(" ({t} bytes)"));
                    self.line(&format!("{file}: downloading {url}{size}{resume}"));
                }
            }
            Progress::Bytes { downloaded, .. } => {
                if let Some(bar) = &self.bar {
                    bar.set_position(downloaded);
                }
            }
            Progress::Retry { file, attempt, error, wait } => {
                self.line(&format!(
                    "{file}: attempt {attempt} failed: {error}; retrying in {:.1}s",
                    wait.as_secs_f64()
                ));
            }
            Progress::Done { file, path, bytes } => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
                self.line(&format!("{file}: {bytes} bytes, checksum verified ({})", display(&path)));
            }
        }
    }

    pub(crate) fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

fn display(path: &Path) -> String {
    path.display().to_string()
}
