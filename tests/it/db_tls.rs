//! TLS to PostgreSQL with libpq's `sslmode` meanings, against a real server with TLS on.

use muara_testkit::{eventually, private_cluster};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn openssl(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// A CA, a server certificate for 127.0.0.1 signed by it, and an unrelated CA.
fn certificates(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    for ca in ["ca", "other"] {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{ca}.key"),
                "-out",
                &format!("{ca}.pem"),
                "-days",
                "2",
                "-subj",
                &format!("/CN=muara test {ca}"),
            ],
        )?;
    }
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    )?;
    std::fs::write(
        dir.join("ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext",
        ],
    )?;
    Ok(())
}

async fn uses_tls(url: &str) -> anyhow::Result<bool> {
    let pool = muara_db::connect(url, 1, Duration::from_secs(1)).await?;
    let c = pool.get().await?;
    let ssl: bool = c
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await?
        .get(0);
    Ok(ssl)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_encrypt_and_verify_as_sslmode_says() -> anyhow::Result<()> {
    let (cluster, url) = private_cluster().await?;
    let dir = cluster.data_dir.join("tls");
    certificates(&dir)?;
    // The server reads its key as its own user (root's files are handed over when run as root).
    let me = Command::new("id").arg("-u").output()?;
    if String::from_utf8_lossy(&me.stdout).trim() == "0" {
        let ok = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .status()?;
        anyhow::ensure!(ok.success(), "chown of the TLS files failed");
    }
    let admin = muara_db::connect(
        &format!("{url}?sslmode=disable"),
        1,
        Duration::from_secs(10),
    )
    .await?;
    let c = admin.get().await?;
    for sql in [
        format!(
            "ALTER SYSTEM SET ssl_cert_file = '{}/server.pem'",
            dir.display()
        ),
        format!(
            "ALTER SYSTEM SET ssl_key_file = '{}/server.key'",
            dir.display()
        ),
        "ALTER SYSTEM SET ssl = on".to_string(),
        "SELECT pg_reload_conf()".to_string(),
    ] {
        // One statement each: ALTER SYSTEM cannot run in the implicit transaction of a batch.
        c.batch_execute(&sql).await?;
    }

    // require: encrypted (no root file: the server is not authenticated, as in libpq).
    eventually(Duration::from_secs(10), "TLS to be on", || async {
        Ok(uses_tls(&format!("{url}?sslmode=require"))
            .await
            .ok()
            .filter(|t| *t))
    })
    .await?;
    // prefer (the default) takes TLS when offered.
    assert!(uses_tls(&url).await?);
    // verify-full against the right root: the chain and the address check out.
    let ca = dir.join("ca.pem");
    assert!(
        uses_tls(&format!(
            "{url}?sslmode=verify-full&sslrootcert={}",
            ca.display()
        ))
        .await?
    );
    assert!(
        uses_tls(&format!(
            "{url}?sslmode=verify-ca&sslrootcert={}",
            ca.display()
        ))
        .await?
    );
    // … against another root: refused.
    let other = dir.join("other.pem");
    let started = std::time::Instant::now();
    let err = muara_db::connect(
        &format!("{url}?sslmode=verify-full&sslrootcert={}", other.display()),
        1,
        Duration::from_secs(20),
    )
    .await
    .unwrap_err();
    // A certificate that does not verify is a configuration error: reported at once, not
    // retried for the whole start-up wait.
    assert_eq!(err.kind(), muara_core::ErrorKind::Config, "{}", err.chain());
    assert!(started.elapsed() < Duration::from_secs(10));
    // disable: plain.
    assert!(!uses_tls(&format!("{url}?sslmode=disable")).await?);
    Ok(())
}
