//! What `kcsr batch` did and says: the tally of users, the progress line on a terminal, the plan or key table, each
//! user's warnings, the summary line and the error naming every user that failed.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::cli::BatchArgs;
use crate::fail::{Fail, Result};
use crate::plan::{self, KeySource, Stamp};
use crate::report;
use crate::roster::Row;

/// One user's request as the operator and a second person check it: the plan, and the
/// public key to compare with what the approver's review shows.
pub(super) struct UserReport {
    pub(super) name: String,
    pub(super) public_key_sha256: String,
    pub(super) key_source: KeySource,
    /// Warning-level findings of the cluster's checks (e.g. a capped lifetime).
    pub(super) warnings: Vec<kcsr_core::checks::Finding>,
}

/// What the run has done so far, user by user.
pub(super) struct Tally {
    pub(super) counts: Counts,
    /// (roster line, user, why), for each user that failed.
    pub(super) failures: Vec<(usize, String, String)>,
    /// Each row's state and report, in roster order; `None`: failed.
    pub(super) reports: Vec<Option<(&'static str, Box<UserReport>)>>,
    /// Users completed since `SHA256SUMS` was last saved.
    pub(super) since_save: usize,
}

#[derive(Default)]
pub(super) struct Counts {
    pub(super) written: usize,
    pub(super) unchanged: usize,
    pub(super) planned: usize,
    pub(super) failed: usize,
}

impl Counts {
    pub(super) fn total(&self) -> usize {
        self.written + self.unchanged + self.planned + self.failed
    }
}

/// The run's outcome for the operator: the JSON report or the table, each user's warnings,
/// the summary, and the failures as the error (exit 3).
pub(super) fn summarize(
    args: &BatchArgs,
    rows: &[Row],
    stamp: &Stamp,
    tally: &Tally,
) -> Result<()> {
    let users: Vec<UserLine<'_>> = rows
        .iter()
        .zip(&tally.reports)
        .map(|(row, r)| UserLine {
            row,
            state: r.as_ref().map_or("failed", |(s, _)| *s),
            report: r.as_ref().map(|(_, r)| &**r),
        })
        .collect();
    if args.output.json {
        report::json(&json_report(args, rows, stamp, tally, &users))?;
    } else {
        if args.dry_run {
            report::text(&plan_table(&users))?;
        } else if !args.output.quiet {
            report::text(&key_table(&users))?;
        }
    }
    // Each user's warnings, even with --quiet: they say what the cluster will do differently.
    if !args.output.json {
        say_warnings(&users);
    }
    if !args.output.json && !args.output.quiet {
        say_counts(args, rows, tally);
    }
    match failed(rows, tally) {
        Some(fail) => Err(fail),
        None => Ok(()),
    }
}

/// The `--json` report.
fn json_report(
    args: &BatchArgs,
    rows: &[Row],
    stamp: &Stamp,
    tally: &Tally,
    users: &[UserLine<'_>],
) -> serde_json::Value {
    json!({
        "roster": args.roster.display().to_string(),
        "total": rows.len(),
        "written": tally.counts.written,
        "unchanged": tally.counts.unchanged,
        "planned": tally.counts.planned,
        "failed": tally.counts.failed,
        "failures": tally.failures.iter().map(|(l, u, m)| json!({"line": l, "user": u, "error": m})).collect::<Vec<_>>(),
        "media": args.media.display().to_string(),
        "cluster": stamp.cluster.as_ref().map(|p| p.name.as_str()),
        "notAfter": kcsr_core::time::format_rfc3339(stamp.not_after),
        "operator": stamp.operator.as_str(),
        "users": users.iter().map(|u| u.json()).collect::<Vec<_>>(),
    })
}

/// Each user's warning-level findings.
fn say_warnings(users: &[UserLine<'_>]) {
    for u in users {
        for w in u.report.map(|r| r.warnings.as_slice()).unwrap_or_default() {
            report::say(&format!(
                "warning: line {} ({}): [{}] {}",
                u.row.line,
                report::sanitize(u.row.spec.user.as_str()),
                w.rule,
                report::sanitize(&w.message)
            ));
        }
    }
}

/// The summary line, and what comes next.
fn say_counts(args: &BatchArgs, rows: &[Row], tally: &Tally) {
    report::say(&format!(
        "kcsr batch: {} users: {} written, {} already on the media{}, {} failed",
        rows.len(),
        tally.counts.written,
        tally.counts.unchanged,
        if args.dry_run {
            format!(", {} would be written", tally.counts.planned)
        } else {
            String::new()
        },
        tally.counts.failed
    ));
    if !args.dry_run && tally.counts.failed < rows.len() {
        report::say(&crate::cmd::request::next_steps(&args.media));
    }
}

/// The error naming every user that failed, if any did.
fn failed(rows: &[Row], tally: &Tally) -> Option<Fail> {
    if tally.failures.is_empty() {
        return None;
    }
    let list: Vec<String> = tally
        .failures
        .iter()
        .map(|(l, u, m)| {
            format!(
                "line {l} ({}): {}",
                report::sanitize(u),
                m.replace('\n', "\n    ")
            )
        })
        .collect();
    Some(
        Fail::new(format!(
            "{} of {} users failed; the others were written\n  {}",
            tally.failures.len(),
            rows.len(),
            list.join("\n  ")
        ))
        .hint("fix what is named and run the same command again: users already done are skipped")
        .refused(),
    )
}

/// A one-line progress display on a terminal; nothing otherwise.
pub(super) struct Progress {
    total: usize,
    on: bool,
    started: Instant,
    last: std::cell::Cell<Instant>,
}

impl Progress {
    pub(super) fn new(total: usize, on: bool) -> Self {
        let now = Instant::now();
        Self {
            total,
            on,
            started: now,
            last: std::cell::Cell::new(now),
        }
    }

    pub(super) fn tick(&self, done: usize, failed: usize) {
        if !self.on || (self.last.get().elapsed() < Duration::from_millis(100) && done < self.total)
        {
            return;
        }
        self.last.set(Instant::now());
        let width = 30;
        let filled = width * done / self.total.max(1);
        let bar: String = "#".repeat(filled) + &" ".repeat(width - filled);
        let rate = done as f64 / self.started.elapsed().as_secs_f64().max(0.001);
        eprint!(
            "\r[{bar}] {done}/{} users, {failed} failed, {rate:.0}/s",
            self.total
        );
    }

    pub(super) fn done(&self) {
        if self.on {
            eprintln!();
        }
    }
}

/// One roster row with what became of it, for the output.
struct UserLine<'a> {
    row: &'a Row,
    /// `written`, `unchanged`, `planned` or `failed`.
    state: &'static str,
    report: Option<&'a UserReport>,
}

impl UserLine<'_> {
    /// The object name and public key, unless they belong to a throwaway key of a dry run
    /// (the real run makes another).
    fn known(&self) -> Option<&UserReport> {
        self.report
            .filter(|r| !(self.state == "planned" && r.key_source == KeySource::New))
    }

    fn lifetime(&self) -> Option<i64> {
        plan::expiration(self.row.spec.api_version, self.row.spec.expiration)
            .map(kcsr_core::expiry::Expiration::seconds)
    }

    fn json(&self) -> serde_json::Value {
        let spec = &self.row.spec;
        json!({
            "line": self.row.line,
            "user": spec.user.as_str(),
            "state": self.state,
            "stem": spec.stem(),
            "name": self.known().map(|r| r.name.as_str()),
            "publicKeySha256": self.known().map(|r| r.public_key_sha256.as_str()),
            "groups": spec.groups.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
            "grants": spec.grants.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "signerName": spec.signer.as_ref().map(|s| s.as_str()),
            "expirationSeconds": self.lifetime(),
            "ticket": spec.ticket.as_ref().map(|t| t.as_str()),
            "keyType": spec.key_type.as_str(),
            "pkcs11": self.row.pkcs11.as_ref().map(|u| u.without_pin().to_string()),
            "keySource": self.report.map(|r| match r.key_source {
                KeySource::New => "new",
                KeySource::Reused => "reused",
                KeySource::External => "external",
                KeySource::Csr => "external-csr",
            }),
            "warnings": self.report.map(|r| r.warnings.iter().map(|w| json!({"rule": w.rule, "message": w.message})).collect::<Vec<_>>()).unwrap_or_default(),
        })
    }
}

/// Columns padded to their widest cell, two spaces apart.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut out = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(c);
            } else {
                out.push_str(&format!("{c:<w$}  "));
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.iter().map(|h| (*h).to_owned()).collect());
    for r in rows {
        out.push_str(&line(r.clone()));
    }
    out
}

