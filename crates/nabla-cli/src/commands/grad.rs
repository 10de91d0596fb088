//! `nabla grad 'x*y + max(z, w)' x=3 y=-2 z=1 w=4`: evaluates a formula, backpropagates
//! through it, and prints the value, every partial derivative and every gate's value and
//! gradient; `--dot` / `--svg` draw the circuit.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::{bail, Context};
use nabla::autodiff::expr::{self, FUNCTIONS};
use nabla::autodiff::{Op, Value};
use nabla_plot::graph::{self, format_number, ComputationGraph, GraphNode, NodeKind};
use serde_json::json;

/// Flags of `nabla grad`.
#[derive(Debug, clap::Args)]
pub struct GradArgs {
    /// The formula, e.g. 'x*y + max(z, w)': + - * / ^, parentheses, and exp, log, tanh, sin, cos,
    /// sigmoid, relu, sqrt, max, min, pow.
    #[arg(allow_hyphen_values = true)]
    pub expression: String,
    /// A value for each variable, NAME=NUMBER (e.g. x=3 y=-2).
    #[arg(value_name = "NAME=NUMBER")]
    pub values: Vec<String>,
    /// Also write the computation graph as Graphviz DOT to FILE.
    #[arg(long, value_name = "FILE")]
    pub dot: Option<PathBuf>,
    /// Also write the computation graph as an SVG picture to FILE.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `nabla grad`.
pub fn run(args: &GradArgs) -> anyhow::Result<()> {
    let bindings = parse_bindings(&args.values)?;
    let formula = expr::parse(&args.expression).context("cannot parse the formula")?;
    let eval = formula.evaluate(&bindings).context("cannot evaluate the formula")?;
    eval.output.backward();
    let order = eval.output.topological_order();
    let names = node_names(&order, &eval.inputs);

    if let Some(path) = &args.dot {
        graph::write_dot(&to_graph(args, &order, &names), path)?;
    }
    if let Some(path) = &args.svg {
        graph::write_svg(&to_graph(args, &order, &names), path)?;
    }

    let mut out = io::stdout().lock();
    if args.json {
        let variables: Vec<_> =
            eval.inputs.iter().map(|(name, v)| json!({"name": name, "value": v.data(), "grad": v.grad()})).collect();
        let gates: Vec<_> = order
            .iter()
            .zip(&names)
            .filter(|(v, _)| v.op() != Op::Leaf)
            .map(|(v, name)| json!({"name": name, "op": v.op().to_string(), "formula": describe(v, &order, &names), "value": v.data(), "grad": v.grad()}))
            .collect();
        let doc = json!({
            "expression": args.expression,
            "value": eval.output.data(),
            "variables": variables,
            "gates": gates,
        });
        writeln!(out, "{doc}")?;
    } else {
        print_text(&mut out, args, &eval.inputs, &order, &names)?;
    }
    out.flush()?;
    Ok(())
}

/// `x=3` → `("x", 3.0)`; every name once, every value a finite number.
fn parse_bindings(values: &[String]) -> anyhow::Result<Vec<(String, f64)>> {
    let mut out: Vec<(String, f64)> = Vec::new();
    for arg in values {
        let Some((name, value)) = arg.split_once('=') else {
            bail!("`{arg}` is not NAME=NUMBER (write each variable's value as x=3)");
        };
        let name = name.trim();
        let valid_name = name.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_alphanumeric() || c == '_');
        if !valid_name {
            bail!("`{arg}`: `{name}` is not a variable name (letters, digits and _, not starting with a digit)");
        }
        if FUNCTIONS.iter().any(|(f, _)| *f == name) {
            bail!("`{arg}`: `{name}` is a function, not a variable");
        }
        let v: f64 = match value.trim().parse::<f64>() {
            Ok(v) if v.is_finite() => v,
            _ => bail!("`{arg}`: `{value}` is not a finite number"),
        };
        if out.iter().any(|(n, _)| n == name) {
            bail!("`{name}` is given a value twice");
        }
        out.push((name.to_string(), v));
    }
    Ok(out)
}

/// A name for every node: inputs by their name, constants by their digits, gates `t1`, `t2`,
/// … in the order they are computed, and the output `f`.
fn node_names(order: &[Value], inputs: &[(String, Value)]) -> Vec<String> {
    let mut gate = 0;
    let last = order.len() - 1;
    order
        .iter()
        .enumerate()
        .map(|(i, v)| {
            if let Some((name, _)) = inputs.iter().find(|(_, input)| input.same(v)) {
                name.clone()
            } else if v.op() == Op::Leaf {
                format_number(v.data())
            } else if i == last {
                "f".to_string()
            } else {
                gate += 1;
                format!("t{gate}")
            }
        })
        .collect()
}

