//! The HTTP server: the accept loop and each connection's life, with the bounds a hostile
//! network needs. poem's own `Server` has no header-read timeout, keeps idle connections
//! forever and retries a failing `accept` in a busy loop, so connections are served here with
//! hyper directly and poem stays the router.
//!
//! - At most `max_connections` are open (below the open-file limit); at the cap the longest-idle
//!   connection makes room (`connections.rs`).
//! - A request's header must arrive within `header_timeout` of the connection opening or of its
//!   previous response ending, so slow headers and idle keep-alive connections are closed.
//! - A connection on which no byte moves for `idle_timeout` is closed (a stalled body, a client
//!   that stopped reading).
//! - `accept` errors (out of file descriptors) back off and are logged at most once a minute.
//! - HTTP/1.1 only.

mod connections;
mod io;
pub mod nofile;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use poem::endpoint::BoxEndpoint;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Addr, Endpoint, EndpointExt, IntoEndpoint, Response};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use connections::Registry;

use crate::log_summary::Summary;
use connections::{Conn, TrackedBody};

#[derive(Clone, Copy, Debug)]
pub struct ServerLimits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// The longest wait between two failed `accept`s.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Serves `endpoint` on `listener` until `shutdown` completes, then gives open requests `grace`
/// to finish.
pub async fn serve<E>(
    listener: TcpListener,
    endpoint: E,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> std::io::Result<()>
where
    E: IntoEndpoint,
    E::Endpoint: 'static,
{
    let local = listener.local_addr()?;
    let endpoint: Arc<BoxEndpoint<'static, Response>> =
        Arc::new(endpoint.into_endpoint().map_to_response().boxed());
    let registry = Registry::new(limits.max_connections);
    let stopping = CancellationToken::new();
    let accept_errors = Summary::new("accepting a connection failed", Duration::from_secs(60), 1);
    let mut tasks = JoinSet::new();
    let mut backoff = Duration::ZERO;
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = registry.slot() => slot,
            _ = &mut shutdown => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut shutdown => break,
        };
        while tasks.try_join_next().is_some() {}
        match accepted {
            Ok((stream, peer)) => {
                backoff = Duration::ZERO;
                let _ = stream.set_nodelay(true);
                let endpoint = endpoint.clone();
                let stopping = stopping.clone();
                tasks.spawn(async move {
                    let conn = slot.conn.clone();
                    serve_connection(stream, local, peer, endpoint, conn, limits, stopping).await;
                    drop(slot);
                });
            }
            Err(err) => {
                // Out of descriptors (EMFILE/ENFILE) or a connection reset before accept: wait
                // instead of spinning, and say so without flooding the log.
                drop(slot);
                accept_errors.record(&err.kind(), || err.to_string());
                backoff = (backoff * 2).clamp(Duration::from_millis(10), ACCEPT_BACKOFF_MAX);
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {},
                    _ = &mut shutdown => break,
                }
            }
        }
    }
    drop(listener);
    stopping.cancel();
    registry.close_all();
    if tokio::time::timeout(grace, registry.drained())
        .await
        .is_err()
    {
        tracing::warn!(
            open = registry.open_count(),
            "requests still running after the grace period; closing them"
        );
    }
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    Ok(())
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    local: SocketAddr,
    peer: SocketAddr,
    endpoint: Arc<BoxEndpoint<'static, Response>>,
    conn: Arc<Conn>,
    limits: ServerLimits,
    stopping: CancellationToken,
) {
    let service = hyper::service::service_fn({
        let conn = conn.clone();
        move |req: hyper::Request<Incoming>| {
            let endpoint = endpoint.clone();
            let busy = conn.busy();
            async move {
                let req = poem::Request::from((
                    req,
                    LocalAddr(Addr::SocketAddr(local)),
                    RemoteAddr(Addr::SocketAddr(peer)),
                    poem::http::uri::Scheme::HTTP,
                ));
                let resp: hyper::Response<_> = endpoint.get_response(req).await.into();
                Ok::<_, Infallible>(resp.map(|inner| TrackedBody {
                    inner,
                    busy: Some(busy),
                }))
            }
        }
    });
    let io = TokioIo::new(io::Watched {
        inner: stream,
        conn: conn.clone(),
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => return,
        _ = conn.close.cancelled() => {},
        _ = stopping.cancelled() => {},
        _ = idle(&conn, limits.idle_timeout) => return,
    }
    // Asked to close: finish the response in progress (if any), then close.
    connection.as_mut().graceful_shutdown();
    tokio::select! {
        _ = connection => {},
        _ = idle(&conn, limits.idle_timeout) => {},
    }
}

/// Completes once nothing has moved on the connection for `timeout`.
async fn idle(conn: &Conn, timeout: Duration) {
    loop {
        let quiet = conn.idle_for();
        if quiet >= timeout {
            return;
        }
        tokio::time::sleep(timeout - quiet).await;
    }
}
