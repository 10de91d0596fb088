//! Computation graphs, drawn as the lecture draws circuits: inputs on the left, one circle
//! per gate, the output on the right; on every wire the value flowing forward (green, above)
//! and the gradient flowing back along that wire (red, below). Written as Graphviz DOT or as
//! a hand-laid-out SVG that needs no font and no other program.

use std::fmt::Write as _;
use std::path::Path;

use crate::output::write_atomic;
use crate::PlotError;

/// The forward value's colour (green) and the gradient's (red), as in CS231n's circuits.
const VALUE_COLOUR: &str = "#1a7f37";
const GRAD_COLOUR: &str = "#c62828";

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// A named input: its gradient is one of the answers.
    Input,
    /// A number written in the formula.
    Constant,
    /// An operation (`+`, `·`, `max`, …).
    Gate,
}

/// One node of a computation graph.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphNode {
    /// The input's name, the constant's digits, or the gate's symbol.
    pub label: String,
    /// What the node is.
    pub kind: NodeKind,
    /// Its forward value.
    pub value: f64,
    /// `∂output/∂node`, the sum over its outgoing wires.
    pub grad: f64,
    /// The nodes it reads, by index, each with the local derivative `∂node/∂input`; the
    /// gradient on that wire is `local · grad`.
    pub inputs: Vec<(usize, f64)>,
}

/// A computation graph: nodes in topological order (every node after its inputs), the
/// output last.
#[derive(Debug, Clone, PartialEq)]
pub struct ComputationGraph {
    /// The formula, shown as the title.
    pub title: String,
    /// The output's name (`f`).
    pub output_name: String,
    /// The nodes, inputs before the nodes that read them.
    pub nodes: Vec<GraphNode>,
}

impl ComputationGraph {
    fn check(&self) -> Result<(), PlotError> {
        if self.nodes.is_empty() {
            return Err(PlotError::Input("a computation graph needs at least one node".into()));
        }
        for (i, n) in self.nodes.iter().enumerate() {
            if let Some(&(j, _)) = n.inputs.iter().find(|(j, _)| *j >= i) {
                return Err(PlotError::Input(format!(
                    "graph node {i} ({}) reads node {j}, which does not come before it",
                    n.label
                )));
            }
        }
        Ok(())
    }

    /// The gradient on the wire from `input` into `node`.
    fn wire_grad(&self, node: usize, local: f64) -> f64 {
        local * self.nodes[node].grad
    }
}

/// A number as people write it: `3`, `-0.5`, `0.1192`, `1.5e-7` (at most 4 decimals).
pub fn format_number(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "∞".into() } else { "−∞".into() };
    }
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-4..1e9).contains(&a) {
        return format!("{v:.3e}");
    }
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// The graph in Graphviz's DOT language (`dot -Tsvg graph.dot > graph.svg`).
pub fn to_dot(g: &ComputationGraph) -> Result<String, PlotError> {
    g.check()?;
    let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    let mut out = String::new();
    let _ = writeln!(out, "digraph computation {{");
    let _ = writeln!(out, "  rankdir=LR;");
    let _ = writeln!(out, "  label=\"{}\"; labelloc=t; fontname=\"sans-serif\";", esc(&g.title));
    let _ = writeln!(out, "  node [fontname=\"sans-serif\"]; edge [fontname=\"sans-serif\", fontsize=11];");
    for (i, n) in g.nodes.iter().enumerate() {
        match n.kind {
            NodeKind::Input => {
                let _ = writeln!(
                    out,
                    "  n{i} [shape=plaintext, label=<<b>{}</b><br/><font color=\"{VALUE_COLOUR}\">{}</font> <font color=\"{GRAD_COLOUR}\">∂ {}</font>>];",
                    esc(&n.label),
                    esc(&format_number(n.value)),
                    esc(&format_number(n.grad))
                );
            }
            NodeKind::Constant => {
                let _ = writeln!(out, "  n{i} [shape=plaintext, label=\"{}\"];", esc(&n.label));
            }
            NodeKind::Gate => {
                let _ = writeln!(out, "  n{i} [shape=circle, width=0.5, fixedsize=true, label=\"{}\"];", esc(&n.label));
            }
        }
    }
    for (i, n) in g.nodes.iter().enumerate() {
        for &(j, local) in &n.inputs {
            let _ = writeln!(
                out,
                "  n{j} -> n{i} [label=<<font color=\"{VALUE_COLOUR}\">{}</font><br/><font color=\"{GRAD_COLOUR}\">{}</font>>];",
                esc(&format_number(g.nodes[j].value)),
                esc(&format_number(g.wire_grad(i, local)))
            );
        }
    }
    let last = g.nodes.len() - 1;
    let out_node = &g.nodes[last];
    let _ = writeln!(out, "  output [shape=plaintext, label=\"{}\"];", esc(&g.output_name));
    let _ = writeln!(
        out,
        "  n{last} -> output [label=<<font color=\"{VALUE_COLOUR}\">{}</font><br/><font color=\"{GRAD_COLOUR}\">{}</font>>];",
        esc(&format_number(out_node.value)),
        esc(&format_number(out_node.grad))
    );
    let _ = writeln!(out, "}}");
    Ok(out)
}

