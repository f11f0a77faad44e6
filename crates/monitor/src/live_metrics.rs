//! Prometheus metrics of `monitor --follow`, served on `metrics_listen` at `/metrics`: which
//! sources are connected, when each collector last spoke, and how long alerts take. The
//! exposition format is a few lines of text, written by hand as in `metrics`; the HTTP side
//! is hyper's.

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Write;
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

fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"")
}

impl LiveMetrics {
    pub fn render(&self) -> String {
        let mut o = String::new();
        // Writing to a String cannot fail.
        let _ = self.write(&mut o);
        o
    }

    fn write(&self, o: &mut String) -> std::fmt::Result {
        writeln!(
            o,
            "# HELP cutoff_source_connected Whether a live source (a router over BMP) is connected."
        )?;
        writeln!(o, "# TYPE cutoff_source_connected gauge")?;
        for (s, up) in &self.connected {
            writeln!(
                o,
                "cutoff_source_connected{{source=\"{}\"}} {}",
                label(s),
                u8::from(*up)
            )?;
        }
        writeln!(
            o,
            "# HELP cutoff_last_message_timestamp_seconds When a collector's last message arrived."
        )?;
        writeln!(o, "# TYPE cutoff_last_message_timestamp_seconds gauge")?;
        for (c, t) in &self.last_message {
            writeln!(
                o,
                "cutoff_last_message_timestamp_seconds{{collector=\"{}\"}} {t:.6}",
                label(c)
            )?;
        }
        writeln!(
            o,
            "# HELP cutoff_alert_latency_seconds Alert time minus the time of the message that confirmed its event."
        )?;
        writeln!(o, "# TYPE cutoff_alert_latency_seconds summary")?;
        writeln!(
            o,
            "cutoff_alert_latency_seconds_sum {:.6}",
            self.latency_sum
        )?;
        writeln!(
            o,
            "cutoff_alert_latency_seconds_count {}",
            self.latency_count
        )?;
        writeln!(
            o,
            "# HELP cutoff_alert_latency_max_seconds The longest alert latency so far."
        )?;
        writeln!(o, "# TYPE cutoff_alert_latency_max_seconds gauge")?;
        writeln!(
            o,
            "cutoff_alert_latency_max_seconds {:.6}",
            self.latency_max
        )?;
        writeln!(
            o,
            "# HELP cutoff_alerts_total Alerts raised since the process started."
        )?;
        writeln!(o, "# TYPE cutoff_alerts_total counter")?;
        writeln!(o, "cutoff_alerts_total {}", self.alerts_total)?;
        writeln!(
            o,
            "# HELP cutoff_events_total Events found, by kind, since the process started."
        )?;
        writeln!(o, "# TYPE cutoff_events_total counter")?;
        for (k, n) in &self.events_total {
            writeln!(o, "cutoff_events_total{{kind=\"{}\"}} {n}", label(k))?;
        }
        writeln!(
            o,
            "# HELP cutoff_visible_peers Eligible peer ASNs seeing the watched AS."
        )?;
        writeln!(o, "# TYPE cutoff_visible_peers gauge")?;
        for (asn, l, n) in &self.visible_peers {
            writeln!(
                o,
                "cutoff_visible_peers{{asn=\"{asn}\",label=\"{}\"}} {n}",
                label(l)
            )?;
        }
        Ok(())
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
