//! Small images in a grid with captions: a first layer's weights as 28×28 pictures, or the
//! test images a model got most wrong.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::output::{drawing, render, Figure};
use crate::PlotError;

/// How values become grey levels or colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Values in `[0, 1]` as ink: 0 white, 1 black (digits as on paper).
    Ink,
    /// Signed values, each image scaled to its own largest magnitude: negative blue, zero
    /// white, positive red.
    Signed,
}

/// Images of one size laid out in rows.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageGrid {
    /// The figure's title.
    pub title: String,
    /// Pixels per image row.
    pub image_width: usize,
    /// Rows per image.
    pub image_height: usize,
    /// The images, each `image_width · image_height` values row by row.
    pub images: Vec<Vec<f32>>,
    /// One caption per image (or none at all).
    pub captions: Vec<String>,
    /// Images per row of the grid.
    pub cols: usize,
    /// How values are shown.
    pub tone: Tone,
    /// The side of each drawn image in pixels.
    pub cell: u32,
    /// A line under the grid saying how to read it (may be empty).
    pub note: String,
}

const TITLE_H: u32 = 44;
const NOTE_H: u32 = 28;
const PAD: u32 = 10;

impl ImageGrid {
    fn caption_h(&self) -> u32 {
        if self.captions.is_empty() {
            0
        } else {
            18
        }
    }

    /// The width of a grid column: the image, or its longest caption if wider.
    fn col_w(&self) -> u32 {
        let longest = self.captions.iter().map(|c| c.chars().count()).max().unwrap_or(0) as u32;
        self.cell.max(longest * 7 + 4)
    }

    fn note_h(&self) -> u32 {
        if self.note.is_empty() {
            0
        } else {
            NOTE_H
        }
    }

    fn rows(&self) -> usize {
        self.images.len().div_ceil(self.cols.max(1))
    }

    fn check(&self) -> Result<(), PlotError> {
        let n = self.image_width * self.image_height;
        if self.images.is_empty() || n == 0 || self.cols == 0 || self.cell == 0 {
            return Err(PlotError::Input("an image grid needs at least one non-empty image and one column".into()));
        }
        if let Some((i, img)) = self.images.iter().enumerate().find(|(_, img)| img.len() != n) {
            return Err(PlotError::Input(format!(
                "image {i} has {} values, not {}×{} = {n}",
                img.len(),
                self.image_width,
                self.image_height
            )));
        }
        if !self.captions.is_empty() && self.captions.len() != self.images.len() {
            return Err(PlotError::Input(format!("{} captions for {} images", self.captions.len(), self.images.len())));
        }
        Ok(())
    }

    /// One image scaled (nearest neighbour) to `cell × cell` RGB pixels.
    fn pixels(&self, image: &[f32]) -> Vec<u8> {
        let scale = match self.tone {
            Tone::Ink => 1.0,
            Tone::Signed => image.iter().fold(0f32, |m, v| m.max(v.abs())).max(f32::MIN_POSITIVE),
        };
        let cell = self.cell as usize;
        let mut out = Vec::with_capacity(cell * cell * 3);
        for j in 0..cell {
            let r = j * self.image_height / cell;
            for i in 0..cell {
                let c = i * self.image_width / cell;
                let v = image[r * self.image_width + c];
                out.extend_from_slice(&match self.tone {
                    Tone::Ink => {
                        let g = (255.0 * (1.0 - v.clamp(0.0, 1.0))).round() as u8;
                        [g, g, g]
                    }
                    Tone::Signed => signed_color(v / scale),
                });
            }
        }
        out
    }
}

/// Blue for −1, white for 0, red for +1.
fn signed_color(t: f32) -> [u8; 3] {
    let t = if t.is_finite() { t.clamp(-1.0, 1.0) } else { 0.0 };
    let (end, u) = if t < 0.0 { ([33.0, 102.0, 172.0], -t) } else { ([178.0, 24.0, 43.0], t) };
    let mix = |e: f32| (255.0 + (e - 255.0) * u).round() as u8;
    [mix(end[0]), mix(end[1]), mix(end[2])]
}

/// Draws the grid to `path` (`.svg` or `.png`).
pub fn image_grid(grid: &ImageGrid, path: &Path) -> Result<(), PlotError> {
    grid.check()?;
    render(grid, path)
}

impl Figure for ImageGrid {
    fn size(&self) -> (u32, u32) {
        let cols = self.cols.min(self.images.len()).max(1) as u32;
        // Wide enough for the title and the note at their font sizes (about 0.55 em a glyph).
        let text_w = (self.title.chars().count() as u32 * 11).max(self.note.chars().count() as u32 * 7) + 40;
        let w = (cols * (self.col_w() + PAD) + PAD).max(420).max(text_w);
        let h = TITLE_H + self.rows() as u32 * (self.cell + self.caption_h() + PAD) + PAD + self.note_h();
        (w, h)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let (w, h) = self.size();
        let centered =
            |size: u32| TextStyle::from(("sans-serif", size).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
        root.draw_text(&self.title, &centered(20), ((w / 2) as i32, (TITLE_H / 2) as i32)).map_err(drawing)?;
        let cols = self.cols.min(self.images.len()).max(1) as u32;
        let col_w = self.col_w();
        let left = (w - cols * (col_w + PAD) - PAD) / 2 + PAD + (col_w - self.cell) / 2;
        for (k, image) in self.images.iter().enumerate() {
            let (col, row) = ((k as u32) % cols, (k as u32) / cols);
            let x = (left + col * (col_w + PAD)) as i32;
            let y = (TITLE_H + row * (self.cell + self.caption_h() + PAD)) as i32;
            let element = BitMapElement::with_owned_buffer((x, y), (self.cell, self.cell), self.pixels(image))
                .ok_or_else(|| PlotError::Draw("image buffer of the wrong size".into()))?;
            root.draw(&element).map_err(drawing)?;
            let border = Rectangle::new(
                [(x - 1, y - 1), (x + self.cell as i32, y + self.cell as i32)],
                RGBColor(160, 160, 160).stroke_width(1),
            );
            root.draw(&border).map_err(drawing)?;
            if let Some(caption) = self.captions.get(k) {
                let at = (x + self.cell as i32 / 2, y + self.cell as i32 + 10);
                root.draw_text(caption, &centered(12), at).map_err(drawing)?;
            }
        }
        if !self.note.is_empty() {
            root.draw_text(&self.note, &centered(13), ((w / 2) as i32, (h - NOTE_H / 2) as i32)).map_err(drawing)?;
        }
        Ok(())
    }
}
