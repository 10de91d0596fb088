//! Where a figure goes: the format chosen by the file's extension, the font for its text,
//! and the atomic write (a temporary file beside the target, then a rename).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::PlotError;

/// The file formats nabla draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Scalable vector graphics (text stays text).
    Svg,
    /// A PNG bitmap.
    Png,
    /// An animated GIF (animations only).
    Gif,
}

impl Format {
    /// The format named by a path's extension (`.svg`, `.png`, `.gif`, any case).
    pub fn from_path(path: &Path) -> Result<Format, PlotError> {
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("svg") => Ok(Format::Svg),
            Some("png") => Ok(Format::Png),
            Some("gif") => Ok(Format::Gif),
            _ => Err(PlotError::Format { path: path.to_path_buf() }),
        }
    }
}

/// Where nabla looks for a TrueType font, in order, after `$NABLA_FONT`.
const FONT_FILES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/usr/local/share/fonts/DejaVuSans.ttf",
    "/Library/Fonts/Arial.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// Folders searched (one level of subfolders) for any `*Sans*.ttf` when none of the known
/// files exists.
const FONT_DIRS: &[&str] = &["/usr/share/fonts", "/usr/local/share/fonts"];

/// The environment variable that names a font file to use for every plot's text.
pub const FONT_ENV: &str = "NABLA_FONT";

/// Finds a font and registers it with plotters as `sans-serif`, once per process. Text is
/// measured with it for SVG too (to place labels), so every format needs it.
pub(crate) fn ensure_font() -> Result<(), PlotError> {
    static FONT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let found = FONT.get_or_init(|| {
        let explicit = std::env::var_os(FONT_ENV).map(PathBuf::from);
        let mut candidates: Vec<PathBuf> = explicit.into_iter().collect();
        candidates.extend(FONT_FILES.iter().map(PathBuf::from));
        candidates.extend(scan_font_dirs());
        for path in &candidates {
            let Ok(bytes) = std::fs::read(path) else { continue };
            // plotters keeps fonts for the whole process; one font, leaked once, is that.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                return Ok(path.clone());
            }
        }
        Err(format!("${FONT_ENV}, {}, and *Sans*.ttf under {}", FONT_FILES[0], FONT_DIRS.join(", ")))
    });
    match found {
        Ok(_) => Ok(()),
        Err(searched) => Err(PlotError::NoFont { searched: searched.clone() }),
    }
}

fn scan_font_dirs() -> Vec<PathBuf> {
    let mut found = Vec::new();
    for dir in FONT_DIRS {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let files: Vec<PathBuf> = if path.is_dir() {
                std::fs::read_dir(&path).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default()
            } else {
                vec![path]
            };
            found.extend(files.into_iter().filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                name.ends_with(".ttf") && name.contains("Sans") && !name.contains("Bold") && !name.contains("Oblique")
            }));
        }
    }
    found.sort();
    found
}

/// A figure that can draw itself on any plotters backend.
pub(crate) trait Figure {
    /// The size in pixels.
    fn size(&self) -> (u32, u32);
    /// Draws on the whole area.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError>;
}

/// Turns any plotters error into a [`PlotError`].
pub(crate) fn drawing<E: std::fmt::Display>(e: E) -> PlotError {
    PlotError::Draw(e.to_string())
}

/// Draws `figure` to `path` as SVG or PNG (by extension), atomically.
pub(crate) fn render(figure: &impl Figure, path: &Path) -> Result<(), PlotError> {
    let bytes = match Format::from_path(path)? {
        Format::Svg => render_svg(figure)?.into_bytes(),
        Format::Png => {
            let (w, h) = figure.size();
            encode_png(&render_rgb(figure)?, w, h)?
        }
        Format::Gif => {
            return Err(PlotError::Input(format!(
                "{}: a still picture is written as .svg or .png; .gif is for animations (--every)",
                path.display()
            )))
        }
    };
    write_atomic(path, &bytes)
}

/// The figure as SVG text.
pub(crate) fn render_svg(figure: &impl Figure) -> Result<String, PlotError> {
    ensure_font()?;
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, figure.size()).into_drawing_area();
        root.fill(&WHITE).map_err(drawing)?;
        figure.draw(&root)?;
        root.present().map_err(drawing)?;
    }
    // plotters-svg writes embedded PNGs as `data:png`, which is not a media type; browsers
    // want `image/png`.
    Ok(text.replace("href=\"data:png;base64,", "href=\"data:image/png;base64,"))
}

/// The figure as packed RGB pixels, `size().0 × size().1`.
pub(crate) fn render_rgb(figure: &impl Figure) -> Result<Vec<u8>, PlotError> {
    ensure_font()?;
    let (w, h) = figure.size();
    let mut pixels = vec![255u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(drawing)?;
        figure.draw(&root)?;
        root.present().map_err(drawing)?;
    }
    Ok(pixels)
}

/// Draws `frames` as a looping GIF, `delay_ms` per frame; `path` must end in `.gif` and every
/// frame must have the first one's size.
pub(crate) fn animate<F: Figure>(frames: &[F], delay_ms: u32, path: &Path) -> Result<(), PlotError> {
    if Format::from_path(path)? != Format::Gif {
        return Err(PlotError::Input(format!("{}: an animation is written as .gif", path.display())));
    }
    let Some(first) = frames.first() else {
        return Err(PlotError::Input("an animation needs at least one frame".into()));
    };
    let mut pixels = Vec::with_capacity(frames.len());
    for frame in frames {
        if frame.size() != first.size() {
            return Err(PlotError::Input("every frame of an animation must have the same size".into()));
        }
        pixels.push(render_rgb(frame)?);
    }
    let (w, h) = first.size();
    write_atomic(path, &encode_gif(&pixels, w, h, delay_ms)?)
}

/// Encodes RGB pixels as PNG.
pub(crate) fn encode_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>, PlotError> {
    use image::ImageEncoder;
    let mut out = Vec::new();
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    // The best deflate level: figures go into docs and reports, and encoding even a large
    // heat map this way takes milliseconds.
    PngEncoder::new_with_quality(&mut out, CompressionType::Best, FilterType::Adaptive)
        .write_image(rgb, w, h, image::ExtendedColorType::Rgb8)
        .map_err(drawing)?;
    Ok(out)
}

/// Encodes frames of RGB pixels as a looping GIF, `delay_ms` per frame.
pub(crate) fn encode_gif(frames: &[Vec<u8>], w: u32, h: u32, delay_ms: u32) -> Result<Vec<u8>, PlotError> {
    use image::codecs::gif::{GifEncoder, Repeat};
    let mut out = Vec::new();
    {
        let mut encoder = GifEncoder::new_with_speed(&mut out, 10);
        encoder.set_repeat(Repeat::Infinite).map_err(drawing)?;
        for rgb in frames {
            let rgba: Vec<u8> = rgb.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect();
            let buffer = image::RgbaImage::from_raw(w, h, rgba)
                .ok_or_else(|| PlotError::Draw("a frame has the wrong number of pixels".into()))?;
            let frame = image::Frame::from_parts(buffer, 0, 0, image::Delay::from_numer_denom_ms(delay_ms, 1));
            encoder.encode_frame(frame).map_err(drawing)?;
        }
    }
    Ok(out)
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so a
/// reader never sees half a picture.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PlotError> {
    let io = |source| PlotError::Io { path: path.to_path_buf(), source };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("plot");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = std::fs::File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}
