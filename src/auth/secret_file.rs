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
    let named =
        |err: std::io::Error| std::io::Error::new(err.kind(), format!("{}: {err}", path.display()));
    match std::fs::read_to_string(&path) {
        Ok(text) if text.trim().len() >= 32 => {
            warn_if_weak(&path, text.trim());
            return Ok(Secret::new(text.trim()));
        }
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
        Err(err) => return Err(named(err)),
    }
    std::fs::create_dir_all(data_dir)
        .map_err(|err| std::io::Error::new(err.kind(), format!("{}: {err}", data_dir.display())))?;
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    let secret = hex::encode(bytes);
    // Write under a temporary name, created afresh with 0600 (a stale one from an interrupted
    // start is removed first, whatever its mode), then rename: never readable by others,
    // never half-written.
    let tmp = data_dir.join(format!("{SECRET_FILE}.tmp"));
    match std::fs::remove_file(&tmp) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            return Err(std::io::Error::new(
                err.kind(),
                format!("{}: {err}", tmp.display()),
            ))
        }
        _ => {}
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let write = || -> std::io::Result<()> {
        let mut file = options.open(&tmp)?;
        file.write_all(secret.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(named)?;
    tracing::info!(path = %path.display(), "generated a new JWT signing secret");
    Ok(Secret::new(secret))
}

/// Random bytes in a generated secret (written as hex).
const SECRET_BYTES: usize = 32;

/// Warns about a secret file others can read, or one with less than 32 random bytes in it.
fn warn_if_weak(path: &Path, secret: &str) {
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{mode:o}"),
                "the JWT secret file can be read by other users: chmod 600 it"
            );
        }
    }
    // A hex secret carries half a byte per character.
    let all_hex = secret.bytes().all(|b| b.is_ascii_hexdigit());
    let bytes = if all_hex {
        secret.len() / 2
    } else {
        secret.len()
    };
    if bytes < SECRET_BYTES {
        tracing::warn!(
            path = %path.display(),
            "the JWT secret file holds less than {SECRET_BYTES} random bytes; delete it to \
             generate a stronger one (every session ends)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_stale_temporary_file_does_not_leak_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join(format!("{SECRET_FILE}.tmp"));
        std::fs::write(&tmp, "old").unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644)).unwrap();
        load_or_create_jwt_secret(None, dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(SECRET_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!tmp.exists());
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(SECRET_FILE)).unwrap();
        let err = load_or_create_jwt_secret(None, dir.path()).unwrap_err();
        assert!(err.to_string().contains(SECRET_FILE), "{err}");
    }
}
