//! Every plot kind drawn to SVG and PNG: the files parse, and hold the title, the axis labels
//! and one legend entry per series.

use std::path::{Path, PathBuf};

use nabla_plot::{
    boundary, boundary_animation, confusion, image_grid, line_figure, Boundary, Confusion, ImageGrid, LabeledPoint,
    LineFigure, Panel, PlotError, Series, Tone,
};

fn svg_text(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.starts_with("<svg") && text.trim_end().ends_with("</svg>"), "not an SVG document: {path:?}");
    text
}

/// The texts of the SVG's `<text>` elements.
fn svg_texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| t.split_once('>').and_then(|(_, rest)| rest.split_once("</text>")))
        .map(|(s, _)| s.trim().to_string())
        .collect()
}

/// Decodes a PNG and returns its size and how many pixels are not white.
fn png_ink(path: &Path) -> ((u32, u32), usize) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG: {path:?}");
    let img = image::load_from_memory(&bytes).unwrap().to_rgb8();
    let ink = img.pixels().filter(|p| p.0 != [255, 255, 255]).count();
    (img.dimensions(), ink)
}

/// Dark pixels (text, axes) in a band of rows.
fn dark_in_rows(path: &Path, rows: std::ops::Range<u32>) -> usize {
    let img = image::open(path).unwrap().to_rgb8();
    rows.flat_map(|y| (0..img.width()).map(move |x| (x, y)))
        .filter(|&(x, y)| img.get_pixel(x, y).0.iter().all(|&c| c < 100))
        .count()
}

fn curves() -> LineFigure {
    let series = |label: &str, color, dashed, f: fn(f64) -> f64| Series {
        label: label.into(),
        points: (1..=5).map(|e| (f64::from(e), f(f64::from(e)))).collect(),
        color,
        dashed,
        scatter: false,
    };
    LineFigure {
        title: "Training curves of run abc".into(),
        panels: vec![
            Panel {
                title: "loss".into(),
                x_label: "epoch".into(),
                y_label: "cross-entropy loss (nats)".into(),
                series: vec![
                    series("abc train", 0, false, |e| 1.0 / e),
                    series("abc validation", 0, true, |e| 1.2 / e),
                ],
                log_x: false,
                log_y: false,
                y_range: None,
            },
            Panel {
                title: "accuracy".into(),
                x_label: "epoch".into(),
                y_label: "accuracy (%)".into(),
                series: vec![
                    series("abc train", 0, false, |e| 90.0 + e),
                    series("abc validation", 0, true, |e| 89.0 + e),
                ],
                log_x: false,
                log_y: false,
                y_range: None,
            },
        ],
        width: 1000,
        height: 420,
    }
}

fn sweep() -> LineFigure {
    let lrs: [f64; 6] = [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 3.0];
    LineFigure {
        title: "Final validation accuracy against learning rate".into(),
        panels: vec![Panel {
            title: String::new(),
            x_label: "learning rate (log scale)".into(),
            y_label: "validation accuracy (%)".into(),
            series: vec![
                Series {
                    label: "sgd".into(),
                    points: lrs.iter().map(|&lr| (lr, 50.0 + 10.0 * lr.log10() + 40.0)).collect(),
                    color: 0,
                    dashed: false,
                    scatter: false,
                },
                Series {
                    label: "adam".into(),
                    points: lrs.iter().map(|&lr| (lr, if lr > 0.5 { f64::NAN } else { 95.0 })).collect(),
                    color: 1,
                    dashed: false,
                    scatter: false,
                },
            ],
            log_x: true,
            log_y: false,
            y_range: None,
        }],
        width: 800,
        height: 500,
    }
}

