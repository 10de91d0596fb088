//! `nabla report SWEEP|RUN… -o report.html`: one self-contained HTML page (the pictures are
//! inlined) with the settings, the plots and, under each plot, three sections: what you
//! expected, what was observed, and how you explain it. The page is made by `nabla-report`,
//! which the dashboard's report button uses too.

use std::path::PathBuf;

use anyhow::Result;
use nabla_track::Store;

/// Flags of `nabla report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// A sweep id, or one or more run ids (or unique prefixes).
    #[arg(required = true)]
    pub targets: Vec<String>,
    /// The HTML file to write.
    #[arg(short, long, value_name = "FILE", default_value = "report.html")]
    pub out: PathBuf,
    /// Where the tracker keeps its runs.
    #[arg(long, value_name = "DIR")]
    pub tracking_dir: Option<PathBuf>,
}

/// Runs `nabla report`.
pub fn run(args: &ReportArgs) -> Result<()> {
    let dir = nabla_track::tracking_dir(args.tracking_dir.as_deref())?;
    let store = Store::open_read_only(&dir)?;
    let report = nabla_report::report_for(&store, &dir, &args.targets)?;
    nabla_plot::write_atomic(&args.out, report.html.as_bytes())?;
    #[allow(clippy::print_stdout)]
    {
        println!("wrote {}", args.out.display());
    }
    Ok(())
}
