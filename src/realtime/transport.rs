//! The WebSocket connection a session talks through, once the handshake is done: the TCP stream
//! itself, framed with actix's WebSocket codec (`actix_http::ws`, the codec actix-ws wraps).
//!
//! It exists for memory. An idle socket holds no buffer at all here: reads wait for readiness
//! first and only then read, through a stack buffer, keeping just the bytes of frames not yet
//! complete; writes encode into a buffer that is released once flushed. Kept inside actix-http's HTTP/1
//! dispatcher (actix-ws), every socket kept two fixed 8 KiB buffers for its whole life, which was
//! two thirds of its memory (`bench connections`, docs/benchmarks.md).
//!
//! Both halves are cancel-safe, so the session can `select!` on them: `recv` keeps a partly
//! received frame in `rbuf` across cancellations, and `flush` keeps what it has not written yet
//! in `wbuf`, which the next `flush` or `close` writes first, so frames are never cut.
use std::{io, time::Duration};

use actix_codec::{Decoder, Encoder};
use actix_http::ws::{Codec, Frame, Item};
use actix_web::web::{Bytes, BytesMut};
use actix_ws::{AggregatedMessage, CloseReason, Message, ProtocolError};
use tokio::{io::AsyncWriteExt, net::TcpStream};

/// Bytes asked of the kernel per read (into a stack buffer).
const READ_CHUNK: usize = 4096;
/// After a close frame the server started, how long the peer has to answer with its own before
/// the TCP connection is closed anyway. Closing with unread input would send a reset, which can
/// make the peer lose the close frame (and its code) still in flight. When the peer closed first
/// there is nothing to wait for: its close frame was the last thing it sends (RFC 6455 5.5.1).
const CLOSE_LINGER: Duration = Duration::from_secs(1);

/// Why a message could not be received.
#[derive(Debug)]
pub enum RecvError {
    /// A malformed frame, one over the frame size limit (`Overflow`), or an I/O error.
    Protocol(ProtocolError),
    /// The fragments of one message add up to more than the message size limit.
    MessageTooLarge,
    /// A text message that is not UTF-8.
    NotUtf8,
}

pub struct WsConn {
    io: TcpStream,
    codec: Codec,
    rbuf: BytesMut,
    wbuf: BytesMut,
    /// A fragmented message being put together: text or binary, and its parts so far.
    partial: Option<(bool, Vec<Bytes>, usize)>,
    max_message: usize,
    eof: bool,
    /// The peer's close frame has been received: it sends nothing more.
    peer_closed: bool,
}

impl WsConn {
    /// `leftover`: bytes the client sent right after the handshake, already read from the socket
    /// (copied: the buffer they are in belongs to the HTTP/1 connection and is 8 KiB).
    pub fn new(io: TcpStream, leftover: &[u8], max_frame: usize, max_message: usize) -> Self {
        WsConn {
            io,
            codec: Codec::new().max_size(max_frame),
            rbuf: BytesMut::from(leftover),
            wbuf: BytesMut::new(),
            partial: None,
            max_message,
            eof: false,
            peer_closed: false,
        }
    }

