//! Operator commands for the hotline, the donor desk and the auditor: each builds a body, signs
//! it with the operator's key file and submits it, so nobody writes JSON by hand.

use crate::client;
use crate::keys;
use anyhow::{bail, Context, Result};
use ed25519_dalek::SigningKey;
use ledger_core::commitment::{commitment, Identity, SALT_BYTES};
use ledger_core::dsse::Envelope;
use ledger_core::encoding::hex32;
use ledger_core::entry::VerifiedEntry;
use ledger_core::merkle::Frontier;
use ledger_core::types::{Kind, Population};
use serde_json::{json, Value};
use std::path::Path;

/// Entries fetched per page while the auditor recomputes a sample.
const PAGE: u64 = 1000;

/// Prints a fresh (or given) salt and the commitment of an identity. The identity never
/// leaves this machine and is never printed back.
pub fn commitment_cmd(identity: &str, salt_hex: Option<&str>) -> Result<()> {
    let identity = Identity::parse(identity).map_err(|e| anyhow::anyhow!("identity: {e}"))?;
    let salt: [u8; SALT_BYTES] = match salt_hex {
        Some(h) => hex32(h).context("the salt is 64 lower-case hex characters")?,
        None => rand::random(),
    };
    println!("salt:       {}", hex::encode(salt));
    println!("commitment: {}", commitment(&salt, &identity).to_hex());
    Ok(())
}

/// Signs a body with every key and submits it; prints the seq.
pub fn sign_and_submit(url: &str, key_files: &[impl AsRef<Path>], body: &Value) -> Result<u64> {
    let keys: Vec<SigningKey> =
        key_files.iter().map(|p| keys::read_secret(p.as_ref())).collect::<Result<_>>()?;
    let refs: Vec<&SigningKey> = keys.iter().collect();
    let bytes = serde_json::to_vec(body)?;
    ledger_core::event::parse_body(&bytes)
        .map_err(|e| anyhow::anyhow!("the event is refused before sending: {e}"))?;
    let envelope = Envelope::sign(&bytes, &refs);
    let endpoint = format!("{}/v1/entries", url.trim_end_matches('/'));
    let (status, answer) = client::post_json(&client::agent(), &endpoint, envelope.to_json().as_bytes())?;
    if status != 200 && status != 201 {
        bail!(
            "refused ({status} {}{}): {}",
            answer["error"].as_str().unwrap_or("?"),
            answer["rule"].as_str().map(|r| format!(", rule {r}")).unwrap_or_default(),
            answer["message"].as_str().unwrap_or("")
        );
    }
    let seq = answer["seq"].as_u64().context("the node answered without a seq")?;
    println!(
        "{} {} logged at seq {seq}",
        body["kind"].as_str().unwrap_or(""),
        body["id"].as_str().unwrap_or("")
    );
    Ok(seq)
}

fn get_json(url: &str) -> Result<Value> {
    let response = match client::agent().get(url).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => return Err(e).with_context(|| format!("GET {url}")),
    };
    let status = response.status();
    let v: Value = response.into_json().with_context(|| format!("reading {url}"))?;
    if status != 200 {
        bail!(
            "{url}: {status} {}: {}",
            v["error"].as_str().unwrap_or("error"),
            v["message"].as_str().unwrap_or("")
        );
    }
    Ok(v)
}

/// Fetches a donation's receipt bundle, saves it, and prints a receipt a donor can keep: the
/// figures, the code, and a QR payload that opens the check on the public page.
pub fn receipt_cmd(url: &str, donation: &str, out: &Path) -> Result<()> {
    let base = url.trim_end_matches('/');
    let bundle = get_json(&format!("{base}/v1/donations/{donation}/receipt"))?;
    let detail = get_json(&format!("{base}/v1/donations/{donation}"))?;
    std::fs::write(out, serde_json::to_vec_pretty(&bundle)?)
        .with_context(|| format!("writing {}", out.display()))?;
    let d = &detail["donation"];
    let what = match (d["amount_fen"].as_u64(), d.get("goods")) {
        (Some(fen), _) => format!("¥{}", crate::demo::yuan(fen)),
        (None, Some(g)) => format!(
            "{} {} {}",
            g["quantity"],
            g["unit"].as_str().unwrap_or(""),
            g["item"].as_str().unwrap_or("")
        ),
        _ => "?".to_string(),
    };
    let to = d["fund"].as_str().or(d["case"].as_str()).unwrap_or("?");
    let payload = format!("{base}/#/verify/{donation}");
    println!("捐赠收据 / Donation receipt");
    println!("  编号 code:        {donation}");
    println!("  金额 amount:      {what}");
    println!("  去向 to:          {to}");
    println!("  日期 date:        {}", d["at"].as_str().unwrap_or(""));
    println!("  日志 log seq:     {} (tree size {})", bundle["seq"], bundle["size"]);
    println!("  日志公钥 log key: {}", bundle["log_key"].as_str().unwrap_or(""));
    println!("  核验 check:       ledger-verify receipt {} --log-key '<the published key>'", out.display());
    println!("  二维码 QR:        {payload}");
    if let Ok(code) = qrcode::QrCode::new(payload.as_bytes()) {
        println!("{}", code.render::<qrcode::render::unicode::Dense1x2>().quiet_zone(true).build());
    }
    println!(
        "请妥善保管您的盐值 (salt):它证明承诺值属于您。Keep your salt: it proves the commitment is yours."
    );
    Ok(())
}

