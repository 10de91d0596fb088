//! The engine's error type.

use thiserror::Error;

/// What can go wrong inside the engine. Every variant names the shapes or values involved,
/// so that the message alone tells the caller what to fix.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum Error {
    /// Two shapes that must agree do not.
    #[error("shape mismatch in {op}: {left} vs {right}")]
    Shape {
        /// The operation that checked the shapes.
        op: &'static str,
        /// The first shape, written `rows×cols`.
        left: String,
        /// The second shape, written `rows×cols`.
        right: String,
    },
    /// A buffer's length does not fit the shape it should hold.
    #[error("{what}: expected {expected} values, got {got}")]
    Length {
        /// What was being built.
        what: &'static str,
        /// The length the shape needs.
        expected: usize,
        /// The length that was given.
        got: usize,
    },
    /// A textual specification (an architecture such as `784-128-10`, an activation
    /// name, …) could not be parsed.
    #[error("invalid {what} `{input}`: {reason}")]
    Parse {
        /// What kind of specification it was.
        what: &'static str,
        /// The text as given.
        input: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A numeric setting is out of its valid range.
    #[error("invalid {name} = {value}: {reason}")]
    Invalid {
        /// The setting's name.
        name: &'static str,
        /// Its value, as text.
        value: String,
        /// The valid range.
        reason: String,
    },
}

/// Shorthand for results of the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Builds a [`Error::Shape`] from two `(rows, cols)` pairs.
pub(crate) fn shape_error(op: &'static str, left: (usize, usize), right: (usize, usize)) -> Error {
    Error::Shape { op, left: format!("{}×{}", left.0, left.1), right: format!("{}×{}", right.0, right.1) }
}
