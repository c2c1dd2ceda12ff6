//! `tianping health`: asks a node's gRPC health service (`grpc.health.v1.Health/Check`) and
//! exits 0 or 1 by its answer.
//!
//! For container health checks where the image holds nothing but the `tianping` binary (no
//! shell, no `grpcurl`): Docker's `HEALTHCHECK` and systemd or Kubernetes exec probes run it.
//! By default a node counts as healthy when it reports SERVING — it knows a leader, so writes
//! sent to it can commit (see `tianping_node::probes`); `--alive` accepts any answer, for
//! liveness checks that must not restart a node merely because the cluster is not
//! initialized yet or its data center is cut off.

use std::time::Duration;

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use super::GlobalOptions;

/// Longest the check waits for the node's answer.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// `tianping health` options.
#[derive(Debug, clap::Args)]
pub struct HealthOptions {
    /// The service to ask about: `tianping.v1.Ledger`, or `""` for the whole server.
    #[arg(long, default_value = "tianping.v1.Ledger")]
    service: String,
    /// Succeed on any answer (the process is up and serving gRPC), not only SERVING.
    #[arg(long)]
    alive: bool,
}

/// Runs `tianping health`: Ok when the node answered as required.
pub async fn run(options: &GlobalOptions, health: HealthOptions) -> anyhow::Result<()> {
    let address = super::resolve_address(options)?;
    let mut client = HealthClient::new(super::connect(&address).await?);
    let request = HealthCheckRequest { service: health.service.clone() };
    let answer = match tokio::time::timeout(CHECK_TIMEOUT, client.check(request)).await {
        Ok(Ok(response)) => response.into_inner(),
        Ok(Err(status)) => return Err(super::status_error(&address, &status)),
        Err(_elapsed) => anyhow::bail!(
            "{address} did not answer the health check within {} s",
            CHECK_TIMEOUT.as_secs()
        ),
    };
    let status = ServingStatus::try_from(answer.status).unwrap_or(ServingStatus::Unknown);
    let name = status.as_str_name();
    if options.json {
        super::print_json(&serde_json::json!({ "address": address, "status": name }))?;
    } else {
        println!("{address}: {name}");
    }
    if health.alive || status == ServingStatus::Serving {
        Ok(())
    } else {
        Err(anyhow::anyhow!(
            "{address} is {name}: it knows no leader (not initialized yet, an election, or cut \
             off from the majority)"
        ))
    }
}
