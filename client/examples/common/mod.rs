//! What every example shares: the node addresses (arguments, else `TIANPING_ADDR`), a client
//! of them, and fresh ids so an example can run again.

// Each example uses its own part of this module.
#![allow(dead_code)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tianping_client::{Client, ClientConfig};

/// The ledger (currency) every example books on.
pub const LEDGER: u32 = 156;

/// A client of the nodes named by the arguments (`HOST:PORT ...`), else by `TIANPING_ADDR`
/// (one address or several, comma-separated).
pub fn client(arguments: &[String]) -> Result<Client, Box<dyn std::error::Error>> {
    let mut addresses: Vec<String> = arguments.to_vec();
    if addresses.is_empty() {
        let variable = std::env::var("TIANPING_ADDR").unwrap_or_default();
        addresses = variable
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(String::from)
            .collect();
    }
    if addresses.is_empty() {
        return Err("no node address: pass HOST:PORT arguments or set TIANPING_ADDR \
                    (`cargo xtask up` prints the addresses of a local cluster)"
            .into());
    }
    let mut config = ClientConfig::new(addresses.clone());
    config.request_timeout = Duration::from_secs(5);
    println!("nodes: {}", addresses.join(", "));
    Ok(Client::new(config)?)
}

/// An id no earlier run used: the time in microseconds (ids are client-chosen; a real
/// application would use its own order or payment ids).
pub fn fresh_id() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |since| since.as_micros())
}

/// The command line's arguments, without the program.
pub fn arguments() -> Vec<String> {
    std::env::args().skip(1).collect()
}
