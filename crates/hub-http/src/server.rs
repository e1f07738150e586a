//! Serving: bind, `TCP_NODELAY` on every accepted socket, graceful shutdown.
//!
//! Shutdown order: readiness fails and new calls are refused → the listener stops accepting →
//! in-flight requests (streams included) drain → the caller flushes the usage journal.

use std::future::Future;
use std::net::SocketAddr;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;

use crate::routes;
use crate::state::AppState;

pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

pub async fn serve(listener: TcpListener, state: AppState, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    let app = routes::router(state.clone());
    let listener = listener.tap_io(|tcp| {
        // Small responses must not wait for the peer's delayed ACK (Nagle).
        let _ = tcp.set_nodelay(true);
    });
    let shutdown_state = state.clone();
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move {
            shutdown.await;
            shutdown_state.set_ready(false);
            tracing::info!("shutting down: draining in-flight requests");
        })
        .await
}
