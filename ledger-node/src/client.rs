//! The node's HTTP client side: `submit`, `export --url`, and the demo's loader. It talks to a
//! node exactly as any outside client would.

use anyhow::{bail, Context, Result};
use ledger_core::dsse::Envelope;
use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

pub fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new().timeout(Duration::from_secs(120)).build()
}

/// Posts a JSON body; returns (status, body) for any status, so callers can print refusals.
pub fn post_json(agent: &ureq::Agent, url: &str, body: &[u8]) -> Result<(u16, Value)> {
    let response = agent.post(url).set("content-type", "application/json").send_bytes(body);
    let response = match response {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => return Err(e).with_context(|| format!("POST {url}")),
    };
    let status = response.status();
    let value: Value = response.into_json().with_context(|| format!("reading the answer of {url}"))?;
    Ok((status, value))
}

fn read_envelopes(path: &PathBuf) -> Result<Vec<Envelope>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let trimmed = text.trim();
    if let Ok(env) = Envelope::from_json(trimmed.as_bytes()) {
        return Ok(vec![env]);
    }
    trimmed
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, line)| {
            Envelope::from_json(line.as_bytes())
                .map_err(|e| anyhow::anyhow!("{} line {}: {e}", path.display(), i + 1))
        })
        .collect()
}

pub fn submit(url: &str, files: &[PathBuf]) -> Result<()> {
    let agent = agent();
    let endpoint = format!("{}/v1/entries", url.trim_end_matches('/'));
    let mut failed = 0;
    for path in files {
        for env in read_envelopes(path)? {
            let (status, answer) = post_json(&agent, &endpoint, env.to_json().as_bytes())?;
            match status {
                200 | 201 => println!("{}", answer["seq"]),
                _ => {
                    failed += 1;
                    eprintln!(
                        "refused ({status} {}{}): {}",
                        answer["error"].as_str().unwrap_or("?"),
                        answer["rule"].as_str().map(|r| format!(", rule {r}")).unwrap_or_default(),
                        answer["message"].as_str().unwrap_or("")
                    );
                }
            }
        }
    }
    if failed > 0 {
        bail!("{failed} envelope(s) refused");
    }
    Ok(())
}

pub fn export(url: &str, out: &mut impl Write) -> Result<()> {
    let endpoint = format!("{}/v1/export", url.trim_end_matches('/'));
    let response = agent().get(&endpoint).call().with_context(|| format!("GET {endpoint}"))?;
    std::io::copy(&mut response.into_reader(), out)?;
    Ok(())
}