fn index_of(order: &[Value], v: &Value) -> usize {
    order.iter().position(|o| o.same(v)).unwrap_or(0)
}

/// A gate written out: `x · y`, `max(z, w)`, `−t1`.
fn describe(v: &Value, order: &[Value], names: &[String]) -> String {
    let args: Vec<&str> = v.inputs().map(|(input, _)| names[index_of(order, input)].as_str()).collect();
    match (v.op(), args.as_slice()) {
        (Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Pow, [a, b]) => format!("{a} {} {b}", v.op().symbol()),
        (Op::Neg, [a]) => format!("−{a}"),
        (Op::Leaf, _) => names[index_of(order, v)].clone(),
        (op, args) => format!("{}({})", op.symbol(), args.join(", ")),
    }
}

fn to_graph(args: &GradArgs, order: &[Value], names: &[String]) -> ComputationGraph {
    let nodes = order
        .iter()
        .zip(names)
        .map(|(v, name)| {
            let kind = match v.op() {
                Op::Leaf if v.label().is_some() => NodeKind::Input,
                Op::Leaf => NodeKind::Constant,
                _ => NodeKind::Gate,
            };
            GraphNode {
                label: if kind == NodeKind::Gate { v.op().symbol().to_string() } else { name.clone() },
                kind,
                value: v.data(),
                grad: v.grad(),
                inputs: v.inputs().map(|(input, local)| (index_of(order, input), local)).collect(),
            }
        })
        .collect();
    ComputationGraph { title: format!("f = {}", args.expression), output_name: "f".into(), nodes }
}

fn print_text(
    out: &mut impl Write,
    args: &GradArgs,
    inputs: &[(String, Value)],
    order: &[Value],
    names: &[String],
) -> io::Result<()> {
    let output = order.last().map_or(f64::NAN, Value::data);
    writeln!(out, "f = {}", args.expression)?;
    if !inputs.is_empty() {
        let at: Vec<String> = inputs.iter().map(|(n, v)| format!("{n} = {}", format_number(v.data()))).collect();
        writeln!(out, "at  {}", at.join(", "))?;
    }
    writeln!(out)?;
    writeln!(out, "f = {}", format_number(output))?;
    let width = inputs.iter().map(|(n, _)| n.chars().count()).max().unwrap_or(1);
    for (name, v) in inputs {
        writeln!(out, "∂f/∂{name:<width$} = {}", format_number(v.grad()))?;
    }

    writeln!(out)?;
    writeln!(out, "forward (value), then backward (gradient ∂f/∂node), gate by gate:")?;
    let gates: Vec<(usize, String)> = order
        .iter()
        .enumerate()
        .filter(|(_, v)| v.op() != Op::Leaf)
        .map(|(i, v)| (i, format!("{} = {}", names[i], describe(v, order, names))))
        .collect();
    let w = gates.iter().map(|(_, s)| s.chars().count()).max().unwrap_or(0);
    let vw = gates.iter().map(|&(i, _)| format_number(order[i].data()).len()).max().unwrap_or(0);
    for (i, text) in &gates {
        let v = &order[*i];
        let pad = w - text.chars().count();
        write!(
            out,
            "  {text}{:pad$}  = {:>vw$}   ∂f/∂{} = {}",
            "",
            format_number(v.data()),
            names[*i],
            format_number(v.grad())
        )?;
        let ins: Vec<&Value> = v.inputs().map(|(input, _)| input).collect();
        if matches!(v.op(), Op::Max | Op::Min) && ins.len() == 2 && ins[0].data() == ins[1].data() {
            let first = &names[index_of(order, ins[0])];
            write!(out, "   (a tie: {} routes the gradient to its first argument, {first})", v.op())?;
        }
        writeln!(out)?;
    }
    if args.dot.is_some() || args.svg.is_some() {
        writeln!(out)?;
    }
    for (flag, path) in [("graph (DOT)", &args.dot), ("graph (SVG)", &args.svg)] {
        if let Some(p) = path {
            writeln!(out, "wrote the {flag} to {}", p.display())?;
        }
    }
    Ok(())
}
