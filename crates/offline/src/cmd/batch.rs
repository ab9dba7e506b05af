//! `kcsr batch`: many users at once. The roster is checked completely first; then workers on
//! every core generate keys and stage each user's files (temporary names, no sync). The main
//! thread commits them in groups: one filesystem sync for the group's data, then the keys and
//! the station's records of the requests get their names and their directories are synced,
//! then the manifests and bindings, then the media directory; only then are they listed in
//! `SHA256SUMS` (saved every few hundred users and at the end). A key and its record are thus
//! durable before its request is visible on the media, as with `kcsr request`, at a few syncs
//! per group instead of several per user (docs/decisions/0008-group-commit.md). Re-running
//! skips users already done. Users whose key is in a PKCS#11 token (column `pkcs11`) are made
//! one at a time by a single worker: a token serves one session, and its keys are generated
//! inside it, so nothing of theirs but the record and the media files is written.

use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use secrecy::SecretString;

use crate::cli::BatchArgs;
use crate::cmd::verify::unix_now;
use crate::fail::{Context as _, Fail, Result};
use crate::media_dir::MediaDir;
use crate::passphrase::{self, Purpose};
use crate::plan::{self, Stamp};
use crate::roster::{self, Row};
use crate::signing::{self, SigningKey};
use crate::station::Station;
use crate::user_key;
use crate::{media_dir, paths, policy};
use checks::{check_policy, precheck, user_passphrases};
use commit::{Pending, commit, record, save};
use output::{Counts, Progress, Tally};
use user::{Context, Outcome, one};

mod checks;
mod commit;
mod output;
mod user;

/// Save `SHA256SUMS` after this many completed users, so an interruption loses little.
const SAVE_EVERY: usize = 250;
/// Commit a group when it holds this many users…
const GROUP_USERS: usize = 128;
/// …or when its oldest user has waited this long (slow RSA keys still land steadily).
const GROUP_AGE: Duration = Duration::from_millis(500);

pub(crate) fn run(mut args: BatchArgs) -> Result<()> {
    paths::check_key_dir_outside_media(&args.keys, &args.media)?;
    let mut rows = roster::read(&args.roster, args.api_version, args.pkcs11.as_ref())?;
    for row in &mut rows {
        if row.spec.ticket.is_none() {
            row.spec.ticket.clone_from(&args.who.ticket);
        }
    }
    let station = Station::new(&args.keys);
    let site_policy = policy::load(&station)?;
    check_policy(&args.roster, &rows, site_policy.as_ref())?;
    let per_user = user_passphrases(&rows, &args)?;
    let passphrase = match (&args.passphrase_file, args.encrypt_key) {
        (Some(file), true) => Some(passphrase::obtain(
            Some(file),
            Purpose::NewKey,
            "the new keys",
        )?),
        _ => None,
    };
    // Said once, with the filesystem artifacts left alone.
    media_dir::enter_trip(&mut args.media, unix_now(), &station)?.say(args.output.quiet);
    // Every row's request is checked with a throwaway key of its type before anything is
    // written, so a roster the cluster would refuse in part is refused whole.
    let jobs = jobs(&args, rows.len());
    precheck(&rows, jobs)?;
    let existing = passphrase::Source::new(args.passphrase_file.as_deref());
    let (signer, stamp) = sign_and_stamp(&args, &station, passphrase.as_ref(), &existing)?;
    let signer = signer.as_ref();

    let (mut media, policy_changed) = open_media(&args, &station, site_policy.as_ref())?;
    let pins = user_key::Pins::default();
    let ctx = Context {
        args: &args,
        passphrase: passphrase.as_ref(),
        existing: &existing,
        station: &station,
        stamp: &stamp,
        pins: &pins,
    };
    let progress = Progress::new(
        rows.len(),
        !args.output.quiet && !args.output.json && std::io::stderr().is_terminal(),
    );
    let mut tally = Tally {
        counts: Counts::default(),
        failures: Vec::new(),
        reports: std::iter::repeat_with(|| None).take(rows.len()).collect(),
        since_save: usize::from(policy_changed),
    };
    let work = Work {
        ctx,
        rows: &rows,
        per_user: &per_user,
        jobs,
        signer,
    };
    if let Err(fail) = work.run(&mut media, &mut tally, &progress) {
        progress.done();
        // Record what did land; if even that fails, the first error is the one to report.
        if tally.counts.written > 0 {
            let _ = save(&media, signer);
        }
        return Err(fail);
    }
    if !args.dry_run
        && (tally.counts.written > 0
            || tally.since_save > 0
            || !args.media.join(kcsr_core::sums::FILE_NAME).exists()
            || signer.is_some_and(|k| !media.is_signed_by(k.public())))
    {
        save(&media, signer)?;
    }
    progress.done();
    tally.failures.sort();
    output::summarize(&args, &rows, &stamp, &tally)
}

