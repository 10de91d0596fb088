//! `nabla predict CKPT INPUT`: the most likely classes of one image (PNG/JPEG) or of one
//! example of a data set's test split (`mnist:0`); for a model trained on a table, a
//! prediction for every row of a table with the training file's columns (`rows.csv`), as CSV.
//!
//! An image is brought to the form the model was trained on, as MNIST's own images were
//! made: grey (luma), light ink on a dark background (inverted when the border is lighter
//! than the image as a whole), the background level taken as zero, the ink's bounding box
//! scaled to fit a 20×20 box (of 28×28; the same proportion for other sizes) and placed so
//! that its centre of mass is at the centre.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use image::imageops::{self, FilterType};
use image::{ImageBuffer, Luma};
use nabla::softmax::softmax;
use nabla::MatRef;
use nabla_data::table::{Preprocessor, TableFormat};
use nabla_train::checkpoint::{describe_network, InputSpec};
use nabla_train::metrics::top_k;
use nabla_train::quantize::ModelFile;
use nabla_train::table_model::{self, forward_rows, Predictions};
use serde_json::json;

use super::eval::{check_fits, image_input, load_data, read_table};
use super::parse;

/// Flags of `nabla predict`.
#[derive(Debug, clap::Args)]
pub struct PredictArgs {
    /// The checkpoint: a .safetensors file written by `nabla train` or `nabla quantize`.
    pub checkpoint: PathBuf,
    /// A PNG or JPEG image (any size, colour or grey), or DATASET:INDEX for an example of a
    /// data set's test split, e.g. mnist:0. For a table model: a table (.csv, .tsv, .csv.gz,
    /// .parquet, .npz) with the columns of the training file (its target column may be there).
    pub input: String,
    /// Look for the data in DIR first (then $NABLA_DATA, then the user data directory).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Table models: the field delimiter of a CSV file (default: tab for .tsv, else comma).
    #[arg(long, value_name = "CHAR", value_parser = parse::delimiter)]
    pub delimiter: Option<u8>,
    /// Table models: write the predictions (CSV) to FILE instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// How many classes to show (image models).
    #[arg(long, value_name = "K", default_value_t = 3, value_parser = parse::positive_usize)]
    pub top: usize,
    /// Print one JSON object instead of text (for a table model: a summary; the predictions
    /// go to -o FILE).
    #[arg(long)]
    pub json: bool,
}

/// Rows per forward pass when predicting a table.
const TABLE_BATCH: usize = 1024;

/// What INPUT names.
enum Input {
    Image(PathBuf),
    Example { dataset: String, index: usize },
}

/// A model input with what to say about where it came from.
struct Prepared {
    x: Vec<f32>,
    /// One line describing the input.
    about: String,
    /// The true label, for data-set examples.
    label: Option<usize>,
}

/// Runs `nabla predict`.
pub fn run(args: &PredictArgs) -> anyhow::Result<()> {
    let model = ModelFile::load(&args.checkpoint)?;
    if let Some(pre) = model.table() {
        return predict_table(args, &model, pre);
    }
    if args.output.is_some() || args.delimiter.is_some() {
        bail!(
            "{}: -o/--output and --delimiter are for models trained on a table; this one was trained on {} images",
            args.checkpoint.display(),
            model.dataset()
        );
    }
    if TableFormat::of(Path::new(&args.input)).is_some() {
        bail!(
            "{}: the model was trained on {} images: it predicts a PNG/JPEG image or DATASET:INDEX, not the rows of {}",
            args.checkpoint.display(),
            model.dataset(),
            args.input
        );
    }
    let input = image_input(&args.checkpoint, model.input(), model.dataset())?;
    let prepared = match parse_input(&args.input)? {
        Input::Image(path) => prepare_image(&path, input)?,
        Input::Example { dataset, index } => prepare_example(args, &model, &dataset, index)?,
    };
    let mut runner = model.runner(1);
    let logits = runner.forward(MatRef::new(&prepared.x, 1, prepared.x.len())?)?;
    let probs = softmax(logits.row(0));
    let top = top_k(&probs, args.top);
    let classes = model.classes();

    let mut out = io::stdout().lock();
    if args.json {
        let label = prepared.label.map(|i| json!({"index": i, "class": classes[i]}));
        let top: Vec<_> =
            top.iter().map(|&(i, p)| json!({"index": i, "class": classes[i], "probability": p})).collect();
        let doc = json!({
            "checkpoint": args.checkpoint.display().to_string(),
            "input": args.input,
            "label": label,
            "top": top,
        });
        writeln!(out, "{doc}")?;
    } else {
        writeln!(out, "checkpoint  {}", args.checkpoint.display())?;
        let weights = match &model {
            ModelFile::F32(_) => String::new(),
            ModelFile::Quantized(q) => format!(", {} weights", q.model.precision()),
        };
        writeln!(out, "model       {}{weights}, trained on {}", describe_network(&model.spec()), model.dataset())?;
        writeln!(out, "input       {}", prepared.about)?;
        if let Some(i) = prepared.label {
            writeln!(out, "true label  {}", classes[i])?;
        }
        writeln!(out)?;
        let w = top.iter().map(|&(i, _)| classes[i].chars().count()).max().unwrap_or(0);
        for &(i, p) in &top {
            writeln!(out, "{:<w$}  ({:.1}%)", classes[i], 100.0 * p)?;
        }
    }
    out.flush()?;
    Ok(())
}

