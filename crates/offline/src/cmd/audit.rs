//! `kcsr audit`: the station's record of every request it wrote, for an auditor (decision
//! 0010). Kubernetes deletes CSR objects an hour after issue, so this and the media are the
//! lasting evidence: who asked (operator), why (ticket), for what (grants), and, once
//! `kcsr assemble` verified the certificate, who approved it, its serial and validity, and the
//! bindings as the connected side reported them. Only the key directory is read.

use kcsr_core::station::RequestRecord;
use kcsr_core::terminal;
use serde_json::json;

use crate::cli::AuditArgs;
use crate::fail::Result;
use crate::report;
use crate::station::Station;

/// The CSV columns, in order (documented in `kcsr audit --help` and docs/formats.md).
const COLUMNS: [&str; 19] = [
    "name",
    "user",
    "groups",
    "ticket",
    "grants",
    "operator",
    "cluster",
    "created",
    "state",
    "stateAt",
    "approvedBy",
    "approvedAt",
    "submittedBy",
    "serial",
    "notBefore",
    "notAfter",
    "bindings",
    "deniedReason",
    "publicKeySha256",
];

pub(crate) fn run(args: AuditArgs) -> Result<()> {
    let station = Station::new(&args.keys);
    let mut records = station.records()?;
    let time = |r: &RequestRecord| kcsr_core::time::parse_rfc3339(&r.created).unwrap_or(i64::MIN);
    records.sort_by(|a, b| time(a).cmp(&time(b)).then_with(|| a.name.cmp(&b.name)));
    if args.output.json {
        report::json(&json!({
            "station": station.dir.display().to_string(),
            "requests": records.iter().map(as_json).collect::<Vec<_>>(),
        }))?;
    } else if args.csv {
        report::data(&csv(&records))?;
    } else {
        report::text(&table(&records))?;
    }
    if !args.output.quiet && !args.output.json {
        report::say(&format!(
            "kcsr audit: {} request(s) in {}",
            records.len(),
            station.requests_dir().display()
        ));
    }
    Ok(())
}

/// One request as the CSV and table show it, column by column.
fn cells(r: &RequestRecord) -> Vec<String> {
    let a = r.assembled.as_ref();
    let opt = |v: Option<&String>| v.cloned().unwrap_or_default();
    vec![
        r.name.clone(),
        r.user.clone(),
        r.groups.join(";"),
        opt(r.ticket.as_ref()),
        r.grant_list().join(";"),
        opt(r.operator.as_ref()),
        r.cluster
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        r.created.clone(),
        r.state.to_string(),
        opt(r.state_at.as_ref()),
        opt(a.and_then(|a| a.approved_by.as_ref())),
        opt(a.and_then(|a| a.approved_at.as_ref())),
        opt(a.and_then(|a| a.submitted_by.as_ref())),
        a.map(|a| a.serial.clone()).unwrap_or_default(),
        a.map(|a| a.not_before.clone()).unwrap_or_default(),
        a.map(|a| a.not_after.clone()).unwrap_or_default(),
        a.map(|a| {
            a.bindings
                .iter()
                .map(|b| match &b.by {
                    Some(by) => format!("{}={}@{by}", b.grant, b.state),
                    None => format!("{}={}", b.grant, b.state),
                })
                .collect::<Vec<_>>()
                .join(";")
        })
        .unwrap_or_default(),
        r.denied
            .as_ref()
            .map(|d| {
                [Some(&d.condition), d.reason.as_ref(), d.message.as_ref()]
                    .into_iter()
                    .flatten()
                    .filter(|s| !s.is_empty())
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(": ")
            })
            .unwrap_or_default(),
        r.public_key_sha256.clone(),
    ]
}

/// RFC 4180 CSV. Values the media reported (an approver's name) may hold anything: each cell
/// is one line without control characters, quoted when needed, and a cell a spreadsheet would
/// evaluate (`=`, `+`, `-`, `@`) starts with `'`.
fn csv(records: &[RequestRecord]) -> String {
    let cell = |v: &str| {
        let mut v = terminal::one_line(v);
        if v.starts_with(['=', '+', '-', '@']) {
            v.insert(0, '\'');
        }
        if v.contains([',', '"']) || v.starts_with(' ') || v.ends_with(' ') {
            format!("\"{}\"", v.replace('"', "\"\""))
        } else {
            v
        }
    };
    let mut out = COLUMNS.join(",");
    out.push_str("\r\n");
    for r in records {
        out.push_str(
            &cells(r)
                .iter()
                .map(|c| cell(c))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push_str("\r\n");
    }
    out
}

fn as_json(r: &RequestRecord) -> serde_json::Value {
    json!({
        "name": r.name,
        "user": r.user,
        "groups": r.groups,
        "ticket": r.ticket,
        "grants": r.grant_list(),
        "operator": r.operator,
        "cluster": r.cluster.as_ref().map(ToString::to_string),
        "created": r.created,
        "notAfter": r.not_after,
        "state": r.state.as_str(),
        "stateAt": r.state_at,
        "publicKeySha256": r.public_key_sha256,
        "assembled": r.assembled,
        "denied": r.denied,
    })
}

/// The columns that fit a terminal: when, what, who, where it stands.
fn table(records: &[RequestRecord]) -> String {
    let header = [
        "CREATED",
        "NAME",
        "USER",
        "TICKET",
        "GRANTS",
        "OPERATOR",
        "STATE",
        "APPROVED BY",
        "SERIAL",
        "VALID UNTIL",
    ];
    let dash = |s: String| {
        if s.is_empty() {
            "-".to_owned()
        } else {
            terminal::one_line(&s)
        }
    };
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            let c = cells(r);
            [7, 0, 1, 3, 4, 5, 8, 10, 13, 15]
                .iter()
                .map(|&i| dash(c[i].replace(';', ",")))
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (c, w) in cells.iter().zip(&widths) {
            s.push_str(&format!("{c:<w$}  "));
        }
        s.trim_end().to_owned() + "\n"
    };
    let mut out = line(&header.map(str::to_owned));
    for r in &rows {
        out.push_str(&line(r));
    }
    out
}
