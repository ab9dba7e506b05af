//! In-process cost of one request: key generation, CSR, checks, manifest YAML.
//! Run: `cargo bench -p kcsr-core --bench request` (numbers go to docs/performance.md).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark may panic

use std::time::{Duration, Instant};

use kcsr_core::checks::{self, Request};
use kcsr_core::key::{KeyType, PrivateKey};
use kcsr_core::manifest::{self, ApiVersion, CsrManifest, NameInputs, NewCsrManifest};
use kcsr_core::names::{GroupName, UserName};
use kcsr_core::signer::SignerName;

fn one_request(kt: KeyType, i: usize) -> usize {
    let user: UserName = format!("user{i}").parse().unwrap();
    let groups: Vec<GroupName> = vec!["dev".parse().unwrap()];
    let key = PrivateKey::generate(kt).unwrap();
    let key_pem = key.to_pem();
    let csr = key.sign_csr(&user, &groups, &[], &[]).unwrap();
    let signer = SignerName::client();
    let usages = checks::default_usages(Some(&signer), key.kind());
    let expiration = Some("30d".parse().unwrap());
    let findings = checks::check(&Request {
        api_version: ApiVersion::V1,
        signer: Some(&signer),
        usages: &usages,
        expiration_seconds: Some(2_592_000),
        csr: &csr,
    });
    assert!(!checks::has_errors(&findings));
    let slug = user.slug();
    let subject = vec![user.as_str().to_owned()];
    let name = manifest::default_object_name(&NameInputs {
        user_slug: &slug,
        spki_der: &csr.public_key.spki_der,
        subject: &subject,
        signer: Some(&signer),
        usages: &usages,
        expiration,
        api_version: ApiVersion::V1,
        cluster: None,
    });
    let yaml = CsrManifest::new(&NewCsrManifest {
        api_version: ApiVersion::V1,
        name: &name,
        csr: &csr,
        signer: Some(&signer),
        usages: &usages,
        expiration,
    })
    .to_yaml()
    .unwrap();
    key_pem.len() + yaml.len()
}

fn measure(kt: KeyType, n: usize) {
    let mut times: Vec<Duration> = Vec::with_capacity(n);
    one_request(kt, 0); // warm-up
    let all = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        std::hint::black_box(one_request(kt, i));
        times.push(t.elapsed());
    }
    let total = all.elapsed();
    times.sort();
    let median = times[n / 2];
    let p95 = times[n * 95 / 100];
    println!(
        "{:<8} n={n:<5} total {:>9.3} s  median {:>9.3} ms  p95 {:>9.3} ms  max {:>9.3} ms",
        kt.as_str(),
        total.as_secs_f64(),
        median.as_secs_f64() * 1e3,
        p95.as_secs_f64() * 1e3,
        times[n - 1].as_secs_f64() * 1e3
    );
}

fn main() {
    let n: usize = std::env::var("KCSR_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    println!("kcsr-core: one request = keygen + CSR + checks + manifest YAML, one thread");
    for kt in [
        KeyType::P256,
        KeyType::Ed25519,
        KeyType::P384,
        KeyType::Rsa2048,
    ] {
        measure(kt, n);
    }
}
