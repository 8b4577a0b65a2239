//! DSSE v1 envelopes (SPEC.md §1): build, sign, parse strictly, verify. A `VerifiedEnvelope`
//! exists only once every signature has passed `verify_strict` over the PAE of a valid body.

use crate::encoding::{b64_decode_canonical, b64_encode, hex32};
use crate::event::{parse_body, Event};
use crate::limits::{BODY_BYTES_MAX, SIGNATURES_MAX};
use crate::refusal::{refuse, Refusal, Rule};
use crate::types::KeyHex;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

/// The only payload type the ledger accepts.
pub const PAYLOAD_TYPE: &str = "application/vnd.charity-ledger.event.v1+json";

/// An envelope as it travels and as it is stored inside an entry. Field order is the
/// serialisation order, which the entry bytes (and so every hash) depend on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    pub payload: String,
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    pub signatures: Vec<EnvelopeSignature>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeSignature {
    pub keyid: String,
    pub sig: String,
}

/// DSSE's pre-authentication encoding: what each signature signs.
pub fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + payload_type.len() + 32);
    // Writing into a Vec cannot fail; the lengths are formatted in place, not as Strings.
    use std::io::Write;
    let _ = write!(out, "DSSEv1 {} {payload_type} {} ", payload_type.len(), body.len());
    out.extend_from_slice(body);
    out
}

/// The public key of a signing key, as the format writes it.
pub fn key_hex(key: &SigningKey) -> KeyHex {
    KeyHex(key.verifying_key().to_bytes())
}

fn signature_for(key: &SigningKey, pae_bytes: &[u8]) -> EnvelopeSignature {
    EnvelopeSignature { keyid: key_hex(key).to_hex(), sig: b64_encode(&key.sign(pae_bytes).to_bytes()) }
}

impl Envelope {
    /// Signs a body with one or more keys. The body is not checked here: the node checks it.
    pub fn sign(body: &[u8], keys: &[&SigningKey]) -> Envelope {
        let pae_bytes = pae(PAYLOAD_TYPE, body);
        Envelope {
            payload: b64_encode(body),
            payload_type: PAYLOAD_TYPE.to_string(),
            signatures: keys.iter().map(|k| signature_for(k, &pae_bytes)).collect(),
        }
    }

    /// Adds one more signature (dual control, made on the second signer's own machine).
    pub fn add_signature(&self, key: &SigningKey) -> Result<Envelope, Refusal> {
        let body = self.body_bytes()?;
        let keyid = key_hex(key).to_hex();
        if self.signatures.iter().any(|s| s.keyid == keyid) {
            return refuse(Rule::Signatures, format!("key {keyid} has already signed this envelope"));
        }
        let mut out = self.clone();
        out.signatures.push(signature_for(key, &pae(&self.payload_type, &body)));
        Ok(out)
    }

    /// Parses an envelope from JSON with no unknown fields and no duplicate keys.
    pub fn from_json(bytes: &[u8]) -> Result<Envelope, Refusal> {
        serde_json::from_slice(bytes)
            .map_err(|e| Refusal::new(Rule::Envelope, format!("not a DSSE envelope: {e}")))
    }

    pub fn to_json(&self) -> String {
        // An Envelope holds only strings; serialising it cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    fn body_bytes(&self) -> Result<Vec<u8>, Refusal> {
        if self.payload_type != PAYLOAD_TYPE {
            return refuse(Rule::PayloadType, format!("payloadType must be {PAYLOAD_TYPE}"));
        }
        // base64 grows 3 bytes into 4: refuse an over-long payload before decoding it.
        if self.payload.len() > BODY_BYTES_MAX.div_ceil(3) * 4 {
            return refuse(
                Rule::TooLarge,
                format!("payload is over the body limit of {BODY_BYTES_MAX} bytes"),
            );
        }
        b64_decode_canonical(&self.payload)
            .ok_or_else(|| Refusal::new(Rule::Base64, "payload is not canonical padded base64"))
    }

    /// Two envelopes are the same when their payloads are equal and their sets of
    /// (keyid, sig) are equal (SPEC.md §1).
    pub fn same_as(&self, other: &Envelope) -> bool {
        if self.payload != other.payload || self.signatures.len() != other.signatures.len() {
            return false;
        }
        let mut a = self.signatures.clone();
        let mut b = other.signatures.clone();
        a.sort();
        b.sort();
        a == b
    }

    /// Steps 2 and 3 of SPEC.md §8: the envelope and body are well-formed, then every
    /// signature verifies under its keyid with `verify_strict`.
    pub fn verify(&self) -> Result<VerifiedEnvelope, Refusal> {
        self.clone().into_verified(None)
    }

    /// `verify`, keeping this envelope inside the verified one instead of a copy, and reusing
    /// decompressed keys from `cache` (a node sees the same few role keys on every request;
    /// decompressing a key costs about an eighth of a verification).
    pub fn into_verified(self, cache: Option<&KeyCache>) -> Result<VerifiedEnvelope, Refusal> {
        let (body, event, signatures) = self.parse()?;
        let message = pae(&self.payload_type, &body);
        for (key, sig) in &signatures {
            let vk = match cache {
                Some(c) => c.get(key),
                None => VerifyingKey::from_bytes(&key.0).ok(),
            };
            let ok = vk.is_some_and(|vk| vk.verify_strict(&message, sig).is_ok());
            if !ok {
                return refuse(Rule::BadSignature, format!("the signature by {key} does not verify"));
            }
        }
        Ok(VerifiedEnvelope::from_parsed(self, (body, event, signatures)))
    }