fn or_dash(items: Vec<String>) -> String {
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(",")
    }
}

/// `kcsr batch --dry-run`: what each request will ask for, for a second person to check
/// against the change before anything is written.
fn plan_table(users: &[UserLine<'_>]) -> String {
    let rows: Vec<Vec<String>> = users
        .iter()
        .map(|u| {
            let spec = &u.row.spec;
            vec![
                report::sanitize(spec.user.as_str()),
                or_dash(
                    spec.groups
                        .iter()
                        .map(|g| report::sanitize(g.as_str()))
                        .collect(),
                ),
                or_dash(spec.grants.iter().map(ToString::to_string).collect()),
                spec.signer
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), |s| s.as_str().to_owned()),
                u.lifetime()
                    .map_or_else(|| "-".to_owned(), kcsr_core::expiry::human_seconds),
                spec.ticket
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), |t| report::sanitize(t.as_str())),
                format!(
                    "{} ({}{})",
                    spec.key_type.as_str(),
                    if u.row.pkcs11.is_some() {
                        "token, "
                    } else {
                        ""
                    },
                    match u.report.map(|r| r.key_source) {
                        Some(KeySource::Reused) => "existing",
                        Some(_) => "new",
                        None => "-",
                    }
                ),
                spec.stem(),
                match (u.state, u.known()) {
                    ("failed", _) => "FAILED (see below)".to_owned(),
                    (_, Some(r)) => r.name.clone(),
                    (_, None) => format!("{}-<hash of the new key>", spec.stem()),
                },
            ]
        })
        .collect();
    table(
        &[
            "USER", "GROUPS", "GRANTS", "SIGNER", "LIFETIME", "TICKET", "KEY", "STEM", "NAME",
        ],
        &rows,
    )
}

/// Each user's request and public key, to compare with what the approver's review shows.
fn key_table(users: &[UserLine<'_>]) -> String {
    let rows: Vec<Vec<String>> = users
        .iter()
        .map(|u| {
            let r = u.known();
            vec![
                report::sanitize(u.row.spec.user.as_str()),
                r.map_or_else(|| "-".to_owned(), |r| r.name.clone()),
                u.state.to_owned(),
                r.map_or_else(|| "-".to_owned(), |r| r.public_key_sha256.clone()),
            ]
        })
        .collect();
    table(&["USER", "NAME", "STATE", "PUBLIC KEY SHA256"], &rows)
}
