use super::axes::{panel_ranges, tick};
use super::legend::{corner_rect, covered, data_pixels, emptiest_corner, placement, Corner, Placement, Rect};
use super::*;

#[test]
fn ticks_read_as_numbers() {
    assert_eq!(tick(-3.0, true), "1e-3");
    assert_eq!(tick(0.0, true), "1");
    assert_eq!(tick(-1.0, true), "0.1");
    assert_eq!(tick(0.5, false), "0.5");
    assert_eq!(tick(2.0, false), "2");
    assert_eq!(tick(0.0, false), "0");
}

#[test]
fn log_axis_refuses_zero() {
    let panel = Panel {
        title: "t".into(),
        x_label: "x".into(),
        y_label: "y".into(),
        series: vec![Series { label: "a".into(), points: vec![(0.0, 1.0)], color: 0, dashed: false, scatter: false }],
        log_x: true,
        log_y: false,
        y_range: None,
    };
    assert!(panel_ranges(&panel).unwrap_err().to_string().contains("logarithmic"));
}

fn panel(series: Vec<Series>) -> Panel {
    Panel {
        title: "accuracy".into(),
        x_label: "epoch".into(),
        y_label: "accuracy (%)".into(),
        series,
        log_x: false,
        log_y: false,
        y_range: None,
    }
}

fn line(label: &str, color: usize, f: impl Fn(f64) -> f64) -> Series {
    let points = (1..=20).map(|e| (f64::from(e), f(f64::from(e)))).collect();
    Series { label: label.into(), points, color, dashed: false, scatter: false }
}

/// A 472 × 360 plot, as in a 560 × 460 panel.
const PLOT: Rect = (76, 40, 548, 400);

fn corner_of(p: &Panel, legend: (i32, i32)) -> (Corner, usize) {
    emptiest_corner(&data_pixels(p, panel_ranges(p).unwrap(), PLOT), PLOT, legend)
}

#[test]
fn the_legend_goes_to_the_corner_with_the_least_data() {
    let legend = (150, 40);
    // Accuracy rises to a plateau along the top: the upper right is taken, the lower right free.
    assert_eq!(corner_of(&panel(vec![line("train", 0, |e| 100.0 - 60.0 / e)]), legend), (Corner::LowerRight, 0));
    // Loss falls from the upper left and flattens along the bottom: the upper right is free.
    assert_eq!(corner_of(&panel(vec![line("train", 0, |e| 2.0 / e)]), legend), (Corner::UpperRight, 0));
    // A rising line leaves the upper left and the lower right free.
    let (corner, n) = corner_of(&panel(vec![line("lr", 0, |e| e)]), legend);
    assert!(n == 0 && (corner == Corner::UpperLeft || corner == Corner::LowerRight), "{corner:?}");
    // Data in every corner: the one with the fewest points under the box.
    let mut x = panel(vec![line("a", 0, |e| e), line("b", 1, |e| 21.0 - e)]);
    x.series.push(Series {
        label: "c".into(),
        points: vec![(18.0, 19.0), (20.0, 20.0)],
        color: 2,
        dashed: false,
        scatter: false,
    });
    let (corner, n) = corner_of(&x, legend);
    assert!(n > 0 && corner != Corner::UpperRight, "{corner:?} {n}");
    // A diverged marker on the bottom edge counts as data under a lower corner's box.
    let acc = panel(vec![line("acc", 0, |e| 100.0 - 60.0 / e)]);
    let mut diverged = acc.clone();
    diverged.series[0].points.push((19.5, f64::NAN));
    let lower_right = corner_rect(PLOT, legend, Corner::LowerRight);
    let under = |p: &Panel| covered(&data_pixels(p, panel_ranges(p).unwrap(), PLOT), lower_right);
    assert_eq!((under(&acc), under(&diverged)), (0, 1));
}

#[test]
fn many_series_or_no_free_corner_put_the_legend_outside_when_there_is_room() {
    let legend = (150, 40);
    let many = panel((0..8).map(|i| line(&format!("s{i}"), i, move |e| e + f64::from(i as u8))).collect());
    let ranges = panel_ranges(&many).unwrap();
    assert_eq!(placement(&many, ranges, PLOT, (150, 8 * 17 + 12), 8), Placement::Outside);
    let narrow: Rect = (76, 40, 400, 400);
    assert!(matches!(placement(&many, ranges, narrow, (150, 8 * 17 + 12), 8), Placement::Inside(_)));
    let x = panel(vec![line("a", 0, |e| e), line("b", 1, |e| 21.0 - e)]);
    assert_eq!(placement(&x, panel_ranges(&x).unwrap(), PLOT, legend, 2), Placement::Outside);
    let acc = panel(vec![line("train", 0, |e| 100.0 - 60.0 / e)]);
    assert_eq!(placement(&acc, panel_ranges(&acc).unwrap(), PLOT, legend, 1), Placement::Inside(Corner::LowerRight));
}

