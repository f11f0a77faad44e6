//! Prometheus metrics of `monitor --follow`, served on `metrics_listen` at `/metrics`: which
//! sources are connected, when each collector last spoke, and how long alerts take. The text
//! is written by `metrics`' own writer; the HTTP side is hyper's.

use crate::metrics::{escape, write_metric};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// What the follower knows, shared with the endpoint.
#[derive(Debug, Default)]
pub struct LiveMetrics {
    /// Source (a router, `bmp:…`) → connected now.
    pub connected: BTreeMap<String, bool>,
    /// Collector → the arrival time (Unix seconds) of its last message.
    pub last_message: BTreeMap<String, f64>,
    pub alerts_total: u64,
    /// Alert time − time of the message that confirmed its event, summed over alerts.
    pub latency_sum: f64,
    pub latency_count: u64,
    pub latency_max: f64,
    pub events_total: BTreeMap<String, u64>,
    /// (asn, label) → eligible peer ASNs seeing it.
    pub visible_peers: Vec<(u32, String, usize)>,
}

impl LiveMetrics {
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, samples: Vec<(String, String)>| {
            write_metric(&mut out, name, kind, help, &samples)
        };
        let by = |key: &str, v: &str| format!("{{{key}=\"{}\"}}", escape(v));
        let one = |v: String| vec![(String::new(), v)];
        metric(
            "cutoff_source_connected",
            "gauge",
            "Whether a live source (a router over BMP) is connected.",
            self.connected
                .iter()
                .map(|(s, up)| (by("source", s), u8::from(*up).to_string()))
                .collect(),
        );
        metric(
            "cutoff_last_message_timestamp_seconds",
            "gauge",
            "When a collector's last message arrived.",
            self.last_message
                .iter()
                .map(|(c, t)| (by("collector", c), format!("{t:.6}")))
                .collect(),
        );
        metric(
            "cutoff_alert_latency_seconds",
            "summary",
            "Alert time minus the time of the message that confirmed its event.",
            vec![
                ("_sum".into(), format!("{:.6}", self.latency_sum)),
                ("_count".into(), self.latency_count.to_string()),
            ],
        );
        metric(
            "cutoff_alert_latency_max_seconds",
            "gauge",
            "The longest alert latency so far.",
            one(format!("{:.6}", self.latency_max)),
        );
        metric(
            "cutoff_alerts_total",
            "counter",
            "Alerts raised since the process started.",
            one(self.alerts_total.to_string()),
        );
        metric(
            "cutoff_events_total",
            "counter",
            "Events found, by kind, since the process started.",
            self.events_total
                .iter()
                .map(|(k, n)| (by("kind", k), n.to_string()))
                .collect(),
        );
        metric(
            "cutoff_visible_peers",
            "gauge",
            "Eligible peer ASNs seeing the watched AS.",
            self.visible_peers
                .iter()
                .map(|(asn, l, n)| {
                    let labels = format!("{{asn=\"{asn}\",label=\"{}\"}}", escape(l));
                    (labels, n.to_string())
                })
                .collect(),
        );
        out
    }
}

/// Serve `/metrics` on `addr` on the current runtime; returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Mutex<LiveMetrics>>,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            };
            let metrics = Arc::clone(&metrics);
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let metrics = Arc::clone(&metrics);
                    async move { Ok::<_, Infallible>(respond(&req, &metrics)) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(bound)
}

fn respond(
    req: &Request<hyper::body::Incoming>,
    metrics: &Mutex<LiveMetrics>,
) -> Response<Full<Bytes>> {
    let (status, body) = if req.uri().path() == "/metrics" {
        let text = metrics.lock().map(|m| m.render()).unwrap_or_default();
        (StatusCode::OK, text)
    } else {
        (
            StatusCode::NOT_FOUND,
            "only /metrics is served\n".to_string(),
        )
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_sources_collectors_and_the_latency_summary() {
        let m = LiveMetrics {
            connected: [("bmp:GoBGP@10.0.0.1".to_string(), true)].into(),
            last_message: [("bmp:lab-frr@10.0.0.2".to_string(), 12.5)].into(),
            alerts_total: 2,
            latency_sum: 1.25,
            latency_count: 2,
            latency_max: 0.75,
            events_total: [("disconnected".to_string(), 1)].into(),
            visible_peers: vec![(64511, "a \"b\"".into(), 3)],
        };
        let text = m.render();
        for line in [
            "# TYPE cutoff_alert_latency_seconds summary",
            "cutoff_source_connected{source=\"bmp:GoBGP@10.0.0.1\"} 1",
            "cutoff_last_message_timestamp_seconds{collector=\"bmp:lab-frr@10.0.0.2\"} 12.500000",
            "cutoff_alert_latency_seconds_sum 1.250000",
            "cutoff_alert_latency_seconds_count 2",
            "cutoff_alert_latency_max_seconds 0.750000",
            "cutoff_alerts_total 2",
            "cutoff_events_total{kind=\"disconnected\"} 1",
            "cutoff_visible_peers{asn=\"64511\",label=\"a \\\"b\\\"\"} 3",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in:\n{text}");
        }
    }
}
