//! The RIS Live client: one WebSocket to RIPE's RIS Live (or any server that speaks its
//! protocol), subscribed to what the watchlist needs, read into pipeline messages
//! ([`RisLiveFeed`]).
//!
//! - Subscriptions: with `hosts` named, every UPDATE and peer state of those collectors (the
//!   whole stream, as update files: mass withdrawals are seen); else the watched prefixes with
//!   their more-specifics, paths ending in each watched AS (so new prefixes are found, and
//!   then subscribed to, for their withdrawals), every peer state and every keepalive (the
//!   sign of life of sessions that carry nothing watched for an hour).
//! - The connection is lost when the server closes it, a read fails, or nothing arrives for
//!   `silence` (RIS Live has gone silent with its socket open before). Then every collector
//!   it carried gets a hole, one warning says so, and the client reconnects, waiting 1 s,
//!   then twice as long each failed try, up to [`MAX_BACKOFF`].
//! - Frames that are not RIS Live messages are named (the first few of each connection) and
//!   skipped; the rest of the stream is read.

use crate::LiveUpdate;
use bgpkit_parser::parser::rislive::messages::client::ris_subscribe::RisSubscribeType;
use bgpkit_parser::parser::rislive::messages::{RisLiveClientMessage, RisSubscribe};
use cutoff_core::model::{Prefix, Timestamp};
use cutoff_core::parse::ris_live::{RisEvent, decode};
use cutoff_core::pipeline::ris_live::RisLiveFeed;
use cutoff_core::state::Msg;
use cutoff_core::watch::Watch;
use futures_util::{FutureExt, SinkExt, StreamExt};
use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// The longest wait between two tries to connect.
pub const MAX_BACKOFF: Duration = Duration::from_secs(64);
/// Frames read without waiting become one batch of messages, at most this many.
const BATCH: usize = 256;
/// Unreadable frames named per connection; more are counted.
const NAMED_PER_CONNECTION: usize = 5;

#[derive(Debug, Clone)]
pub struct RisLiveOptions {
    /// `wss://ris-live.ripe.net/v1/ws/` or a server of the tests; `client=cutoff` is added
    /// when the URL names no client.
    pub url: String,
    /// Collectors to take whole; empty: only what the watchlist needs.
    pub hosts: Vec<String>,
    pub asns: Vec<u32>,
    /// A feed that sends nothing for this long is lost.
    pub silence: Duration,
}

/// The source's name in notes and metrics.
pub const SOURCE: &str = "ris-live";

/// The URL with `client=cutoff` unless it names a client (RIPE asks clients to say who they
/// are).
pub fn with_client(url: &str) -> String {
    if url.contains("client=") {
        return url.to_string();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}client=cutoff")
}