/// Predicts every row of the table INPUT with the table model `model` (preprocessing `pre`):
/// CSV to -o FILE (written atomically) or to standard output.
fn predict_table(args: &PredictArgs, model: &ModelFile, pre: &Preprocessor) -> anyhow::Result<()> {
    if args.json && args.output.is_none() {
        bail!("--json prints a summary of a table's predictions: give -o FILE for the predictions themselves");
    }
    let path = Path::new(&args.input);
    let encoded = read_table(&args.checkpoint, model.dataset(), pre, path, args.delimiter)?;
    let outputs = forward_rows(&mut model.runner(TABLE_BATCH), TABLE_BATCH, &encoded.x, encoded.features)?;
    let predictions = table_model::predict(pre, &outputs)?;
    let csv = predictions.to_csv(model.classes());
    let mut out = io::stdout().lock();
    let Some(file) = &args.output else {
        out.write_all(csv.as_bytes())?;
        out.flush()?;
        return Ok(());
    };
    nabla_plot::write_atomic(file, csv.as_bytes())?;
    let columns = predictions.columns(model.classes());
    if args.json {
        let mut doc = json!({
            "checkpoint": args.checkpoint.display().to_string(),
            "input": args.input,
            "output": file.display().to_string(),
            "rows": predictions.rows(),
            "target": pre.target.column(),
            "columns": columns,
        });
        if let Predictions::Classes { predicted, .. } = &predictions {
            let mut counts = serde_json::Map::new();
            for (k, name) in model.classes().iter().enumerate() {
                counts.insert(name.clone(), predicted.iter().filter(|&&p| p as usize == k).count().into());
            }
            doc["predicted"] = counts.into();
        }
        writeln!(out, "{doc}")?;
    } else {
        writeln!(out, "checkpoint  {}", args.checkpoint.display())?;
        writeln!(out, "model       {}, trained on {}", describe_network(&model.spec()), model.dataset())?;
        writeln!(out, "input       {}: {} rows", path.display(), predictions.rows())?;
        writeln!(out, "wrote       {} ({})", file.display(), columns.join(", "))?;
    }
    out.flush()?;
    Ok(())
}

/// An existing file is an image; otherwise `NAME:INDEX` (NAME without path characters) is a
/// data-set example.
fn parse_input(text: &str) -> anyhow::Result<Input> {
    let path = Path::new(text);
    if path.is_dir() {
        bail!("{text}: is a folder, not an image");
    }
    if path.exists() {
        return Ok(Input::Image(path.to_path_buf()));
    }
    if let Some((name, index)) = text.split_once(':') {
        if !name.is_empty() && !name.contains(['/', '\\', '.']) {
            nabla_data::spec(name)?;
            let index = index.trim().parse::<usize>().map_err(|_| {
                anyhow::anyhow!(
                    "bad example index `{index}` in `{text}`: expected DATASET:INDEX with INDEX ≥ 0, e.g. {name}:0"
                )
            })?;
            return Ok(Input::Example { dataset: name.to_string(), index });
        }
    }
    bail!("{text}: no such file (expected a PNG/JPEG image or DATASET:INDEX such as mnist:0)")
}

fn prepare_example(args: &PredictArgs, model: &ModelFile, name: &str, index: usize) -> anyhow::Result<Prepared> {
    let ds = load_data(name, args.data.as_deref())?.test;
    if index >= ds.len {
        bail!(
            "example {index} is out of range: {name} has {} test examples (0 to {})",
            ds.len,
            ds.len.saturating_sub(1)
        );
    }
    let input = image_input(&args.checkpoint, model.input(), model.dataset())?;
    check_fits(&args.checkpoint, input, model.classes().len(), name, &ds)?;
    let norm = input.normalizer(ds.max_value);
    let x = ds.image(index).iter().map(|&p| norm.apply(p)).collect();
    let label = usize::from(ds.labels[index]);
    Ok(Prepared { x, about: format!("{name}:{index} (example {index} of the test split)"), label: Some(label) })
}

