//! The HTTP server: the actix-web `App` served by actix-http's HTTP/1 service on actix-server,
//! assembled here rather than through `HttpServer` for one reason, WebSocket upgrades.
//!
//! `HttpServer` keeps an upgraded connection inside actix-http's HTTP/1 dispatcher, and with it
//! the dispatcher's two fixed 8 KiB buffers, for the socket's whole life: two thirds of a
//! socket's memory. `HttpService` has an `upgrade` hook that `HttpServer` does not expose: with
//! it, a WebSocket upgrade request is handed over with the connection itself. The request still
//! goes through the same `App` (routes, extractors, token and `Origin` checks in `web::ws`);
//! when a handler accepts it (a 101 carrying [`ws::Accepted`]) the 101 is written here and the
//! session runs on the bare TCP stream (`realtime::transport`). Anything else is answered as
//! usual and the connection closed.
//!
//! Everything else is what `HttpServer` does, with the same settings.
use std::{net::TcpListener, rc::Rc, time::Duration};

use actix_codec::{Framed, FramedParts};
use actix_http::{
    ConnectionType, HttpService, KeepAlive, Request, Response,
    body::{BodySize, BoxBody, MessageBody},
    h1,
};
use actix_service::{IntoServiceFactory, map_config};
use actix_web::{
    App, HttpMessage,
    dev::{
        AppConfig, Server, Service, ServiceFactory, ServiceRequest, ServiceResponse, fn_factory,
        fn_service,
    },
    web,
};
use futures_util::SinkExt;
use tokio::net::TcpStream;

use super::ws::{Accepted, UpgradeAvailable};
use crate::{actor::Actor, context::AppContext, realtime::transport::WsConn};

/// How long actix waits for in-flight requests (and sockets being closed) once it stops.
pub(crate) const HTTP_SHUTDOWN_SECS: u64 = 5;

/// Starts serving `listener` (already bound and listening).
pub fn start(listener: TcpListener, ctx: &AppContext) -> std::io::Result<Server> {
    let settings = &ctx.settings;
    let addr = listener.local_addr()?;
    let web_role = settings.has_role("web");
    let data = web::Data::new(ctx.clone());
    let ctx = ctx.clone();
    let builder = Server::build();
    let stopping = builder.graceful_shutdown_signal();
    Ok(builder
        .shutdown_timeout(HTTP_SHUTDOWN_SECS)
        .disable_signals()
        .max_concurrent_connections(settings.http_max_connections)
        .listen("switchboard-http", listener, move || {
            let stopping = stopping.clone();
            let upgrades = upgrade_service(app(data.clone(), web_role).into_factory(), ctx.clone());
            HttpService::build()
                // Idle keep-alive connections close at once when the server stops.
                .graceful_shutdown_signal(move || {
                    let stopping = stopping.clone();
                    async move { stopping.notified().await }
                })
                .keep_alive(KeepAlive::default())
                .client_request_timeout(Duration::from_secs(5))
                .client_disconnect_timeout(Duration::from_secs(1))
                // Sockets carry streams of small frames: without this, Nagle + delayed ACK
                // hold them back.
                .tcp_nodelay(true)
                .local_addr(addr)
                .upgrade(upgrades)
                // AppConfig's host and address only stand in for a missing `Host` header
                // (HTTP/1.0); handlers read the request's own.
                .finish(map_config(
                    app(data.clone(), web_role).into_factory(),
                    |_| AppConfig::default(),
                ))
                .tcp()
        })?
        .run())
}

fn app(
    data: web::Data<AppContext>,
    web_role: bool,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<BoxBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let app = App::new()
        .app_data(data)
        .wrap(actix_web::middleware::from_fn(super::security_headers));
    if web_role {
        app.configure(super::routes)
    } else {
        app.configure(super::health_routes)
    }
}

type Upgrade = (Request, Framed<TcpStream, h1::Codec>);

/// What a worker does with a WebSocket upgrade request: the app (its own instance, per worker)
/// decides, then the connection is either taken over or answered and closed.
fn upgrade_service<A>(
    app: A,
    ctx: AppContext,
) -> impl ServiceFactory<Upgrade, Config = (), Response = (), Error = actix_web::Error, InitError = ()>
where
    A: ServiceFactory<
            Request,
            Config = AppConfig,
            Response = ServiceResponse<BoxBody>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
{
    fn_factory(move || {
        let init = app.new_service(AppConfig::default());
        let ctx = ctx.clone();
        async move {
            let app = Rc::new(init.await?);
            Ok::<_, ()>(fn_service(move |(req, framed): Upgrade| {
                let app = app.clone();
                let ctx = ctx.clone();
                // Boxed: the connection task is sized for its largest state, and an HTTP
                // connection should not carry room for a whole socket session.
                // The handshake is boxed apart too: it is much bigger than the session and
                // over once the session starts.
                Box::pin(async move {
                    let upgraded = Box::pin(handshake(&*app, &ctx, req, framed)).await;
                    if let Some((actor, ws)) = upgraded {
                        Box::pin(super::ws::session::run(ctx, actor, ws)).await;
                    }
                    Ok::<_, actix_web::Error>(())
                }) as futures_util::future::LocalBoxFuture<'static, _>
            }))
        }
    })
}

/// Runs the request through the app. Accepted: writes the 101 and returns the connection as a
/// WebSocket, with whom it is for. Refused: writes the answer and closes the connection.
async fn handshake<S>(
    app: &S,
    ctx: &AppContext,
    req: Request,
    mut framed: Framed<TcpStream, h1::Codec>,
) -> Option<(Actor, WsConn)>
where
    S: Service<Request, Response = ServiceResponse<BoxBody>, Error = actix_web::Error>,
{
    req.extensions_mut().insert(UpgradeAvailable);
    let mut res: Response<BoxBody> = match app.call(req).await {
        Ok(res) => res.into_parts().1.into(),
        Err(e) => e.error_response().into(),
    };
    let accepted = res.extensions_mut().remove::<Accepted>();
    match accepted {
        Some(Accepted(actor)) if res.status() == actix_http::StatusCode::SWITCHING_PROTOCOLS => {
            let (head, _) = res.into_parts();
            framed.send((head, BodySize::None).into()).await.ok()?;
            // Only the stream and any bytes already read are kept: the HTTP/1 codec and the
            // dispatcher's write buffer (8 KiB) are dropped here, not when the session ends.
            let FramedParts { io, read_buf, .. } = framed.into_parts();
            let max = ctx.settings.max_frame_bytes;
            Some((actor, WsConn::new(io, &read_buf, max, max)))
        }
        // Refused (token, origin, not a socket route…): answered like any request, then closed.
        _ => {
            res.head_mut().set_connection_type(ConnectionType::Close);
            let (head, body) = res.into_parts();
            let body = match body.size() {
                BodySize::None => None,
                _ => Some(actix_web::body::to_bytes(body).await.unwrap_or_default()),
            };
            let size = body
                .as_ref()
                .map_or(BodySize::None, |b| BodySize::Sized(b.len() as u64));
            framed.send((head, size).into()).await.ok()?;
            if let Some(body) = body.filter(|b| !b.is_empty()) {
                framed.send(h1::Message::Chunk(Some(body))).await.ok()?;
            }
            let _ = framed.send(h1::Message::Chunk(None)).await;
            let _ = framed.close().await;
            None
        }
    }
}