/// How many workers make file keys: `--jobs`, else one per core; never more than users.
fn jobs(args: &BatchArgs, users: usize) -> usize {
    args.jobs
        .map(std::num::NonZeroUsize::get)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(std::num::NonZeroUsize::get)
                .unwrap_or(1)
        })
        .min(users)
}

/// The media (created unless a dry run) with the site's policy synced onto it (whether that
/// changed it), and the key and record directories made.
fn open_media(
    args: &BatchArgs,
    station: &Station,
    site_policy: Option<&policy::Loaded>,
) -> Result<(MediaDir, bool)> {
    let mut media = if args.dry_run {
        MediaDir::open_or_empty(&args.media)?
    } else {
        MediaDir::open(&args.media, true)?
    };
    // The policy travels with the requests, listed (so signed) from the first save on.
    let policy_changed = if args.dry_run {
        false
    } else {
        policy::sync(&mut media, site_policy)?.is_some()
    };
    if !args.dry_run {
        for dir in [&args.keys, &station.dir, &station.requests_dir()] {
            kcsr_fs::create_dir(dir, 0o700)
                .context(|| format!("failed to create directory {}", dir.display()))?;
        }
    }
    Ok((media, policy_changed))
}

/// The roster passed: the station's key (made now on first use; none in a dry run) that will
/// sign the media, and what every request of the run is stamped with.
fn sign_and_stamp(
    args: &BatchArgs,
    station: &Station,
    passphrase: Option<&SecretString>,
    existing: &passphrase::Source,
) -> Result<(Option<SigningKey>, Stamp)> {
    let mut stamp = Stamp::new(
        unix_now(),
        args.trip.valid_for,
        station.target(args.trip.cluster.as_ref())?,
        String::new(),
        plan::operator(args.who.operator.as_ref()),
    )?;
    let signer = if args.dry_run {
        None
    } else {
        Some(signing::obtain(
            station,
            passphrase,
            args.passphrase_file.as_deref(),
            existing,
            args.output.quiet,
        )?)
    };
    stamp.station = match &signer {
        Some(k) => k.fingerprint(),
        None => signing::public_key(station)?
            .map(|p| p.fingerprint())
            .unwrap_or_default(),
    };
    Ok((signer, stamp))
}

impl Tally {
    fn failed(&mut self, row: &Row, why: String) {
        self.counts.failed += 1;
        self.failures
            .push((row.line, row.spec.user.as_str().to_owned(), why));
    }

    /// Lists the users of a committed group in `SHA256SUMS` (one that failed is named).
    fn committed(
        &mut self,
        rows: &[Row],
        media: &mut MediaDir,
        committed: Vec<(usize, std::result::Result<Pending, String>)>,
    ) {
        for (i, result) in committed {
            match result {
                Ok(done) => {
                    self.counts.written += 1;
                    record(&mut media.sums, &done.files);
                    if let Some(name) = &done.removed {
                        media.sums.remove(name);
                    }
                    self.since_save += 1;
                    self.reports[i] = Some(("written", done.report));
                }
                Err(msg) => self.failed(&rows[i], msg),
            }
        }
    }
}

/// The workers and the committing thread of one run.
struct Work<'a> {
    ctx: Context<'a>,
    rows: &'a [Row],
    per_user: &'a [Option<SecretString>],
    jobs: usize,
    signer: Option<&'a SigningKey>,
}

