//! `nabla runs sync`: sends a `nabla server` the runs it does not hold whole yet (recorded
//! while the server was away, or by a process killed before it could send everything).

use std::io::{self, Write};

use nabla_track::{Store, TrackError};

use super::format::plural;
use super::StoreArgs;

/// Flags of `nabla runs sync`.
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// Send only to this server (default: each run to the server it was recorded for). The
    /// token is `$NABLA_TOKEN`.
    #[arg(long, value_name = "URL")]
    tracking_uri: Option<String>,
    #[command(flatten)]
    tls_ca: crate::commands::tracking::TlsCaArg,
    #[command(flatten)]
    store: StoreArgs,
}

pub(super) fn sync(args: &SyncArgs) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    let dir = args.store.dir()?;
    let mut store = match Store::open(&dir) {
        Ok(store) => store,
        Err(TrackError::NoStore { .. }) => return Ok(writeln!(out, "no runs recorded in {} yet", dir.display())?),
        Err(e) => return Err(e.into()),
    };
    let only = args.tracking_uri.as_deref().map(|u| u.trim().trim_end_matches('/').to_string());
    let pending: Vec<(String, String)> =
        store.undelivered_runs()?.into_iter().filter(|(_, uri)| only.as_ref().is_none_or(|o| o == uri)).collect();
    if pending.is_empty() {
        return Ok(writeln!(out, "every run is delivered: nothing to send")?);
    }
    let (mut delivered, mut failed) = (0usize, 0usize);
    for (id, uri) in &pending {
        let result =
            crate::commands::tracking::connect(uri, &args.tls_ca).and_then(|remote| store.sync_run(id, &remote));
        match result {
            Ok(report) if report.delivered => {
                delivered += 1;
                writeln!(
                    out,
                    "{id}: delivered to {uri} ({} point{} sent)",
                    report.points,
                    plural(report.points as usize)
                )?;
            }
            Ok(report) => writeln!(
                out,
                "{id}: still running; {} point{} sent to {uri} so far",
                report.points,
                plural(report.points as usize)
            )?,
            Err(e) => {
                failed += 1;
                writeln!(out, "{id}: not delivered: {e}")?;
            }
        }
    }
    writeln!(out, "{delivered} of {} delivered", pending.len())?;
    if failed > 0 {
        anyhow::bail!(
            "{failed} run{} not delivered (their points stay in {}); run `nabla runs sync` again later",
            plural(failed),
            dir.display()
        );
    }
    Ok(())
}
