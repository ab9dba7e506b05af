//! `kcsr cluster add|list|remove`: the station's pins of the clusters it makes requests for
//! (decision 0009). A pin holds the API server URL, the CA bundle of its serving certificate
//! and the CAs of signers; it is made once, by the operator, and compared out of band by its
//! fingerprints. Everything that comes back on the media is checked against it.
//!
//! `--from-kubeconfig` reads only the server, the CA (`certificate-authority-data`, or the
//! file `certificate-authority` names) and `tls-server-name` of one cluster entry: users,
//! credentials, exec plugins and auth providers are never read into a value, let alone run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kcsr_core::cert::{self, CertInfo};
use kcsr_core::station::{self, API_VERSION, CLIENT_SIGNERS, ClusterPin, PIN_KIND};
use kcsr_core::{pem, time, yaml};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::cli::{ClusterAddArgs, ClusterCommand, ClusterListArgs, ClusterRemoveArgs};
use crate::cmd::verify::unix_now;
use crate::fail::{Fail, Result};
use crate::report;
use crate::station::Station;

/// Largest kubeconfig or CA file read.
const MAX_INPUT_BYTES: u64 = 1 << 20;

pub(crate) fn run(command: ClusterCommand) -> Result<()> {
    match command {
        ClusterCommand::Add(args) => add(args),
        ClusterCommand::List(args) => list(&args),
        ClusterCommand::Remove(args) => remove(&args),
    }
}

/// Where the server and its CA came from.
struct ServerSource {
    server: String,
    ca_pem: String,
    tls_server_name: Option<String>,
    source: String,
}

