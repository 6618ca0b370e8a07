//! `/etc/vestibule/gateway.toml`: every `serve` flag as a key of the same
//! name (kebab-case), for the binary only. Precedence: command line >
//! environment > this file > built-in default. The packaged default file
//! (`packaging/gateway/gateway.toml`) documents every key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where `serve` looks when neither `--config` nor `VESTIBULE_CONFIG` is given
/// (used only if it exists).
pub const DEFAULT_PATH: &str = "/etc/vestibule/gateway.toml";

/// A secret read from the file: never shown by `Debug`, so it cannot reach a log.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How log lines are written to stderr.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object a line (for journald/Loki/Elasticsearch).
    Json,
}

/// The file's keys; each is the `serve` flag of the same name. A missing key
/// leaves the flag's default (or its environment variable) in force.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub memory: Option<bool>,
    pub admin_key: Option<Secret>,
    pub demo_secret: Option<Secret>,
    pub no_demo: Option<bool>,
    pub idle_timeout: Option<u64>,
    pub login_deadline: Option<u64>,
    pub pair_code_ttl: Option<u64>,
    pub redis: Option<String>,
    pub redis_cluster: Option<Vec<String>>,
    pub node_id: Option<String>,
    pub public_url: Option<String>,
    pub max_logins_per_sec: Option<u32>,
    pub attempts_per_ip: Option<u32>,
    pub failures_per_account_and_ip: Option<u32>,
    pub failures_per_account: Option<u32>,
    pub connections_per_ip: Option<u32>,
    pub max_connections: Option<u32>,
    pub allowed_origins: Option<Vec<String>>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub log_format: Option<LogFormat>,
}

/// A configuration file that could not be used; the message names the file,
/// and for a parse error the line, column and key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
}

impl FileConfig {
    /// Parses TOML text; unknown keys and wrong types are errors naming the key.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Whether the file holds a secret (then it must not be world-readable).
    pub fn has_secrets(&self) -> bool {
        self.admin_key.is_some() || self.demo_secret.is_some()
    }
}

/// The file to read: `--config`/`VESTIBULE_CONFIG` (must exist), else
/// [`DEFAULT_PATH`] if it exists, else none.
pub fn resolve_path(given: Option<&Path>) -> Option<PathBuf> {
    match given {
        Some(path) => Some(path.to_owned()),
        None => {
            let default = Path::new(DEFAULT_PATH);
            default.exists().then(|| default.to_owned())
        }
    }
}

/// A warning when a file holding secrets can be read by every user.
#[cfg(unix)]
pub fn world_readable_warning(path: &Path, config: &FileConfig) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (config.has_secrets() && mode & 0o004 != 0).then(|| {
        format!(
            "{} holds admin-key or demo-secret and is world-readable (mode {:o}); \
             run: chmod 0640 {}",
            path.display(),
            mode & 0o777,
            path.display()
        )
    })
}

#[cfg(not(unix))]
pub fn world_readable_warning(_path: &Path, _config: &FileConfig) -> Option<String> {
    None
}
