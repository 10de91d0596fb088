//! `nabla plot` as a user runs it: every kind from a small digits sweep and an XOR run,
//! checked as valid SVG/PNG/GIF with their titles and labels, and the bad-input paths.

mod experiments;
mod support;

use std::path::{Path, PathBuf};

use experiments::{cmd, digits_lr_sweep, tracked_run};

struct Fixture {
    dir: tempfile::TempDir,
    sweep: String,
    runs: Vec<String>,
    checkpoint: PathBuf,
    xor_run: String,
}

/// A 2-trial digits sweep (2 epochs, 16 hidden units) and one XOR run: seconds.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (sweep, runs) = digits_lr_sweep(dir.path(), "0.05,0.5");
    let checkpoint = dir.path().join(format!("runs/sweep-{sweep}/trial-1/last.safetensors"));
    assert!(checkpoint.is_file());
    let xor_run =
        tracked_run(&cmd(dir.path()).args(["xor", "--epochs", "600", "--seed", "3", "--json"]).assert().success());
    Fixture { dir, sweep, runs, checkpoint, xor_run }
}

fn texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| t.split_once('>').and_then(|(_, r)| r.split_once("</text>")))
        .map(|(s, _)| s.trim().to_string())
        .collect()
}

fn svg(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.starts_with("<svg") && text.trim_end().ends_with("</svg>"));
    texts(&text)
}

fn is_png(path: &Path) -> bool {
    std::fs::read(path).unwrap().starts_with(b"\x89PNG\r\n\x1a\n")
}

#[test]
fn every_plot_kind_renders_from_runs_and_checkpoints() {
    let f = fixture();
    let d = f.dir.path();
    let ckpt = f.checkpoint.to_str().unwrap();

    cmd(d).args(["plot", "curves", &f.runs[0], &f.runs[1], "-o", "curves.svg"]).assert().success();
    let t = svg(&d.join("curves.svg"));
    assert!(t.iter().any(|s| s.starts_with("Training curves: ")), "{t:?}");
    for label in ["epoch", "loss (nats per example)", "accuracy (%)"] {
        assert!(t.contains(&label.to_string()), "{label} missing: {t:?}");
    }
    // Two runs × (train, validation) in each of the two panels.
    assert_eq!(t.iter().filter(|s| s.ends_with(" train") || s.ends_with(" validation")).count(), 8, "{t:?}");

    cmd(d)
        .args(["plot", "sweep", &f.sweep, "--x", "lr", "--y", "val/acc", "--log-x", "-o", "sweep.svg"])
        .assert()
        .success();
    let t = svg(&d.join("sweep.svg"));
    assert!(t.contains(&"lr (log scale)".to_string()) && t.contains(&"final val/acc (%)".to_string()), "{t:?}");
    assert!(t.iter().any(|s| s.contains("hidden=16")), "the fixed settings are the caption: {t:?}");

    cmd(d).args(["plot", "boundary", &f.xor_run, "-o", "xor.png"]).assert().success();
    assert!(is_png(&d.join("xor.png")));
    cmd(d).args(["plot", "boundary", &f.xor_run, "-o", "xor.svg"]).assert().success();
    let t = svg(&d.join("xor.svg"));
    assert!(t.iter().any(|s| s.contains("epoch 600")) && t.contains(&"x1".to_string()), "{t:?}");
    cmd(d).args(["plot", "boundary", &f.xor_run, "--every", "200", "-o", "xor.gif"]).assert().success();
    let gif = std::fs::read(d.join("xor.gif")).unwrap();
    assert!(gif.starts_with(b"GIF89a"));
    // Frames at epochs 0, 200, 400, 600: one image descriptor (0x2C after a graphic control block) each.
    assert_eq!(gif.windows(3).filter(|w| w == &[0x00, 0x2C, 0x00]).count().min(4), 4);

    cmd(d).args(["plot", "weights", ckpt, "--count", "16", "-o", "weights.png"]).assert().success();
    assert!(is_png(&d.join("weights.png")));
    cmd(d).args(["plot", "confusion", ckpt, "digits", "-o", "confusion.svg"]).assert().success();
    let t = svg(&d.join("confusion.svg"));
    assert!(t.iter().any(|s| s.starts_with("digits test set: accuracy")), "{t:?}");
    assert!(t.contains(&"predicted class".to_string()) && t.contains(&"true class".to_string()));
    cmd(d).args(["plot", "mistakes", ckpt, "digits", "--count", "8", "-o", "mistakes.svg"]).assert().success();
    let t = svg(&d.join("mistakes.svg"));
    assert_eq!(t.iter().filter(|s| s.contains(", p ")).count(), 8, "{t:?}");
}

#[test]
fn bad_plots_say_what_is_wrong() {
    let f = fixture();
    let d = f.dir.path();
    let ckpt = f.checkpoint.to_str().unwrap();
    let fails = |args: &[&str], needle: &str| {
        let a = cmd(d).args(args).assert().code(1);
        let err = String::from_utf8_lossy(&a.get_output().stderr).to_string();
        assert!(err.contains(needle), "{args:?}: {err}");
    };
    fails(&["plot", "curves", &f.runs[0], "-o", "c.jpg"], "c.jpg");
    fails(&["plot", "curves", "zzzz", "-o", "c.svg"], "zzzz");
    fails(&["plot", "sweep", &f.sweep, "--x", "momentum", "-o", "s.svg"], "did not sweep `momentum`");
    fails(&["plot", "boundary", ckpt, "-o", "b.svg"], "2-input");
    fails(&["plot", "boundary", &f.runs[0], "-o", "b.svg"], "not an XOR run");
    fails(&["plot", "boundary", &f.xor_run, "--every", "100", "-o", "b.png"], ".gif");
    fails(&["plot", "confusion", ckpt, "mnist", "-o", "c.svg"], "8×8");
    fails(&["plot", "weights", "missing.safetensors", "-o", "w.svg"], "missing.safetensors");
    assert!(!d.join("c.jpg").exists() && !d.join("b.svg").exists());
}
