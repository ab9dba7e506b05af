//! The clusters a run assembles for: the station's pins, and the pins a first trip proposes
//! from a bundle, made only when the operator gives every fingerprint, compared out of band
//! (decision 0009: only that comparison protects the first trip).

use std::collections::BTreeMap;
use std::io::{BufRead as _, IsTerminal as _};

use kcsr_core::bundle::Bundle;
use kcsr_core::cert;
use kcsr_core::station::{self, API_VERSION, CLIENT_SIGNERS, ClusterName, ClusterPin, PIN_KIND};
use kcsr_core::time;

use crate::fail::{Fail, Result};
use crate::report;
use crate::station::Station;

/// A pin in use by this run.
pub(super) struct Slot {
    pub(super) pin: ClusterPin,
    /// Proposed from a bundle in this run; saved only once trusted.
    pub(super) new: bool,
    /// The bundle file it was proposed from.
    pub(super) from: String,
}

/// The pins this run uses, by name.
pub(super) struct Pins {
    station: Station,
    slots: BTreeMap<ClusterName, Slot>,
}

impl Pins {
    pub(super) fn new(station: Station) -> Self {
        Self {
            station,
            slots: BTreeMap::new(),
        }
    }

    pub(super) fn station(&self) -> &Station {
        &self.station
    }

    /// The pin `name`: the station's, one proposed earlier in this run, or (when
    /// `propose_from` gives a bundle) a new one proposed from that bundle.
    pub(super) fn get(
        &mut self,
        name: &ClusterName,
        signer: &str,
        propose_from: (&str, &Bundle),
        now: i64,
    ) -> Result<&Slot> {
        if !self.slots.contains_key(name) {
            let slot = match self.station.pin(name)? {
                Some(pin) => Slot {
                    pin,
                    new: false,
                    from: String::new(),
                },
                None => {
                    let (file, bundle) = propose_from;
                    Slot {
                        pin: propose(name, signer, file, bundle, now)?,
                        new: true,
                        from: file.to_owned(),
                    }
                }
            };
            self.slots.insert(name.clone(), slot);
        }
        self.slots
            .get(name)
            .ok_or_else(|| Fail::new(format!("cluster {name} vanished")))
    }

    /// Checks the operator's fingerprints against the pins of this run, asking on a terminal
    /// when none were given: every new pin's fingerprints must all be given, and every given
    /// one must be a fingerprint of this run's pins.
    pub(super) fn trust(&self, given: &[String]) -> Result<()> {
        let new: Vec<(&ClusterName, &Slot)> = self.slots.iter().filter(|(_, s)| s.new).collect();
        let mut given: Vec<String> = given.to_vec();
        if !new.is_empty() && given.is_empty() {
            given = ask(&new)?;
        }
        let mut known = Vec::new();
        for slot in self.slots.values() {
            known.extend(all_fingerprints(&slot.pin)?);
        }
        if let Some(wrong) = given.iter().find(|g| !known.contains(g)) {
            return Err(Fail::new(format!(
                "{wrong} is not a fingerprint of the cluster{} these bundles are for; nothing was pinned or written\n{}",
                if self.slots.len() == 1 { "" } else { "s" },
                describe_all(self.slots.iter().collect())?
            ))
            .hint("do not trust these bundles: the media may have been rewritten. Ask the cluster's administrator again, out of band, for the CA fingerprints")
            .refused());
        }
        for (name, slot) in &new {
            let missing: Vec<String> = all_fingerprints(&slot.pin)?
                .into_iter()
                .filter(|f| !given.contains(f))
                .collect();
            if !missing.is_empty() {
                return Err(Fail::new(format!(
                    "cluster {name} is not pinned yet, and {} of its fingerprints {} not given; nothing was pinned or written\n{}",
                    missing.len(),
                    if missing.len() == 1 { "was" } else { "were" },
                    describe(name, slot)?
                ))
                .hint(format!(
                    "compare every fingerprint above with the cluster's administrator, out of band (not from this media), then pass each with --trust-cluster; or pin the cluster first with kcsr cluster add {name}"
                ))
                .refused());
            }
        }
        Ok(())
    }

    /// Saves the new pins (once [`Pins::trust`] held).
    pub(super) fn save(&self) -> Result<Vec<ClusterName>> {
        let mut saved = Vec::new();
        for (name, slot) in self.slots.iter().filter(|(_, s)| s.new) {
            self.station.save_pin(&slot.pin)?;
            saved.push(name.clone());
        }
        Ok(saved)
    }
}

/// The pin a first trip would make from a bundle: its server, server CA and client CA (for
/// the client signers together, as `kcsr cluster add --client-ca` does).
fn propose(
    name: &ClusterName,
    signer: &str,
    file: &str,
    b: &Bundle,
    now: i64,
) -> Result<ClusterPin> {
    let refuse = |why: String| {
        Fail::new(format!(
            "{file}: cluster {name} is not pinned, and {why}"
        ))
        .hint(format!(
            "pin it with kcsr cluster add {name} (its CA and client CA from a copy you trust), then run kcsr assemble again"
        ))
        .refused()
    };
    let Some(ca) = &b.cluster.certificate_authority else {
        return Err(refuse("the bundle carries no server CA to pin".to_owned()));
    };
    let Some(client_ca) = &b.client_ca else {
        return Err(refuse(format!(
            "the bundle carries no client CA to pin for signer {signer}"
        )));
    };
    if !b.cluster.server.starts_with("https://") {
        return Err(refuse(format!(
            "the bundle's server {:?} is not an https:// URL",
            report::sanitize(&b.cluster.server)
        )));
    }
    let mut signer_cas = BTreeMap::new();
    let signers: Vec<&str> = if CLIENT_SIGNERS.contains(&signer) {
        CLIENT_SIGNERS.to_vec()
    } else {
        vec![signer]
    };
    for s in signers {
        signer_cas.insert(s.to_owned(), client_ca.clone());
    }
    let pin = ClusterPin {
        api_version: API_VERSION.to_owned(),
        kind: PIN_KIND.to_owned(),
        name: name.clone(),
        server: b.cluster.server.clone(),
        tls_server_name: b.cluster.tls_server_name.clone(),
        certificate_authority: ca.clone(),
        signer_cas,
        added_at: time::format_rfc3339(now),
        source: format!(
            "kcsr assemble --trust-cluster: server and CAs from {file}, fingerprints compared out of band"
        ),
    };
    // The same checks as a pin read from the station (certificates parse, https server).
    ClusterPin::parse(pin.to_json().as_bytes()).map_err(|e| refuse(format!("the bundle's {e}")))
}