/// Reads an image and turns it into the model's input.
fn prepare_image(path: &Path, input: &InputSpec) -> anyhow::Result<Prepared> {
    // The header first: an image is shrunk to the model's input anyway, and a small file can
    // declare a huge one (a 249 KB PNG of 16000 × 16000 took 3.3 GB to decode).
    let (w, h) = image::ImageReader::open(path)
        .with_context(|| format!("{}: cannot open", path.display()))?
        .with_guessed_format()
        .with_context(|| format!("{}: cannot read", path.display()))?
        .into_dimensions()
        .map_err(|e| anyhow::anyhow!("{}: not a readable PNG or JPEG image: {e}", path.display()))?;
    if u64::from(w) * u64::from(h) > nabla::limits::MAX_IMAGE_PIXELS {
        bail!(
            "{}: the image is {w}×{h} pixels; nabla predicts on images of at most {} pixels (e.g. 4096×4096)",
            path.display(),
            nabla::limits::MAX_IMAGE_PIXELS
        );
    }
    let img = image::ImageReader::open(path)
        .with_context(|| format!("{}: cannot open", path.display()))?
        .with_guessed_format()
        .with_context(|| format!("{}: cannot read", path.display()))?
        .decode()
        .map_err(|e| anyhow::anyhow!("{}: not a readable PNG or JPEG image: {e}", path.display()))?;
    let (width, height) = (img.width() as usize, img.height() as usize);
    if width == 0 || height == 0 {
        bail!("{}: the image is empty (0 pixels)", path.display());
    }
    let colour = img.color().has_color();
    let grey = flatten_alpha(&img);
    let (ink, inverted) = ink_map(&grey, width, height);
    let x = frame(&ink, width, height, input.height, input.width)
        .into_iter()
        .map(|v| input.normalize(v * f32::from(input.max_value)))
        .collect();
    let about = format!(
        "{} ({width}×{height} {}{})",
        path.display(),
        if colour { "colour" } else { "grey" },
        if inverted { ", dark on light: inverted" } else { "" }
    );
    Ok(Prepared { x, about, label: None })
}

/// Luma in `[0, 1]`, row-major. Transparent pixels are laid on a background that contrasts
/// with the opaque ones (white under dark strokes, black under light ones), so a digit drawn
/// on a transparent canvas stays visible.
fn flatten_alpha(img: &image::DynamicImage) -> Vec<f32> {
    if !img.color().has_alpha() {
        return img.to_luma32f().into_raw();
    }
    let la = img.to_luma_alpha32f().into_raw();
    let (mut sum, mut weight) = (0.0f64, 0.0f64);
    for p in la.chunks_exact(2) {
        sum += f64::from(p[0] * p[1]);
        weight += f64::from(p[1]);
    }
    let opaque_mean = if weight > 0.0 { sum / weight } else { 0.0 };
    let background = if opaque_mean < 0.5 { 1.0 } else { 0.0 };
    la.chunks_exact(2).map(|p| p[0] * p[1] + background * (1.0 - p[1])).collect()
}

/// Ink in `[0, 1]` (0 = background) and whether the image was inverted. It is inverted when
/// its border is lighter than the whole (dark digit on light paper); then the background
/// level (the border's mean) becomes 0 and the strongest ink 1.
fn ink_map(grey: &[f32], width: usize, height: usize) -> (Vec<f32>, bool) {
    let mean = grey.iter().map(|&v| f64::from(v)).sum::<f64>() / grey.len() as f64;
    let border = border_mean(grey, width, height);
    let inverted = border > mean;
    let ink: Vec<f32> = if inverted { grey.iter().map(|v| 1.0 - v).collect() } else { grey.to_vec() };
    let background = if inverted { 1.0 - border } else { border } as f32;
    let peak = ink.iter().copied().fold(0.0f32, f32::max);
    if peak - background < 1e-3 {
        return (ink, inverted);
    }
    let scale = 1.0 / (peak - background);
    (ink.iter().map(|&v| ((v - background) * scale).clamp(0.0, 1.0)).collect(), inverted)
}

/// Mean of the outermost rows and columns.
fn border_mean(grey: &[f32], width: usize, height: usize) -> f64 {
    let (mut sum, mut n) = (0.0f64, 0usize);
    for y in 0..height {
        for x in 0..width {
            if y == 0 || x == 0 || y + 1 == height || x + 1 == width {
                sum += f64::from(grey[y * width + x]);
                n += 1;
            }
        }
    }
    sum / n.max(1) as f64
}

