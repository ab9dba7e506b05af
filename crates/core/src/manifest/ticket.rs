//! The change ticket and the operator's name: free text a manifest carries in annotations
//! (decision 0010), so held to what an approver can read safely.

use std::fmt;

/// Longest ticket or operator name carried in an annotation.
pub const MAX_TICKET_CHARS: usize = 128;

/// A change ticket (`--ticket`, roster column `ticket`; decision 0010): 1–128 characters, none
/// a control, bidi or invisible character (they would hide what an approver reads), no
/// surrounding spaces.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ticket(String);

impl Ticket {
    /// The ticket as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a ticket or operator name is refused.
fn annotation_text(what: &str, s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if s.chars().count() > MAX_TICKET_CHARS {
        return Err(format!(
            "{what} {:?} is longer than {MAX_TICKET_CHARS} characters",
            crate::terminal::one_line(s)
        ));
    }
    if let Some(c) = s.chars().find(|c| crate::terminal::is_unsafe(*c)) {
        return Err(format!(
            "{what} {:?} holds the control or invisible character U+{:04X}",
            crate::terminal::one_line(s),
            u32::from(c)
        ));
    }
    if s.trim() != s {
        return Err(format!("{what} {s:?} starts or ends with a space"));
    }
    Ok(s.to_owned())
}

impl std::str::FromStr for Ticket {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        annotation_text("ticket", s).map(Self)
    }
}

impl fmt::Display for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who ran kcsr on the station (`kcsr.dev/operator`; decision 0010).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Operator(String);

impl Operator {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A login name as the environment gives it (`$LOGNAME`, `$USER`), made fit for an
    /// annotation: control, bidi and invisible characters dropped, spaces trimmed, cut to
    /// [`MAX_TICKET_CHARS`]. `None` when nothing is left.
    pub fn sanitized(login: &str) -> Option<Self> {
        let kept: String = login
            .chars()
            .filter(|c| !crate::terminal::is_unsafe(*c))
            .collect();
        let kept: String = kept.trim().chars().take(MAX_TICKET_CHARS).collect();
        let kept = kept.trim_end();
        (!kept.is_empty()).then(|| Self(kept.to_owned()))
    }

    /// `uid=N` (as `id` prints it), for a process whose environment names no login.
    pub fn uid(uid: u32) -> Self {
        Self(format!("uid={uid}"))
    }
}

impl std::str::FromStr for Operator {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        annotation_text("operator name", s).map(Self)
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::{Operator, Ticket};

    #[test]
    fn tickets_are_short_printable_text_and_login_names_are_cleaned() {
        for ok in ["CHG-1234", "INC 42 / team a", "ü-ticket"] {
            assert_eq!(ok.parse::<Ticket>().unwrap().as_str(), ok);
        }
        let long = "x".repeat(129);
        for bad in [
            "",
            " CHG",
            "CHG\n1",
            "CHG\u{202e}1",
            "a\u{200b}b",
            long.as_str(),
        ] {
            assert!(bad.parse::<Ticket>().is_err(), "{bad:?}");
        }
        assert_eq!(
            Operator::sanitized(" ali\u{1b}[31mce\u{202e} ")
                .unwrap()
                .as_str(),
            "ali[31mce"
        );
        assert_eq!(Operator::sanitized("\u{200b} "), None);
        assert!("ops\tadmin".parse::<Operator>().is_err());
    }
}
