//! The gRPC server: `grpc.health.v1` tied to readiness, plus the service's own services.

use std::{convert::Infallible, future::Future};

use tokio::net::TcpListener;
use tonic::{
    body::Body,
    codegen::{Service, http},
    server::NamedService,
    service::RoutesBuilder,
    transport::server::TcpIncoming,
};
use tonic_health::{ServingStatus, server::HealthReporter};

use crate::readiness::Readiness;

/// Failure of the gRPC server.
#[derive(Debug, thiserror::Error)]
pub enum GrpcError {
    /// The server stopped with a transport error.
    #[error("serving gRPC")]
    Serve(#[source] tonic::transport::Error),
}

/// The tonic services a service adds next to `grpc.health.v1`.
#[derive(Debug, Default)]
pub struct GrpcServices {
    routes: RoutesBuilder,
    names: Vec<&'static str>,
}

impl GrpcServices {
    /// Adds a generated tonic server (e.g. `FooServer::new(impl)`); its health status follows
    /// the service's readiness.
    pub fn add_service<S>(&mut self, service: S) -> &mut Self
    where
        S: Service<http::Request<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        self.names.push(S::NAME);
        self.routes.add_service(service);
        self
    }

    /// Names of the added services, as health checks know them.
    pub fn names(&self) -> &[&'static str] {
        &self.names
    }
}

/// Serves gRPC on `listener` until `shutdown` completes; in-flight calls may finish.
pub(crate) async fn serve(
    listener: TcpListener,
    services: GrpcServices,
    readiness: Readiness,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), GrpcError> {
    let (reporter, health) = tonic_health::server::health_reporter();
    let mut names = services.names.clone();
    names.push("");
    publish(&reporter, &names, readiness.is_ready()).await;
    tokio::spawn(follow_readiness(reporter, names, readiness));

    let mut routes = services.routes;
    routes.add_service(health);
    tonic::transport::Server::builder()
        .add_routes(routes.routes())
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown)
        .await
        .map_err(GrpcError::Serve)
}

/// Mirrors readiness into every health status until readiness is dropped.
async fn follow_readiness(
    reporter: HealthReporter,
    names: Vec<&'static str>,
    readiness: Readiness,
) {
    let mut rx = readiness.subscribe();
    drop(readiness);
    loop {
        let ready = rx.borrow_and_update().is_ready();
        publish(&reporter, &names, ready).await;
        if rx.changed().await.is_err() {
            return;
        }
    }
}

async fn publish(reporter: &HealthReporter, names: &[&'static str], ready: bool) {
    let status = if ready {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    };
    for name in names {
        reporter.set_service_status(name, status).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn added_services_are_named_for_health_checks() {
        let (_reporter, health) = tonic_health::server::health_reporter();
        let mut services = GrpcServices::default();
        services.add_service(health);
        assert_eq!(services.names(), ["grpc.health.v1.Health"]);
    }

    #[tokio::test]
    async fn health_follows_readiness() {
        use crate::readiness::Dependency;
        use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let readiness = Readiness::new();
        let stop = tokio_util::sync::CancellationToken::new();
        let server = tokio::spawn(serve(
            listener,
            GrpcServices::default(),
            readiness.clone(),
            stop.clone().cancelled_owned(),
        ));
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect");
        let mut client = HealthClient::new(channel);
        let check = HealthCheckRequest {
            service: String::new(),
        };
        let status = client.check(check.clone()).await.expect("check");
        assert_eq!(
            status.into_inner().status(),
            ServingStatus::NotServing.into()
        );

        readiness.set(Dependency::Nats, true, "connected");
        readiness.set(Dependency::Kubernetes, true, "v1.33.0");
        let mut serving = false;
        for _ in 0..50 {
            let status = client.check(check.clone()).await.expect("check");
            if status.into_inner().status() == ServingStatus::Serving.into() {
                serving = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(serving, "health never turned SERVING");
        stop.cancel();
        drop(client);
        server.await.expect("join").expect("server stops cleanly");
    }
}
