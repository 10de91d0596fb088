//! Scalar automatic differentiation: a [`Value`] remembers how it was computed, so the chain
//! rule can run backwards through it.
//!
//! Every operation below does two things, written next to each other: it computes its output
//! from its inputs (forward), and it records the *local derivative* of that output with
//! respect to each input (the backward rule). [`Value::backward`] then visits the nodes in
//! reverse topological order and lets every node pass `local · dout` to its inputs — that
//! multiplication is the chain rule. The three gates of the lecture read off directly:
//!
//! - **add** distributes: both local derivatives are 1, so both inputs get `dout` unchanged;
//! - **mul** switches: `d(a·b)/da = b`, so each input gets `dout` times the *other* input;
//! - **max** routes: the larger input gets all of `dout`, the other nothing (on a tie the
//!   first argument wins: `max(z, w)` with `z ≥ w` routes to `z`).
//!
//! Values are cheap handles (`Rc`) to immutable nodes; only the gradient changes, during the
//! backward pass. [`expr`] parses a formula such as `x*y + max(z, w)` into a graph of
//! values, and [`mlp`] builds a multi-layer perceptron out of values, to cross-check the
//! matrix engine's backpropagation ([`residual`]: the same for a residual MLP, layer
//! normalisation included).

pub mod expr;
pub mod mlp;
pub mod residual;

use std::cell::Cell;
use std::collections::HashSet;
use std::fmt;
use std::rc::Rc;

/// The operation that produced a [`Value`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// An input or a constant: no inputs of its own.
    Leaf,
    /// `a + b`.
    Add,
    /// `a − b`.
    Sub,
    /// `a · b`.
    Mul,
    /// `a / b`.
    Div,
    /// `a ^ b`.
    Pow,
    /// `−a`.
    Neg,
    /// `e^a`.
    Exp,
    /// `ln a`.
    Log,
    /// `tanh a`.
    Tanh,
    /// `sin a`.
    Sin,
    /// `cos a`.
    Cos,
    /// `σ(a) = 1 / (1 + e^(−a))`.
    Sigmoid,
    /// `max(0, a)`.
    Relu,
    /// `max(a, b)`.
    Max,
    /// `min(a, b)`.
    Min,
    /// `a₁ + a₂ + … + aₙ`.
    Sum,
}

impl Op {
    /// A short name for pictures and tables: `+`, `·`, `max`, …
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Leaf => "",
            Op::Add => "+",
            Op::Sub => "−",
            Op::Mul => "·",
            Op::Div => "/",
            Op::Pow => "^",
            Op::Neg => "neg",
            Op::Exp => "exp",
            Op::Log => "log",
            Op::Tanh => "tanh",
            Op::Sin => "sin",
            Op::Cos => "cos",
            Op::Sigmoid => "σ",
            Op::Relu => "relu",
            Op::Max => "max",
            Op::Min => "min",
            Op::Sum => "Σ",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if *self == Op::Leaf { "leaf" } else { self.symbol() })
    }
}

struct Node {
    data: f64,
    grad: Cell<f64>,
    op: Op,
    /// Each input with the local derivative `∂self/∂input`, fixed at forward time.
    inputs: Vec<(Value, f64)>,
    label: Option<String>,
}

// Dropping a long chain of nodes recursively would overflow the stack; this unlinks the
// inputs onto a heap stack instead, freeing nodes that no other handle keeps alive.
impl Drop for Node {
    fn drop(&mut self) {
        let mut pending: Vec<Value> = self.inputs.drain(..).map(|(v, _)| v).collect();
        while let Some(v) = pending.pop() {
            if let Ok(mut node) = Rc::try_unwrap(v.0) {
                pending.extend(node.inputs.drain(..).map(|(v, _)| v));
            }
        }
    }
}

/// A scalar in a computation graph: its value, its gradient after [`Value::backward`], and
/// the operation and inputs that produced it.
#[derive(Clone)]
pub struct Value(Rc<Node>);

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Value({}, grad {}, {})", self.data(), self.grad(), self.op())
    }
}

impl Value {
    /// A constant or input.
    pub fn new(data: f64) -> Self {
        Self::from_op(data, Op::Leaf, Vec::new())
    }

    /// A named input (`x`), whose name shows in graph pictures.
    pub fn named(name: impl Into<String>, data: f64) -> Self {
        Value(Rc::new(Node { data, grad: Cell::new(0.0), op: Op::Leaf, inputs: Vec::new(), label: Some(name.into()) }))
    }

    fn from_op(data: f64, op: Op, inputs: Vec<(Value, f64)>) -> Self {
        Value(Rc::new(Node { data, grad: Cell::new(0.0), op, inputs, label: None }))
    }

