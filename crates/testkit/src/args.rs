//! The argument lists many tests repeat, built in one place. Paths are relative to the run's
//! directory: `keys` for the key directory, the media as given.

/// `request --user USER [--group G]... --keys keys --media MEDIA MORE...`
pub fn request<'a>(
    user: &'a str,
    groups: &[&'a str],
    media: &'a str,
    more: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec!["request", "--user", user];
    for g in groups {
        args.extend(["--group", g]);
    }
    args.extend(["--keys", "keys", "--media", media]);
    args.extend_from_slice(more);
    args
}

/// `batch --roster ROSTER --keys keys --media MEDIA`
pub fn batch<'a>(roster: &'a str, media: &'a str) -> [&'a str; 7] {
    [
        "batch", "--roster", roster, "--keys", "keys", "--media", media,
    ]
}

/// `assemble --media media --keys keys FLAG TO MORE...`, FLAG one of `--out`, `--out-dir`,
/// `--merge-into`.
pub fn assemble<'a>(flag: &'a str, to: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["assemble", "--media", "media", "--keys", "keys", flag, to];
    args.extend_from_slice(more);
    args
}
