//! gRPC health checking (`grpc.health.v1.Health`) and server reflection (`grpc.reflection.v1`
//! and `v1alpha`) on the client address, for load balancers, Kubernetes probes, grpcurl and
//! generic clients (Python's grpcio-reflection asks v1alpha, newer tools v1).
//!
//! Health: `tianping.v1.Ledger` (and the whole server, `""`) is SERVING while this node knows
//! a leader, so writes sent here can commit, and NOT_SERVING otherwise (before the cluster is
//! initialized, during an election, cut off from the majority). A task follows openraft's
//! metrics and updates the status on every change of leader knowledge.
//!
//! Real network only: the simulation has no use for either, so this module is
//! `cfg(not(madsim))`. So is its child `bound_addresses`: the file a node writes, when asked,
//! to tell its supervisor which ports it bound.

pub mod bound_addresses;

use openraft::async_runtime::watch::WatchReceiver;
use tonic::transport::server::Router;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::LedgerRaft;

/// The service name health reports on, besides `""`.
pub const LEDGER_SERVICE: &str = "tianping.v1.Ledger";

/// The health service's name, which reflection lists too.
const HEALTH_SERVICE: &str = "grpc.health.v1.Health";

/// Adds health and both reflection versions to `router`, which already serves `served` (the
/// names `start` registered, so reflection lists exactly what the address serves); the task
/// that keeps health current must be spawned by the caller with `follow_leader`.
pub(crate) fn add_to(
    router: Router,
    served: &[&'static str],
) -> Result<(Router, HealthReporter), String> {
    let (reporter, health) = tonic_health::server::health_reporter();
    // The descriptor set also describes the internal Raft service, which is not served here:
    // list only what this address serves.
    let reflection = |own_name: &'static str| {
        served.iter().copied().chain([HEALTH_SERVICE, own_name]).fold(
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(tianping_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET),
            |builder, name| builder.with_service_name(name),
        )
    };
    let v1 = reflection("grpc.reflection.v1.ServerReflection")
        .build_v1()
        .map_err(|error| format!("reflection v1: {error}"))?;
    let v1alpha = reflection("grpc.reflection.v1alpha.ServerReflection")
        .build_v1alpha()
        .map_err(|error| format!("reflection v1alpha: {error}"))?;
    Ok((router.add_service(health).add_service(v1).add_service(v1alpha), reporter))
}

/// Keeps the health status in step with whether `raft` knows a leader; returns when the
/// Raft node stops (its metrics channel closes).
pub(crate) async fn follow_leader(raft: LedgerRaft, reporter: HealthReporter) {
    let mut metrics = raft.metrics();
    let mut reported = None;
    loop {
        let has_leader = metrics.borrow_watched().current_leader.is_some();
        if reported != Some(has_leader) {
            let status =
                if has_leader { ServingStatus::Serving } else { ServingStatus::NotServing };
            reporter.set_service_status("", status).await;
            reporter.set_service_status(LEDGER_SERVICE, status).await;
            reported = Some(has_leader);
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}
