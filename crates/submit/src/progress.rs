//! What the operator sees while many requests are worked on. On a terminal: one progress line
//! per phase, redrawn in place (the per-request lines would scroll hundreds of requests past).
//! Not on a terminal (a pipe, a log file, CI): one plain line per request, as kubectl prints.
//! With `--quiet`: neither. Results and errors are printed elsewhere in every mode. No colour
//! is ever used, so `NO_COLOR` holds trivially.

use std::io::{IsTerminal as _, Write as _};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// A line redrawn in place on a terminal.
    Bar,
    /// A line per request.
    Lines,
    /// Nothing.
    Quiet,
}

impl Style {
    /// `Bar` when stderr is a terminal, `Lines` otherwise, `Quiet` with `--quiet`.
    pub fn detect(quiet: bool) -> Self {
        if quiet {
            Self::Quiet
        } else if std::io::stderr().is_terminal() {
            Self::Bar
        } else {
            Self::Lines
        }
    }
}

/// Progress of one phase (creating, approving, waiting) over `total` requests. Shared by the
/// worker threads.
#[derive(Debug)]
pub struct Progress {
    style: Style,
    phase: &'static str,
    total: usize,
    done: AtomicUsize,
    started: Instant,
    drawn: Mutex<Option<Instant>>,
}

/// Redraw at most this often: a terminal is slow, and a human cannot read faster.
const REDRAW: Duration = Duration::from_millis(100);

impl Progress {
    /// Starts a phase.
    pub fn start(style: Style, phase: &'static str, total: usize) -> Self {
        let p = Self {
            style,
            phase,
            total,
            done: AtomicUsize::new(0),
            started: Instant::now(),
            drawn: Mutex::new(None),
        };
        p.draw(0, true);
        p
    }

    /// The style in use.
    pub fn style(&self) -> Style {
        self.style
    }

    /// A per-request line, printed only in `Lines` style.
    pub fn line(&self, text: impl FnOnce() -> String) {
        if self.style == Style::Lines {
            eprintln!("{}", text());
        }
    }

    /// One request is through this phase.
    pub fn step(&self) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        self.draw(done, done >= self.total);
    }

    /// Ends the phase: the bar's last state stays on screen, on its own line.
    pub fn finish(&self) {
        if self.style == Style::Bar && self.total > 0 {
            self.draw(self.done.load(Ordering::Relaxed), true);
            eprintln!();
        }
    }

    fn draw(&self, done: usize, force: bool) {
        if self.style != Style::Bar || self.total == 0 {
            return;
        }
        let mut drawn = self.drawn.lock().unwrap_or_else(|p| p.into_inner());
        if !force && drawn.is_some_and(|t| t.elapsed() < REDRAW) {
            return;
        }
        *drawn = Some(Instant::now());
        let line = render(self.phase, done, self.total, self.started.elapsed());
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{line}");
        let _ = err.flush();
    }
}

/// `creating   [##########          ] 250/500  3.1 s`
fn render(phase: &str, done: usize, total: usize, elapsed: Duration) -> String {
    const WIDTH: usize = 24;
    let filled = (WIDTH * done.min(total))
        .checked_div(total)
        .unwrap_or(WIDTH);
    format!(
        "{phase:<10} [{}{}] {done}/{total}  {:.1} s",
        "#".repeat(filled),
        " ".repeat(WIDTH - filled),
        elapsed.as_secs_f64()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_fills_in_proportion_and_never_overflows() {
        let empty = render("creating", 0, 500, Duration::from_millis(0));
        assert_eq!(
            empty,
            format!("creating   [{}] 0/500  0.0 s", " ".repeat(24))
        );
        let half = render("waiting", 250, 500, Duration::from_millis(3100));
        assert_eq!(
            half,
            format!(
                "waiting    [{}{}] 250/500  3.1 s",
                "#".repeat(12),
                " ".repeat(12)
            )
        );
        let over = render("approving", 7, 5, Duration::ZERO);
        assert!(over.contains(&format!("[{}]", "#".repeat(24))), "{over}");
    }

    #[test]
    fn quiet_and_lines_styles_draw_nothing_and_count_anyway() {
        for style in [Style::Quiet, Style::Lines] {
            let p = Progress::start(style, "creating", 3);
            p.step();
            p.step();
            assert_eq!(p.done.load(Ordering::Relaxed), 2);
            assert!(p.drawn.lock().unwrap().is_none(), "{style:?} drew a bar");
            p.finish();
        }
        assert_eq!(Style::detect(true), Style::Quiet);
    }
}