    /// The value computed by the forward pass.
    pub fn data(&self) -> f64 {
        self.0.data
    }

    /// `∂output/∂self` after `output.backward()` (0 before).
    pub fn grad(&self) -> f64 {
        self.0.grad.get()
    }

    /// The operation that produced this value.
    pub fn op(&self) -> Op {
        self.0.op
    }

    /// The name given by [`Value::named`], if any.
    pub fn label(&self) -> Option<&str> {
        self.0.label.as_deref()
    }

    /// The inputs of the operation, each with its local derivative `∂self/∂input`.
    pub fn inputs(&self) -> impl Iterator<Item = (&Value, f64)> {
        self.0.inputs.iter().map(|(v, d)| (v, *d))
    }

    /// Whether two handles are the same node.
    pub fn same(&self, other: &Value) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }

    // ---- The gates: forward value, and beside it the local derivative of each input. ----

    /// `a + b`. Backward: `da += dout`, `db += dout`.
    pub fn add(&self, b: &Value) -> Value {
        Value::from_op(self.data() + b.data(), Op::Add, vec![(self.clone(), 1.0), (b.clone(), 1.0)])
    }

    /// `a − b`. Backward: `da += dout`, `db −= dout`.
    pub fn sub(&self, b: &Value) -> Value {
        Value::from_op(self.data() - b.data(), Op::Sub, vec![(self.clone(), 1.0), (b.clone(), -1.0)])
    }

    /// `a · b`. Backward: `da += b · dout`, `db += a · dout`.
    pub fn mul(&self, b: &Value) -> Value {
        let (x, y) = (self.data(), b.data());
        Value::from_op(x * y, Op::Mul, vec![(self.clone(), y), (b.clone(), x)])
    }

    /// `a / b`. Backward: `da += dout / b`, `db −= a / b² · dout`.
    pub fn div(&self, b: &Value) -> Value {
        let (x, y) = (self.data(), b.data());
        Value::from_op(x / y, Op::Div, vec![(self.clone(), 1.0 / y), (b.clone(), -x / (y * y))])
    }

    /// `a ^ b`. Backward: `da += b · a^(b−1) · dout`, `db += a^b · ln a · dout` (for `a > 0`;
    /// for `a ≤ 0` the power is not differentiable in `b` and `db` gets NaN, unless `a = 0`
    /// and `b > 0`, where the limit is 0). Use [`Value::powf`] for a constant exponent.
    pub fn pow(&self, b: &Value) -> Value {
        let (x, y) = (self.data(), b.data());
        let out = x.powf(y);
        let d_exponent = if x > 0.0 {
            out * x.ln()
        } else if x == 0.0 && y > 0.0 {
            0.0
        } else {
            f64::NAN
        };
        Value::from_op(out, Op::Pow, vec![(self.clone(), y * x.powf(y - 1.0)), (b.clone(), d_exponent)])
    }

    /// `a ^ k` for a constant `k`. Backward: `da += k · a^(k−1) · dout`.
    pub fn powf(&self, k: f64) -> Value {
        self.pow(&Value::new(k))
    }

    /// `−a`. Backward: `da −= dout`.
    pub fn neg(&self) -> Value {
        Value::from_op(-self.data(), Op::Neg, vec![(self.clone(), -1.0)])
    }

    /// `e^a`. Backward: `da += e^a · dout` (the output itself).
    pub fn exp(&self) -> Value {
        let out = self.data().exp();
        Value::from_op(out, Op::Exp, vec![(self.clone(), out)])
    }

    /// `ln a`. Backward: `da += dout / a`.
    pub fn log(&self) -> Value {
        let x = self.data();
        Value::from_op(x.ln(), Op::Log, vec![(self.clone(), 1.0 / x)])
    }

    /// `tanh a`. Backward: `da += (1 − tanh² a) · dout`.
    pub fn tanh(&self) -> Value {
        let out = self.data().tanh();
        Value::from_op(out, Op::Tanh, vec![(self.clone(), 1.0 - out * out)])
    }

    /// `sin a`. Backward: `da += cos a · dout`.
    pub fn sin(&self) -> Value {
        let x = self.data();
        Value::from_op(x.sin(), Op::Sin, vec![(self.clone(), x.cos())])
    }

    /// `cos a`. Backward: `da += −sin a · dout`.
    pub fn cos(&self) -> Value {
        let x = self.data();
        Value::from_op(x.cos(), Op::Cos, vec![(self.clone(), -x.sin())])
    }

    /// `σ(a)`. Backward: `da += σ(a)(1 − σ(a)) · dout`.
    pub fn sigmoid(&self) -> Value {
        let x = self.data();
        // The branch keeps e^(−x) from overflowing for very negative x.
        let out = if x >= 0.0 { 1.0 / (1.0 + (-x).exp()) } else { x.exp() / (1.0 + x.exp()) };
        Value::from_op(out, Op::Sigmoid, vec![(self.clone(), out * (1.0 - out))])
    }

    /// `max(0, a)`. Backward: `da += dout` where `a > 0`, else nothing.
    pub fn relu(&self) -> Value {
        let x = self.data();
        Value::from_op(x.max(0.0), Op::Relu, vec![(self.clone(), if x > 0.0 { 1.0 } else { 0.0 })])
    }

    /// `max(a, b)`. Backward: the larger input gets all of `dout`; on a tie, `a` does.
    pub fn max(&self, b: &Value) -> Value {
        let first = self.data() >= b.data();
        let out = if first { self.data() } else { b.data() };
        Value::from_op(
            out,
            Op::Max,
            vec![(self.clone(), f64::from(u8::from(first))), (b.clone(), f64::from(u8::from(!first)))],
        )
    }

    /// `min(a, b)`. Backward: the smaller input gets all of `dout`; on a tie, `a` does.
    pub fn min(&self, b: &Value) -> Value {
        let first = self.data() <= b.data();
        let out = if first { self.data() } else { b.data() };
        Value::from_op(
            out,
            Op::Min,
            vec![(self.clone(), f64::from(u8::from(first))), (b.clone(), f64::from(u8::from(!first)))],
        )
    }

    /// `a₁ + … + aₙ` as one node (a long sum as a chain of `add`s would make a deep graph).
    /// Backward: every input gets `dout`.
    pub fn sum(values: &[Value]) -> Value {
        let out = values.iter().map(Value::data).sum();
        Value::from_op(out, Op::Sum, values.iter().map(|v| (v.clone(), 1.0)).collect())
    }

    // ---- The backward pass. ----

    /// Every node this value depends on, itself last, each after all of its inputs.
    pub fn topological_order(&self) -> Vec<Value> {
        let mut order = Vec::new();
        let mut seen: HashSet<*const Node> = HashSet::new();
        // Iterative depth-first search (a deep graph must not overflow the call stack): a node
        // is emitted when it is popped the second time, after all its inputs.
        let mut stack = vec![(self.clone(), false)];
        while let Some((v, expanded)) = stack.pop() {
            if expanded {
                order.push(v);
                continue;
            }
            if !seen.insert(Rc::as_ptr(&v.0)) {
                continue;
            }
            stack.push((v.clone(), true));
            for (input, _) in v.0.inputs.iter().rev() {
                if !seen.contains(&Rc::as_ptr(&input.0)) {
                    stack.push((input.clone(), false));
                }
            }
        }
        order
    }

    /// Backpropagates from this value: sets `∂self/∂self = 1`, then visits the graph in
    /// reverse topological order, each node adding `local · dout` to its inputs' gradients.
    /// Gradients accumulate (`+=`), since a value used twice receives gradient along both
    /// paths. Earlier gradients in the graph are reset first.
    pub fn backward(&self) {
        let order = self.topological_order();
        for v in &order {
            v.0.grad.set(0.0);
        }
        self.0.grad.set(1.0);
        for v in order.iter().rev() {
            let dout = v.grad();
            for (input, local) in &v.0.inputs {
                input.0.grad.set(input.grad() + local * dout);
            }
        }
    }
}

impl From<f64> for Value {
    fn from(data: f64) -> Self {
        Value::new(data)
    }
}

// `&a + &b`, `a * b`, … for readable formulas; each is the method of the same name.
macro_rules! binary_operator {
    ($trait:ident, $method:ident) => {
        impl std::ops::$trait<&Value> for &Value {
            type Output = Value;
            fn $method(self, rhs: &Value) -> Value {
                Value::$method(self, rhs)
            }
        }
        impl std::ops::$trait<Value> for Value {
            type Output = Value;
            fn $method(self, rhs: Value) -> Value {
                Value::$method(&self, &rhs)
            }
        }
    };
}
binary_operator!(Add, add);
binary_operator!(Sub, sub);
binary_operator!(Mul, mul);
binary_operator!(Div, div);

impl std::ops::Neg for &Value {
    type Output = Value;
    fn neg(self) -> Value {
        Value::neg(self)
    }
}

impl std::ops::Neg for Value {
    type Output = Value;
    fn neg(self) -> Value {
        Value::neg(&self)
    }
}

#[cfg(test)]
mod tests;
