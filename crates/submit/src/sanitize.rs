//! Strings from the server (Status messages, names, reasons) pass through here before they
//! reach a terminal: a hostile or broken server must not be able to move the cursor, recolour
//! the screen or hide text with escape sequences.

/// Longest server string shown; the rest is replaced by `…`.
pub const MAX_SHOWN_CHARS: usize = 4096;

/// Removes ANSI escape sequences (CSI, OSC, other ESC sequences) and control characters other
/// than newline and tab; replaces other control characters, bidi overrides and the like by
/// nothing; caps the length at [`MAX_SHOWN_CHARS`] characters.
pub fn for_terminal(input: &str) -> String {
    let mut out = String::with_capacity(input.len().min(MAX_SHOWN_CHARS));
    let mut chars = input.chars().peekable();
    let mut shown = 0usize;
    while let Some(c) = chars.next() {
        if shown >= MAX_SHOWN_CHARS {
            out.push('…');
            break;
        }
        match c {
            '\u{1b}' => skip_escape(&mut chars),
            // C1 CSI/OSC introducers behave like ESC [ and ESC ] on some terminals.
            '\u{9b}' => skip_csi(&mut chars),
            '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            '\n' | '\t' => {
                out.push(c);
                shown += 1;
            }
            c if c.is_control() || is_invisible_format(c) => {}
            c => {
                out.push(c);
                shown += 1;
            }
        }
    }
    out
}

/// Like [`for_terminal`], and also folds newlines and tabs to spaces: for values shown inside
/// one line (names, reasons, table cells).
pub fn one_line(input: &str) -> String {
    for_terminal(input).replace(['\n', '\t'], " ")
}

fn is_invisible_format(c: char) -> bool {
    // Bidi controls (Trojan Source), zero-width characters, BOM.
    matches!(c,
        '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

fn skip_escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match chars.next() {
        Some('[') => skip_csi(chars),
        Some(']' | 'P' | 'X' | '^' | '_') => skip_string(chars),
        // Two-character sequences (ESC c, ESC 7, …) and charset selections (ESC ( B).
        Some('(' | ')' | '*' | '+' | '#' | '%') => {
            chars.next();
        }
        _ => {}
    }
}

fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    // Parameters and intermediates are 0x20..=0x3f; the final byte is 0x40..=0x7e.
    for c in chars.by_ref() {
        if ('\u{40}'..='\u{7e}').contains(&c) || !('\u{20}'..='\u{3f}').contains(&c) {
            break;
        }
    }
}

fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    // OSC/DCS/… strings end with BEL, ST (ESC \) or C1 ST.
    while let Some(c) = chars.next() {
        match c {
            '\u{7}' | '\u{9c}' => break,
            '\u{1b}' => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                break;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_csi_colour_and_cursor_sequences() {
        assert_eq!(for_terminal("\u{1b}[31mred\u{1b}[0m ok"), "red ok");
        assert_eq!(for_terminal("a\u{1b}[2J\u{1b}[1;1Hb"), "ab");
        assert_eq!(for_terminal("x\u{9b}31my"), "xy");
    }

    #[test]
    fn strips_osc_title_and_hyperlinks() {
        assert_eq!(for_terminal("\u{1b}]0;pwned\u{7}text"), "text");
        assert_eq!(
            for_terminal("\u{1b}]8;;http://evil\u{1b}\\click\u{1b}]8;;\u{1b}\\"),
            "click"
        );
    }

    #[test]
    fn removes_control_and_bidi_characters_keeps_newline_and_unicode() {
        assert_eq!(for_terminal("a\rb\u{8}c\u{0}d"), "abcd");
        assert_eq!(for_terminal("line1\nline2\tend"), "line1\nline2\tend");
        assert_eq!(for_terminal("abc\u{202e}def\u{200b}"), "abcdef");
        assert_eq!(for_terminal("grüße 東京"), "grüße 東京");
    }

    #[test]
    fn one_line_folds_newlines() {
        assert_eq!(one_line("a\nb\tc"), "a b c");
    }

    #[test]
    fn caps_length() {
        let long = "x".repeat(MAX_SHOWN_CHARS + 10);
        let shown = for_terminal(&long);
        assert_eq!(shown.chars().count(), MAX_SHOWN_CHARS + 1);
        assert!(shown.ends_with('…'));
    }

    #[test]
    fn unterminated_sequences_do_not_loop() {
        assert_eq!(for_terminal("a\u{1b}"), "a");
        assert_eq!(for_terminal("a\u{1b}[12"), "a");
        assert_eq!(for_terminal("a\u{1b}]title"), "a");
    }
}
