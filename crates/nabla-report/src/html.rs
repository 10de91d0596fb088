//! The pieces of a self-contained HTML page: escaping, inlined images, tables and the
//! expected / observed / explanation sections under a plot.

use std::fmt::Write as _;

/// Escapes text for HTML.
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Standard base64 (for inlined images).
pub(crate) fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// An SVG picture inlined as a data URL.
pub(crate) fn image(svg: &str, alt: &str) -> String {
    format!("<img alt=\"{}\" src=\"data:image/svg+xml;base64,{}\">\n", esc(alt), base64(svg.as_bytes()))
}

/// The three sections under a plot: two headings for the student, one filled with facts.
pub(crate) fn sections(observed: &[String]) -> String {
    let mut s = String::from(
        "<h3>Expected</h3>\n<p class=\"todo\">Before looking at the plot: what did you expect, and why?</p>\n<h3>Observed</h3>\n<ul>\n",
    );
    for fact in observed {
        let _ = writeln!(s, "<li>{}</li>", esc(fact));
    }
    s.push_str(
        "</ul>\n<h3>Explanation</h3>\n<p class=\"todo\">How do you explain what you observed? Where did it differ from what you expected?</p>\n",
    );
    s
}

/// The whole page around `body`.
pub(crate) fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{t}</title>\n<style>\n\
         body {{ font-family: sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.4; }}\n\
         table {{ border-collapse: collapse; margin: 1em 0; }} td, th {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }}\n\
         th {{ background: #f3f3f3; }}\n\
         img {{ max-width: 100%; border: 1px solid #eee; }} code {{ background: #f5f5f5; padding: 0 0.2em; overflow-wrap: anywhere; }}\n\
         .todo {{ color: #888; font-style: italic; border-left: 3px solid #ddd; padding-left: 0.6em; }}\n\
         .diverged {{ color: #b00; }}\n</style>\n</head>\n<body>\n<h1>{t}</h1>\n{body}</body>\n</html>\n",
        t = esc(title)
    )
}

/// A table; a row with a `diverged` cell is marked.
pub(crate) fn table(header: &[String], rows: &[Vec<String>]) -> String {
    let mut s = String::from("<table>\n<tr>");
    for h in header {
        let _ = write!(s, "<th>{}</th>", esc(h));
    }
    s.push_str("</tr>\n");
    for row in rows {
        let class = if row.iter().any(|c| c == "diverged") { " class=\"diverged\"" } else { "" };
        let _ = write!(s, "<tr{class}>");
        for c in row {
            let _ = write!(s, "<td>{}</td>", esc(c));
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</table>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(esc("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
        let t = table(&["<k>".into()], &[vec!["<script>".into()], vec!["diverged".into()]]);
        assert!(t.contains("<th>&lt;k&gt;</th>") && t.contains("<td>&lt;script&gt;</td>"), "{t}");
        assert!(t.contains("<tr class=\"diverged\">"), "{t}");
    }
}
