//! The BMP station: routers connect to it (RFC 7854 §3.2: the router opens the TCP
//! connection) and stream Initiation, Peer Up/Down and Route Monitoring messages.
//!
//! - A router is named by the sysName of its Initiation and the BGP ID it sends in its first
//!   Peer Up (`bmp:GoBGP@10.0.0.1`): FRR and GoBGP on one host connect from the same address,
//!   so the address names nothing, and every GoBGP's sysName is "GoBGP".
//! - Each connection is read on its own task; messages are framed by their common header,
//!   stamped with the time they arrived, and turned into pipeline messages there
//!   ([`LiveCollector`]), so only the watched routes cross to the monitor.
//! - The channel to the monitor is bounded: a monitor that falls behind slows the reads, and
//!   TCP slows the router, instead of memory growing.

use bytes::BytesMut;
use cutoff_core::model::{CollectorId, Timestamp};
use cutoff_core::parse::bmp::{self, BmpEvent};
use cutoff_core::pipeline::live::LiveCollector;
use cutoff_core::state::Msg;
use cutoff_core::watch::Watch;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// What the station tells the monitor.
#[derive(Debug)]
pub enum LiveUpdate {
    /// Pipeline messages of one router, in the order they arrived.
    Messages {
        collector: CollectorId,
        msgs: Vec<Msg>,
    },
    /// A router connected and said who it is.
    Connected {
        collector: CollectorId,
        remote: SocketAddr,
    },
    /// A router's connection ended: its sessions are unknown until it is back.
    Disconnected {
        collector: CollectorId,
        reason: String,
    },
    /// Pipeline messages of a feed that carries several collectors (RIS Live), in the order
    /// they arrived.
    Feed { msgs: Vec<Msg> },
    /// A feed is connected.
    FeedUp { source: String, detail: String },
    /// A feed is lost: its collectors are unknown until it is back.
    FeedDown { source: String, reason: String },
    /// Something to say once on stderr (a refused session, an unreadable message).
    Note(String),
}

#[derive(Debug, Clone)]
pub struct StationOptions {
    pub listen: SocketAddr,
    /// The initial table of a connection is closed this long after it began, whatever
    /// End-of-RIB markers are missing.
    pub dump_deadline_secs: i64,
}

/// A listening station; it runs until the runtime stops.
pub struct Station {
    pub local_addr: SocketAddr,
}

impl Station {
    /// Listen on `options.listen` (port 0 picks a free one, see `local_addr`) and serve every
    /// router that connects, on the current tokio runtime.
    pub async fn start(
        options: StationOptions,
        watch: Arc<RwLock<Watch>>,
        tx: mpsc::Sender<LiveUpdate>,
    ) -> std::io::Result<Station> {
        let listener = TcpListener::bind(options.listen).await?;
        let local_addr = listener.local_addr()?;
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, remote)) => {
                        let conn = Connection::new(
                            remote,
                            Arc::clone(&watch),
                            tx.clone(),
                            options.dump_deadline_secs,
                        );
                        tokio::spawn(conn.serve(stream));
                    }
                    Err(e) => {
                        let note = format!("BMP station {local_addr}: accept failed: {e}");
                        if tx.send(LiveUpdate::Note(note)).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        Ok(Station { local_addr })
    }
}

/// The station's clock: every message is stamped when it arrives (see `parse::bmp`).
pub fn now() -> Timestamp {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp {
        secs: d.as_secs() as i64,
        micros: d.subsec_micros(),
    }
}

/// One router's connection.
struct Connection {
    remote: SocketAddr,
    watch: Arc<RwLock<Watch>>,
    tx: mpsc::Sender<LiveUpdate>,
    dump_deadline_secs: i64,
    /// Known once the router has said who it is: at its first Peer Up, whose OPEN gives its
    /// BGP ID (a sysName alone does not tell two GoBGPs apart: theirs is "GoBGP").
    router: Option<LiveCollector>,
    /// The router's name, kept after the connection ends (for its last messages).
    collector: Option<CollectorId>,
    sys_name: Option<String>,
    /// Updates to send before the next messages (a connection named, notes).
    pending: Vec<LiveUpdate>,
    /// Messages not decoded, per kind of problem, said once each.
    said: std::collections::BTreeSet<String>,
}

impl Connection {
    fn new(
        remote: SocketAddr,
        watch: Arc<RwLock<Watch>>,
        tx: mpsc::Sender<LiveUpdate>,
        dump_deadline_secs: i64,
    ) -> Self {
        Connection {
            remote,
            watch,
            tx,
            dump_deadline_secs,
            router: None,
            collector: None,
            sys_name: None,
            pending: Vec::new(),
            said: Default::default(),
        }
    }

    fn name(&self) -> String {
        match &self.router {
            Some(r) => r.collector().to_string(),
            None => format!("BMP router at {}", self.remote),
        }
    }

