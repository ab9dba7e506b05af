//! What may reach a terminal. Strings from the media, bundles, kubeconfigs and API servers are
//! shown through here by both binaries: a hostile file or server must not move the cursor,
//! retitle or recolour the terminal, hide text behind bidi overrides (Trojan Source) or flood
//! the screen; and credentials inside URLs are never shown.

use std::borrow::Cow;

/// Longest single value shown; the rest is replaced by `…`.
pub const MAX_SHOWN_CHARS: usize = 4096;

/// Shown in place of a control, bidi or invisible character, so the operator sees that
/// something was there.
pub const REPLACEMENT: char = '\u{fffd}';

/// Whether a terminal (or a text renderer) would act on `c` rather than show it: C0 and C1
/// controls, DEL, bidi embeddings, overrides, isolates and marks (U+061C, U+200E/F,
/// U+202A–U+202E, U+2066–U+2069), zero-width and invisible format characters, line and
/// paragraph separators, interlinear annotations and tag characters. Newline and tab are
/// controls too; callers that keep them say so.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{061c}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2069}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{e0000}'..='\u{e007f}')
}

/// One value for a terminal, newlines and tabs kept: escape sequences (CSI, OSC, DCS, …, in
/// their ESC and C1 forms) are dropped whole, every other unsafe character becomes
/// [`REPLACEMENT`], and the value is cut at [`MAX_SHOWN_CHARS`] characters with a visible `…`.
pub fn for_terminal(input: &str) -> String {
    clean(input, Some(MAX_SHOWN_CHARS), true)
}

/// Like [`for_terminal`], with newlines and tabs folded to spaces: for values shown inside one
/// line (names, reasons, table cells).
pub fn one_line(input: &str) -> String {
    clean(input, Some(MAX_SHOWN_CHARS), false)
}

/// A whole message the program composed (its values already passed through [`for_terminal`]
/// or [`one_line`]): cleaned the same way but not cut, so a long list of problems stays whole.
/// The last line of defence at the point where text is printed.
pub fn message(input: &str) -> String {
    clean(input, None, true)
}

fn clean(input: &str, cap: Option<usize>, keep_lines: bool) -> String {
    if !input.chars().any(is_unsafe) && cap.is_none_or(|cap| input.len() <= cap) {
        return input.to_owned();
    }
    let mut out = String::with_capacity(input.len().min(cap.unwrap_or(usize::MAX)));
    let mut chars = input.chars().peekable();
    let mut shown = 0usize;
    while let Some(c) = chars.next() {
        if cap.is_some_and(|cap| shown >= cap) {
            out.push('…');
            break;
        }
        match c {
            '\u{1b}' => skip_escape(&mut chars),
            // C1 CSI and string introducers act like ESC [ and ESC ] on some terminals.
            '\u{9b}' => skip_csi(&mut chars),
            '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            '\n' | '\t' if keep_lines => {
                out.push(c);
                shown += 1;
            }
            '\n' | '\t' => {
                out.push(' ');
                shown += 1;
            }
            c if is_unsafe(c) => {
                out.push(REPLACEMENT);
                shown += 1;
            }
            c => {
                out.push(c);
                shown += 1;
            }
        }
    }
    out
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

fn skip_escape(chars: &mut Chars<'_>) {
    match chars.next() {
        Some('[') => skip_csi(chars),
        Some(']' | 'P' | 'X' | '^' | '_') => skip_string(chars),
        // Charset selections and the like take one more character (ESC ( B).
        Some('(' | ')' | '*' | '+' | '#' | '%' | ' ') => {
            chars.next();
        }
        // Two-character sequences (ESC c, ESC 7, ESC M, …).
        _ => {}
    }
}

fn skip_csi(chars: &mut Chars<'_>) {
    // Parameter and intermediate bytes are 0x20..=0x3f; the final byte is 0x40..=0x7e.
    for c in chars.by_ref() {
        if !('\u{20}'..='\u{3f}').contains(&c) {
            break;
        }
    }
}