    /// For entries this node verified before it wrote them: the stored bytes are the log,
    /// re-reading them must not cost a signature check per entry at start-up. Everything but
    /// the signature equation is still checked.
    pub fn trust_stored(&self) -> Result<VerifiedEnvelope, Refusal> {
        self.clone().into_trusted()
    }

    /// `trust_stored`, keeping this envelope inside the verified one instead of a copy.
    pub fn into_trusted(self) -> Result<VerifiedEnvelope, Refusal> {
        let parsed = self.parse()?;
        Ok(VerifiedEnvelope::from_parsed(self, parsed))
    }

    fn parse(&self) -> Result<ParsedEnvelope, Refusal> {
        let body = self.body_bytes()?;
        if self.signatures.is_empty() || self.signatures.len() > SIGNATURES_MAX {
            return refuse(Rule::Signatures, format!("an envelope carries 1 to {SIGNATURES_MAX} signatures"));
        }
        let mut signatures: Vec<(KeyHex, Signature)> = Vec::with_capacity(self.signatures.len());
        for s in &self.signatures {
            let key = hex32(&s.keyid).map(KeyHex).ok_or_else(|| {
                Refusal::new(Rule::Hex, format!("keyid {:?} is not 64 lower-case hex characters", s.keyid))
            })?;
            if signatures.iter().any(|(k, _)| *k == key) {
                return refuse(Rule::Signatures, format!("key {key} signs twice"));
            }
            let sig_bytes: [u8; 64] = b64_decode_canonical(&s.sig)
                .and_then(|v| v.try_into().ok())
                .ok_or_else(|| Refusal::new(Rule::Base64, "sig is not canonical base64 of 64 bytes"))?;
            signatures.push((key, Signature::from_bytes(&sig_bytes)));
        }
        let event = parse_body(&body)?;
        Ok((body, event, signatures))
    }
}

/// Public keys already decompressed, shared by the threads that verify. Bounded: when full it
/// starts again empty, so a flood of one-off keys costs time, never memory.
#[derive(Debug, Default)]
pub struct KeyCache {
    keys: std::sync::RwLock<std::collections::HashMap<[u8; 32], VerifyingKey>>,
}

impl KeyCache {
    pub fn new() -> KeyCache {
        KeyCache::default()
    }

    /// The decompressed key, or `None` if the bytes are not a point.
    pub fn get(&self, key: &KeyHex) -> Option<VerifyingKey> {
        if let Some(vk) = self.keys.read().ok().and_then(|m| m.get(&key.0).copied()) {
            return Some(vk);
        }
        let vk = VerifyingKey::from_bytes(&key.0).ok()?;
        if let Ok(mut m) = self.keys.write() {
            if m.len() >= crate::limits::KEY_CACHE_MAX {
                m.clear();
            }
            m.insert(key.0, vk);
        }
        Some(vk)
    }
}

/// Body bytes, the parsed body, and the (signer, signature) pairs, before any signature check.
type ParsedEnvelope = (Vec<u8>, Event, Vec<(KeyHex, Signature)>);

/// An envelope whose body is valid and whose every signature verified.
#[derive(Debug, Clone)]
pub struct VerifiedEnvelope {
    envelope: Envelope,
    body: Vec<u8>,
    event: Event,
    signers: Vec<KeyHex>,
}

impl VerifiedEnvelope {
    fn from_parsed(envelope: Envelope, (body, event, signatures): ParsedEnvelope) -> VerifiedEnvelope {
        VerifiedEnvelope { envelope, body, event, signers: signatures.into_iter().map(|(k, _)| k).collect() }
    }

    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }
    pub fn body(&self) -> &[u8] {
        &self.body
    }
    pub fn event(&self) -> &Event {
        &self.event
    }
    pub fn signers(&self) -> &[KeyHex] {
        &self.signers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_cache_accepts_and_refuses_exactly_what_plain_verify_does() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let body = br#"{"v":1,"kind":"fund.closed","id":"FC-1","at":"2026-03-01T10:00:00Z","fund":"F","reason":"done"}"#;
        let good = Envelope::sign(body, &[&key]);
        let mut forged = good.clone();
        forged.signatures[0].sig = Envelope::sign(b"{}", &[&key]).signatures[0].sig.clone();
        let mut not_a_point = good.clone();
        // y = 2 is not the y-coordinate of any curve point.
        not_a_point.signatures[0].keyid = format!("02{}", "00".repeat(31));
        let cache = KeyCache::new();
        for _ in 0..2 {
            for env in [&good, &forged, &not_a_point] {
                let plain = env.verify().map(|v| v.signers().to_vec()).map_err(|e| e.rule);
                let cached =
                    env.clone().into_verified(Some(&cache)).map(|v| v.signers().to_vec()).map_err(|e| e.rule);
                assert_eq!(plain, cached);
            }
        }
        assert!(good.clone().into_verified(Some(&cache)).is_ok());
        assert_eq!(forged.into_verified(Some(&cache)).map(|_| ()).unwrap_err().rule, Rule::BadSignature);
    }
}
