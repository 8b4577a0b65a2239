//! Secret key files: one line of 64 lower-case hex characters (the Ed25519 seed), mode 0600.
//! A key file that others can read is refused, and no secret is ever printed or logged.

use anyhow::{bail, Context, Result};
use ed25519_dalek::SigningKey;
use ledger_core::encoding::hex32;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// A secret key file is one short line; anything longer is not one.
const KEY_FILE_BYTES_MAX: u64 = 256;

/// Writes a new secret key file readable by its owner only. Never overwrites.
pub fn write_secret(path: &Path, key: &SigningKey) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating key file {}", path.display()))?;
    writeln!(f, "{}", hex::encode(key.to_bytes()))?;
    f.sync_all()?;
    Ok(())
}

pub fn generate() -> SigningKey {
    SigningKey::generate(&mut rand::rngs::OsRng)
}

/// Reads a secret key file, refusing one that group or others may read.
pub fn read_secret(path: &Path) -> Result<SigningKey> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading key file {}", path.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        bail!(
            "key file {} is readable by group or others (mode {:o}); run chmod 600 on it",
            path.display(),
            meta.permissions().mode() & 0o777
        );
    }
    if meta.len() > KEY_FILE_BYTES_MAX {
        bail!("{} is not a key file: too long", path.display());
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading key file {}", path.display()))?;
    let seed = hex32(text.trim_end_matches('\n')).with_context(|| {
        format!("{} is not a key file: expected one line of 64 lower-case hex characters", path.display())
    })?;
    Ok(SigningKey::from_bytes(&seed))
}

pub fn public_hex(key: &SigningKey) -> String {
    hex::encode(key.verifying_key().to_bytes())
}
