//! `tianping certs dev`: a local CA and certificates for mutual TLS (`tianping_tls::dev`), for
//! development clusters and experiments — never for production, whose certificates come from
//! the organisation's own CA.

use std::path::PathBuf;

use anyhow::Context as _;
use tianping_tls::dev;

/// `tianping certs ...`.
#[derive(Debug, clap::Subcommand)]
pub enum CertsCommand {
    /// Make a local development CA, one certificate per node and a client certificate.
    ///
    /// Writes PEM files to --out (private keys 0600):
    ///
    ///   ca.pem                 the CA bundle every node and client trusts
    ///   ca-key.pem             the CA's key (to issue more; give it to no one)
    ///   node-N.pem, -key.pem   node N's certificate: CN=node-N, OU=node, valid for
    ///                          node-N, localhost, 127.0.0.1 and ::1; for serving and for
    ///                          calling other nodes
    ///   operator.pem, -key.pem the client certificate: CN=operator, OU=operator
    ///
    /// The subject's OU (organizational unit) is the holder's role, CN its name. Then:
    ///
    ///   tianping node --config node-1.toml --ca DIR/ca.pem --cert DIR/node-1.pem \
    ///       --key DIR/node-1-key.pem
    ///   tianping --ca DIR/ca.pem --cert DIR/operator.pem --key DIR/operator-key.pem \
    ///       --addr 127.0.0.1:8001 cluster status
    ///
    /// `tianping dev up` and `cargo xtask up` make their own under DATA_DIR/certs.
    #[command(verbatim_doc_comment)]
    Dev(DevCertsOptions),
}

/// Options of `tianping certs dev`.
#[derive(Debug, clap::Args)]
pub struct DevCertsOptions {
    /// Where to write the files (created if needed; files there are replaced).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Node certificates `node-1` … `node-N` (0: only those named by --node).
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u64).range(0..=1000))]
    pub nodes: u64,
    /// Further node certificates, each named by a host name it is valid for, then any other
    /// names after commas (`NAME[,HOST...]`), e.g. `--node ledger-a.corp` or
    /// `--node tianping-dc-a-0.tianping-dc-a.tianping.svc,tianping.tianping.svc`.
    #[arg(long = "node", value_name = "NAME")]
    pub extra_nodes: Vec<String>,
    /// The client certificate's name (its CN); its role (OU) is `operator`.
    #[arg(long, value_name = "NAME", default_value = dev::OPERATOR_ROLE)]
    pub client: String,
}

/// Runs `tianping certs …`.
pub fn run(command: CertsCommand) -> anyhow::Result<()> {
    let CertsCommand::Dev(options) = command;
    let mut nodes: Vec<(String, Vec<String>)> =
        (1..=options.nodes).map(|node_id| (format!("node-{node_id}"), Vec::new())).collect();
    for given in &options.extra_nodes {
        let mut names = given.split(',').map(str::trim).map(str::to_owned);
        let name = names.next().unwrap_or_default();
        nodes.push((name, names.collect()));
    }
    let made = dev::generate_with_hosts(&options.out, &nodes, &options.client)
        .with_context(|| format!("writing certificates to {}", options.out.display()))?;
    println!(
        "tianping certs: a development CA and {} node certificates in {}",
        nodes.len(),
        options.out.display()
    );
    println!("  CA bundle (trust it everywhere): {}", made.ca.display());
    println!("  CA key (keep it; give it to no one): {}", made.ca_key.display());
    for (name, files) in &made.nodes {
        println!("  {name}: --cert {} --key {}", files.cert.display(), files.key.display());
    }
    println!(
        "  client {} (role operator): --cert {} --key {}",
        options.client,
        made.client.cert.display(),
        made.client.key.display()
    );
    println!("try:");
    println!(
        "  tianping node --config node-1.toml --ca {} --cert {} --key {}",
        made.ca.display(),
        made.nodes.first().map_or_else(String::new, |(_, files)| files.cert.display().to_string()),
        made.nodes.first().map_or_else(String::new, |(_, files)| files.key.display().to_string()),
    );
    println!(
        "  export TIANPING_CA={} TIANPING_CERT={} TIANPING_KEY={}",
        made.ca.display(),
        made.client.cert.display(),
        made.client.key.display()
    );
    Ok(())
}
