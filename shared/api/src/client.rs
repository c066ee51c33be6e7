//! An HTTP/1.1 client for `http://` endpoints (hyper's, already linked by every Lambda): the
//! CLI's calls to a running platform and the test harness's calls to emulators. No TLS, no
//! redirects — enough for loopback and private endpoints.

use muara_core::{Error, ErrorKind, Result};
use std::time::Duration;

/// The `Authorization` header line for a bearer token (empty without one).
pub fn bearer(token: Option<&str>) -> String {
    token
        .filter(|t| !t.is_empty())
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default()
}

/// One request over hyper's HTTP/1.1 client. `extra_headers` are complete `Name: value\r\n`
/// lines. Returns status and body. A server that does not answer, or whose answer is cut off
/// (it died mid-answer), is a retryable transport fault, never an answer.
pub async fn send(
    base: &str,
    method: &str,
    path: &str,
    content_type: &str,
    extra_headers: &str,
    body: &str,
    timeout: Duration,
) -> Result<(u16, String)> {
    use http_body_util::BodyExt as _;
    if !base.starts_with("http://") {
        return Err(Error::config(format!(
            "only http:// URLs are supported here (got {base})"
        )));
    }
    let url = format!("{}{path}", base.trim_end_matches('/'));
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e| Error::with_source(ErrorKind::Config, format!("{url:?} is not a URL"), e))?;
    let method = hyper::Method::from_bytes(method.as_bytes())
        .map_err(|e| Error::with_source(ErrorKind::Config, format!("method {method:?}"), e))?;
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(uri)
        .header(hyper::header::CONTENT_TYPE, content_type)
        .header(hyper::header::ACCEPT, "application/json")
        // One request per connection, as the client keeps no pool: the server closes after
        // answering, so a proxy or a reader to the end of the stream sees the answer end.
        .header(hyper::header::CONNECTION, "close");
    for line in extra_headers.split("\r\n").filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| Error::config(format!("{line:?} is not a header line")))?;
        req = req.header(name.trim(), value.trim());
    }
    let req = req
        .body(http_body_util::Full::new(bytes::Bytes::from(
            body.to_string(),
        )))
        .map_err(|e| Error::with_source(ErrorKind::Config, "building a request", e))?;
    let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
    connector.set_connect_timeout(Some(Duration::from_secs(10)));
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build(connector);
    let transport =
        |what: &str, e: &dyn std::fmt::Display| Error::retryable(format!("{base}: {what}: {e}"));
    let answer = async {
        let res = client
            .request(req)
            .await
            .map_err(|e| transport("no answer", &e))?;
        let status = res.status().as_u16();
        let bytes = res
            .into_body()
            .collect()
            .await
            .map_err(|e| transport("the answer was cut off", &e))?
            .to_bytes();
        Ok::<_, Error>((status, String::from_utf8_lossy(&bytes).into_owned()))
    };
    tokio::time::timeout(timeout, answer).await.map_err(|_| {
        Error::retryable(format!(
            "{base} did not finish answering within {timeout:?}"
        ))
    })?
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
}
