//! A real browser for tests: Debian's headless Chromium driven through ChromeDriver's W3C
//! WebDriver protocol (JSON over HTTP on loopback, spoken with the platform's own minimal
//! HTTP client). `scripts/test.sh` installs `chromium` and `chromium-driver`; set
//! `MUARA_CHROMEDRIVER` / `MUARA_CHROMIUM` to use others.

use anyhow::{Context as _, anyhow, bail};
use base64::Engine as _;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The W3C key naming an element in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A browser session; the driver is stopped when it is dropped.
#[derive(Debug)]
pub struct Browser {
    driver: Child,
    endpoint: String,
    session: String,
    _profile: PathBuf,
}

/// An element of the current page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element(String);

fn find_binary(env: &str, candidates: &[&str]) -> anyhow::Result<PathBuf> {
    if let Ok(p) = std::env::var(env) {
        return Ok(PathBuf::from(p));
    }
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .ok_or_else(|| {
            anyhow!(
                "{} not found: install Debian's chromium and chromium-driver (scripts/test.sh does) or set {env}",
                candidates.join(" or ")
            )
        })
}

/// The elements of a WebDriver answer's list.
fn elements(v: &Value) -> Vec<Element> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e[ELEMENT].as_str().map(|s| Element(s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

impl Browser {
    /// Starts ChromeDriver and a headless Chromium with a fresh profile, 1366×900.
    pub async fn start() -> anyhow::Result<Self> {
        let driver_bin = find_binary(
            "MUARA_CHROMEDRIVER",
            &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"],
        )?;
        let chromium = find_binary(
            "MUARA_CHROMIUM",
            &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
        )?;
        let port = muara_local::postgres::free_port()?;
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", driver_bin.display()))?;
        let endpoint = format!("http://127.0.0.1:{port}");
        let profile = std::env::temp_dir().join(format!("muara-chromium-{}", uuid::Uuid::new_v4()));
        let mut browser = Self {
            driver,
            endpoint,
            session: String::new(),
            _profile: profile.clone(),
        };
        crate::eventually(
            Duration::from_secs(20),
            "chromedriver to listen",
            || async {
                Ok(browser
                    .raw("GET", "/status", Value::Null)
                    .await
                    .ok()
                    .filter(|v| v["value"]["ready"] == true)
                    .map(|_| ()))
            },
        )
        .await?;
        // The flags keep Chromium off the network it cannot reach here (updates, sync, …).
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--disable-background-networking", "--disable-component-update",
                         "--disable-sync", "--disable-quic", "--no-first-run",
                         "--window-size=1366,900", format!("--user-data-dir={}", profile.display())]
            }
        }}});
        let v = browser.raw("POST", "/session", caps).await?;
        browser.session = v["value"]["sessionId"]
            .as_str()
            .ok_or_else(|| anyhow!("no session from chromedriver: {v}"))?
            .to_string();
        Ok(browser)
    }

    async fn raw(&self, method: &str, path: &str, body: Value) -> anyhow::Result<Value> {
        let body = if body.is_null() && method == "POST" {
            "{}".to_string()
        } else if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let (status, text) = muara_api::client::send(
            &self.endpoint,
            method,
            path,
            "application/json",
            "",
            &body,
            Duration::from_secs(60),
        )
        .await?;
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !(200..300).contains(&status) {
            bail!(
                "webdriver {method} {path}: {status} {}",
                v["value"]["message"].as_str().unwrap_or(&text)
            );
        }
        Ok(v)
    }

    async fn cmd(&self, method: &str, path: &str, body: Value) -> anyhow::Result<Value> {
        let v = self
            .raw(method, &format!("/session/{}{path}", self.session), body)
            .await?;
        Ok(v["value"].clone())
    }

    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.cmd("POST", "/url", json!({"url": url})).await?;
        Ok(())
    }

    pub async fn current_url(&self) -> anyhow::Result<String> {
        Ok(self
            .cmd("GET", "/url", Value::Null)
            .await?
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// Elements matching a CSS selector, now.
    pub async fn find_all(&self, css: &str) -> anyhow::Result<Vec<Element>> {
        let v = self
            .cmd(
                "POST",
                "/elements",
                json!({"using": "css selector", "value": css}),
            )
            .await?;
        Ok(elements(&v))
    }

    /// The first element matching `css`, waiting up to `within` for it to appear.
    pub async fn wait_for(&self, css: &str, within: Duration) -> anyhow::Result<Element> {
        crate::eventually(within, &format!("an element matching {css:?}"), || async {
            Ok(self.find_all(css).await?.into_iter().next())
        })
        .await
    }

    /// Waits until the text of the first element matching `css` satisfies `ok`; returns it.
    pub async fn wait_text(
        &self,
        css: &str,
        within: Duration,
        ok: impl Fn(&str) -> bool,
    ) -> anyhow::Result<String> {
        crate::eventually(within, &format!("the text of {css:?}"), || async {
            for e in self.find_all(css).await? {
                let t = self.text(&e).await.unwrap_or_default();
                if ok(&t) {
                    return Ok(Some(t));
                }
            }
            Ok(None)
        })
        .await
    }

    pub async fn click(&self, e: &Element) -> anyhow::Result<()> {
        self.cmd("POST", &format!("/element/{}/click", e.0), Value::Null)
            .await?;
        Ok(())
    }

    pub async fn clear(&self, e: &Element) -> anyhow::Result<()> {
        self.cmd("POST", &format!("/element/{}/clear", e.0), Value::Null)
            .await?;
        Ok(())
    }

    pub async fn type_text(&self, e: &Element, text: &str) -> anyhow::Result<()> {
        self.cmd(
            "POST",
            &format!("/element/{}/value", e.0),
            json!({"text": text}),
        )
        .await?;
        Ok(())
    }

    pub async fn text(&self, e: &Element) -> anyhow::Result<String> {
        Ok(self
            .cmd("GET", &format!("/element/{}/text", e.0), Value::Null)
            .await?
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// Elements matching `css` inside `e`.
    pub async fn find_in(&self, e: &Element, css: &str) -> anyhow::Result<Vec<Element>> {
        let v = self
            .cmd(
                "POST",
                &format!("/element/{}/elements", e.0),
                json!({"using": "css selector", "value": css}),
            )
            .await?;
        Ok(elements(&v))
    }

    /// Runs an async script (its last argument is the callback) and returns what it passes.
    pub async fn run_async(&self, script: &str, args: Value) -> anyhow::Result<Value> {
        self.cmd(
            "POST",
            "/execute/async",
            json!({"script": script, "args": args}),
        )
        .await
    }

    /// Runs a script and returns its value.
    pub async fn run(&self, script: &str, args: Value) -> anyhow::Result<Value> {
        self.cmd(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": args}),
        )
        .await
    }

    /// Saves a PNG of the viewport.
    pub async fn screenshot(&self, path: &Path) -> anyhow::Result<()> {
        let b64 = self.cmd("GET", "/screenshot", Value::Null).await?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap_or_default())
            .context("decoding the screenshot")?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, png)?;
        Ok(())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Deleting the session closes Chromium; the driver goes with the process.
        if !self.session.is_empty() {
            let endpoint = self.endpoint.clone();
            let path = format!("/session/{}", self.session);
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(rt) = rt {
                    let _ = rt.block_on(muara_api::client::send(
                        &endpoint,
                        "DELETE",
                        &path,
                        "application/json",
                        "",
                        "",
                        Duration::from_secs(10),
                    ));
                }
            })
            .join();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self._profile);
    }
}
