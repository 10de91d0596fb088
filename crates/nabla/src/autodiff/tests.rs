use super::*;

/// The lecture's circuit f(x, y, z, w) = x·y + max(z, w), built by hand.
fn lecture(x: f64, y: f64, z: f64, w: f64) -> (f64, [f64; 4], [Value; 3]) {
    let (vx, vy, vz, vw) = (Value::named("x", x), Value::named("y", y), Value::named("z", z), Value::named("w", w));
    let xy = vx.mul(&vy);
    let m = vz.max(&vw);
    let f = xy.add(&m);
    f.backward();
    (f.data(), [vx.grad(), vy.grad(), vz.grad(), vw.grad()], [xy, m, f])
}

/// The lecture's worked example: x = 3, y = −4, z = 2, w = −1 gives f = −10 and
/// ∂f/∂x = y = −4, ∂f/∂y = x = 3, ∂f/∂z = 1 (z won the max), ∂f/∂w = 0.
#[test]
fn lecture_example_partial_derivatives() {
    let (f, grads, [xy, m, out]) = lecture(3.0, -4.0, 2.0, -1.0);
    assert_eq!(f, -10.0);
    assert_eq!(grads, [-4.0, 3.0, 1.0, 0.0]);
    // add distributes: both branches get dout = 1.
    assert_eq!((xy.grad(), m.grad(), out.grad()), (1.0, 1.0, 1.0));
}

/// Further points, worked by hand: mul switches, max routes to the larger input.
#[test]
fn lecture_function_at_several_points() {
    let cases = [
        // (x, y, z, w) -> (f, [∂x, ∂y, ∂z, ∂w]); in the first, w wins the max: f = 3·(−2) + 4.
        ([3.0, -2.0, 1.0, 4.0], (-2.0, [-2.0, 3.0, 0.0, 1.0])),
        ([0.5, 4.0, -3.0, -7.0], (-1.0, [4.0, 0.5, 1.0, 0.0])),
        ([-1.5, 2.0, 0.0, 0.25], (-2.75, [2.0, -1.5, 0.0, 1.0])),
        ([0.0, 0.0, 5.0, 6.0], (6.0, [0.0, 0.0, 0.0, 1.0])),
    ];
    for (p, (f, grads)) in cases {
        let (got_f, got_grads, _) = lecture(p[0], p[1], p[2], p[3]);
        assert_eq!(got_f, f, "f at {p:?}");
        assert_eq!(got_grads, grads, "gradients at {p:?}");
    }
}

/// A tie in max follows the lecture's rule: z ≥ w routes the gradient to z, the first argument.
#[test]
fn max_tie_routes_to_the_first_argument() {
    let (f, grads, _) = lecture(2.0, 3.0, 1.5, 1.5);
    assert_eq!(f, 7.5);
    assert_eq!(grads, [3.0, 2.0, 1.0, 0.0]);
    // With the arguments swapped the first one still wins: the rule is positional.
    let (a, b) = (Value::new(1.0), Value::new(1.0));
    let m = b.max(&a);
    m.backward();
    assert_eq!((b.grad(), a.grad()), (1.0, 0.0));
    // min ties go to the first argument too.
    let m = a.min(&b);
    m.backward();
    assert_eq!((a.grad(), b.grad()), (1.0, 0.0));
}

/// A value used twice collects gradient from both uses: d(x·x + x)/dx = 2x + 1.
#[test]
fn gradients_accumulate_over_paths() {
    let x = Value::new(1.5);
    let f = &(&x * &x) + &x;
    f.backward();
    assert_eq!(f.data(), 3.75);
    assert_eq!(x.grad(), 4.0);
    // A second backward pass resets instead of adding to the first.
    f.backward();
    assert_eq!(x.grad(), 4.0);
}

/// Central differences of `f` at `point`, in f64.
fn numeric_gradient(f: &dyn Fn(&[Value]) -> Value, point: &[f64]) -> Vec<f64> {
    let h = 1e-6;
    (0..point.len())
        .map(|i| {
            let eval = |delta: f64| {
                let vals: Vec<Value> =
                    point.iter().enumerate().map(|(j, &p)| Value::new(if j == i { p + delta } else { p })).collect();
                f(&vals).data()
            };
            (eval(h) - eval(-h)) / (2.0 * h)
        })
        .collect()
}

/// Whether `analytic` matches central differences of `f` at `point` to a relative 1e-6.
fn gradient_matches(f: &dyn Fn(&[Value]) -> Value, point: &[f64], analytic: &[f64]) -> Result<(), String> {
    let numeric = numeric_gradient(f, point);
    for (i, (n, a)) in numeric.iter().zip(analytic).enumerate() {
        let scale = n.abs().max(a.abs()).max(1.0);
        if (n - a).abs() > 1e-6 * scale {
            return Err(format!("input {i} at {point:?}: numeric {n}, analytic {a}"));
        }
    }
    Ok(())
}

fn analytic_gradient(f: &dyn Fn(&[Value]) -> Value, point: &[f64]) -> Vec<f64> {
    let vals: Vec<Value> = point.iter().map(|&p| Value::new(p)).collect();
    f(&vals).backward();
    vals.iter().map(Value::grad).collect()
}

