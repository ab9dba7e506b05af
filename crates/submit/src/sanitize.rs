//! Strings from the server (Status messages, names, reasons) pass through the one sanitizer both
//! binaries share, `kcsr_core::terminal`, before they reach a terminal.

pub use kcsr_core::terminal::{MAX_SHOWN_CHARS, for_terminal, one_line};
