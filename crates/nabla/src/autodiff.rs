//! A scalar automatic-differentiation graph that shows the chain rule at work.
//!
//! Every value is a node in a [`Graph`]. Each gate knows two things, written next to each
//! other below: how to compute its output from its inputs (forward), and how to pass the
//! gradient of its output back to its inputs (backward), multiplying by its local derivative
//! — that multiplication is the chain rule. The three gates of the lecture have easy rules:
//!
//! - **add** distributes: both inputs receive the output's gradient unchanged;
//! - **mul** switches: each input receives the gradient times the *other* input;
//! - **max** routes: the larger input receives the whole gradient, the other gets nothing.
//!
//! Nodes are appended in the order they are computed, so walking them backwards visits every
//! node after all the nodes that use it: a topological order for free.

/// A handle to a node of a [`Graph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Var(usize);

#[derive(Debug, Clone, Copy)]
enum Op {
    Leaf,
    Add(Var, Var),
    Mul(Var, Var),
    Max(Var, Var),
}

#[derive(Debug, Clone)]
struct Node {
    value: f64,
    grad: f64,
    op: Op,
}

/// A computation on scalars, recorded so that it can be differentiated.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    nodes: Vec<Node>,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    fn push(&mut self, value: f64, op: Op) -> Var {
        self.nodes.push(Node { value, grad: 0.0, op });
        Var(self.nodes.len() - 1)
    }

    /// An input value.
    pub fn leaf(&mut self, value: f64) -> Var {
        self.push(value, Op::Leaf)
    }

    /// `a + b`. Backward: `da += dout`, `db += dout`.
    pub fn add(&mut self, a: Var, b: Var) -> Var {
        self.push(self.value(a) + self.value(b), Op::Add(a, b))
    }

    /// `a · b`. Backward: `da += b · dout`, `db += a · dout`.
    pub fn mul(&mut self, a: Var, b: Var) -> Var {
        self.push(self.value(a) * self.value(b), Op::Mul(a, b))
    }

    /// `max(a, b)`. Backward: the larger input gets `dout` (on a tie, `a` does).
    pub fn max(&mut self, a: Var, b: Var) -> Var {
        self.push(self.value(a).max(self.value(b)), Op::Max(a, b))
    }

    /// The value of a node.
    pub fn value(&self, v: Var) -> f64 {
        self.nodes[v.0].value
    }

    /// `∂output/∂v` after [`Graph::backward`].
    pub fn grad(&self, v: Var) -> f64 {
        self.nodes[v.0].grad
    }

    /// Backpropagates from `output`: sets `∂output/∂output = 1` and visits the nodes in
    /// reverse, each passing its gradient to its inputs. Gradients accumulate (`+=`), since a
    /// value used twice receives gradient along both paths.
    pub fn backward(&mut self, output: Var) {
        self.nodes.iter_mut().for_each(|n| n.grad = 0.0);
        self.nodes[output.0].grad = 1.0;
        for i in (0..=output.0).rev() {
            let Node { grad: dout, op, .. } = self.nodes[i];
            match op {
                Op::Leaf => {}
                Op::Add(a, b) => {
                    self.nodes[a.0].grad += dout;
                    self.nodes[b.0].grad += dout;
                }
                Op::Mul(a, b) => {
                    let (va, vb) = (self.value(a), self.value(b));
                    self.nodes[a.0].grad += vb * dout;
                    self.nodes[b.0].grad += va * dout;
                }
                Op::Max(a, b) => {
                    let winner = if self.value(a) >= self.value(b) { a } else { b };
                    self.nodes[winner.0].grad += dout;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lecture's example: f(x, y, z, w) = x·y + max(z, w) at x = 3, y = −4, z = 2, w = −1.
    #[test]
    fn chain_rule_example() {
        let mut g = Graph::new();
        let (x, y, z, w) = (g.leaf(3.0), g.leaf(-4.0), g.leaf(2.0), g.leaf(-1.0));
        let xy = g.mul(x, y);
        let m = g.max(z, w);
        let f = g.add(xy, m);
        assert_eq!(g.value(f), -10.0);
        g.backward(f);
        // add distributes: both branches get 1.
        assert_eq!(g.grad(xy), 1.0);
        assert_eq!(g.grad(m), 1.0);
        // mul switches: ∂f/∂x = y, ∂f/∂y = x.
        assert_eq!(g.grad(x), -4.0);
        assert_eq!(g.grad(y), 3.0);
        // max routes: z won, w gets nothing.
        assert_eq!(g.grad(z), 1.0);
        assert_eq!(g.grad(w), 0.0);
    }

    /// A value used twice collects gradient from both uses: d(x·x + x)/dx = 2x + 1.
    #[test]
    fn gradients_accumulate_over_paths() {
        let mut g = Graph::new();
        let x = g.leaf(1.5);
        let xx = g.mul(x, x);
        let f = g.add(xx, x);
        g.backward(f);
        assert_eq!(g.grad(x), 4.0);
    }

    /// The graph's gradients agree with finite differences on a random-ish expression.
    #[test]
    fn matches_finite_differences() {
        let f = |v: [f64; 3]| {
            let mut g = Graph::new();
            let a: Vec<Var> = v.iter().map(|&x| g.leaf(x)).collect();
            let p = g.mul(a[0], a[1]);
            let q = g.max(p, a[2]);
            let r = g.mul(q, a[0]);
            let out = g.add(r, a[1]);
            g.backward(out);
            (g.value(out), [g.grad(a[0]), g.grad(a[1]), g.grad(a[2])])
        };
        for point in [[0.5, 2.0, -1.0], [0.5, -2.0, 0.3], [-1.2, 0.7, 0.1]] {
            let (_, grads) = f(point);
            for i in 0..3 {
                let h = 1e-6;
                let (mut p, mut m) = (point, point);
                p[i] += h;
                m[i] -= h;
                let numeric = (f(p).0 - f(m).0) / (2.0 * h);
                assert!((numeric - grads[i]).abs() < 1e-6, "{point:?} d/d{i}: {numeric} vs {}", grads[i]);
            }
        }
    }
}