/// Run the client on the current tokio runtime until the monitor goes away.
pub fn spawn(options: RisLiveOptions, watch: Arc<RwLock<Watch>>, tx: mpsc::Sender<LiveUpdate>) {
    tokio::spawn(async move {
        let url = with_client(&options.url);
        let mut feed = RisLiveFeed::new(Arc::clone(&watch));
        let mut backoff = Duration::from_secs(1);
        // A feed that stays silent across reconnections is said to be lost once, until it
        // speaks again.
        let mut said_lost = false;
        loop {
            match Connection::open(&url, &options, &watch, &tx).await {
                Ok(mut conn) => {
                    let why = conn.read(&mut feed, &options).await;
                    if conn.heard {
                        backoff = Duration::from_secs(1);
                        said_lost = false;
                    }
                    let Some(why) = why else { return };
                    if !conn.lost(&mut feed, &why, !said_lost).await {
                        return;
                    }
                    said_lost = true;
                }
                Err(e) => {
                    let note = format!(
                        "{SOURCE}: cannot connect to {url}: {e}; trying again in {}s",
                        backoff.as_secs()
                    );
                    if tx.send(LiveUpdate::Note(note)).await.is_err() {
                        return;
                    }
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    });
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Connection<'a> {
    socket: Socket,
    watch: &'a RwLock<Watch>,
    tx: &'a mpsc::Sender<LiveUpdate>,
    subscribed: BTreeSet<Prefix>,
    /// Whether anything came on this connection (then the backoff starts again at 1 s).
    heard: bool,
    unreadable: usize,
    /// The collector time of the last message, where a hole begins when the feed is lost.
    last_time: Option<Timestamp>,
}

impl<'a> Connection<'a> {
    async fn open(
        url: &str,
        options: &RisLiveOptions,
        watch: &'a RwLock<Watch>,
        tx: &'a mpsc::Sender<LiveUpdate>,
    ) -> Result<Connection<'a>, String> {
        let (socket, _) = tokio::time::timeout(
            Duration::from_secs(30),
            tokio_tungstenite::connect_async(url),
        )
        .await
        .map_err(|_| "no answer in 30s".to_string())?
        .map_err(|e| e.to_string())?;
        let mut conn = Connection {
            socket,
            watch,
            tx,
            subscribed: BTreeSet::new(),
            heard: false,
            unreadable: 0,
            last_time: None,
        };
        for s in conn.first_subscriptions(options) {
            conn.send(s).await?;
        }
        conn.subscribe_new_prefixes().await?;
        let _ = tx
            .send(LiveUpdate::FeedUp {
                source: SOURCE.into(),
                detail: format!("connected to {url}"),
            })
            .await;
        Ok(conn)
    }

    fn first_subscriptions(&self, options: &RisLiveOptions) -> Vec<RisSubscribe> {
        if !options.hosts.is_empty() {
            return options
                .hosts
                .iter()
                .flat_map(|h| {
                    [
                        RisSubscribe::new()
                            .host(h)
                            .data_type(RisSubscribeType::UPDATE),
                        RisSubscribe::new()
                            .host(h)
                            .data_type(RisSubscribeType::RIS_PEER_STATE),
                    ]
                })
                .collect();
        }
        let mut out: Vec<RisSubscribe> = options
            .asns
            .iter()
            .map(|a| {
                RisSubscribe::new()
                    .path(&format!("{a}$"))
                    .data_type(RisSubscribeType::UPDATE)
            })
            .collect();
        out.push(RisSubscribe::new().data_type(RisSubscribeType::RIS_PEER_STATE));
        out.push(RisSubscribe::new().data_type(RisSubscribeType::KEEPALIVE));
        out
    }

    /// Subscribe to every watched prefix not yet subscribed (given, or learned from a watched
    /// AS's announcement: its later withdrawal carries no path).
    async fn subscribe_new_prefixes(&mut self) -> Result<(), String> {
        let known = match self.watch.read() {
            Ok(w) => w.prefixes(),
            Err(_) => return Ok(()),
        };
        for p in known {
            if self.subscribed.insert(p) {
                let Ok(net) = p.to_string().parse() else {
                    continue;
                };
                let s = RisSubscribe::new()
                    .prefix(net)
                    .more_specific(true)
                    .data_type(RisSubscribeType::UPDATE);
                self.send(s).await?;
            }
        }
        Ok(())
    }

    async fn send(&mut self, s: RisSubscribe) -> Result<(), String> {
        self.socket
            .send(Message::Text(s.to_json_string().into()))
            .await
            .map_err(|e| format!("subscribing: {e}"))
    }

    /// Read until the connection is lost (why) or the monitor is gone (None).
    async fn read(&mut self, feed: &mut RisLiveFeed, options: &RisLiveOptions) -> Option<String> {
        let hosts_given = !options.hosts.is_empty();
        loop {
            let first = match tokio::time::timeout(options.silence, self.socket.next()).await {
                Err(_) => {
                    return Some(format!(
                        "nothing received for {}s",
                        options.silence.as_secs()
                    ));
                }
                Ok(None) => return Some("the server closed the connection".into()),
                Ok(Some(Err(e))) => return Some(format!("read failed: {e}")),
                Ok(Some(Ok(m))) => m,
            };
            let mut out = Vec::new();
            let mut frames = vec![first];
            while frames.len() < BATCH {
                match self.socket.next().now_or_never() {
                    Some(Some(Ok(m))) => frames.push(m),
                    _ => break,
                }
            }
            let mut closed = None;
            for frame in frames {
                match frame {
                    Message::Text(text) => self.take(text.as_str(), feed, &mut out).await,
                    Message::Binary(b) => {
                        self.unreadable(format!("a binary frame of {} bytes", b.len()))
                            .await
                    }
                    Message::Close(c) => {
                        closed = Some(match c {
                            Some(c) => format!("the server closed the connection ({})", c.reason),
                            None => "the server closed the connection".into(),
                        })
                    }
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                }
            }
            feed.end_batch(&mut out);
            if !out.is_empty() && self.tx.send(LiveUpdate::Feed { msgs: out }).await.is_err() {
                return None;
            }
            if let Some(why) = closed {
                return Some(why);
            }
            if !hosts_given && let Err(e) = self.subscribe_new_prefixes().await {
                return Some(e);
            }
        }
    }

    async fn take(&mut self, text: &str, feed: &mut RisLiveFeed, out: &mut Vec<Msg>) {
        self.heard = true;
        match decode(text) {
            Ok(RisEvent::ServerError(m)) => {
                let _ = self
                    .tx
                    .send(LiveUpdate::Note(format!("{SOURCE}: the server says: {m}")))
                    .await;
            }
            Ok(event) => {
                let before = out.len();
                feed.take(event, out);
                if let Some(t) = out[before..].iter().map(Msg::time).max() {
                    self.last_time = Some(self.last_time.map_or(t, |l| l.max(t)));
                }
            }
            Err(e) => self.unreadable(e).await,
        }
    }

    async fn unreadable(&mut self, what: String) {
        self.unreadable += 1;
        let note = match self.unreadable {
            n if n <= NAMED_PER_CONNECTION => format!("{SOURCE}: skipped {what}"),
            n if n == NAMED_PER_CONNECTION + 1 => {
                format!(
                    "{SOURCE}: more unreadable frames skipped; not named again on this connection"
                )
            }
            _ => return,
        };
        let _ = self.tx.send(LiveUpdate::Note(note)).await;
    }

    /// The connection is lost: every collector of the feed has a hole from its last message
    /// on, and the loss is said if `say`. False when the monitor is gone.
    async fn lost(&mut self, feed: &mut RisLiveFeed, why: &str, say: bool) -> bool {
        let at = self.last_time.unwrap_or_else(crate::bmp_station::now);
        let mut out = Vec::new();
        feed.lost(at, why, &mut out);
        let collectors: Vec<String> = feed.collectors().map(ToString::to_string).collect();
        let _ = self.socket.close(None).now_or_never();
        let down = LiveUpdate::FeedDown {
            source: SOURCE.into(),
            reason: format!(
                "{why}; its collectors ({}) are unknown until it speaks again, and what they said meanwhile is not replayed",
                if collectors.is_empty() {
                    "none yet".to_string()
                } else {
                    collectors.join(", ")
                }
            ),
        };
        (out.is_empty() || self.tx.send(LiveUpdate::Feed { msgs: out }).await.is_ok())
            && (!say || self.tx.send(down).await.is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `wss://` endpoint builds its TLS client (rustls needs a crypto provider chosen at
    /// build time, or it panics) and fails cleanly against a server that speaks no TLS.
    #[tokio::test]
    async fn a_wss_endpoint_that_speaks_no_tls_is_an_error_not_a_panic() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            if let Ok((mut s, _)) = listener.accept().await {
                use tokio::io::AsyncWriteExt;
                let _ = s.write_all(b"HTTP/1.1 400 not TLS\r\n\r\n").await;
            }
        });
        let r = tokio_tungstenite::connect_async(format!("wss://127.0.0.1:{port}/v1/ws/")).await;
        assert!(r.is_err(), "no TLS, no WebSocket");
    }

    #[test]
    fn the_client_says_who_it_is_unless_the_url_does() {
        assert_eq!(
            with_client("wss://ris-live.ripe.net/v1/ws/"),
            "wss://ris-live.ripe.net/v1/ws/?client=cutoff"
        );
        assert_eq!(
            with_client("ws://127.0.0.1:9/v1/ws/?x=1"),
            "ws://127.0.0.1:9/v1/ws/?x=1&client=cutoff"
        );
        assert_eq!(with_client("ws://h/?client=ops"), "ws://h/?client=ops");
    }
}
