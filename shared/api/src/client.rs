//! A minimal HTTP/1.1 client for `http://` endpoints: the CLI's calls to a running platform
//! and the test harness's calls to emulators. No TLS, no redirects, one request per
//! connection — enough for loopback and private endpoints without a second HTTP stack.

use muara_core::{Error, ErrorKind, Result};
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The `Authorization` header line for a bearer token (empty without one).
pub fn bearer(token: Option<&str>) -> String {
    token
        .filter(|t| !t.is_empty())
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default()
}

/// One request. `extra_headers` are complete `Name: value\r\n` lines. Returns status and body.
pub async fn send(
    base: &str,
    method: &str,
    path: &str,
    content_type: &str,
    extra_headers: &str,
    body: &str,
    timeout: Duration,
) -> Result<(u16, String)> {
    let Some(rest) = base.strip_prefix("http://") else {
        return Err(Error::config(format!(
            "only http:// URLs are supported here (got {base})"
        )));
    };
    let hostport = rest.trim_end_matches('/');
    let mut stream = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::net::TcpStream::connect(hostport),
    )
    .await
    .map_err(|_| Error::retryable(format!("no connection to {base} within 10 s")))?
    .map_err(|e| {
        Error::with_source(ErrorKind::Retryable, format!("cannot connect to {base}"), e)
    })?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {hostport}\r\nContent-Type: {content_type}\r\nAccept: application/json\r\n{extra_headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await?;
    let buf = tokio::time::timeout(timeout, read_response(&mut stream))
        .await
        .map_err(|_| {
            Error::retryable(format!(
                "{base} did not finish answering within {timeout:?}"
            ))
        })??;
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| Error::invalid("malformed HTTP response"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::invalid("malformed HTTP status line"))?;
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

/// Reads one response: up to `Content-Length` when the server sends one (some servers keep the
/// connection open despite `Connection: close`), to the last chunk when chunked, else to EOF.
async fn read_response(stream: &mut tokio::net::TcpStream) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let mut expected: Option<usize> = None;
    let mut chunked_from: Option<usize> = None;
    loop {
        if expected.is_none()
            && chunked_from.is_none()
            && let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n")
        {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            if head.contains("transfer-encoding: chunked") {
                chunked_from = Some(end + 4);
            }
            expected = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .map(|n| end + 4 + n);
        }
        let done = match (expected, chunked_from) {
            (_, Some(from)) => chunked_complete(&buf[from..]),
            (Some(n), None) => buf.len() >= n,
            (None, None) => false,
        };
        if done {
            return Ok(buf);
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            // The server closed the connection. Reading to the end is the answer only when it
            // announced neither a length nor chunks; anything shorter was cut off (a server
            // that died mid-answer) and is a transport fault, not an answer.
            return match (expected, chunked_from) {
                (None, None) if buf.windows(4).any(|w| w == b"\r\n\r\n") => Ok(buf),
                (None, None) => Err(Error::retryable(format!(
                    "the connection closed before the response's headers ended ({} bytes read)",
                    buf.len()
                ))),
                (Some(n), None) => Err(Error::retryable(format!(
                    "the response was cut off: {} of {n} bytes arrived",
                    buf.len()
                ))),
                (_, Some(_)) => Err(Error::retryable(
                    "the response was cut off before its last chunk",
                )),
            };
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Whether a chunked body has arrived whole: walks the chunk sizes to the last (empty) chunk
/// and the blank line after it.
fn chunked_complete(mut body: &[u8]) -> bool {
    loop {
        let Some(eol) = body.windows(2).position(|w| w == b"\r\n") else {
            return false;
        };
        let size_text = String::from_utf8_lossy(&body[..eol]);
        let size_text = size_text.split(';').next().unwrap_or("").trim().to_string();
        let Ok(size) = usize::from_str_radix(&size_text, 16) else {
            return true; // malformed: stop reading, the parser reports it
        };
        let rest = &body[eol + 2..];
        if size == 0 {
            // Optional trailers, then a blank line.
            return rest.starts_with(b"\r\n") || rest.windows(4).any(|w| w == b"\r\n\r\n");
        }
        if rest.len() < size + 2 {
            return false;
        }
        body = &rest[size + 2..];
    }
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

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt as _;

    /// A server that answers one request with `answer` and closes the connection.
    async fn answering(answer: Vec<u8>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a local port");
        let addr = listener.local_addr().expect("its address");
        tokio::spawn(async move {
            if let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = tokio::io::AsyncReadExt::read(&mut s, &mut buf).await;
                let _ = s.write_all(&answer).await;
                let _ = s.shutdown().await;
            }
        });
        format!("http://{addr}")
    }

    async fn get(answer: &[u8]) -> muara_core::Result<(u16, String)> {
        let base = answering(answer.to_vec()).await;
        super::send(
            &base,
            "GET",
            "/",
            "application/json",
            "",
            "",
            std::time::Duration::from_secs(5),
        )
        .await
    }

    #[tokio::test]
    async fn a_whole_answer_is_read() {
        let r = get(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}").await;
        assert_eq!(r.ok(), Some((200, "{}".to_string())));
        let r = get(b"HTTP/1.1 200 OK\r\n\r\nto the end").await;
        assert_eq!(r.ok(), Some((200, "to the end".to_string())));
    }

    /// A server that dies mid-answer gave no answer: a transport fault the caller retries,
    /// never "invalid input".
    #[tokio::test]
    async fn a_cut_off_answer_is_a_retryable_transport_fault() {
        for cut in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n{\"status\":\"ok\",\"res"[..],
            &b"HTTP/1.1 200 OK\r\nContent-Le"[..],
            &b""[..],
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"[..],
        ] {
            match get(cut).await {
                Err(e) => assert!(e.is_retryable(), "{cut:?}: {e}"),
                Ok(r) => panic!("{cut:?} was taken as an answer: {r:?}"),
            }
        }
    }

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(
            super::dechunk("4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n"),
            "Wikipedia"
        );
    }

    #[test]
    fn a_chunked_body_is_whole_only_after_its_last_chunk() {
        assert!(!super::chunked_complete(b""));
        assert!(!super::chunked_complete(b"5\r\nab"));
        // A chunk whose data ends in "0\r\n\r\n" is not the end.
        assert!(!super::chunked_complete(b"5\r\n0\r\n\r\n\r\n"));
        assert!(super::chunked_complete(b"5\r\n0\r\n\r\n\r\n0\r\n\r\n"));
        assert!(super::chunked_complete(b"3\r\nabc\r\n0\r\n\r\n"));
    }
}