fn xor_surface(step: f64) -> Boundary {
    let n = 21;
    let values = (0..n * n)
        .map(|k| {
            let (x, y) = ((k % n) as f64 / 20.0, (k / n) as f64 / 20.0);
            (1.0 + (-(step * (x - 0.5) * (0.5 - y) * 20.0)).exp()).recip()
        })
        .collect();
    Boundary {
        title: "XOR decision surface".into(),
        x_label: "x1".into(),
        y_label: "x2".into(),
        x_range: (0.0, 1.0),
        y_range: (0.0, 1.0),
        cols: n,
        rows: n,
        values,
        value_range: (0.0, 1.0),
        value_label: "network output".into(),
        points: [(0.0, 0.0, 0), (0.0, 1.0, 1), (1.0, 0.0, 1), (1.0, 1.0, 0)]
            .iter()
            .map(|&(x, y, class)| LabeledPoint { x, y, class })
            .collect(),
        width: 640,
        height: 520,
    }
}

fn weights() -> ImageGrid {
    ImageGrid {
        title: "First-layer weights".into(),
        image_width: 28,
        image_height: 28,
        images: (0..12).map(|u| (0..784).map(|p| ((p * (u + 1)) as f32 * 0.01).sin()).collect()).collect(),
        captions: Vec::new(),
        cols: 6,
        tone: Tone::Signed,
        cell: 56,
        note: "red: positive weight, blue: negative".into(),
    }
}

fn mistakes() -> ImageGrid {
    ImageGrid {
        title: "Worst-classified test images".into(),
        image_width: 8,
        image_height: 8,
        images: (0..5).map(|k| (0..64).map(|p| ((p + k) % 7) as f32 / 6.0).collect()).collect(),
        captions: (0..5).map(|k| format!("true {k} → pred {}", (k + 1) % 10)).collect(),
        cols: 5,
        tone: Tone::Ink,
        cell: 64,
        note: String::new(),
    }
}

fn matrix() -> Confusion {
    Confusion {
        title: "Confusion matrix (accuracy 80.0%)".into(),
        classes: vec!["0".into(), "1".into(), "2".into()],
        counts: vec![vec![8, 1, 1], vec![0, 9, 1], vec![2, 1, 7]],
        size: 480,
    }
}