    async fn serve(mut self, mut stream: TcpStream) {
        let mut buf = BytesMut::with_capacity(1 << 16);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let reason = loop {
            let mut out = Vec::new();
            tokio::select! {
                // `read_buf` is cancel-safe: a tick in the middle loses no byte.
                read = stream.read_buf(&mut buf) => match read {
                    Ok(0) => break "the router closed the connection".to_string(),
                    Ok(_) => {
                        let framed = self.frames(&mut buf, &mut out);
                        if let Some(r) = self.router.as_mut() {
                            r.end_batch(&mut out);
                        }
                        if let Err(e) = framed {
                            self.send(out).await;
                            break e;
                        }
                    }
                    Err(e) => break format!("reading from the router failed: {e}"),
                },
                _ = tick.tick() => {
                    if let Some(r) = self.router.as_mut() {
                        r.tick(now(), &mut out);
                    }
                }
            }
            if !self.send(out).await {
                return;
            }
        };
        let mut out = Vec::new();
        if let Some(mut r) = self.router.take() {
            let collector = r.collector().clone();
            self.pending
                .extend(r.notes.drain(..).map(LiveUpdate::Note).collect::<Vec<_>>());
            r.disconnected(now(), &reason, &mut out);
            self.send(out).await;
            let _ = self
                .tx
                .send(LiveUpdate::Disconnected { collector, reason })
                .await;
        }
    }

    /// Send what a read produced (messages, then notes); false when the monitor is gone.
    async fn send(&mut self, out: Vec<Msg>) -> bool {
        if let Some(r) = self.router.as_mut() {
            self.pending.extend(
                std::mem::take(&mut r.notes)
                    .into_iter()
                    .map(LiveUpdate::Note),
            );
        }
        for update in std::mem::take(&mut self.pending) {
            if self.tx.send(update).await.is_err() {
                return false;
            }
        }
        let Some(collector) = self.collector.clone() else {
            // Messages exist only once the router is named.
            return true;
        };
        out.is_empty()
            || self
                .tx
                .send(LiveUpdate::Messages {
                    collector,
                    msgs: out,
                })
                .await
                .is_ok()
    }

    /// Every whole message in `buf`; an error ends the connection (the stream is not BMP, or
    /// lost its framing).
    fn frames(&mut self, buf: &mut BytesMut, out: &mut Vec<Msg>) -> Result<(), String> {
        loop {
            let Some(header) = buf.get(..bmp::COMMON_HEADER_LEN) else {
                return Ok(());
            };
            // The slice is exactly COMMON_HEADER_LEN long, so the conversion cannot fail.
            let header: [u8; bmp::COMMON_HEADER_LEN] = header.try_into().unwrap_or_default();
            let len = bmp::message_len(&header).map_err(|e| {
                format!(
                    "{}: {e}; the connection is closed (the router reconnects)",
                    self.name()
                )
            })?;
            if buf.len() < len {
                buf.reserve(len - buf.len());
                return Ok(());
            }
            let msg = buf.split_to(len).freeze();
            self.message(msg, out);
        }
    }

    fn message(&mut self, msg: bytes::Bytes, out: &mut Vec<Msg>) {
        let t = now();
        let decoded = match self.router.as_mut() {
            Some(r) => bmp::decode(msg, t, &mut |v| r.wants(v)),
            None => bmp::decode(msg, t, &mut |_| true),
        };
        let event = match decoded {
            Ok(e) => e,
            Err(e) => {
                let note = format!("{}: {e} (message skipped)", self.name());
                if self.said.insert(e) {
                    self.pending.push(LiveUpdate::Note(note));
                }
                return;
            }
        };
        match (&event, self.router.is_some()) {
            (BmpEvent::Initiation { sys_name, .. }, false) => {
                self.sys_name = sys_name.clone().filter(|s| !s.trim().is_empty());
                return;
            }
            (BmpEvent::PeerUp { router_id, .. }, false) => {
                let name = match &self.sys_name {
                    Some(sys) => format!("{sys}@{router_id}"),
                    None => router_id.to_string(),
                };
                self.open_router(&name, t, out);
            }
            (_, false) => return,
            _ => {}
        }
        if let Some(r) = self.router.as_mut() {
            r.take(event, t, out);
        }
    }

    fn open_router(&mut self, name: &str, t: Timestamp, out: &mut Vec<Msg>) {
        let collector = CollectorId::new(&format!("bmp:{name}"));
        self.collector = Some(collector.clone());
        self.pending.push(LiveUpdate::Connected {
            collector: collector.clone(),
            remote: self.remote,
        });
        self.router = Some(LiveCollector::connected(
            collector,
            Arc::clone(&self.watch),
            t,
            self.dump_deadline_secs,
            out,
        ));
    }
}
