//! A small HTTP(S) client (hyper + rustls with the system's roots, the stack the AWS SDK
//! already links): `GET` with redirects, a size limit and a deadline, whole or streamed to a
//! writer. Used for the published keyword sheet and by `muara funnel export`.

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use muara_core::{Error, ErrorKind, Result};
use std::time::Duration;
use tokio::io::AsyncWriteExt as _;

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

fn client() -> Result<Client<Https, Empty<Bytes>>> {
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(provider)
        .map_err(|e| {
            Error::with_source(
                ErrorKind::Config,
                "no TLS root certificates on this system",
                e,
            )
        })?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

const MAX_REDIRECTS: usize = 5;

/// Follows up to five redirects; returns the final response. A bearer token goes to the first
/// URL only, never to where it redirects.
async fn request(
    url: &str,
    bearer: Option<&str>,
    deadline: Duration,
) -> Result<hyper::Response<hyper::body::Incoming>> {
    let client = client()?;
    let mut url = url.to_string();
    let mut bearer = bearer.map(|t| format!("Bearer {t}"));
    for _ in 0..=MAX_REDIRECTS {
        let uri: hyper::Uri = url.parse().map_err(|e| {
            Error::with_source(ErrorKind::Invalid, format!("{url:?} is not a URL"), e)
        })?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(Error::invalid(format!(
                "{url:?}: only http and https are supported"
            )));
        }
        let mut req = hyper::Request::get(uri.clone())
            .header("user-agent", concat!("muara/", env!("CARGO_PKG_VERSION")));
        if let Some(b) = bearer.take() {
            req = req.header(hyper::header::AUTHORIZATION, b);
        }
        let req = req
            .body(Empty::new())
            .map_err(|e| Error::with_source(ErrorKind::Invalid, "building a request", e))?;
        let res = tokio::time::timeout(deadline, client.request(req))
            .await
            .map_err(|_| Error::retryable(format!("{url}: no answer within {deadline:?}")))?
            .map_err(|e| Error::with_source(ErrorKind::Retryable, format!("GET {url}"), e))?;
        if res.status().is_redirection() {
            let Some(next) = res
                .headers()
                .get(hyper::header::LOCATION)
                .and_then(|l| l.to_str().ok())
            else {
                return Err(Error::fatal(format!(
                    "{url}: a redirect without a Location"
                )));
            };
            url = if next.starts_with("http") {
                next.to_string()
            } else {
                let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
                format!(
                    "{}://{authority}{next}",
                    uri.scheme_str().unwrap_or("https")
                )
            };
            continue;
        }
        let status = res.status().as_u16();
        if !(200..300).contains(&status) {
            let kind = if status >= 500 || status == 429 {
                ErrorKind::Retryable
            } else {
                ErrorKind::Fatal
            };
            return Err(Error::new(kind, format!("GET {url}: HTTP {status}")));
        }
        return Ok(res);
    }
    Err(Error::fatal(format!(
        "more than {MAX_REDIRECTS} redirects from {url}"
    )))
}

/// The whole body of a `GET`, at most `max_bytes`.
pub async fn get(url: &str, max_bytes: usize, deadline: Duration) -> Result<Bytes> {
    let res = request(url, None, deadline).await?;
    let mut body = res.into_body();
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|e| Error::with_source(ErrorKind::Retryable, format!("reading {url}"), e))?;
        if let Some(data) = frame.data_ref() {
            out.extend_from_slice(data);
            if out.len() > max_bytes {
                return Err(Error::invalid(format!(
                    "{url} is larger than {max_bytes} bytes"
                )));
            }
        }
    }
    Ok(Bytes::from(out))
}

/// Streams the body of a `GET` into `out` chunk by chunk; returns the bytes written.
pub async fn download(
    url: &str,
    bearer: Option<&str>,
    out: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
    deadline: Duration,
) -> Result<u64> {
    let res = request(url, bearer, deadline).await?;
    let mut body = res.into_body();
    let mut written = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|e| Error::with_source(ErrorKind::Retryable, format!("reading {url}"), e))?;
        if let Some(data) = frame.data_ref() {
            out.write_all(data).await?;
            written += data.len() as u64;
        }
    }
    out.flush().await?;
    Ok(written)
}