/// Where each node sits: its column (longest path from an input) and its row position.
fn layout(g: &ComputationGraph) -> (Vec<usize>, Vec<f64>) {
    let n = g.nodes.len();
    let mut column = vec![0usize; n];
    for (i, node) in g.nodes.iter().enumerate() {
        column[i] = node.inputs.iter().map(|&(j, _)| column[j] + 1).max().unwrap_or(0);
    }
    // Leaves get rows in the order the formula reads them: depth-first from the output,
    // inputs left to right. Gates sit at the mean row of their inputs.
    let mut row = vec![f64::NAN; n];
    let mut next_row = 0.0;
    let mut stack = vec![n - 1];
    let mut visited = vec![false; n];
    let mut leaves_in_order = Vec::new();
    while let Some(i) = stack.pop() {
        if visited[i] {
            continue;
        }
        visited[i] = true;
        if g.nodes[i].inputs.is_empty() {
            leaves_in_order.push(i);
        }
        for &(j, _) in g.nodes[i].inputs.iter().rev() {
            stack.push(j);
        }
    }
    for i in leaves_in_order {
        row[i] = next_row;
        next_row += 1.0;
    }
    for i in 0..n {
        if row[i].is_nan() {
            let ins = &g.nodes[i].inputs;
            row[i] =
                if ins.is_empty() { 0.0 } else { ins.iter().map(|&(j, _)| row[j]).sum::<f64>() / ins.len() as f64 };
        }
    }
    // Two gates in one column must not overlap: push them apart, keeping their order.
    let columns = column.iter().copied().max().unwrap_or(0) + 1;
    for c in 0..columns {
        let mut members: Vec<usize> = (0..n).filter(|&i| column[i] == c).collect();
        members.sort_by(|&a, &b| row[a].total_cmp(&row[b]));
        for k in 1..members.len() {
            let (prev, cur) = (members[k - 1], members[k]);
            if row[cur] < row[prev] + 1.0 {
                row[cur] = row[prev] + 1.0;
            }
        }
    }
    (column, row)
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The graph as a self-contained SVG picture, laid out left to right.
pub fn to_svg(g: &ComputationGraph) -> Result<String, PlotError> {
    g.check()?;
    let (column, row) = layout(g);
    let (col_w, row_h, margin_x, top, radius) = (170.0, 84.0, 70.0, 70.0, 22.0);
    let columns = column.iter().copied().max().unwrap_or(0) + 1;
    let rows = row.iter().copied().fold(0.0, f64::max) + 1.0;
    let width = margin_x * 2.0 + col_w * columns as f64 + 40.0;
    let height = top + row_h * (rows - 1.0) + 60.0;
    let pos = |i: usize| (margin_x + col_w * column[i] as f64, top + row_h * row[i]);
    // Where wires leave a node and enter one: the circle's rim for gates, beside the text for
    // inputs and constants.
    let right_of = |i: usize| {
        let (x, y) = pos(i);
        if g.nodes[i].kind == NodeKind::Gate {
            (x + radius, y)
        } else {
            (x + 26.0, y)
        }
    };
    let left_of = |i: usize| {
        let (x, y) = pos(i);
        (x - radius, y)
    };

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">"#
    );
    let _ = writeln!(
        s,
        r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>"##
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{:.0}" y="28" font-size="17" text-anchor="middle">{}</text>"#,
        width / 2.0,
        xml(&g.title)
    );
    let _ = writeln!(
        s,
        r#"<text x="{:.0}" y="48" font-size="12" text-anchor="middle"><tspan fill="{VALUE_COLOUR}">green: forward value</tspan>   <tspan fill="{GRAD_COLOUR}">red: gradient ∂{}/∂·</tspan></text>"#,
        width / 2.0,
        xml(&g.output_name)
    );

    let wire = |s: &mut String, from: (f64, f64), to: (f64, f64), value: f64, grad: f64| {
        let mid = (from.0 + to.0) / 2.0;
        let _ = writeln!(
            s,
            r##"<path d="M{:.1},{:.1} C{mid:.1},{:.1} {mid:.1},{:.1} {:.1},{:.1}" fill="none" stroke="#555" stroke-width="1.4" marker-end="url(#arrow)"/>"##,
            from.0, from.1, from.1, to.1, to.0, to.1
        );
        // Labels at a third of the way along the curve, where it is still nearly level.
        let t: f64 = 0.3;
        let (b0, b1, b2, b3) = ((1.0 - t).powi(3), 3.0 * (1.0 - t).powi(2) * t, 3.0 * (1.0 - t) * t * t, t.powi(3));
        let lx = b0 * from.0 + (b1 + b2) * mid + b3 * to.0;
        let ly = (b0 + b1) * from.1 + (b2 + b3) * to.1;
        let _ = writeln!(
            s,
            r#"<text x="{lx:.1}" y="{:.1}" font-size="12" text-anchor="middle" fill="{VALUE_COLOUR}">{}</text>"#,
            ly - 6.0,
            xml(&format_number(value))
        );
        let _ = writeln!(
            s,
            r#"<text x="{lx:.1}" y="{:.1}" font-size="12" text-anchor="middle" fill="{GRAD_COLOUR}">{}</text>"#,
            ly + 15.0,
            xml(&format_number(grad))
        );
    };

    for (i, node) in g.nodes.iter().enumerate() {
        for &(j, local) in &node.inputs {
            wire(&mut s, right_of(j), left_of(i), g.nodes[j].value, g.wire_grad(i, local));
        }
    }
    let last = g.nodes.len() - 1;
    let out_from = right_of(last);
    let out_to = (out_from.0 + col_w * 0.55, out_from.1);
    wire(&mut s, out_from, out_to, g.nodes[last].value, g.nodes[last].grad);
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" font-size="16" font-style="italic">{}</text>"#,
        out_to.0 + 6.0,
        out_to.1 + 5.0,
        xml(&g.output_name)
    );

    for (i, node) in g.nodes.iter().enumerate() {
        let (x, y) = pos(i);
        match node.kind {
            NodeKind::Gate => {
                let _ = writeln!(
                    s,
                    r##"<circle cx="{x:.1}" cy="{y:.1}" r="{radius}" fill="#f3f6fb" stroke="#34495e" stroke-width="1.6"/>"##
                );
                let size = if node.label.chars().count() > 2 { 12 } else { 17 };
                let _ = writeln!(
                    s,
                    r#"<text x="{x:.1}" y="{:.1}" font-size="{size}" text-anchor="middle">{}</text>"#,
                    y + f64::from(size) * 0.35,
                    xml(&node.label)
                );
            }
            NodeKind::Input => {
                let _ = writeln!(
                    s,
                    r#"<text x="{:.1}" y="{:.1}" font-size="17" font-style="italic" text-anchor="end">{}</text>"#,
                    x + 20.0,
                    y + 6.0,
                    xml(&node.label)
                );
            }
            NodeKind::Constant => {
                let _ = writeln!(
                    s,
                    r##"<text x="{:.1}" y="{:.1}" font-size="15" text-anchor="end" fill="#555">{}</text>"##,
                    x + 20.0,
                    y + 5.0,
                    xml(&node.label)
                );
            }
        }
    }
    let _ = writeln!(s, "</svg>");
    Ok(s)
}

