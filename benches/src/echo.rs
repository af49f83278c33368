//! The baseline of `fiscus-bench grpc`: a bare tonic server with one trivial unary RPC.
//!
//! It serves `grpc.health.v1.Health/Check` with the code tonic-health generates, answering SERVING
//! at once without looking anything up, so no `.proto` of its own is needed. It runs as the hidden
//! subcommand `fiscus-bench echo-server` in a child process, with the same runtime and socket
//! settings as `fiscusd` (tokio's multi-thread runtime with its default workers, `TCP_NODELAY`), so
//! that both servers are measured the same way; what `fiscusd` costs beyond it is authentication,
//! the snapshot read and the conversion of the answer.
//!
//! It prints `echo listening on ADDR` on stdout, and ends when its stdin closes (the parent ended)
//! or it is killed.

use std::error::Error;
use std::io::Write;
use std::pin::Pin;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_stream::Stream;
use tonic::transport::server::TcpIncoming;
use tonic::transport::Server;
use tonic::{Request, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

/// The first words of the one line the echo server prints on stdout, before its address.
pub const LISTENING: &str = "echo listening on ";

/// The trivial service: every `Check` answers SERVING; `Watch` is not offered.
struct Echo;

#[tonic::async_trait]
impl Health for Echo {
    async fn check(&self, _request: Request<HealthCheckRequest>) -> Result<Response<HealthCheckResponse>, Status> {
        Ok(Response::new(HealthCheckResponse { status: ServingStatus::Serving.into() }))
    }

    type WatchStream = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

    async fn watch(&self, _request: Request<HealthCheckRequest>) -> Result<Response<Self::WatchStream>, Status> {
        Err(Status::unimplemented("the echo server answers Check only"))
    }
}

/// Runs the echo server on `127.0.0.1:0` until stdin closes.
pub fn serve() -> Result<(), Box<dyn Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("echo").build()?;
    // The parent holds our stdin; it closes when the parent ends, however it ends.
    let (closed, stdin_closed) = oneshot::channel::<()>();
    std::thread::Builder::new().name("echo-stdin".to_owned()).spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        let _ = closed.send(());
    })?;
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let local = listener.local_addr()?;
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let server =
            Server::builder().add_service(HealthServer::new(Echo)).serve_with_incoming_shutdown(incoming, async {
                let _ = stdin_closed.await;
            });
        println!("{LISTENING}{local}");
        std::io::stdout().flush()?;
        server.await?;
        Ok(())
    })
}
