//! (filled in by the teaching-tools work, issue 9)