impl Work<'_> {
    /// One user: its own passphrase source, if it has one, and the shared context.
    fn one(&self, i: usize) -> Outcome {
        let row = &self.rows[i];
        // A user with a passphrase file of their own: their new key is encrypted
        // with it, and an existing key of theirs is opened with it.
        let own = row
            .passphrase_file
            .as_deref()
            .map(|f| passphrase::Source::new(Some(f)));
        let ctx = Context {
            passphrase: self
                .per_user
                .get(i)
                .and_then(Option::as_ref)
                .or(self.ctx.passphrase),
            existing: own.as_ref().unwrap_or(self.ctx.existing),
            ..self.ctx
        };
        one(row, &ctx).unwrap_or_else(|f| Outcome::Failed(f.message))
    }

    /// Token keys one at a time on one worker of their own; file keys on every core; the
    /// calling thread commits what they stage, in groups.
    fn run(&self, media: &mut MediaDir, tally: &mut Tally, progress: &Progress) -> Result<()> {
        let (token_rows, file_rows): (Vec<usize>, Vec<usize>) =
            (0..self.rows.len()).partition(|&i| self.rows[i].pkcs11.is_some());
        let jobs = self.jobs.min(file_rows.len());
        let next = AtomicUsize::new(0);
        let halt = AtomicBool::new(false);
        let (tx, rx) = mpsc::channel::<(usize, Outcome)>();
        let work = |i: usize| {
            let outcome = self.one(i);
            if matches!(outcome, Outcome::Stop(_)) {
                halt.store(true, Ordering::Relaxed);
            }
            outcome
        };
        let work = &work;
        std::thread::scope(|scope| -> Result<()> {
            for _ in 0..jobs {
                let tx = tx.clone();
                let (next, halt, file_rows) = (&next, &halt, &file_rows);
                scope.spawn(move || {
                    while !halt.load(Ordering::Relaxed) {
                        let Some(&i) = file_rows.get(next.fetch_add(1, Ordering::Relaxed)) else {
                            break;
                        };
                        if tx.send((i, work(i))).is_err() {
                            break;
                        }
                    }
                });
            }
            if !token_rows.is_empty() {
                let tx = tx.clone();
                let (halt, token_rows) = (&halt, &token_rows);
                scope.spawn(move || {
                    for &i in token_rows {
                        if halt.load(Ordering::Relaxed) || tx.send((i, work(i))).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(tx);
            self.collect(&rx, &halt, media, tally, progress)
        })
    }

    /// Receives every user's outcome and commits the staged ones in groups, saving
    /// `SHA256SUMS` every few hundred users; the first device failure stops the run.
    fn collect(
        &self,
        rx: &mpsc::Receiver<(usize, Outcome)>,
        halt: &AtomicBool,
        media: &mut MediaDir,
        tally: &mut Tally,
        progress: &Progress,
    ) -> Result<()> {
        let args = self.ctx.args;
        let requests = self.ctx.station.requests_dir();
        let mut pending: Vec<(usize, Pending)> = Vec::new();
        let mut oldest: Option<Instant> = None;
        let mut open = true;
        let mut stop: Option<Fail> = None;
        while open || !pending.is_empty() {
            match rx.recv_timeout(GROUP_AGE) {
                Ok((_, Outcome::Stop(fail))) => {
                    // Users staged completely are still committed (their bytes are already
                    // on the device); later ones are dropped, temporary files removed. A
                    // re-run continues after the committed ones.
                    stop.get_or_insert(fail);
                }
                Ok(_) if stop.is_some() => {}
                Ok((i, Outcome::Staged(p))) => {
                    oldest.get_or_insert_with(Instant::now);
                    pending.push((i, *p));
                }
                Ok((i, Outcome::Unchanged(files, report))) => {
                    tally.counts.unchanged += 1;
                    tally.since_save += usize::from(record(&mut media.sums, &files));
                    tally.reports[i] = Some(("unchanged", report));
                }
                Ok((i, Outcome::Planned(report))) => {
                    tally.counts.planned += 1;
                    tally.reports[i] = Some(("planned", report));
                }
                Ok((i, Outcome::Failed(msg))) => tally.failed(&self.rows[i], msg),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => open = false,
            }
            let due = !pending.is_empty()
                && (stop.is_some()
                    || !open
                    || pending.len() >= GROUP_USERS
                    || oldest.is_some_and(|t| t.elapsed() >= GROUP_AGE));
            if due {
                oldest = None;
                let committed = match commit(
                    &args.keys,
                    &requests,
                    &args.media,
                    std::mem::take(&mut pending),
                ) {
                    Ok(c) => c,
                    Err(fail) => {
                        stop.get_or_insert(fail);
                        halt.store(true, Ordering::Relaxed);
                        Vec::new()
                    }
                };
                tally.committed(self.rows, media, committed);
            }
            if stop.is_none() && tally.since_save >= SAVE_EVERY && !args.dry_run {
                save(media, self.signer)?;
                tally.since_save = 0;
            }
            progress.tick(tally.counts.total(), tally.counts.failed);
        }
        match stop {
            Some(fail) => Err(fail),
            None => Ok(()),
        }
    }
}