/// Every SVG `<text>`: its content and its `x`, `y`.
fn texts(svg: &str) -> Vec<(String, f64, f64)> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let (tag, rest) = t.split_once('>')?;
            let attr = |name: &str| -> Option<f64> {
                let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
                tag[at..].split('"').next()?.parse().ok()
            };
            Some((rest.split_once("</text>")?.0.trim().to_string(), attr("x")?, attr("y")?))
        })
        .collect()
}

fn text_at(svg: &str, label: &str) -> (f64, f64) {
    let found = texts(svg).into_iter().find(|t| t.0 == label);
    found.map(|t| (t.1, t.2)).unwrap_or_else(|| panic!("no text {label}"))
}

#[test]
fn a_drawn_legend_lands_where_it_was_placed() {
    let figure = |series| LineFigure { title: "t".into(), panels: vec![panel(series)], width: 560, height: 460 };
    let svg = crate::output::render_svg(&figure(vec![line("rising accuracy", 0, |e| 100.0 - 60.0 / e)])).unwrap();
    let (x, y) = text_at(&svg, "rising accuracy");
    assert!(x > 280.0 && y > 230.0, "lower right: ({x}, {y})");
    let svg = crate::output::render_svg(&figure(vec![line("falling loss", 0, |e| 2.0 / e)])).unwrap();
    let (x, y) = text_at(&svg, "falling loss");
    assert!(x > 280.0 && y < 230.0, "upper right: ({x}, {y})");
    // Outside: every tick label of the x axis lies left of the legend.
    let many: Vec<Series> =
        (0..8).map(|i| line(&format!("series {i}"), i, move |e| e * f64::from(i as u8 + 1))).collect();
    let svg = crate::output::render_svg(&figure(many)).unwrap();
    let (legend_x, _) = text_at(&svg, "series 0");
    let right =
        texts(&svg).iter().filter(|t| t.0.parse::<f64>().is_ok()).map(|t| t.1).fold(f64::NEG_INFINITY, f64::max);
    assert!(right + 20.0 < legend_x, "a tick at x = {right}, the legend at {legend_x}");
}

#[test]
fn scatter_points_are_dots_not_a_line() {
    let dots = Series {
        label: "samples".into(),
        points: vec![(1.0, 1.0), (20.0, 20.0)],
        color: 0,
        dashed: false,
        scatter: true,
    };
    let joined = Series { scatter: false, ..dots.clone() };
    let count = |s: Series| {
        let p = panel(vec![s]);
        data_pixels(&p, panel_ranges(&p).unwrap(), PLOT).len()
    };
    // Two dots are two pixels of data; the same two points joined are a line of many.
    assert_eq!(count(dots.clone()), 2);
    assert!(count(joined) > 100);
    let svg = |s: Series| {
        line_figure_svg(&LineFigure { title: "t".into(), panels: vec![panel(vec![s])], width: 500, height: 400 })
            .unwrap()
    };
    let (dotted, lined) = (svg(dots.clone()), svg(Series { scatter: false, ..dots }));
    assert!(dotted.contains("<circle"), "the samples are drawn as circles");
    let lines = |text: &str| text.matches("<polyline").count();
    assert!(lines(&dotted) < lines(&lined), "and not joined");
}

#[test]
fn an_animation_is_a_gif_of_line_figures() {
    let dir = tempfile::tempdir().unwrap();
    let frame = |k: f64| LineFigure {
        title: format!("step {k}"),
        panels: vec![panel(vec![line("f", 0, move |e| k * e)])],
        width: 300,
        height: 200,
    };
    let gif = dir.path().join("a.gif");
    line_animation(&[frame(1.0), frame(2.0)], 100, &gif).unwrap();
    assert!(std::fs::read(&gif).unwrap().starts_with(b"GIF89a"));
    let err = line_animation(&[frame(1.0)], 100, &dir.path().join("a.svg")).unwrap_err();
    assert!(err.to_string().contains("as .gif"), "{err}");
}

#[test]
fn a_fixed_y_range_cuts_lines_where_they_leave_it() {
    // Up through the top edge at x = 1.5, back in at x = 3.5, on to the end.
    let pieces = clip_to_band(&[(0.0, 0.0), (2.0, 2.0), (3.0, 2.0), (4.0, 0.0), (5.0, 0.0)], (0.0, 1.5));
    assert_eq!(pieces, vec![vec![(0.0, 0.0), (1.5, 1.5)], vec![(3.25, 1.5), (4.0, 0.0), (5.0, 0.0)]]);
    // Wholly outside: nothing; wholly inside: unchanged.
    assert!(clip_to_band(&[(0.0, 5.0), (1.0, 6.0)], (0.0, 1.0)).is_empty());
    assert_eq!(clip_to_band(&[(0.0, 0.5), (1.0, 0.7)], (0.0, 1.0)), vec![vec![(0.0, 0.5), (1.0, 0.7)]]);
    // Jumping over the band from below to above keeps the part across it.
    assert_eq!(clip_to_band(&[(0.0, -1.0), (1.0, 3.0)], (0.0, 2.0)), vec![vec![(0.25, 0.0), (0.75, 2.0)]]);
}
