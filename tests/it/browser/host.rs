//! The customer's website: a tiny HTTP server on another origin (`http://localhost:<port>`, while
//! Switchboard is `http://127.0.0.1:<port>`: another site, not just another port) serving one
//! page that embeds the widget snippet, by default under hostile global CSS.
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

pub const HOSTILE_CSS: &str = "* { color: red !important; font-size: 40px !important } button { background: lime !important }";

const PRESENTABLE_CSS: &str = "body { font-family: Georgia, serif; margin: 0; color: #222; background: #faf7f2 } \
     header { background: #2d3a4a; color: #fff; padding: 24px 48px; font-size: 28px } \
     main { padding: 32px 48px; max-width: 720px; line-height: 1.6 } \
     button { background: #c0603a; color: #fff; border: 0; padding: 10px 18px; border-radius: 6px }";

pub struct HostPage {
    /// `http://localhost:<port>/`
    pub url: String,
    /// `http://localhost:<port>`
    pub origin: String,
}

impl HostPage {
    /// A page with hostile CSS embedding `<script src="{server}/widget.js" data-inbox=… async>`.
    pub async fn start(server: &str, inbox_token: &str) -> HostPage {
        Self::start_with(server, inbox_token, HOSTILE_CSS).await
    }

    /// The same page with ordinary styling (for screenshots).
    pub async fn presentable(server: &str, inbox_token: &str) -> HostPage {
        Self::start_with(server, inbox_token, PRESENTABLE_CSS).await
    }

    async fn start_with(server: &str, inbox_token: &str, css: &str) -> HostPage {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind host page server");
        let port = listener.local_addr().expect("addr").port();
        let html = page(server.trim_end_matches('/'), inbox_token, css);
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    continue;
                };
                let html = html.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 65536 {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&buf);
                    let path = head.split_whitespace().nth(1).unwrap_or("/");
                    let path = path.split('?').next().unwrap_or("/");
                    let resp = if path == "/" || path == "/index.html" {
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
                             Cache-Control: no-store\r\nContent-Length: {}\r\n\
                             Connection: close\r\n\r\n{html}",
                            html.len()
                        )
                    } else {
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_string()
                    };
                    let _ = sock.write_all(resp.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        HostPage {
            url: format!("http://localhost:{port}/"),
            origin: format!("http://localhost:{port}"),
        }
    }
}

fn page(server: &str, inbox_token: &str, css: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Acme Outdoor Gear</title>
<style>{css}</style>
</head>
<body>
<header id="host-title">Acme Outdoor Gear</header>
<main>
<p id="host-text">Tents, stoves and everything for the trail. Free shipping over $50.</p>
<button id="host-button" type="button">Add to cart</button>
</main>
<script src="{server}/widget.js" data-inbox="{inbox_token}" async></script>
</body>
</html>
"#
    )
}
