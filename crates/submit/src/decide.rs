//! The approver's decision on each request, asked on a terminal after that request's review:
//! approve, deny or skip (`--yes` approves everything without asking). Skipping is the default,
//! so an empty answer or a closed terminal approves nothing.

use std::io::{self, BufRead, Write};

use crate::sanitize::one_line;

/// What the approver decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Approve it (and create its bindings; or carry out the offboarding).
    Approve,
    /// Deny it.
    Deny,
    /// Leave it as it is.
    Skip,
}

/// What is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// A pending request, with the number of bindings that follow its approval.
    Approve {
        /// Bindings created after the approval.
        bindings: usize,
    },
    /// An approved request whose bindings do not all exist yet.
    Bindings {
        /// Bindings still to create.
        bindings: usize,
    },
    /// An offboarding request, with the number of bindings it deletes.
    Offboard {
        /// Bindings deleted.
        deletes: usize,
    },
}

impl Offer {
    fn question(self, label: &str) -> String {
        let label = one_line(label);
        match self {
            Self::Approve { bindings: 0 } => {
                format!("Approve {label}? [a]pprove, [d]eny, [s]kip (default), [q]uit: ")
            }
            Self::Approve { bindings } => format!(
                "Approve {label} and create {bindings} binding(s)? [a]pprove, [d]eny, [s]kip (default), [q]uit: "
            ),
            Self::Bindings { bindings } => format!(
                "{label} is approved already: create its {bindings} missing binding(s)? [a]pprove, [s]kip (default), [q]uit: "
            ),
            Self::Offboard { deletes } => format!(
                "Offboard {label}: delete {deletes} binding(s)? [a]pprove, [s]kip (default), [q]uit: "
            ),
        }
    }

    fn can_deny(self) -> bool {
        matches!(self, Self::Approve { .. })
    }
}

/// Asks on `input`, prompting on stderr; after `q` (or the end of input) everything left is
/// skipped without asking.
#[derive(Debug)]
pub struct Asker<R> {
    input: R,
    done: bool,
}

impl<R: BufRead> Asker<R> {
    /// Asks on `input`.
    pub fn new(input: R) -> Self {
        Self { input, done: false }
    }

    /// The decision for `label`.
    pub fn ask(&mut self, label: &str, offer: Offer) -> io::Result<Decision> {
        for _ in 0..3 {
            if self.done {
                return Ok(Decision::Skip);
            }
            eprint!("{}", offer.question(label));
            let _ = io::stderr().flush();
            let mut line = String::new();
            if self.input.read_line(&mut line)? == 0 {
                self.done = true;
                eprintln!();
                return Ok(Decision::Skip);
            }
            match answer(&line, offer.can_deny()) {
                Some(Answer::Decide(d)) => return Ok(d),
                Some(Answer::Quit) => {
                    self.done = true;
                    return Ok(Decision::Skip);
                }
                None => eprintln!("answer a (approve), s (skip) or q (quit)"),
            }
        }
        Ok(Decision::Skip)
    }
}

enum Answer {
    Decide(Decision),
    Quit,
}

fn answer(line: &str, can_deny: bool) -> Option<Answer> {
    Some(match line.trim().to_ascii_lowercase().as_str() {
        "a" | "approve" | "y" | "yes" => Answer::Decide(Decision::Approve),
        "d" | "deny" if can_deny => Answer::Decide(Decision::Deny),
        "" | "s" | "skip" | "n" | "no" => Answer::Decide(Decision::Skip),
        "q" | "quit" => Answer::Quit,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_and_the_default_skip() {
        let input = "a\nd\n\nwhat\ns\ny\nq\n";
        let mut asker = Asker::new(input.as_bytes());
        let pending = Offer::Approve { bindings: 1 };
        let mut got = Vec::new();
        for _ in 0..6 {
            got.push(asker.ask("x", pending).unwrap());
        }
        use Decision::{Approve, Deny, Skip};
        // "what" is asked again and answered "s".
        assert_eq!(got, [Approve, Deny, Skip, Skip, Approve, Skip]);
        // After q, and at the end of input, everything is skipped.
        assert_eq!(asker.ask("x", pending).unwrap(), Skip);
        let mut asker = Asker::new("d\nd\nd\n".as_bytes());
        // Deny is not offered for bindings only: asked three times, then skipped.
        assert_eq!(
            asker.ask("x", Offer::Bindings { bindings: 1 }).unwrap(),
            Skip
        );
        assert!(
            Offer::Offboard { deletes: 2 }
                .question("bob")
                .contains("delete 2 binding(s)")
        );
    }
}
