//! The exit status both binaries end with: one list of codes, one precedence rule, so that a
//! script reads `kcsr` and `kcsr-submit` the same way (documented in each `--help` and in
//! docs/formats.md).

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: done.
    Success,
    /// 1: failed (bad input, I/O, network, permissions).
    Failed,
    /// 2: a usage error (clap's own code).
    Usage,
    /// 3: refused: a check or verification did not hold.
    Refused,
    /// 4: not complete yet: what could be done is done and kept, the rest is named.
    Incomplete,
}

impl Exit {
    /// The process exit code.
    pub const fn code(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::Failed => 1,
            Self::Usage => 2,
            Self::Refused => 3,
            Self::Incomplete => 4,
        }
    }

    /// How much an outcome weighs when several requests end differently: a refusal is what an
    /// operator must see first, then a failure, then what is only not finished.
    const fn weight(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::Incomplete => 1,
            Self::Failed => 2,
            Self::Usage => 3,
            Self::Refused => 4,
        }
    }

    /// The exit of several outcomes: 3 wins over 1, 1 over 4, anything over 0.
    pub fn worst(outcomes: impl IntoIterator<Item = Self>) -> Self {
        outcomes
            .into_iter()
            .max_by_key(|e| e.weight())
            .unwrap_or(Self::Success)
    }
}

#[cfg(test)]
mod tests {
    use super::Exit;

    #[test]
    fn refused_wins_over_failed_and_failed_over_incomplete() {
        use Exit::{Failed, Incomplete, Refused, Success};
        assert_eq!(Exit::worst([]), Success);
        assert_eq!(Exit::worst([Success, Incomplete]), Incomplete);
        assert_eq!(Exit::worst([Incomplete, Failed, Incomplete]), Failed);
        assert_eq!(Exit::worst([Failed, Refused, Incomplete]), Refused);
        assert_eq!(
            [Success, Failed, Exit::Usage, Refused, Incomplete].map(Exit::code),
            [0, 1, 2, 3, 4]
        );
    }
}
