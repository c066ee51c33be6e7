//! A minimal HTTP/1.1 client for the CLI's calls to a running muara API (`muara up`, or any
//! `http://` endpoint reachable without TLS).

use anyhow::{Context as _, bail};
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Sends one request; returns the status and body.
pub async fn send(
    base: &str,
    method: &str,
    path: &str,
    body: &str,
) -> anyhow::Result<(u16, String)> {
    let Some(rest) = base.strip_prefix("http://") else {
        bail!("only http:// API URLs are supported by the CLI for now (got {base})");
    };
    let hostport = rest.trim_end_matches('/');
    let mut stream = tokio::time::timeout(Duration::from_secs(10), tokio::net::TcpStream::connect(hostport))
        .await
        .with_context(|| format!("no answer from {base} within 10 s"))?
        .with_context(|| format!("cannot reach the muara API at {base} (is `muara up` running? set --api or MUARA_API_URL)"))?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {hostport}\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(120), stream.read_to_end(&mut buf))
        .await
        .context("the API did not finish answering within 120 s")??;
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .context("malformed HTTP response")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("malformed HTTP status line")?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    Ok((status, body))
}

fn dechunk(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}