/// The recomputed sample of a plan: downloads the log up to the plan's seed size, computes the
/// root itself (the node's word is not needed), and selects.
pub fn compute_sample(
    url: &str,
    plan_id: &str,
    nonce: &[u8; 32],
) -> Result<(Vec<String>, ledger_core::hash::Hash)> {
    let base = url.trim_end_matches('/');
    let audit = get_json(&format!("{base}/v1/audits/{plan_id}"))?;
    let plan = &audit["plan"];
    let seed_size = plan["seed_size"].as_u64().context("plan has no seed_size")?;
    let (from, to) = (plan["from_seq"].as_u64().unwrap_or(0), plan["to_seq"].as_u64().unwrap_or(0));
    let rate = plan["rate_permille"].as_u64().unwrap_or(0) as u32;
    let population =
        Population::parse(plan["population"].as_str().unwrap_or("")).context("plan population")?;
    let kind = match population {
        Population::Donations => Kind::DonationReceived,
        Population::Cases => Kind::CaseOpened,
        Population::Disbursements => Kind::DisbursementMade,
    };
    let mut frontier = Frontier::new();
    let mut items: Vec<(u64, String)> = Vec::new();
    let agent = client::agent();
    while frontier.size() < seed_size {
        let start = frontier.size();
        let limit = PAGE.min(seed_size - start);
        let page = agent
            .get(&format!("{base}/v1/entries?start={start}&limit={limit}"))
            .call()
            .with_context(|| format!("fetching entries from {start}"))?
            .into_string()?;
        let before = frontier.size();
        for line in page.lines().filter(|l| !l.is_empty()) {
            let entry =
                VerifiedEntry::parse_trusted(line.as_bytes()).map_err(|e| anyhow::anyhow!("entry: {e}"))?;
            if entry.seq() != frontier.size() {
                bail!("the node sent seq {} where {} was expected", entry.seq(), frontier.size());
            }
            if entry.event().kind() == kind && (from..to).contains(&entry.seq()) {
                items.push((entry.seq(), entry.event().id().as_str().to_string()));
            }
            frontier.push(entry.leaf_hash());
        }
        if frontier.size() == before {
            bail!("the log is shorter than the plan's seed size {seed_size}");
        }
    }
    let root = frontier.root();
    let population: Vec<(u64, &str)> = items.iter().map(|(s, id)| (*s, id.as_str())).collect();
    let selected = ledger_core::sample::select(&root, nonce, &population, rate)
        .into_iter()
        .map(str::to_string)
        .collect();
    Ok((selected, root))
}

/// A new random nonce, written to a 0600 file (it is the auditor's secret until the sample).
pub fn new_nonce(path: &Path) -> Result<[u8; 32]> {
    let nonce: [u8; 32] = rand::random();
    keys::write_secret(path, &SigningKey::from_bytes(&nonce))?;
    Ok(nonce)
}

pub fn read_nonce(path: &Path) -> Result<[u8; 32]> {
    Ok(keys::read_secret(path)?.to_bytes())
}

/// The body helpers used by the command line.
pub fn body(kind: &str, id: &str, at: &str, fields: Value) -> Value {
    let mut b = json!({"v": 1, "kind": kind, "id": id, "at": at});
    if let (Value::Object(map), Value::Object(extra)) = (&mut b, fields) {
        map.extend(extra);
    }
    b
}
