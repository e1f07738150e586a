//! Server secrets that never enter the database: the key pepper and the credential master key.
//! Each comes from the environment (base64 of 32 bytes) or a file created with mode 0600 in the
//! secrets folder on first start. Backups of the database alone reveal nothing checkable.

use std::fs;
use std::io::Write;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;

use crate::error::StoreError;

pub const PEPPER_ENV: &str = "AIGNE_HUB_PEPPER";
pub const MASTER_KEY_ENV: &str = "AIGNE_HUB_MASTER_KEY";

/// A 32-byte server secret. `Debug` is redacted.
#[derive(Clone)]
pub struct ServerSecret(pub [u8; 32]);

impl std::fmt::Debug for ServerSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerSecret([redacted])")
    }
}

pub struct ServerSecrets {
    pub pepper: ServerSecret,
    pub master_key: ServerSecret,
}

pub fn load_or_create(secrets_dir: &Path) -> Result<ServerSecrets, StoreError> {
    let pepper = load_one(PEPPER_ENV, &secrets_dir.join("pepper"), secrets_dir)?;
    let master_key = load_one(MASTER_KEY_ENV, &secrets_dir.join("master.key"), secrets_dir)?;
    if pepper.0 == master_key.0 {
        return Err(StoreError::Secret("the pepper and the master key must be different secrets".into()));
    }
    Ok(ServerSecrets { pepper, master_key })
}

fn decode(text: &str, what: &str) -> Result<ServerSecret, StoreError> {
    let bytes = STANDARD
        .decode(text.trim())
        .map_err(|_| StoreError::Secret(format!("{what} is not valid base64")))?;
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|_| StoreError::Secret(format!("{what} must be base64 of exactly 32 bytes")))?;
    Ok(ServerSecret(arr))
}

fn load_one(env: &str, file: &Path, dir: &Path) -> Result<ServerSecret, StoreError> {
    if let Ok(v) = std::env::var(env) {
        if !v.trim().is_empty() {
            return decode(&v, env);
        }
    }
    if file.exists() {
        let text = fs::read_to_string(file)?;
        return decode(&text, &file.display().to_string());
    }
    create_dir_private(dir)?;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    write_private(file, STANDARD.encode(bytes).as_bytes())?;
    Ok(ServerSecret(bytes))
}

fn create_dir_private(dir: &Path) -> Result<(), StoreError> {
    fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

fn write_private(path: &Path, contents: &[u8]) -> Result<(), StoreError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(contents)?;
    f.sync_all()?;
    Ok(())
}

/// A non-secret verifier of a server secret: a SHA-256 digest under a fixed label. It tells
/// whether two instances hold the same secret; it cannot be turned back into the secret.
pub fn verifier(name: &str, secret: &ServerSecret) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(b"aigne-hub server secret verifier v1\0")
        .chain_update(name.as_bytes())
        .chain_update([0u8])
        .chain_update(secret.0)
        .finalize();
    STANDARD.encode(digest)
}

impl crate::Store {
    /// Stores each secret's verifier the first time, and afterwards refuses secrets that do not
    /// match: keys peppered with another pepper would never authenticate, and credentials
    /// sealed with another master key would never open.
    pub async fn check_server_secrets(&self, secrets: &ServerSecrets) -> Result<(), StoreError> {
        use sqlx::Row;
        for (name, env, secret) in [("pepper", PEPPER_ENV, &secrets.pepper), ("master_key", MASTER_KEY_ENV, &secrets.master_key)] {
            let mine = verifier(name, secret);
            sqlx::query("INSERT INTO server_secret_checks (name, verifier) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
                .bind(name)
                .bind(&mine)
                .execute(&self.pool)
                .await?;
            let stored: String = sqlx::query("SELECT verifier FROM server_secret_checks WHERE name = $1").bind(name).fetch_one(&self.pool).await?.try_get("verifier")?;
            if stored != mine {
                return Err(StoreError::Secret(format!(
                    "this database was initialised with a different {}; every instance and command on one database must use the same secret (set {env} to it)",
                    name.replace('_', " ")
                )));
            }
        }
        Ok(())
    }
}