/// Writes the graph as DOT, atomically.
pub fn write_dot(g: &ComputationGraph, path: &Path) -> Result<(), PlotError> {
    write_atomic(path, to_dot(g)?.as_bytes())
}

/// Writes the graph as SVG, atomically.
pub fn write_svg(g: &ComputationGraph, path: &Path) -> Result<(), PlotError> {
    write_atomic(path, to_svg(g)?.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// f = x·y + max(z, w) at x = 3, y = −4, z = 2, w = −1.
    fn lecture() -> ComputationGraph {
        let leaf = |label: &str, value, grad| GraphNode {
            label: label.into(),
            kind: NodeKind::Input,
            value,
            grad,
            inputs: vec![],
        };
        let gate = |label: &str, value, inputs| GraphNode {
            label: label.into(),
            kind: NodeKind::Gate,
            value,
            grad: 1.0,
            inputs,
        };
        ComputationGraph {
            title: "f = x*y + max(z, w)".into(),
            output_name: "f".into(),
            nodes: vec![
                leaf("x", 3.0, -4.0),
                leaf("y", -4.0, 3.0),
                gate("·", -12.0, vec![(0, -4.0), (1, 3.0)]),
                leaf("z", 2.0, 1.0),
                leaf("w", -1.0, 0.0),
                gate("max", 2.0, vec![(3, 1.0), (4, 0.0)]),
                gate("+", -10.0, vec![(2, 1.0), (5, 1.0)]),
            ],
        }
    }

    #[test]
    fn numbers_read_as_written() {
        assert_eq!(format_number(3.0), "3");
        assert_eq!(format_number(-0.5), "-0.5");
        assert_eq!(format_number(0.119_202_9), "0.1192");
        assert_eq!(format_number(1.5e-7), "1.500e-7");
        assert_eq!(format_number(-0.000_01), "-1.000e-5");
        assert_eq!(format_number(f64::NAN), "NaN");
    }

    #[test]
    fn dot_names_every_wire_with_value_and_gradient() {
        let dot = to_dot(&lecture()).unwrap();
        assert!(dot.starts_with("digraph computation {"));
        assert_eq!(dot.matches(" -> ").count(), 7, "{dot}");
        // The wire from w into max carries −1 forward and 0 back; from x into · carries 3 and −4.
        assert!(
            dot.contains("n4 -> n5 [label=<<font color=\"#1a7f37\">-1</font><br/><font color=\"#c62828\">0</font>>]")
        );
        assert!(
            dot.contains("n0 -> n2 [label=<<font color=\"#1a7f37\">3</font><br/><font color=\"#c62828\">-4</font>>]")
        );
        assert!(dot.contains("n6 -> output"));
    }

    #[test]
    fn svg_draws_each_gate_and_wire() {
        let svg = to_svg(&lecture()).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<circle").count(), 3);
        assert_eq!(svg.matches("marker-end").count(), 7);
        for label in [">max<", ">·<", ">+<", ">x<", ">w<", ">-10<", ">-12<"] {
            assert!(svg.contains(label), "missing {label}");
        }
    }

    #[test]
    fn layout_puts_inputs_left_and_keeps_gates_apart() {
        let (column, row) = layout(&lecture());
        assert_eq!(column, vec![0, 0, 1, 0, 0, 1, 2]);
        assert_eq!(&row[..2], &[0.0, 1.0]);
        assert_eq!((row[3], row[4]), (2.0, 3.0));
        assert!(row[5] - row[2] >= 1.0);
    }

    #[test]
    fn a_node_reading_a_later_node_is_refused() {
        let mut g = lecture();
        g.nodes[2].inputs.push((6, 1.0));
        assert!(matches!(to_svg(&g), Err(PlotError::Input(_))));
        g.nodes.clear();
        assert!(to_dot(&g).is_err());
    }

    #[test]
    fn files_are_written() {
        let dir = tempfile::tempdir().unwrap();
        write_svg(&lecture(), &dir.path().join("g.svg")).unwrap();
        write_dot(&lecture(), &dir.path().join("g.dot")).unwrap();
        assert!(std::fs::read_to_string(dir.path().join("g.svg")).unwrap().contains("</svg>"));
        let missing = dir.path().join("no/such/dir/g.svg");
        assert!(matches!(write_svg(&lecture(), &missing), Err(PlotError::Io { .. })));
    }
}
