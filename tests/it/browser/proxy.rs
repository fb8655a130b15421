//! A TCP proxy in front of the server, between the customer's browser and Switchboard.
//! `cut()` drops every open connection and refuses new ones until `restore()` (a network
//! outage); `block_websockets(true)` answers any request whose head asks for
//! `Upgrade: websocket` with `403 Forbidden` (a corporate proxy), other requests pass.
//!
//! Only the first request head of each connection is inspected, and only while WebSockets are
//! blocked (browsers open WebSocket handshakes on a connection of their own); otherwise bytes pass
//! untouched, so it also stands in front of PostgreSQL (tests/it/outage.rs).
use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
};

struct State {
    upstream: SocketAddr,
    cut: AtomicBool,
    block_ws: AtomicBool,
    /// Bumped by `cut()`: every connection task watching it drops its sockets.
    kill: watch::Sender<u64>,
    ws_blocked: AtomicUsize,
    refused: AtomicUsize,
    accepted: AtomicUsize,
}

pub struct Proxy {
    /// `http://127.0.0.1:<port>`: use it where the server's base URL would go.
    pub url: String,
    st: Arc<State>,
}

impl Proxy {
    /// A proxy forwarding to the server at `base` (`http://127.0.0.1:<port>`).
    pub async fn start(base: &str) -> Proxy {
        let upstream: SocketAddr = base
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .expect("server base is http://ip:port");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let (kill, _) = watch::channel(0u64);
        let st = Arc::new(State {
            upstream,
            cut: AtomicBool::new(false),
            block_ws: AtomicBool::new(false),
            kill,
            ws_blocked: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
            accepted: AtomicUsize::new(0),
        });
        let st2 = st.clone();
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    continue;
                };
                if st2.cut.load(Ordering::SeqCst) {
                    st2.refused.fetch_add(1, Ordering::SeqCst);
                    let _ = sock.set_zero_linger(); // reset, like a dead network
                    drop(sock);
                    continue;
                }
                st2.accepted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(st2.clone(), sock));
            }
        });
        Proxy {
            url: format!("http://127.0.0.1:{port}"),
            st,
        }
    }

    /// Closes every connection now and refuses new ones until `restore()`.
    pub fn cut(&self) {
        self.st.cut.store(true, Ordering::SeqCst);
        self.st.kill.send_modify(|g| *g += 1);
    }

    pub fn restore(&self) {
        self.st.cut.store(false, Ordering::SeqCst);
    }

    pub fn block_websockets(&self, on: bool) {
        self.st.block_ws.store(on, Ordering::SeqCst);
    }

    /// WebSocket handshakes answered with 403 so far.
    pub fn ws_blocked(&self) -> usize {
        self.st.ws_blocked.load(Ordering::SeqCst)
    }

    /// Connections refused while cut.
    pub fn refused(&self) -> usize {
        self.st.refused.load(Ordering::SeqCst)
    }

    /// Connections accepted and forwarded (or answered 403).
    pub fn accepted(&self) -> usize {
        self.st.accepted.load(Ordering::SeqCst)
    }
}

async fn serve(st: Arc<State>, mut client: TcpStream) {
    let mut kill = st.kill.subscribe();
    let _ = client.set_nodelay(true);
    let inspect = st.block_ws.load(Ordering::SeqCst);
    let work = async {
        // The first request head decides whether this is a WebSocket handshake.
        let mut head = Vec::new();
        let mut chunk = [0u8; 8192];
        while inspect && !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
            match client.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&chunk[..n]),
            }
        }
        let lower = String::from_utf8_lossy(&head).to_ascii_lowercase();
        let is_ws = lower
            .lines()
            .any(|l| l.starts_with("upgrade:") && l.contains("websocket"));
        if is_ws && st.block_ws.load(Ordering::SeqCst) {
            st.ws_blocked.fetch_add(1, Ordering::SeqCst);
            let _ = client
                .write_all(
                    b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 32\r\n\
                      Connection: close\r\n\r\nWebSockets are blocked by proxy\n",
                )
                .await;
            let _ = client.shutdown().await;
            return;
        }
        let Ok(mut upstream) = TcpStream::connect(st.upstream).await else {
            return;
        };
        let _ = upstream.set_nodelay(true);
        if upstream.write_all(&head).await.is_err() {
            return;
        }
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    };
    let killed = tokio::select! {
        _ = work => false,
        _ = kill.changed() => true,
    };
    if killed {
        let _ = client.set_zero_linger();
    }
}