/// Every fingerprint a pin holds: its server CAs and each signer's CAs.
fn all_fingerprints(pin: &ClusterPin) -> Result<Vec<String>> {
    let mut out = pin.server_fingerprints().map_err(pin_damaged(pin))?;
    for signer in pin.signer_cas.keys() {
        if let Some(cas) = pin.signer_cas(signer).map_err(pin_damaged(pin))? {
            out.extend(station::fingerprints(&cas));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn pin_damaged(pin: &ClusterPin) -> impl Fn(station::StationError) -> Fail + '_ {
    move |e| Fail::new(format!("pin {}: {e}", pin.name))
}

/// What the operator compares: the server and every CA with its fingerprint.
fn describe(name: &ClusterName, slot: &Slot) -> Result<String> {
    let pin = &slot.pin;
    let mut out = format!(
        "  cluster {name}{}\n    server     {}{}\n",
        if slot.new {
            format!(" (not pinned; as {} says)", slot.from)
        } else {
            " (pinned)".to_owned()
        },
        report::sanitize(&pin.server),
        pin.tls_server_name
            .as_deref()
            .map(|n| format!(" (TLS server name {})", report::sanitize(n)))
            .unwrap_or_default()
    );
    for ca in pin.server_cas().map_err(pin_damaged(pin))? {
        out.push_str(&format!(
            "    server CA  {}  {}\n",
            ca.ca_fingerprint(),
            report::sanitize(&ca.subject.display)
        ));
    }
    let mut seen = Vec::new();
    for signer in pin.signer_cas.keys() {
        for ca in pin
            .signer_cas(signer)
            .map_err(pin_damaged(pin))?
            .unwrap_or_default()
        {
            let fp = ca.ca_fingerprint();
            if !seen.contains(&fp) {
                out.push_str(&format!(
                    "    client CA  {fp}  {}\n",
                    report::sanitize(&ca.subject.display)
                ));
                seen.push(fp);
            }
        }
    }
    Ok(out.trim_end().to_owned())
}

fn describe_all(slots: Vec<(&ClusterName, &Slot)>) -> Result<String> {
    Ok(slots
        .into_iter()
        .map(|(n, s)| describe(n, s))
        .collect::<Result<Vec<_>>>()?
        .join("\n"))
}

/// On a terminal, shows each new cluster and reads the fingerprints the operator types or
/// pastes; a bare "y" is no fingerprint. Without a terminal, refuses with what to compare.
fn ask(new: &[(&ClusterName, &Slot)]) -> Result<Vec<String>> {
    let shown = describe_all(new.to_vec())?;
    if !std::io::stdin().is_terminal() {
        return Err(Fail::new(format!(
            "the cluster{} of these bundles {} not pinned; nothing was pinned or written\n{shown}",
            if new.len() == 1 { "" } else { "s" },
            if new.len() == 1 { "is" } else { "are" }
        ))
        .hint("compare these fingerprints with the cluster's administrator, out of band (not from this media), then pass each with --trust-cluster sha256:…; or pin the cluster first with kcsr cluster add")
        .refused());
    }
    report::say(&format!(
        "These bundles are for a cluster this station has not pinned:\n{shown}\n\
         Only comparing the fingerprints with the cluster's administrator, out of band (not \
         from this media), protects this first trip."
    ));
    report::say(
        "Type or paste every fingerprint above as you received it (sha256:…, separated by spaces), then Enter:",
    );
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Fail::new(format!("failed to read the fingerprints: {e}")))?;
    let mut given = Vec::new();
    for word in line.split(|c: char| c.is_whitespace() || c == ',') {
        if word.is_empty() {
            continue;
        }
        let lower = word.to_ascii_lowercase();
        if !station::is_ca_fingerprint(&lower) {
            return Err(Fail::new(format!(
                "{:?} is not a CA fingerprint (sha256: and 64 hex digits); nothing was pinned or written",
                report::sanitize(word)
            ))
            .hint("type or paste the fingerprints themselves: a confirmation such as \"y\" does not pin a cluster")
            .refused());
        }
        given.push(lower);
    }
    if given.is_empty() {
        return Err(Fail::new("no fingerprint given; nothing was pinned or written")
            .hint("type or paste the fingerprints you compared out of band, or pass them with --trust-cluster")
            .refused());
    }
    Ok(given)
}

/// `sha256:HEX` of every CA in `pem`, sorted.
pub(super) fn fingerprints_of(pem: &str) -> std::result::Result<Vec<String>, String> {
    cert::parse_all(pem.as_bytes())
        .map(|cas| station::fingerprints(&cas))
        .map_err(|e| e.to_string())
}
