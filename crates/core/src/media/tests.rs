use super::*;
use crate::sums::Sums;

#[test]
fn trip_directory_names() {
    assert!(is_trip_dir_name("trip-20261129-101112"));
    for bad in [
        "trip-",
        "trip-2026112-101112",
        "trip-20261129_101112",
        "trip-20261129-10111x",
        "xtrip-20261129-101112",
    ] {
        assert!(!is_trip_dir_name(bad), "{bad:?}");
    }
}

#[test]
fn names() {
    assert!(is_safe_file_name("alice-1a2b.csr.yaml"));
    assert!(is_safe_file_name("SHA256SUMS"));
    for bad in ["", ".", "..", ".tmp123", "a/b", "a b", "é", "a\\b"] {
        assert!(!is_safe_file_name(bad), "{bad:?}");
    }
    assert_eq!(stem("alice.csr.yaml", CSR_MANIFEST_SUFFIX), Some("alice"));
    assert_eq!(stem(".csr.yaml", CSR_MANIFEST_SUFFIX), None);
}

/// A regular, readable media file.
fn file(name: &'static str, data: &'static [u8]) -> Found<'static> {
    Found {
        name,
        regular: true,
        data: Some(data),
    }
}

/// `SHA256SUMS` listing request `a`, and `RETURNED.SHA256SUMS` listing its three results.
fn signed_and_returned() -> (Sums, Sums) {
    let mut signed = Sums::default();
    signed.insert("a.csr.yaml", b"m");
    let mut returned = Sums::default();
    returned.insert("a.crt", b"c");
    returned.insert("a.bundle.yaml", b"b");
    returned.insert("a.denied.yaml", b"d");
    (signed, returned)
}

#[test]
fn returned_sums_list_only_results_of_signed_requests() {
    let (signed, returned) = signed_and_returned();
    let good = [
        file("a.csr.yaml", b"m"),
        file("a.crt", b"c"),
        file("a.bundle.yaml", b"b"),
        file("a.denied.yaml", b"d"),
        file(SUMS_SIGNATURE_FILE, b"sig"),
        file(RETURNED_SUMS_FILE, b"x"),
    ];
    assert!(audit_returned(&signed, &returned, good, false).is_empty());

    // A result for a request the signed sums do not hold, and a listed binding.
    let mut forged = returned.clone();
    forged.insert("b.crt", b"c");
    forged.insert("b.denied.yaml", b"d");
    forged.insert("a.binding.yaml", b"x");
    forged.insert(SUMS_SIGNATURE_FILE, b"sig");
    let problems = audit_returned(&signed, &forged, [file("a.csr.yaml", b"m")], false);
    for name in [
        "b.crt",
        "b.denied.yaml",
        "a.binding.yaml",
        SUMS_SIGNATURE_FILE,
    ] {
        assert!(
            problems.iter().any(|p| p.starts_with(name)),
            "{name}: {problems:?}"
        );
    }
}

#[test]
fn returned_media_with_unlisted_changed_or_unrecorded_results() {
    let (signed, returned) = signed_and_returned();
    // A file in neither; a changed result; a result not recorded yet.
    let found = [
        file("a.csr.yaml", b"m"),
        file("a.crt", b"C"),
        file("a.bundle.yaml", b"b"),
        file("a.denied.yaml", b"d"),
        file("notes.txt", b"n"),
    ];
    let problems = audit_returned(&signed, &returned, found, false);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].contains("RETURNED.SHA256SUMS says"),
        "{problems:?}"
    );
    assert!(
        problems[1].contains("neither SHA256SUMS nor RETURNED"),
        "{problems:?}"
    );
    let unrecorded = [
        file("a.csr.yaml", b"m"),
        file("a.crt", b"new"),
        file("a.denied.yaml", b"new"),
    ];
    let empty = Sums::default();
    assert!(audit_returned(&signed, &empty, unrecorded, true).is_empty());
    assert_eq!(audit_returned(&signed, &empty, unrecorded, false).len(), 2);
    // Even unrecorded, key material and links are refused.
    let key = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    let bad = [
        file("a.csr.yaml", b"m"),
        Found {
            name: "a.crt",
            regular: true,
            data: Some(key),
        },
        Found {
            name: SUMS_SIGNATURE_FILE,
            regular: false,
            data: None,
        },
    ];
    assert_eq!(audit_returned(&signed, &empty, bad, true).len(), 2);
}

#[test]
fn a_return_directory_holds_only_results_of_known_requests() {
    let known = |s: &str| s == "a";
    let mut returned = Sums::default();
    returned.insert("a.crt", b"c");
    returned.insert("a.bundle.yaml", b"b");
    let good = [
        file("a.crt", b"c"),
        file("a.bundle.yaml", b"b"),
        file(RETURNED_SUMS_FILE, b"x"),
    ];
    assert!(audit_return_dir(known, &returned, good, false).is_empty());

    // A result for an unknown request (listed or not), the station's files, a changed
    // result, a missing one.
    let mut forged = returned.clone();
    forged.insert("b.crt", b"c");
    let found = [
        file("a.crt", b"C"),
        file("b.crt", b"c"),
        file("c.denied.yaml", b"d"),
        file("SHA256SUMS", b"s"),
        file("a.csr.yaml", b"m"),
    ];
    let problems = audit_return_dir(known, &forged, found, true);
    for start in [
        "b.crt: listed in RETURNED.SHA256SUMS, which",
        "a.crt: content changed",
        "a.bundle.yaml: listed in RETURNED.SHA256SUMS but missing",
        "c.denied.yaml: present but not listed",
        "SHA256SUMS: present but not listed",
        "a.csr.yaml: present but not listed",
    ] {
        assert!(
            problems.iter().any(|p| p.starts_with(start)),
            "{start}: {problems:?}"
        );
    }
    // A result not recorded yet is not a problem (resume), unless it holds a key.
    let empty = Sums::default();
    assert!(audit_return_dir(known, &empty, [file("a.crt", b"new")], true).is_empty());
    assert_eq!(
        audit_return_dir(known, &empty, [file("a.crt", b"new")], false).len(),
        1
    );
    let key = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    let bad = [Found {
        name: "a.crt",
        regular: true,
        data: Some(key),
    }];
    assert_eq!(audit_return_dir(known, &empty, bad, true).len(), 1);
}
