//! `kcsr cluster add|list|remove`: the station's pins of the clusters it makes requests for
//! (decision 0009). A pin holds the API server URL, the CA bundle of its serving certificate
//! and the CAs of signers; it is made once, by the operator, and compared out of band by its
//! fingerprints. Everything that comes back on the media is checked against it.
//!
//! `--from-kubeconfig` reads only the server, the CA (`certificate-authority-data`, or the
//! file `certificate-authority` names) and `tls-server-name` of one cluster entry: users,
//! credentials, exec plugins and auth providers are never read into a value, let alone run.

mod from_kubeconfig;
mod input;

use std::collections::BTreeMap;
use std::path::Path;

use kcsr_core::station::{self, API_VERSION, CLIENT_SIGNERS, ClusterPin, PIN_KIND};
use kcsr_core::time;
use serde_json::{Value, json};

use crate::cli::{ClusterAddArgs, ClusterCommand, ClusterListArgs, ClusterRemoveArgs};
use crate::cmd::verify::unix_now;
use crate::fail::{Fail, Result};
use crate::report;
use crate::station::Station;
use from_kubeconfig::from_kubeconfig;
use input::{ServerSource, check_server, check_tls_server_name, read_cas};

pub(crate) fn run(command: ClusterCommand) -> Result<()> {
    match command {
        ClusterCommand::Add(args) => add(args),
        ClusterCommand::List(args) => list(&args),
        ClusterCommand::Remove(args) => remove(&args),
    }
}

fn add(args: ClusterAddArgs) -> Result<()> {
    let station = Station::new(&args.keys);
    let pin = new_pin(&args)?;
    let existing = match station.pin(&args.name) {
        Ok(p) => p,
        // A damaged pin is replaced only on request.
        Err(fail) if args.force => {
            report::say(&format!(
                "warning: replacing a damaged pin: {}",
                fail.message
            ));
            None
        }
        Err(fail) => return Err(fail),
    };
    let status = match &existing {
        Some(old) if same_anchors(old, &pin) => "unchanged",
        Some(old) if !args.force => {
            return Err(Fail::new(format!(
                "cluster {:?} is already pinned with other trust anchors\n  pinned: {}\n  given:  {}",
                args.name.as_str(),
                anchors_line(old),
                anchors_line(&pin)
            ))
            .hint("compare both with the cluster out of band; pass --force to replace the pin, or choose another NAME")
            .refused());
        }
        Some(_) => "replaced",
        None => "pinned",
    };
    let path = if status == "unchanged" {
        station.pin_path(&args.name)
    } else {
        station.save_pin(&pin)?
    };
    let shown = existing
        .as_ref()
        .filter(|_| status == "unchanged")
        .unwrap_or(&pin);
    say_added(&args, status, &path, shown)
}

/// The pin the operator gave, checked as every later use reads it.
fn new_pin(args: &ClusterAddArgs) -> Result<ClusterPin> {
    let from = match (&args.server, &args.ca, &args.from_kubeconfig) {
        (Some(server), Some(ca), None) => ServerSource {
            server: server.clone(),
            ca_pem: read_cas(ca, "--ca")?,
            tls_server_name: None,
            source: format!("--server {server} --ca {}", ca.display()),
        },
        (None, None, Some(kubeconfig)) => from_kubeconfig(kubeconfig, args.context.as_deref())?,
        // clap requires exactly one of the two forms.
        _ => {
            return Err(Fail::new(
                "give --server URL --ca FILE, or --from-kubeconfig FILE",
            ));
        }
    };
    let server = check_server(&from.server)?;
    let tls_server_name = match args.tls_server_name.clone().or(from.tls_server_name) {
        Some(n) => Some(check_tls_server_name(&n)?),
        None => None,
    };
    let pin = ClusterPin {
        api_version: API_VERSION.to_owned(),
        kind: PIN_KIND.to_owned(),
        name: args.name.clone(),
        server,
        tls_server_name,
        certificate_authority: from.ca_pem,
        signer_cas: signer_cas(args)?,
        added_at: time::format_rfc3339(unix_now()),
        source: from.source,
    };
    // What is saved must read back: the same checks as every later use.
    ClusterPin::parse(pin.to_json().as_bytes()).map_err(|e| {
        Fail::new(format!(
            "the pin of {:?} would be unusable: {e}",
            pin.name.as_str()
        ))
    })?;
    Ok(pin)
}

/// The CAs of signers: `--client-ca` for both client signers, `--signer-ca` for each named.
fn signer_cas(args: &ClusterAddArgs) -> Result<BTreeMap<String, String>> {
    let mut signer_cas = BTreeMap::new();
    if let Some(file) = &args.client_ca {
        let pem = read_cas(file, "--client-ca")?;
        for signer in CLIENT_SIGNERS {
            signer_cas.insert(signer.to_owned(), pem.clone());
        }
    }
    for (signer, file) in &args.signer_cas {
        let pem = read_cas(file, "--signer-ca")?;
        if let Some(before) = signer_cas.insert(signer.as_str().to_owned(), pem.clone())
            && before != pem
        {
            return Err(
                Fail::new(format!("two different CAs were given for signer {signer}")).hint(
                    "give each signer one CA bundle (--client-ca covers both client signers)",
                ),
            );
        }
    }
    Ok(signer_cas)
}

