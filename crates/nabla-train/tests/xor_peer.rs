//! The statistical check of the whole training loop: over seeds 0..999, the share of XOR nets
//! that nabla solves must agree with the numpy peer's (../shared/peers/peer_xor.py, the same
//! net, initialisation and update order; figures from its reference run,
//! ../shared/peers/results/latest.json) within ±3.5 points, for both output activations and
//! 100, 1,000 and 10,000 epochs.

use nabla::Activation;
use nabla_train::xor::{success_rate, XorConfig};

/// `(output activation, epochs, the peer's success rate)`.
const PEER: [(Activation, u64, f64); 6] = [
    (Activation::Tanh, 100, 0.006),
    (Activation::Tanh, 1_000, 0.852),
    (Activation::Tanh, 10_000, 0.906),
    (Activation::Sigmoid, 100, 0.0),
    (Activation::Sigmoid, 1_000, 0.418),
    (Activation::Sigmoid, 10_000, 0.801),
];

#[test]
fn success_rates_agree_with_the_numpy_peer() {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut report = Vec::new();
    for (output, epochs, peer) in PEER {
        let config = XorConfig { epochs, output_activation: output, ..XorConfig::default() };
        let ours = success_rate(&config, 0, 1000, threads).rate();
        report.push(format!("{output} output, {epochs} epochs: nabla {:.1}%, peer {:.1}%", 100.0 * ours, 100.0 * peer));
        assert!((ours - peer).abs() <= 0.035, "{}", report.join("\n"));
    }
}
