//! `tls`: TLS to the broker, the seed's "Using TLS": the certificate
//! authority the broker's certificate is checked against and, for a broker
//! that requires one (`needClientAuth`), the client's certificate and key.
//!
//! ```toml
//! [event-logger.sink-settings]
//! url = "mqtts://broker.example:8883"
//! tls = { ca-file = "/etc/ixn/ca.pem", cert-file = "/etc/ixn/ixn.pem", key-file = "/etc/ixn/ixn.key" }
//! ```
//!
//! Files are PEM; paths are absolute or relative to the host's working
//! directory (`${data-dir}` expands). They are read when the sink connects,
//! so a renewed certificate is used from the next connection on.

use std::path::PathBuf;

use ixn_plugin_api::sink::{SettingProblem, SinkError};
use serde::Deserialize;

/// The `tls` table of a broker sink's settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TlsFiles {
    /// PEM certificate(s) of the authority that signed the broker's certificate.
    pub ca_file: PathBuf,
    /// PEM certificate chain of this client, for a broker that requires one.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert-file`.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
}

/// The contents of [`TlsFiles`].
pub struct TlsPem {
    /// The authority's certificates.
    pub ca: Vec<u8>,
    /// The client's certificate chain and key.
    pub client: Option<(Vec<u8>, Vec<u8>)>,
}

impl TlsFiles {
    /// Problems of the table beyond its types (found without reading the files).
    pub fn problems(&self) -> Vec<SettingProblem> {
        match (&self.cert_file, &self.key_file) {
            (Some(_), None) => vec![SettingProblem::new(
                "tls.key-file",
                "is missing: `cert-file` needs its key",
            )],
            (None, Some(_)) => vec![SettingProblem::new(
                "tls.cert-file",
                "is missing: `key-file` needs its certificate",
            )],
            _ => Vec::new(),
        }
    }

    /// The problems of a sink's `tls` setting against its URL: a URL of
    /// `tls_scheme` needs the table; with `upgrades_plain`, the table makes a
    /// plain URL use TLS too, and without, it is refused there (the client
    /// would not use it).
    pub fn check(
        tls: Option<&TlsFiles>,
        url: &str,
        tls_scheme: &str,
        upgrades_plain: bool,
    ) -> Vec<SettingProblem> {
        let tls_url = url.starts_with(&format!("{tls_scheme}://"));
        match tls {
            Some(_) if !tls_url && !upgrades_plain => vec![SettingProblem::new(
                "tls",
                format!("is given, but the URL is not {tls_scheme}://: TLS would not be used"),
            )],
            Some(files) => files.problems(),
            None if tls_url => vec![SettingProblem::new(
                "tls",
                format!("is missing: a {tls_scheme}:// URL needs `tls = {{ ca-file = … }}`"),
            )],
            None => Vec::new(),
        }
    }

    /// Reads the files; one that cannot be read is a permanent error naming it.
    pub fn read(&self, sink: &str) -> Result<TlsPem, SinkError> {
        let read = |key: &str, path: &PathBuf| {
            std::fs::read(path).map_err(|e| {
                SinkError::permanent(format!("{sink} sink: tls.{key} {}: {e}", path.display()))
            })
        };
        let ca = read("ca-file", &self.ca_file)?;
        let client = match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => Some((read("cert-file", cert)?, read("key-file", key)?)),
            _ => None,
        };
        Ok(TlsPem { ca, client })
    }
}
