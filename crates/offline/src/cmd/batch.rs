//! `kcsr batch`: many users at once. The roster is checked completely first; then workers on
//! every core generate keys and write each user's files as they complete (key first, then
//! manifest and binding, each durable); the main thread alone records them in `SHA256SUMS`,
//! saved every few hundred users and at the end. Re-running skips users already done.

use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kcsr_core::sums::Sums;
use secrecy::SecretString;
use serde_json::json;

use crate::cli::BatchArgs;
use crate::fail::{Fail, Result};
use crate::media_dir::MediaDir;
use crate::passphrase::{self, Purpose};
use crate::plan::{self, KeySource, MediaState};
use crate::roster::{self, Row};
use crate::{paths, report};

/// Save `SHA256SUMS` after this many completed users, so an interruption loses little.
const SAVE_EVERY: usize = 250;

enum Outcome {
    Written {
        files: Vec<(String, [u8; 32])>,
        removed: Vec<String>,
    },
    Unchanged(Vec<(String, [u8; 32])>),
    Planned,
    Failed(String),
}

pub(crate) fn run(args: BatchArgs) -> Result<()> {
    paths::check_key_dir_outside_media(&args.keys, &args.media)?;
    let rows = roster::read(&args.roster, args.api_version)?;
    let passphrase = if args.encrypt_key {
        Some(passphrase::obtain(
            args.passphrase_file.as_deref(),
            Purpose::NewKey,
            "the new keys",
        )?)
    } else {
        None
    };
    // Every row's request is checked with a throwaway key of its type before anything is
    // written, so a roster the cluster would refuse in part is refused whole.
    precheck(&rows)?;

    let mut media = if args.dry_run {
        MediaDir::open_or_empty(&args.media)?
    } else {
        MediaDir::open(&args.media, true)?
    };
    let jobs = args
        .jobs
        .map(std::num::NonZeroUsize::get)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(std::num::NonZeroUsize::get)
                .unwrap_or(1)
        })
        .min(rows.len());
    let progress = Progress::new(
        rows.len(),
        !args.output.quiet && !args.output.json && std::io::stderr().is_terminal(),
    );
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, Outcome)>();
    let mut counts = [0usize; 4];
    let mut failures = Vec::new();
    let mut since_save = 0;
    let existing = passphrase::Source::new(args.passphrase_file.as_deref());
    std::thread::scope(|scope| -> Result<()> {
        for _ in 0..jobs {
            let tx = tx.clone();
            let (rows, next, args, passphrase, existing) =
                (&rows, &next, &args, passphrase.as_ref(), &existing);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(row) = rows.get(i) else { break };
                    let outcome = one(row, args, passphrase, existing)
                        .unwrap_or_else(|f| Outcome::Failed(f.message));
                    if tx.send((i, outcome)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for (i, outcome) in rx {
            match outcome {
                Outcome::Written { files, removed } => {
                    counts[0] += 1;
                    record(&mut media.sums, &files);
                    for name in &removed {
                        media.sums.remove(name);
                    }
                    since_save += 1;
                }
                Outcome::Unchanged(files) => {
                    counts[1] += 1;
                    since_save += usize::from(record(&mut media.sums, &files));
                }
                Outcome::Planned => counts[2] += 1,
                Outcome::Failed(msg) => {
                    counts[3] += 1;
                    failures.push((rows[i].line, rows[i].spec.user.as_str().to_owned(), msg));
                }
            }
            if since_save >= SAVE_EVERY && !args.dry_run {
                media.save_sums()?;
                since_save = 0;
            }
            progress.tick(counts.iter().sum(), counts[3]);
        }
        Ok(())
    })?;
    if !args.dry_run
        && (counts[0] > 0
            || since_save > 0
            || !args.media.join(kcsr_core::sums::FILE_NAME).exists())
    {
        media.save_sums()?;
    }
    progress.done();
    failures.sort();

    if args.output.json {
        report::json(&json!({
            "roster": args.roster.display().to_string(),
            "total": rows.len(),
            "written": counts[0],
            "unchanged": counts[1],
            "planned": counts[2],
            "failed": counts[3],
            "failures": failures.iter().map(|(l, u, m)| json!({"line": l, "user": u, "error": m})).collect::<Vec<_>>(),
            "media": args.media.display().to_string(),
        }));
    } else if !args.output.quiet {
        report::say(&format!(
            "kcsr batch: {} users: {} written, {} already on the media{}, {} failed",
            rows.len(),
            counts[0],
            counts[1],
            if args.dry_run {
                format!(", {} would be written", counts[2])
            } else {
                String::new()
            },
            counts[3]
        ));
        if !args.dry_run && counts[3] < rows.len() {
            report::say(&format!(
                "next: carry {} to the connected machine and run: kcsr-submit apply {} --approve --wait 10m",
                args.media.display(),
                args.media.display()
            ));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        let list: Vec<String> = failures
            .iter()
            .map(|(l, u, m)| {
                format!(
                    "line {l} ({}): {}",
                    report::sanitize(u),
                    m.replace('\n', "\n    ")
                )
            })
            .collect();
        Err(Fail::new(format!(
            "{} of {} users failed; the others were written\n  {}",
            failures.len(),
            rows.len(),
            list.join("\n  ")
        ))
        .hint("fix what is named and run the same command again: users already done are skipped")
        .refused())
    }
}

/// Records a user's files; true when something changed.
fn record(sums: &mut Sums, files: &[(String, [u8; 32])]) -> bool {
    let mut changed = false;
    for (name, digest) in files {
        if sums.get(name) != Some(digest) {
            sums.insert_digest(name, *digest);
            changed = true;
        }
    }
    changed
}

fn precheck(rows: &[Row]) -> Result<()> {
    let mut keys = std::collections::HashMap::new();
    let mut errors = Vec::new();
    for row in rows {
        let key = match keys.entry(row.spec.key_type.as_str()) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => v.insert(
                kcsr_core::key::PrivateKey::generate(row.spec.key_type)
                    .map_err(|e| Fail::new(e.to_string()))?,
            ),
        };
        if let Err(f) = plan::build(&row.spec, key) {
            errors.push(format!(
                "line {}: {}",
                row.line,
                f.message.replace('\n', "\n    ")
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Fail::new(format!(
            "{} roster row(s) would be refused by the cluster; nothing was written\n  {}",
            errors.len(),
            errors.join("\n  ")
        ))
        .hint("fix these rows and run kcsr batch again")
        .refused())
    }
}

fn one(
    row: &Row,
    args: &BatchArgs,
    passphrase: Option<&SecretString>,
    existing: &passphrase::Source,
) -> Result<Outcome> {
    let spec = &row.spec;
    let key_path = args.keys.join(format!("{}.key.pem", spec.stem()));
    let (key, source) = plan::obtain_key(spec.key_type, &key_path, args.force, existing)?;
    let built = plan::build(spec, &key)?;
    let state = plan::media_state(&args.media, &built)?;
    match state {
        MediaState::Same(files) if source != KeySource::New => {
            return Ok(Outcome::Unchanged(files));
        }
        MediaState::Different if !args.force => {
            return Err(Fail::new(format!(
                "the media already holds a different request for this user ({})",
                built.manifest_file
            )));
        }
        _ => {}
    }
    if args.dry_run {
        return Ok(Outcome::Planned);
    }
    if source == KeySource::New {
        plan::write_key(&key, &key_path, passphrase, args.force)?;
    }
    let mut sums = Sums::default();
    plan::write_media(&args.media, &built, &mut sums)?;
    let files = sums
        .names()
        .filter_map(|n| sums.get(n).map(|d| (n.to_owned(), *d)))
        .collect();
    // A binding from an earlier request was removed; it must leave SHA256SUMS too.
    let removed = if built.binding_yaml.is_none() {
        vec![built.binding_file.clone()]
    } else {
        Vec::new()
    };
    Ok(Outcome::Written { files, removed })
}

/// A one-line progress display on a terminal; nothing otherwise.
struct Progress {
    total: usize,
    on: bool,
    started: Instant,
    last: std::cell::Cell<Instant>,
}

impl Progress {
    fn new(total: usize, on: bool) -> Self {
        let now = Instant::now();
        Self {
            total,
            on,
            started: now,
            last: std::cell::Cell::new(now),
        }
    }

    fn tick(&self, done: usize, failed: usize) {
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

    fn done(&self) {
        if self.on {
            eprintln!();
        }
    }
}
