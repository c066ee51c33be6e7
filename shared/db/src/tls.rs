//! TLS for PostgreSQL connections, with libpq's `sslmode` meanings (RDS requires TLS by
//! default, and its certificates chain to Amazon's RDS roots, which are in no public bundle).
//!
//! | `sslmode` in the URL | encrypted | server checked |
//! |---|---|---|
//! | `disable` | no | — |
//! | `prefer` (default) | when the server offers TLS | against the root file if one is given, else not |
//! | `require` | yes | against the root file if one is given, else not |
//! | `verify-ca` | yes | chain against the root file |
//! | `verify-full` | yes | chain against the root file, and the host name |
//!
//! The root file is `sslrootcert=FILE` in the URL or `PGSSLROOTCERT` (PEM, one or more
//! certificates — for RDS the region's bundle from `truststore.pki.rds.amazonaws.com`).
//! `tokio-postgres` knows only `disable|prefer|require`, so the verifying modes and
//! `sslrootcert` are taken out of the URL here and applied to the rustls configuration.

use muara_core::{Error, ErrorKind, Result};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// What a connection URL asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPolicy {
    pub mode: SslMode,
    pub root_cert: Option<PathBuf>,
}

/// Splits the libpq-only parts out of `url`: returns the URL `tokio-postgres` parses and the
/// policy. `PGSSLROOTCERT` is the root file when the URL names none.
pub fn split_url(url: &str) -> Result<(String, TlsPolicy)> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, q),
        None => (url, ""),
    };
    let mut mode = SslMode::Prefer;
    let mut root_cert = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "sslmode" => {
                mode = match v {
                    "disable" => SslMode::Disable,
                    "allow" | "prefer" => SslMode::Prefer,
                    "require" => SslMode::Require,
                    "verify-ca" => SslMode::VerifyCa,
                    "verify-full" => SslMode::VerifyFull,
                    other => {
                        return Err(Error::config(format!(
                            "sslmode={other:?} in the database URL is not one of disable, prefer, require, verify-ca, verify-full"
                        )));
                    }
                };
                let passed = match mode {
                    SslMode::Disable => "disable",
                    SslMode::Prefer => "prefer",
                    _ => "require",
                };
                kept.push(format!("sslmode={passed}"));
            }
            "sslrootcert" => root_cert = Some(PathBuf::from(percent_decode(v))),
            _ => kept.push(pair.to_string()),
        }
    }
    if root_cert.is_none() {
        root_cert = muara_core::config::optional("PGSSLROOTCERT").map(PathBuf::from);
    }
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, TlsPolicy { mode, root_cert }))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The rustls connector for a policy.
pub fn connector(policy: &TlsPolicy) -> Result<MakeRustlsConnect> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let roots = match &policy.root_cert {
        Some(path) => Some(Arc::new(load_roots(path)?)),
        None => None,
    };
    let (chain, check_name) = match (policy.mode, roots) {
        (SslMode::VerifyCa | SslMode::VerifyFull, None) => {
            return Err(Error::config(
                "sslmode=verify-ca/verify-full needs the server's root certificate: sslrootcert=FILE in the database URL or PGSSLROOTCERT (for RDS, the region's bundle from https://truststore.pki.rds.amazonaws.com/)",
            ));
        }
        (SslMode::VerifyFull, Some(roots)) => (Some(webpki(roots, &provider)?), true),
        // libpq: with a root file, `require` (and `prefer`) behave like `verify-ca`.
        (_, Some(roots)) => (Some(webpki(roots, &provider)?), false),
        (_, None) => (None, false),
    };
    let verifier = Arc::new(Verifier {
        provider: provider.clone(),
        chain,
        check_name,
    });
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::with_source(ErrorKind::Config, "TLS protocol versions", e))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(MakeRustlsConnect(Arc::new(config)))
}

fn load_roots(path: &std::path::Path) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path).map_err(|e| {
        Error::with_source(
            ErrorKind::Config,
            format!("reading the database root certificate {}", path.display()),
            e,
        )
    })?;
    for cert in certs {
        let cert = cert.map_err(|e| {
            Error::with_source(
                ErrorKind::Config,
                format!("a certificate in {} is not valid PEM", path.display()),
                e,
            )
        })?;
        roots.add(cert).map_err(|e| {
            Error::with_source(
                ErrorKind::Config,
                format!("a certificate in {} is not usable", path.display()),
                e,
            )
        })?;
    }
    if roots.is_empty() {
        return Err(Error::config(format!(
            "{} holds no certificate",
            path.display()
        )));
    }
    Ok(roots)
}

fn webpki(
    roots: Arc<RootCertStore>,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>> {
    WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|e| Error::with_source(ErrorKind::Config, "building the TLS verifier", e))
}

/// The server check `sslmode` asks for: none (encrypted only, libpq's `require` without a root
/// file), the chain against the root file (`verify-ca`), or the chain and the host name
/// (`verify-full`). Handshake signatures are checked in every case.
#[derive(Debug)]
struct Verifier {
    provider: Arc<CryptoProvider>,
    chain: Option<Arc<WebPkiServerVerifier>>,
    check_name: bool,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `tokio-postgres`' TLS hook, backed by rustls (the TLS stack the AWS SDK already links).
#[derive(Clone)]
pub struct MakeRustlsConnect(Arc<ClientConfig>);

impl std::fmt::Debug for MakeRustlsConnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MakeRustlsConnect").finish_non_exhaustive()
    }
}

impl<S> MakeTlsConnect<S> for MakeRustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, hostname: &str) -> io::Result<RustlsConnect> {
        let name = ServerName::try_from(hostname.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(RustlsConnect {
            name,
            connector: tokio_rustls::TlsConnector::from(self.0.clone()),
        })
    }
}

pub struct RustlsConnect {
    name: ServerName<'static>,
    connector: tokio_rustls::TlsConnector,
}

impl std::fmt::Debug for RustlsConnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RustlsConnect")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let tls = self.connector.connect(self.name, stream).await?;
            Ok(RustlsStream(tls))
        })
    }
}

pub struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S> std::fmt::Debug for RustlsStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RustlsStream").finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        // SCRAM without channel binding (RDS and PostgreSQL accept it by default).
        ChannelBinding::none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_modes_are_taken_out_of_the_url() {
        let (url, p) =
            split_url("postgres://u:p@db.example.com:5432/muara?sslmode=verify-full&sslrootcert=%2Fopt%2Frds.pem&application_name=x")
                .unwrap();
        assert_eq!(
            url,
            "postgres://u:p@db.example.com:5432/muara?sslmode=require&application_name=x"
        );
        assert_eq!(p.mode, SslMode::VerifyFull);
        assert_eq!(p.root_cert, Some(PathBuf::from("/opt/rds.pem")));
        let (url, p) = split_url("postgres://u@h/db").unwrap();
        assert_eq!(url, "postgres://u@h/db");
        assert_eq!(p.mode, SslMode::Prefer);
        let (url, p) = split_url("postgres://u@h/db?sslmode=disable").unwrap();
        assert_eq!(url, "postgres://u@h/db?sslmode=disable");
        assert_eq!(p.mode, SslMode::Disable);
        assert!(split_url("postgres://u@h/db?sslmode=sometimes").is_err());
    }

    #[test]
    fn verifying_without_a_root_file_is_a_configuration_error() {
        let err = connector(&TlsPolicy {
            mode: SslMode::VerifyFull,
            root_cert: None,
        })
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("sslrootcert"), "{err}");
        assert!(
            connector(&TlsPolicy {
                mode: SslMode::Require,
                root_cert: None,
            })
            .is_ok()
        );
    }
}