fn skip_string(chars: &mut Chars<'_>) {
    // OSC, DCS, SOS, PM and APC strings end with BEL, ST (ESC \) or C1 ST.
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

/// Serialized JSON made safe to print: every unsafe character that `serde_json` leaves raw
/// (DEL, C1, bidi, invisible; it escapes only C0) becomes a `\uXXXX` escape. Outside strings
/// JSON is ASCII, so this changes no value: a reader gets exactly the same data.
pub fn json_safe(json: &str) -> Cow<'_, str> {
    if !json.chars().any(|c| is_unsafe(c) && c != '\n') {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        // serde_json's pretty printer puts newlines between tokens; inside strings it has
        // already escaped them.
        if is_unsafe(c) && c != '\n' {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A URL without its credentials: `https://user:pass@host/p` becomes `https://***@host/p`.
/// Whatever precedes the last `@` is taken for user info, so a password holding `/`, `#` or
/// `@` is hidden too (an `@` in a path hides more than needed, never less); a URL without a
/// scheme is handled the same way. For every message, warning, JSON field and file that shows a server or proxy URL.
pub fn redact_url(url: &str) -> Cow<'_, str> {
    let start = url.find("://").map_or(0, |i| i + 3);
    let Some(at) = url[start..].rfind('@') else {
        return Cow::Borrowed(url);
    };
    Cow::Owned(format!("{}***{}", &url[..start], &url[start + at..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_csi_colour_and_cursor_sequences() {
        assert_eq!(for_terminal("\u{1b}[31mred\u{1b}[0m ok"), "red ok");
        assert_eq!(for_terminal("a\u{1b}[2J\u{1b}[1;1Hb"), "ab");
        assert_eq!(for_terminal("x\u{9b}31my"), "xy");
        assert_eq!(for_terminal("a\u{1b}(Bb\u{1b}7c"), "abc");
    }

    #[test]
    fn drops_osc_title_and_hyperlinks() {
        assert_eq!(for_terminal("\u{1b}]0;pwned\u{7}text"), "text");
        assert_eq!(
            for_terminal("\u{1b}]8;;http://evil\u{1b}\\click\u{1b}]8;;\u{1b}\\"),
            "click"
        );
        assert_eq!(for_terminal("a\u{9d}0;title\u{9c}b"), "ab");
    }

    #[test]
    fn marks_control_bidi_and_invisible_characters_keeps_newline_and_unicode() {
        let r = REPLACEMENT;
        assert_eq!(
            for_terminal("a\rb\u{8}c\u{0}d\u{7f}"),
            format!("a{r}b{r}c{r}d{r}")
        );
        assert_eq!(for_terminal("line1\nline2\tend"), "line1\nline2\tend");
        for bidi in [
            '\u{202a}',
            '\u{202b}',
            '\u{202c}',
            '\u{202d}',
            '\u{202e}',
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}',
            '\u{200e}',
            '\u{200f}',
            '\u{061c}',
            '\u{200b}',
            '\u{feff}',
            '\u{2028}',
            '\u{e0041}',
            '\u{85}',
        ] {
            assert_eq!(
                for_terminal(&format!("ab{bidi}c")),
                format!("ab{r}c"),
                "{bidi:?}"
            );
            assert!(is_unsafe(bidi), "{bidi:?}");
        }
        assert_eq!(for_terminal("grüße 東京 ﷺ"), "grüße 東京 ﷺ");
    }

    #[test]
    fn one_line_folds_newlines_and_message_keeps_length() {
        assert_eq!(one_line("a\nb\tc"), "a b c");
        let long = format!("{}\u{1b}[2J", "x".repeat(MAX_SHOWN_CHARS * 3));
        assert_eq!(message(&long), "x".repeat(MAX_SHOWN_CHARS * 3));
    }

    #[test]
    fn caps_length_with_a_visible_ellipsis() {
        let long = "x".repeat(MAX_SHOWN_CHARS + 10);
        let shown = for_terminal(&long);
        assert_eq!(shown.chars().count(), MAX_SHOWN_CHARS + 1);
        assert!(shown.ends_with('…'));
        assert_eq!(
            for_terminal(&"x".repeat(MAX_SHOWN_CHARS)).chars().count(),
            MAX_SHOWN_CHARS
        );
    }

    #[test]
    fn unterminated_sequences_do_not_loop() {
        assert_eq!(for_terminal("a\u{1b}"), "a");
        assert_eq!(for_terminal("a\u{1b}[12"), "a");
        assert_eq!(for_terminal("a\u{1b}]title"), "a");
    }

    #[test]
    fn json_keeps_the_value_and_escapes_what_a_terminal_acts_on() {
        let value = serde_json::json!({"name": "a\u{202e}b\u{9b}c\u{7f}d\u{e0041}\u{1b}]0;x\u{7}", "ok": "東京"});
        let text = serde_json::to_string_pretty(&value).unwrap();
        let safe = json_safe(&text);
        assert!(!safe.chars().any(|c| is_unsafe(c) && c != '\n'), "{safe}");
        assert!(
            safe.contains("\\u202e") && safe.contains("\\udb40\\udc41"),
            "{safe}"
        );
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, value);
        assert!(matches!(json_safe("{\n  \"a\": 1\n}"), Cow::Borrowed(_)));
    }

    #[test]
    fn urls_lose_their_credentials() {
        for (url, shown) in [
            ("http://u:pw@proxy:3128", "http://***@proxy:3128"),
            (
                "https://user:p@ss/w#rd@host:6443/prefix",
                "https://***@host:6443/prefix",
            ),
            ("user:secret@10.0.0.1:6443", "***@10.0.0.1:6443"),
            ("http://proxy:3128", "http://proxy:3128"),
            ("https://host:6443/a", "https://host:6443/a"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }
}