    /// The next complete message (fragments put together), `None` once the peer has closed the
    /// TCP connection. Cancel-safe.
    pub async fn recv(&mut self) -> Option<Result<AggregatedMessage, RecvError>> {
        loop {
            match self.decode() {
                Ok(Some(msg)) => return Some(Ok(msg)),
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
            if self.eof {
                return None;
            }
            if let Err(e) = self.io.readable().await {
                return Some(Err(RecvError::Protocol(ProtocolError::Io(e))));
            }
            match self.read_some() {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Some(Err(RecvError::Protocol(ProtocolError::Io(e)))),
            }
        }
    }

    /// Reads what the kernel has into a stack buffer, then keeps just those bytes: no buffer of
    /// read size is allocated per read (with glibc, such allocations also cost a consolidation
    /// of the small free chunks each time).
    fn read_some(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; READ_CHUNK];
        let n = self.io.try_read(&mut chunk)?;
        self.rbuf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Decodes what is buffered into the next message, if it holds one; drops the buffer once it
    /// is empty.
    fn decode(&mut self) -> Result<Option<AggregatedMessage>, RecvError> {
        let out = loop {
            let Some(frame) = self
                .codec
                .decode(&mut self.rbuf)
                .map_err(RecvError::Protocol)?
            else {
                break None;
            };
            if let Some(msg) = self.aggregate(frame)? {
                break Some(msg);
            }
        };
        if self.rbuf.is_empty() && self.rbuf.capacity() > 0 {
            self.rbuf = BytesMut::new();
        }
        Ok(out)
    }

    fn aggregate(&mut self, frame: Frame) -> Result<Option<AggregatedMessage>, RecvError> {
        Ok(Some(match frame {
            Frame::Text(b) => text(b)?,
            Frame::Binary(b) => AggregatedMessage::Binary(b),
            Frame::Ping(b) => AggregatedMessage::Ping(b),
            Frame::Pong(b) => AggregatedMessage::Pong(b),
            Frame::Close(r) => {
                self.peer_closed = true;
                AggregatedMessage::Close(r)
            }
            // The codec checks the order of fragments (first, continue…, last).
            Frame::Continuation(item) => {
                let (is_text, part, last) = match item {
                    Item::FirstText(b) => (true, b, false),
                    Item::FirstBinary(b) => (false, b, false),
                    Item::Continue(b) => (false, b, false),
                    Item::Last(b) => (false, b, true),
                };
                let (kind, mut parts, size) =
                    self.partial.take().unwrap_or((is_text, Vec::new(), 0usize));
                let size = size + part.len();
                if size > self.max_message {
                    return Err(RecvError::MessageTooLarge);
                }
                if !part.is_empty() {
                    parts.push(part);
                }
                if !last {
                    self.partial = Some((kind, parts, size));
                    return Ok(None);
                }
                let mut whole = BytesMut::with_capacity(size);
                for p in parts {
                    whole.extend_from_slice(&p);
                }
                let whole = whole.freeze();
                if kind {
                    text(whole)?
                } else {
                    AggregatedMessage::Binary(whole)
                }
            }
        }))
    }

    /// Queues one message, written by the next `flush` (frames that come together go out in
    /// one write).
    pub fn queue(&mut self, msg: Message) -> io::Result<()> {
        self.codec
            .encode(msg, &mut self.wbuf)
            .map_err(|e| io::Error::other(e.to_string()))
    }

    /// Bytes queued and not written yet.
    pub fn pending(&self) -> usize {
        self.wbuf.len()
    }

    /// Writes what is queued. Cancel-safe: what is not written yet stays queued, whole.
    pub async fn flush(&mut self) -> io::Result<()> {
        while !self.wbuf.is_empty() {
            // `write` writes nothing if cancelled, so `wbuf` stays exact.
            let n = self.io.write(&self.wbuf).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            let _ = self.wbuf.split_to(n);
        }
        self.wbuf = BytesMut::new();
        Ok(())
    }

    /// Sends a close frame, then closes the connection: at once if it answers the peer's close,
    /// else after giving the peer a moment ([`CLOSE_LINGER`]) to answer with its own.
    pub async fn close(&mut self, reason: Option<CloseReason>) -> io::Result<()> {
        self.queue(Message::Close(reason))?;
        self.flush().await?;
        if self.peer_closed {
            return self.io.shutdown().await;
        }
        let _ = tokio::time::timeout(CLOSE_LINGER, async {
            while let Some(Ok(msg)) = self.recv().await {
                if matches!(msg, AggregatedMessage::Close(_)) {
                    break;
                }
            }
        })
        .await;
        self.io.shutdown().await
    }
}

fn text(b: Bytes) -> Result<AggregatedMessage, RecvError> {
    b.try_into()
        .map(AggregatedMessage::Text)
        .map_err(|_| RecvError::NotUtf8)
}