/// Every op's backward rule against finite differences, at points away from kinks.
#[test]
fn every_op_matches_finite_differences() {
    type Case = (&'static str, Box<dyn Fn(&[Value]) -> Value>, Vec<[f64; 2]>);
    let cases: Vec<Case> = vec![
        ("add", Box::new(|v| v[0].add(&v[1])), vec![[0.3, -1.7]]),
        ("sub", Box::new(|v| v[0].sub(&v[1])), vec![[0.3, -1.7]]),
        ("mul", Box::new(|v| v[0].mul(&v[1])), vec![[0.3, -1.7], [-2.0, 0.5]]),
        ("div", Box::new(|v| v[0].div(&v[1])), vec![[0.3, -1.7], [2.0, 0.5]]),
        ("pow", Box::new(|v| v[0].pow(&v[1])), vec![[1.3, -1.7], [2.0, 0.5], [0.7, 3.0]]),
        ("neg", Box::new(|v| v[0].neg().mul(&v[1])), vec![[0.3, -1.7]]),
        ("exp", Box::new(|v| v[0].exp().mul(&v[1])), vec![[0.3, -1.7], [-3.0, 2.0]]),
        ("log", Box::new(|v| v[0].log().mul(&v[1])), vec![[0.3, -1.7], [4.0, 2.0]]),
        ("tanh", Box::new(|v| v[0].tanh().mul(&v[1])), vec![[0.3, -1.7], [-2.0, 0.5]]),
        ("sigmoid", Box::new(|v| v[0].sigmoid().mul(&v[1])), vec![[0.3, -1.7], [-4.0, 0.5], [4.0, 1.0]]),
        ("relu", Box::new(|v| v[0].relu().mul(&v[1])), vec![[0.3, -1.7], [-2.0, 0.5]]),
        ("max", Box::new(|v| v[0].max(&v[1])), vec![[0.3, -1.7], [-2.0, 0.5]]),
        ("min", Box::new(|v| v[0].min(&v[1])), vec![[0.3, -1.7], [-2.0, 0.5]]),
        ("sum", Box::new(|v| Value::sum(&[v[0].clone(), v[1].clone(), v[0].clone()])), vec![[0.3, -1.7]]),
        (
            "composite",
            Box::new(|v| v[0].mul(&v[1]).tanh().add(&v[0].exp().div(&v[1])).sub(&v[1].powf(2.0).sigmoid())),
            vec![[0.3, -1.7], [-0.4, 0.9]],
        ),
    ];
    for (name, f, points) in &cases {
        for p in points {
            let analytic = analytic_gradient(f.as_ref(), p);
            if let Err(e) = gradient_matches(f.as_ref(), p, &analytic) {
                panic!("{name}: {e}");
            }
        }
    }
}

/// The checker is not blind: a gradient 1 % off fails it.
#[test]
fn gradient_check_rejects_a_gradient_scaled_by_1_01() {
    let f = |v: &[Value]| v[0].mul(&v[1]).tanh().add(&v[0].exp());
    let p = [0.3, -1.7];
    let analytic = analytic_gradient(&f, &p);
    assert!(gradient_matches(&f, &p, &analytic).is_ok());
    let scaled: Vec<f64> = analytic.iter().map(|g| g * 1.01).collect();
    assert!(gradient_matches(&f, &p, &scaled).is_err());
}

/// Hand-worked local rules: d(a/b)/db = −a/b², d(a^b)/db = a^b ln a, σ' = σ(1 − σ).
#[test]
fn hand_worked_local_derivatives() {
    let (a, b) = (Value::new(3.0), Value::new(2.0));
    let q = a.div(&b);
    q.backward();
    assert_eq!((q.data(), a.grad(), b.grad()), (1.5, 0.5, -0.75));
    let p = b.pow(&a);
    p.backward();
    assert_eq!(p.data(), 8.0);
    assert_eq!(b.grad(), 12.0);
    assert!((a.grad() - 8.0 * 2f64.ln()).abs() < 1e-12);
    let z = Value::new(0.0);
    let s = z.sigmoid();
    s.backward();
    assert_eq!((s.data(), z.grad()), (0.5, 0.25));
    let r = z.relu();
    r.backward();
    assert_eq!(z.grad(), 0.0, "relu'(0) is taken as 0, as in the matrix engine");
}

/// A deep chain backpropagates without overflowing the stack, and the topological order
/// lists each node once, after its inputs.
#[test]
fn deep_graphs_and_topological_order() {
    let x = Value::new(1.0);
    let mut v = x.clone();
    for _ in 0..100_000 {
        v = v.add(&x);
    }
    v.backward();
    assert_eq!(v.data(), 100_001.0);
    assert_eq!(x.grad(), 100_001.0);
    let order = v.topological_order();
    assert_eq!(order.len(), 100_001);
    assert!(order[0].same(&x) && order.last().unwrap().same(&v));
    // Dropping the chain (Node's Drop unlinks iteratively) must not overflow the stack.
    drop(order);
    drop(v);
    assert_eq!(x.data(), 1.0);
}
