//! A tiny metrics registry rendered in the Prometheus text format for `GET /metrics`.
//!
//! Counters and gauges are keyed by name and a sorted label set. It is deliberately small:
//! a few dozen series per process, updated under one short lock.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

type Labels = Vec<(String, String)>;

#[derive(Debug, Default)]
pub struct Metrics {
    series: Mutex<BTreeMap<(String, Labels), Series>>,
    help: Mutex<BTreeMap<String, (&'static str, String)>>,
}

#[derive(Debug, Clone, Copy)]
struct Series {
    value: f64,
}

fn key(name: &str, labels: &[(&str, &str)]) -> (String, Labels) {
    let mut l: Labels = labels
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
    l.sort();
    (name.to_string(), l)
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares a metric's type (`counter` or `gauge`) and help text.
    pub fn describe(&self, name: &str, kind: &'static str, help: &str) {
        if let Ok(mut h) = self.help.lock() {
            h.insert(name.to_string(), (kind, help.to_string()));
        }
    }

    pub fn inc(&self, name: &str, labels: &[(&str, &str)]) {
        self.add(name, labels, 1.0);
    }

    pub fn add(&self, name: &str, labels: &[(&str, &str)], v: f64) {
        if let Ok(mut s) = self.series.lock() {
            s.entry(key(name, labels))
                .or_insert(Series { value: 0.0 })
                .value += v;
        }
    }

    pub fn set(&self, name: &str, labels: &[(&str, &str)], v: f64) {
        if let Ok(mut s) = self.series.lock() {
            s.insert(key(name, labels), Series { value: v });
        }
    }

    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.series
            .lock()
            .ok()
            .and_then(|s| s.get(&key(name, labels)).map(|x| x.value))
    }

    /// The Prometheus text exposition of every series.
    pub fn render(&self) -> String {
        let series = match self.series.lock() {
            Ok(s) => s.clone(),
            Err(_) => return String::new(),
        };
        let help = self.help.lock().map(|h| h.clone()).unwrap_or_default();
        let mut out = String::new();
        let mut last = String::new();
        for ((name, labels), s) in &series {
            if *name != last {
                if let Some((kind, text)) = help.get(name) {
                    let _ = writeln!(out, "# HELP {name} {text}");
                    let _ = writeln!(out, "# TYPE {name} {kind}");
                }
                last.clone_from(name);
            }
            out.push_str(name);
            if !labels.is_empty() {
                out.push('{');
                for (i, (k, v)) in labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let v = v
                        .replace('\\', "\\\\")
                        .replace('"', "\\\"")
                        .replace('\n', "\\n");
                    let _ = write!(out, "{k}=\"{v}\"");
                }
                out.push('}');
            }
            let _ = writeln!(out, " {}", s.value);
        }
        out
    }
}

/// One CloudWatch Embedded Metric Format record: counts under `namespace`, with
/// `dimensions`, as the JSON line CloudWatch Logs turns into metrics.
pub fn emf_record(namespace: &str, dimensions: &[(&str, &str)], counts: &[(&str, f64)]) -> String {
    let mut root = serde_json::Map::new();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let dims: Vec<&str> = dimensions.iter().map(|(k, _)| *k).collect();
    let metrics: Vec<serde_json::Value> = counts
        .iter()
        .map(|(name, _)| serde_json::json!({"Name": name, "Unit": "Count"}))
        .collect();
    root.insert(
        "_aws".into(),
        serde_json::json!({
            "Timestamp": now_ms as u64,
            "CloudWatchMetrics": [{"Namespace": namespace, "Dimensions": [dims], "Metrics": metrics}],
        }),
    );
    for (k, v) in dimensions {
        root.insert((*k).to_string(), serde_json::Value::from(*v));
    }
    for (k, v) in counts {
        root.insert((*k).to_string(), serde_json::Value::from(*v));
    }
    serde_json::Value::Object(root).to_string()
}

/// Writes an [`emf_record`] to standard output, where Lambda sends it to CloudWatch Logs.
pub fn emit_emf(namespace: &str, dimensions: &[(&str, &str)], counts: &[(&str, f64)]) {
    use std::io::Write as _;
    let line = emf_record(namespace, dimensions, counts);
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_records_name_their_metrics_and_dimensions() {
        let line = emf_record(
            "muara/funnel",
            &[("channel", "whatsapp")],
            &[("acked", 3.0)],
        );
        let v: serde_json::Value = serde_json::from_str(&line).expect("json");
        assert_eq!(v["acked"], 3.0);
        assert_eq!(v["channel"], "whatsapp");
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "muara/funnel"
        );
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][0],
            "channel"
        );
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
            "acked"
        );
    }

    #[test]
    fn renders_prometheus_text_with_escaped_labels() {
        let m = Metrics::new();
        m.describe(
            "muara_http_requests_total",
            "counter",
            "HTTP requests served",
        );
        m.inc(
            "muara_http_requests_total",
            &[("route", "/health"), ("status", "200")],
        );
        m.inc(
            "muara_http_requests_total",
            &[("status", "200"), ("route", "/health")],
        );
        m.set("muara_build_info", &[("version", "a\"b")], 1.0);
        let text = m.render();
        assert!(text.contains("# TYPE muara_http_requests_total counter"));
        assert!(text.contains("muara_http_requests_total{route=\"/health\",status=\"200\"} 2"));
        assert!(text.contains("muara_build_info{version=\"a\\\"b\"} 1"));
    }
}