fn out(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

#[test]
fn curves_have_title_axes_and_one_legend_entry_per_series() {
    let dir = tempfile::tempdir().unwrap();
    let path = out(&dir, "curves.svg");
    line_figure(&curves(), &path).unwrap();
    let texts = svg_texts(&svg_text(&path));
    for expected in ["Training curves of run abc", "epoch", "cross-entropy loss (nats)", "accuracy (%)"] {
        assert!(texts.iter().any(|t| t == expected), "{expected:?} missing from {texts:?}");
    }
    assert_eq!(texts.iter().filter(|t| *t == "abc train").count(), 2, "{texts:?}");
    assert_eq!(texts.iter().filter(|t| *t == "abc validation").count(), 2, "{texts:?}");

    let png = out(&dir, "curves.png");
    line_figure(&curves(), &png).unwrap();
    let ((w, h), ink) = png_ink(&png);
    assert_eq!((w, h), (1000, 420));
    assert!(ink > 10_000, "a PNG with curves, axes and text has ink: {ink}");
    assert!(dark_in_rows(&png, 5..35) > 50, "the title is drawn in the top band");
}

#[test]
fn sweep_marks_diverged_trials_and_uses_a_log_axis() {
    let dir = tempfile::tempdir().unwrap();
    let path = out(&dir, "sweep.svg");
    line_figure(&sweep(), &path).unwrap();
    let texts = svg_texts(&svg_text(&path));
    for expected in [
        "learning rate (log scale)",
        "validation accuracy (%)",
        "sgd",
        "adam",
        "diverged (loss NaN)",
        "1e-4",
        "0.01",
        "1",
    ] {
        assert!(texts.iter().any(|t| t == expected), "{expected:?} missing from {texts:?}");
    }
    let png = out(&dir, "sweep.png");
    line_figure(&sweep(), &png).unwrap();
    assert_eq!(png_ink(&png).0, (800, 500));
}

#[test]
fn boundary_draws_the_surface_the_points_and_a_colour_bar() {
    let dir = tempfile::tempdir().unwrap();
    let path = out(&dir, "xor.svg");
    boundary(&xor_surface(1.0), &path).unwrap();
    let svg = svg_text(&path);
    let texts = svg_texts(&svg);
    for expected in ["XOR decision surface", "x1", "x2", "network output", "class 0", "class 1"] {
        assert!(texts.iter().any(|t| t == expected), "{expected:?} missing from {texts:?}");
    }
    assert_eq!(svg.matches("data:image/png;base64").count(), 2, "heat map and colour bar are embedded images");
    let png = out(&dir, "xor.png");
    boundary(&xor_surface(1.0), &png).unwrap();
    let img = image::open(&png).unwrap().to_rgb8();
    let reds = img.pixels().filter(|p| p.0[0] > 150 && p.0[2] < 90).count();
    let blues = img.pixels().filter(|p| p.0[2] > 140 && p.0[0] < 90).count();
    assert!(reds > 1000 && blues > 1000, "both halves of the scale are used: {reds} red, {blues} blue");
}

#[test]
fn boundary_animation_is_a_gif_with_one_frame_per_surface() {
    let dir = tempfile::tempdir().unwrap();
    let path = out(&dir, "xor.gif");
    let frames: Vec<Boundary> = [0.1, 1.0, 3.0].iter().map(|&s| xor_surface(s)).collect();
    boundary_animation(&frames, 200, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[..6], b"GIF89a");
    use image::AnimationDecoder;
    let decoder = image::codecs::gif::GifDecoder::new(std::io::Cursor::new(bytes)).unwrap();
    assert_eq!(decoder.into_frames().count(), 3);
    let e = boundary_animation(&frames, 200, &out(&dir, "xor.png")).unwrap_err();
    assert!(e.to_string().contains(".gif"), "{e}");
}

#[test]
fn weights_and_mistakes_grids_have_their_images_and_captions() {
    let dir = tempfile::tempdir().unwrap();
    let path = out(&dir, "weights.svg");
    image_grid(&weights(), &path).unwrap();
    let svg = svg_text(&path);
    assert_eq!(svg.matches("data:image/png;base64").count(), 12);
    assert!(svg_texts(&svg).iter().any(|t| t == "First-layer weights"));
    let png = out(&dir, "mistakes.png");
    image_grid(&mistakes(), &png).unwrap();
    assert!(png_ink(&png).1 > 5000);
    let svg_path = out(&dir, "mistakes.svg");
    image_grid(&mistakes(), &svg_path).unwrap();
    let texts = svg_texts(&svg_text(&svg_path));
    assert_eq!(texts.iter().filter(|t| t.starts_with("true ")).count(), 5, "{texts:?}");
}

#[test]
fn confusion_matrix_labels_every_cell() {
    let dir = tempfile::tempdir().unwrap();
    let path = out(&dir, "confusion.svg");
    confusion(&matrix(), &path).unwrap();
    let texts = svg_texts(&svg_text(&path));
    for expected in ["Confusion matrix (accuracy 80.0%)", "predicted class", "true class", "9", "7"] {
        assert!(texts.iter().any(|t| t == expected), "{expected:?} missing from {texts:?}");
    }
    let png = out(&dir, "confusion.png");
    confusion(&matrix(), &png).unwrap();
    assert_eq!(png_ink(&png).0, (480, 480));
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let e = line_figure(&curves(), &out(&dir, "curves.jpg")).unwrap_err();
    assert!(matches!(e, PlotError::Format { .. }) && e.to_string().contains("curves.jpg"), "{e}");
    let mut empty = curves();
    for p in &mut empty.panels {
        p.series.clear();
    }
    assert!(line_figure(&empty, &out(&dir, "e.svg")).unwrap_err().to_string().contains("no points"));
    let mut bad = matrix();
    bad.counts.pop();
    assert!(confusion(&bad, &out(&dir, "c.svg")).is_err());
    let mut grid = weights();
    grid.images[3].pop();
    assert!(image_grid(&grid, &out(&dir, "w.svg")).unwrap_err().to_string().contains("image 3"));
    let missing = dir.path().join("no/such/dir/x.svg");
    assert!(line_figure(&curves(), &missing).unwrap_err().to_string().contains("no/such/dir"));
    // Nothing half-written is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}
