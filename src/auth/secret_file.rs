//! With no `auth.jwt_secret` configured, a 256-bit secret is generated on first start and kept
//! in the data dir (mode 0600), so tokens stay valid across restarts.

use std::io::Write;
use std::path::Path;

use rand::RngCore;

use crate::config::Secret;

pub const SECRET_FILE: &str = "jwt_secret";

pub fn load_or_create_jwt_secret(
    configured: Option<&Secret>,
    data_dir: &Path,
) -> std::io::Result<Secret> {
    if let Some(secret) = configured {
        return Ok(secret.clone());
    }
    let path = data_dir.join(SECRET_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) if text.trim().len() >= 32 => return Ok(Secret::new(text.trim())),
        Ok(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{} is shorter than 32 characters; delete it to generate a new one",
                    path.display()
                ),
            ))
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    std::fs::create_dir_all(data_dir)?;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = hex::encode(bytes);
    // Write under a temporary name with 0600 from the start, then rename: never world-readable,
    // never half-written.
    let tmp = data_dir.join(format!("{SECRET_FILE}.tmp"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(secret.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    tracing::info!(path = %path.display(), "generated a new JWT signing secret");
    Ok(Secret::new(secret))
}
