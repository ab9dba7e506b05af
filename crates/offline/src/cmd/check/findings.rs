//! What `kcsr check` found: problems fail the audit (exit 3), warnings do not.

/// What the audit found: problems fail it (exit 3), warnings do not.
#[derive(Default)]
pub(super) struct Findings {
    pub(super) problems: Vec<String>,
    pub(super) warnings: Vec<String>,
}

impl Findings {
    pub(super) fn problem(&mut self, p: impl Into<String>) {
        self.problems.push(p.into());
    }
    pub(super) fn warn(&mut self, w: impl Into<String>) {
        self.warnings.push(w.into());
    }
}
