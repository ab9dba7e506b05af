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

/// `cluster add NAME --keys keys --server SERVER --ca ca.crt --client-ca client-ca.crt
/// MORE...`: the cluster pinned from the CA files the station got out of band.
pub fn cluster_add<'a>(name: &'a str, server: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "cluster",
        "add",
        name,
        "--keys",
        "keys",
        "--server",
        server,
        "--ca",
        "ca.crt",
        "--client-ca",
        "client-ca.crt",
    ];
    args.extend_from_slice(more);
    args
}

/// `apply MEDIA --approve --yes --wait 60s --client-ca client-ca.crt`: the connected side's
/// whole trip, the certificates checked against the cluster's client CA.
pub fn apply_approved(media: &str) -> [&str; 8] {
    [
        "apply",
        media,
        "--approve",
        "--yes",
        "--wait",
        "60s",
        "--client-ca",
        "client-ca.crt",
    ]
}