fn say_added(args: &ClusterAddArgs, status: &str, path: &Path, shown: &ClusterPin) -> Result<()> {
    if args.output.json {
        report::json(&json!({
            "status": status,
            "path": path.display().to_string(),
            "cluster": pin_json(shown),
        }))?;
        return Ok(());
    }
    if !args.output.quiet {
        report::say(&match status {
            "unchanged" => format!(
                "kcsr: cluster {:?} is already pinned with these anchors ({}); nothing changed",
                args.name.as_str(),
                path.display()
            ),
            _ => format!(
                "kcsr: cluster {:?} {status} in {}",
                args.name.as_str(),
                path.display()
            ),
        });
    }
    report::data(&describe(shown))?;
    if !args.output.quiet {
        report::say(
            "compare every sha256: fingerprint above with the cluster's own, out of band (on a control-plane node: openssl x509 -in /etc/kubernetes/pki/ca.crt -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum); only that comparison protects the first trip",
        );
    }
    Ok(())
}

fn list(args: &ClusterListArgs) -> Result<()> {
    let pins = Station::new(&args.keys).pins()?;
    if args.output.json {
        return report::json(&json!({"clusters": pins.iter().map(pin_json).collect::<Vec<_>>()}));
    }
    if pins.is_empty() {
        if !args.output.quiet {
            report::say(&format!(
                "kcsr: no cluster is pinned in {}; pin one with kcsr cluster add NAME --keys {} …",
                args.keys.display(),
                args.keys.display()
            ));
        }
        return Ok(());
    }
    let text: Vec<String> = pins.iter().map(describe).collect();
    report::data(&text.join("\n"))
}

fn remove(args: &ClusterRemoveArgs) -> Result<()> {
    let station = Station::new(&args.keys);
    let path = station.remove_pin(&args.name)?;
    // Records keep the name and fingerprints; assemble needs the pin again for them.
    let naming = station
        .records()
        .map(|rs| {
            rs.iter()
                .filter(|r| r.cluster.as_ref() == Some(&args.name))
                .count()
        })
        .unwrap_or(0);
    if args.output.json {
        return report::json(&json!({
            "removed": args.name.as_str(),
            "path": path.display().to_string(),
            "records": naming,
        }));
    }
    if !args.output.quiet {
        report::say(&format!(
            "kcsr: cluster {:?} removed ({})",
            args.name.as_str(),
            path.display()
        ));
        if naming > 0 {
            report::say(&format!(
                "  {naming} request record(s) name it: their certificates can be assembled and renewed only after it is pinned again"
            ));
        }
    }
    Ok(())
}

/// Whether two pins hold the same trust anchors (the time and source aside).
fn same_anchors(a: &ClusterPin, b: &ClusterPin) -> bool {
    a.server == b.server
        && a.tls_server_name == b.tls_server_name
        && a.server_fingerprints().ok() == b.server_fingerprints().ok()
        && signer_fingerprints(a) == signer_fingerprints(b)
}

fn signer_fingerprints(pin: &ClusterPin) -> BTreeMap<String, Vec<String>> {
    pin.signer_cas
        .keys()
        .map(|s| {
            let fps = pin
                .signer_cas(s)
                .ok()
                .flatten()
                .map(|cas| station::fingerprints(&cas))
                .unwrap_or_default();
            (s.clone(), fps)
        })
        .collect()
}

/// One line naming a pin's anchors, for the refusal that shows two.
fn anchors_line(pin: &ClusterPin) -> String {
    let mut s = format!(
        "server {}, server CA {}",
        pin.server,
        pin.server_fingerprints().unwrap_or_default().join(" ")
    );
    for (signer, fps) in signer_fingerprints(pin) {
        s.push_str(&format!(", {signer} CA {}", fps.join(" ")));
    }
    s
}

/// The pin as `cluster list` and `cluster add` print it: name, server, every fingerprint.
fn describe(pin: &ClusterPin) -> String {
    let mut out = format!("cluster {}\n  server      {}\n", pin.name, pin.server);
    if let Some(n) = &pin.tls_server_name {
        out.push_str(&format!("  tls name    {n}\n"));
    }
    for ca in pin.server_cas().unwrap_or_default() {
        out.push_str(&format!(
            "  server CA   {}  {}\n",
            ca.ca_fingerprint(),
            report::sanitize(&ca.subject.display)
        ));
    }
    for (signer, fps) in signer_fingerprints(pin) {
        for fp in fps {
            out.push_str(&format!("  signer CA   {fp}  {signer}\n"));
        }
    }
    out.push_str(&format!(
        "  added       {} from {}\n",
        pin.added_at,
        report::sanitize(&pin.source)
    ));
    out
}

fn pin_json(pin: &ClusterPin) -> Value {
    json!({
        "name": pin.name.as_str(),
        "server": pin.server,
        "tlsServerName": pin.tls_server_name,
        "serverCaSha256": pin.server_fingerprints().unwrap_or_default(),
        "signerCaSha256": signer_fingerprints(pin),
        "addedAt": pin.added_at,
        "source": pin.source,
    })
}
