//! The server side of one HTTP/1.1 request on a raw socket: the request line, the headers and a
//! `Content-Length` body. For the fake endpoints (the fake OpenAI server here, the bench's
//! instant model), which answer on the raw socket so they can stream, stall or misbehave.
use serde_json::Value;
use tokio::{io::AsyncReadExt, net::TcpStream};

/// One parsed request.
pub struct Request {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    /// The body, `Content-Length` bytes (left unparsed: a bench's fake must not add work).
    pub body: Vec<u8>,
}

impl Request {
    /// The body as JSON (`Null` when empty, a string when it is not JSON).
    pub fn json(&self) -> Value {
        if self.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&self.body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&self.body).into()))
        }
    }
}

/// Reads one request; None when the peer leaves first or the head exceeds 1 MiB.
pub async fn read_request(sock: &mut TcpStream) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 1 << 20 {
            return None;
        }
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split_whitespace();
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let mut content_length = 0usize;
    let mut authorization = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => content_length = value.parse().ok()?,
            "authorization" => authorization = Some(value.to_string()),
            _ => {}
        }
    }
    let mut body = buf[head_end..].to_vec();
    while body.len() < content_length {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(content_length);
    Some(Request {
        method,
        path,
        authorization,
        body,
    })
}