/// The ink's bounding box scaled (aspect kept) into a box of 20/28 of the target and
/// placed on an empty `out_h × out_w` canvas with its centre of mass at the centre. An
/// image without ink is simply resized.
fn frame(ink: &[f32], width: usize, height: usize, out_h: usize, out_w: usize) -> Vec<f32> {
    let buffer = |data: Vec<f32>, w: usize, h: usize| {
        ImageBuffer::<Luma<f32>, Vec<f32>>::from_raw(w as u32, h as u32, data).expect("sized to w × h")
    };
    let Some((x0, y0, x1, y1)) = bounding_box(ink, width, height, 0.1) else {
        let img =
            imageops::resize(&buffer(ink.to_vec(), width, height), out_w as u32, out_h as u32, FilterType::Triangle);
        return img.into_raw();
    };
    let (cw, ch) = (x1 - x0, y1 - y0);
    let mut crop = Vec::with_capacity(cw * ch);
    for y in y0..y1 {
        crop.extend_from_slice(&ink[y * width + x0..y * width + x1]);
    }
    let box_w = ((out_w * 20) as f64 / 28.0).round().max(1.0);
    let box_h = ((out_h * 20) as f64 / 28.0).round().max(1.0);
    let scale = (box_w / cw as f64).min(box_h / ch as f64);
    let nw = ((cw as f64 * scale).round() as usize).clamp(1, out_w);
    let nh = ((ch as f64 * scale).round() as usize).clamp(1, out_h);
    let small = imageops::resize(&buffer(crop, cw, ch), nw as u32, nh as u32, FilterType::Triangle).into_raw();

    // Centre of mass of the scaled ink, to be placed at the canvas centre.
    let (mut mass, mut mx, mut my) = (0.0f64, 0.0f64, 0.0f64);
    for (i, &v) in small.iter().enumerate() {
        let v = f64::from(v.max(0.0));
        mass += v;
        mx += v * (i % nw) as f64;
        my += v * (i / nw) as f64;
    }
    let (cx, cy) = if mass > 0.0 { (mx / mass, my / mass) } else { (nw as f64 / 2.0, nh as f64 / 2.0) };
    let place = |centre: f64, n: usize, out: usize| {
        let offset = ((out as f64 - 1.0) / 2.0 - centre).round();
        offset.clamp(0.0, (out - n) as f64) as usize
    };
    let (ox, oy) = (place(cx, nw, out_w), place(cy, nh, out_h));
    let mut canvas = vec![0.0f32; out_w * out_h];
    for y in 0..nh {
        for x in 0..nw {
            canvas[(oy + y) * out_w + ox + x] = small[y * nw + x].clamp(0.0, 1.0);
        }
    }
    canvas
}

/// `(x0, y0, x1, y1)` (ends exclusive) of the pixels above `threshold`, if any.
fn bounding_box(ink: &[f32], width: usize, height: usize, threshold: f32) -> Option<(usize, usize, usize, usize)> {
    let (mut x0, mut y0, mut x1, mut y1) = (width, height, 0, 0);
    for y in 0..height {
        for x in 0..width {
            if ink[y * width + x] > threshold {
                x0 = x0.min(x);
                y0 = y0.min(y);
                x1 = x1.max(x + 1);
                y1 = y1.max(y + 1);
            }
        }
    }
    (x1 > x0 && y1 > y0).then_some((x0, y0, x1, y1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dark_on_light_is_inverted_and_stretched() {
        // A 4×4 light-grey page (0.9) with a dark 2×2 stroke (0.1) in the middle.
        let mut grey = vec![0.9f32; 16];
        for i in [5, 6, 9, 10] {
            grey[i] = 0.1;
        }
        let (ink, inverted) = ink_map(&grey, 4, 4);
        assert!(inverted);
        assert!((ink[0] - 0.0).abs() < 1e-6 && (ink[5] - 1.0).abs() < 1e-6, "{ink:?}");
        // Light on dark stays as it is.
        let light: Vec<f32> = grey.iter().map(|v| 1.0 - v).collect();
        assert!(!ink_map(&light, 4, 4).1);
    }

    #[test]
    fn framing_centres_the_ink() {
        // A 10×10 blob in the top-left corner of a 100×100 image ends up around the centre
        // of a 28×28 canvas, scaled to 20×20.
        let mut ink = vec![0.0f32; 100 * 100];
        for y in 0..10 {
            for x in 0..10 {
                ink[y * 100 + x] = 1.0;
            }
        }
        let out = frame(&ink, 100, 100, 28, 28);
        let (x0, y0, x1, y1) = bounding_box(&out, 28, 28, 0.5).unwrap();
        assert_eq!((x1 - x0, y1 - y0), (20, 20));
        assert!((3..=5).contains(&x0) && (3..=5).contains(&y0), "{x0} {y0}");
    }

    #[test]
    fn blank_images_are_resized_not_framed() {
        let out = frame(&[0.0; 50 * 30], 50, 30, 8, 8);
        assert_eq!(out.len(), 64);
        assert!(out.iter().all(|&v| v == 0.0));
    }
}
