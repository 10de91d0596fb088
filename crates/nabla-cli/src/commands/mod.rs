//! One module per subcommand, plus the flag value parsers they share.

pub mod bench;
pub mod data;
pub mod eval;
pub mod fit;
pub mod grad;
pub mod landscape;
mod landscape_compare;
mod landscape_trajectory;
pub mod parse;
pub mod perceptron;
pub mod plot;
pub mod predict;
pub mod quantize;
pub mod report;
pub mod runs;
pub mod server;
pub mod sweep;
pub mod tracking;
pub mod train;
pub mod ui;
pub mod xor;

/// An error and its causes as one line, joined by `: `. A cause whose text the line already
/// ends with is left out: many errors print their source in their own message (an OS error
/// wrapped by `std::io::Error::new` and the like), and it should be read once.
pub fn one_line(err: &(dyn std::error::Error + 'static)) -> String {
    let mut line = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !line.ends_with(&text) {
            line = format!("{line}: {text}");
        }
        source = cause.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrapper(std::io::Error);

    impl std::fmt::Display for Wrapper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{}", self.0)
        }
    }

    impl std::error::Error for Wrapper {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    // Regression (issue 21): "Address already in use (os error 98): Address already in use
    // (os error 98)".
    #[test]
    fn a_cause_already_in_the_message_is_printed_once() {
        let os = || std::io::Error::from(std::io::ErrorKind::AddrInUse);
        let e = anyhow::Error::new(Wrapper(os())).context("cannot listen on 127.0.0.1:8080");
        let line = one_line(e.as_ref());
        assert_eq!(line, format!("cannot listen on 127.0.0.1:8080: {}", os()));
        let plain = anyhow::anyhow!("inner").context("outer");
        assert_eq!(one_line(plain.as_ref()), "outer: inner");
    }
}
