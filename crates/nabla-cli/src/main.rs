//! `nabla`: neural networks by hand, from the command line.
//!
//! Each subcommand lives in its own module under `commands/` and only glues the library
//! crates together. `main` turns errors into one clear line and a non-zero exit code.

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// nabla — neural networks from scratch: train, inspect and compare them.
#[derive(Debug, Parser)]
#[command(name = "nabla", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train the lecture's 2-2-1 XOR network and show its truth table.
    Xor(commands::xor::XorArgs),
    /// Train an MLP on a data set (mnist, fashion-mnist, digits).
    Train(Box<commands::train::TrainArgs>),
    /// Evaluate a checkpoint on a data set's test split: accuracy, loss, confusion matrix.
    Eval(commands::eval::EvalArgs),
    /// Classify an image (PNG/JPEG) or a data-set example with a checkpoint.
    Predict(commands::predict::PredictArgs),
    /// Quantise a checkpoint's weights to int8 or bf16 and report the accuracy change.
    Quantize(commands::quantize::QuantizeArgs),
    /// List, show, export and clean up tracked runs.
    #[command(subcommand)]
    Runs(commands::runs::RunsCommand),
    /// List, verify and download data sets.
    #[command(subcommand)]
    Data(commands::data::DataCommand),
    /// Time the peers' workloads (W1–W4, GEMM, XOR) on nabla; `--json` for `run_all.py --with`.
    Bench(commands::bench::BenchArgs),
    /// Serve the web dashboard of tracked runs: live charts, config and summaries.
    Ui(commands::ui::UiArgs),
    /// The shared tracking server: its users, their tokens, and who may see which project.
    Server(commands::server::ServerArgs),
    /// Run a grid or random search over training flags; every trial is a tracked run.
    Sweep(Box<commands::sweep::SweepArgs>),
    /// Draw curves, sweeps, decision boundaries, weights and confusion matrices as SVG/PNG.
    Plot(commands::plot::PlotArgs),
    /// Write a self-contained HTML report of a sweep or of runs.
    Report(commands::report::ReportArgs),
    /// Evaluate an expression and backpropagate through it: every partial derivative.
    Grad(commands::grad::GradArgs),
    /// The perceptron learning rule on AND, OR, NAND and XOR.
    Perceptron(commands::perceptron::PerceptronArgs),
    /// The loss landscape around a checkpoint (Li et al. 2018).
    Landscape(commands::landscape::LandscapeArgs),
    /// Fit a function by linear and polynomial regression and by MLPs of several widths.
    Fit(Box<commands::fit::FitArgs>),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(&err),
    };
    let result = match cli.command {
        Command::Xor(args) => commands::xor::run(&args),
        Command::Train(args) => commands::train::run(&args),
        Command::Eval(args) => commands::eval::run(&args),
        Command::Predict(args) => commands::predict::run(&args),
        Command::Quantize(args) => commands::quantize::run(&args),
        Command::Runs(cmd) => commands::runs::run(cmd),
        Command::Data(cmd) => commands::data::run(cmd),
        Command::Bench(args) => commands::bench::run(&args),
        Command::Ui(args) => commands::ui::run(&args),
        Command::Server(args) => commands::server::run(args),
        Command::Sweep(args) => commands::sweep::run(&args),
        Command::Plot(args) => commands::plot::run(&args),
        Command::Report(args) => commands::report::run(&args),
        Command::Grad(args) => commands::grad::run(&args),
        Command::Perceptron(args) => commands::perceptron::run(&args),
        Command::Landscape(args) => commands::landscape::run(&args),
        Command::Fit(args) => commands::fit::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => report(&err),
    }
}

/// `--help` and `--version` print as clap renders them; a bad flag prints clap's first line
/// (which names the flag, the value and the rule) and exits with 2, as usage errors do.
fn usage_error(err: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = err.print();
        return if err.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
    }
    let text = err.to_string();
    let mut lines = text.lines();
    let mut first = lines.next().unwrap_or("invalid arguments").to_string();
    // "the following required arguments were not provided:" lists them on the lines below.
    if first.ends_with(':') {
        let listed: Vec<&str> = lines.take_while(|l| l.starts_with(' ')).map(str::trim).collect();
        first = format!("{first} {}", listed.join(", "));
    }
    #[allow(clippy::print_stderr)]
    {
        eprintln!("{first} (see `nabla --help`)");
    }
    ExitCode::from(2)
}

/// Prints an error as one line (with its causes joined by `: `) and picks the exit code.
/// A closed stdout (`nabla … | head`) is not an error.
fn report(err: &anyhow::Error) -> ExitCode {
    if err
        .chain()
        .any(|e| e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
    {
        return ExitCode::SUCCESS;
    }
    let message = commands::one_line(err.as_ref());
    #[allow(clippy::print_stderr)]
    {
        eprintln!("error: {message}");
    }
    ExitCode::FAILURE
}