fn add(args: ClusterAddArgs) -> Result<()> {
    let station = Station::new(&args.keys);
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
    let tls_server_name = match args.tls_server_name.or(from.tls_server_name) {
        Some(n) => Some(check_tls_server_name(&n)?),
        None => None,
    };
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
    let pin = ClusterPin {
        api_version: API_VERSION.to_owned(),
        kind: PIN_KIND.to_owned(),
        name: args.name.clone(),
        server,
        tls_server_name,
        certificate_authority: from.ca_pem,
        signer_cas,
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

/// Reads a CA bundle (PEM, or one DER certificate) and returns it as PEM. Refuses a file
/// holding a private key without showing any of it.
fn read_cas(path: &Path, flag: &str) -> Result<String> {
    let data = kcsr_fs::read_limited(path, MAX_INPUT_BYTES)
        .map_err(|e| Fail::new(format!("{flag} {}: {e}", path.display())))?;
    cas_pem(&data, &format!("{flag} {}", path.display()))
}

/// The certificates of `data` as PEM; `what` names where they came from.
fn cas_pem(data: &[u8], what: &str) -> Result<String> {
    if pem::contains_private_key_marker(data) {
        return Err(Fail::new(format!(
            "{what} holds a private key; a CA file holds only certificates"
        ))
        .hint("give the CA certificate (ca.crt), never its key"));
    }
    let cas: Vec<CertInfo> = cert::parse_all(data).map_err(|e| {
        Fail::new(format!("{what}: {e}"))
            .hint("give the CA certificate as PEM (-----BEGIN CERTIFICATE-----) or DER")
    })?;
    for ca in &cas {
        if !ca.is_ca {
            report::say(&format!(
                "warning: {what}: {} is not a CA certificate (no basicConstraints CA:TRUE); it is pinned as given",
                report::sanitize(&ca.subject.display)
            ));
        }
    }
    Ok(cas
        .iter()
        .map(|c| pem::encode("CERTIFICATE", &c.der))
        .collect())
}

/// An https URL with a host and no credentials.
fn check_server(url: &str) -> Result<String> {
    let fail = |why: &str| {
        Fail::new(format!("server {:?} {why}", report::sanitize(url)))
            .hint("give the API server's URL, e.g. --server https://10.0.0.1:6443")
    };
    let Some(rest) = url.strip_prefix("https://") else {
        return Err(fail("is not an https:// URL"));
    };
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(fail("holds spaces or control characters"));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(Fail::new(
            "the server URL holds credentials (user@host); a pin never keeps credentials",
        )
        .hint("give the URL without the user part, e.g. https://10.0.0.1:6443"));
    }
    if authority.is_empty() || authority.starts_with(':') {
        return Err(fail("has no host"));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

fn check_tls_server_name(name: &str) -> Result<String> {
    if name.is_empty()
        || name.len() > 253
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
    {
        return Err(Fail::new(format!(
            "tls-server-name {:?} is not a host name",
            report::sanitize(name)
        ))
        .hint("give the name the API server's certificate holds, e.g. kubernetes.default.svc"));
    }
    Ok(name.to_owned())
}

/// The parts of a kubeconfig a pin is made of. Unknown fields (users, credentials, exec
/// plugins, auth providers, proxies) are skipped by the parser and never kept.
#[derive(Deserialize)]
struct Kubeconfig {
    #[serde(default)]
    clusters: Option<Vec<NamedCluster>>,
    #[serde(default)]
    contexts: Option<Vec<NamedContext>>,
    #[serde(default, rename = "current-context")]
    current_context: Option<String>,
}

#[derive(Deserialize)]
struct NamedCluster {
    name: String,
    cluster: Option<ClusterEntry>,
}

#[derive(Deserialize)]
struct NamedContext {
    name: String,
    context: Option<ContextEntry>,
}

#[derive(Deserialize)]
struct ClusterEntry {
    server: Option<String>,
    #[serde(rename = "certificate-authority-data")]
    ca_data: Option<String>,
    #[serde(rename = "certificate-authority")]
    ca_file: Option<String>,
    #[serde(rename = "tls-server-name")]
    tls_server_name: Option<String>,
    #[serde(rename = "insecure-skip-tls-verify", default)]
    insecure: Option<bool>,
}

#[derive(Deserialize)]
struct ContextEntry {
    cluster: Option<String>,
}

fn from_kubeconfig(path: &Path, context: Option<&str>) -> Result<ServerSource> {
    let shown = path.display();
    let data = kcsr_fs::read_limited(path, MAX_INPUT_BYTES)
        .map_err(|e| Fail::new(format!("--from-kubeconfig {shown}: {e}")))?;
    // Snippets hidden: a parse error must not echo a token from the file.
    let kc: Kubeconfig = yaml::parse_one(&data, yaml::Snippets::Hide).map_err(|e| {
        Fail::new(format!("{shown}: {e}"))
            .hint("give a kubeconfig file (kubectl config view --raw writes one)")
    })?;
    let contexts = kc.contexts.unwrap_or_default();
    let wanted = match context {
        Some(c) => c.to_owned(),
        None => kc
            .current_context
            .filter(|c| !c.is_empty())
            .ok_or_else(|| {
                Fail::new(format!("{shown} has no current-context"))
                    .hint(format!("choose one with --context ({})", names(&contexts)))
            })?,
    };
    let cluster_name = contexts
        .iter()
        .find(|c| c.name == wanted)
        .ok_or_else(|| {
            Fail::new(format!(
                "{shown} has no context {:?}",
                report::sanitize(&wanted)
            ))
            .hint(format!("its contexts: {}", names(&contexts)))
        })?
        .context
        .as_ref()
        .and_then(|c| c.cluster.clone())
        .ok_or_else(|| {
            Fail::new(format!(
                "{shown}: context {:?} names no cluster",
                report::sanitize(&wanted)
            ))
        })?;
    let clusters = kc.clusters.unwrap_or_default();
    let entry = clusters
        .iter()
        .find(|c| c.name == cluster_name)
        .and_then(|c| c.cluster.as_ref())
        .ok_or_else(|| {
            Fail::new(format!(
                "{shown}: context {:?} names cluster {:?}, which the file does not define",
                report::sanitize(&wanted),
                report::sanitize(&cluster_name)
            ))
        })?;
    let what = format!("{shown}: cluster {:?}", report::sanitize(&cluster_name));
    if entry.insecure == Some(true) {
        return Err(Fail::new(format!(
            "{what} skips TLS verification (insecure-skip-tls-verify); there is no CA to pin"
        ))
        .hint(
            "pin the cluster with --server URL --ca FILE, the CA taken from a control-plane node",
        ));
    }
    let server = entry
        .server
        .clone()
        .ok_or_else(|| Fail::new(format!("{what} has no server")))?;
    let ca_pem = match (&entry.ca_data, &entry.ca_file) {
        (Some(b64), _) => {
            let der_or_pem = STANDARD
                .decode(b64.split_whitespace().collect::<String>())
                .map_err(|_| {
                    Fail::new(format!("{what}: certificate-authority-data is not base64"))
                })?;
            cas_pem(&der_or_pem, &format!("{what}: certificate-authority-data"))?
        }
        (None, Some(file)) => {
            // As kubectl does: relative to the kubeconfig's directory.
            let p = PathBuf::from(file);
            let p = if p.is_absolute() {
                p
            } else {
                path.parent().unwrap_or(Path::new(".")).join(p)
            };
            let data = kcsr_fs::read_limited(&p, MAX_INPUT_BYTES).map_err(|e| {
                Fail::new(format!(
                    "{what}: certificate-authority {}: {e}",
                    p.display()
                ))
            })?;
            cas_pem(
                &data,
                &format!("{what}: certificate-authority {}", p.display()),
            )?
        }
        (None, None) => {
            return Err(Fail::new(format!(
                "{what} names no CA (certificate-authority-data or certificate-authority): kubectl trusts the system's CAs for it"
            ))
            .hint("pin the cluster with --server URL --ca FILE, the CA of its serving certificate"));
        }
    };
    Ok(ServerSource {
        server,
        ca_pem,
        tls_server_name: entry.tls_server_name.clone(),
        source: format!("kubeconfig {shown}, context {}", report::sanitize(&wanted)),
    })
}

fn names(list: &[NamedContext]) -> String {
    if list.is_empty() {
        return "none".to_owned();
    }
    list.iter()
        .map(|n| report::sanitize(&n.name))
        .collect::<Vec<_>>()
        .join(", ")
}
