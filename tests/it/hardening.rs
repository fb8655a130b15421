//! Security-audit stories (issue 13): visitor tokens die with an identity-secret rotation, the
//! data dir and database are private, short signing keys are refused, API responses carry
//! no-sniff / no-store (and HSTS when configured), the dashboard may only open sockets to its own
//! server, a small outbound queue survives a burst, a client's close is answered at once, and
//! SIGTERM exits within the documented bound.
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as WsMsg;

use crate::api_helpers::*;
use crate::helpers::*;

// ---------------------------------------------------------------------------------------------
// 14. A client's close is answered and the connection closed at once
// ---------------------------------------------------------------------------------------------

/// The server used to wait `CLOSE_LINGER` (1 s) for a second close frame after echoing the
/// client's; the TCP connection must end right after the echo.
#[tokio::test]
async fn a_client_close_is_echoed_and_the_connection_ends_without_lingering() {
    let app = spawn_app().await;
    let c = app.customer().await;
    let url = format!("{}/ws/widget?token={}", app.ws_base, c.token);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("connect");
    let hello = ws.next().await.expect("hello").expect("frame");
    assert!(hello.to_text().unwrap_or_default().contains("hello"));
    let started = Instant::now();
    ws.close(None).await.expect("send close");
    let mut echoed = false;
    // tungstenite answers `None` once the server has closed the TCP connection.
    while let Some(item) = tokio::time::timeout(TIMEOUT, ws.next())
        .await
        .expect("the server never closed the connection")
    {
        if let Ok(WsMsg::Close(_)) = item {
            echoed = true;
        }
    }
    let took = started.elapsed();
    assert!(echoed, "the server did not echo the close frame");
    // The old linger was 1 s: anything below it means the server did not wait for a second close.
    assert!(
        took < Duration::from_secs(1),
        "the server held the connection {took:?} after the client's close"
    );
    app.stop().await;
}
