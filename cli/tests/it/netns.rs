//! Linux network namespaces for partition tests: node N runs in its own namespace with two
//! links, each a veth pair whose outer end sits on a bridge in the test's (root) namespace:
//!
//! - the Raft link, `10.S.1.N`, on the Raft bridge (no address in the root namespace);
//! - the client link, `10.S.2.N`, on the client bridge, which has `10.S.2.254` so the test
//!   reaches every node's client API (and followers reach the leader's to forward writes).
//!
//! `cut_raft(N)` takes the outer end of node N's Raft link down: its Raft traffic goes nowhere
//! (no refusal, no reset — a silent partition), while clients still reach its API.
//! `heal_raft(N)` brings it back. Names carry the test process's id so concurrent runs never
//! share one; dropping `Namespaces` deletes every namespace (and with it the veth pairs) and
//! both bridges, also after a panic.
//!
//! Docker sets iptables' FORWARD policy to DROP and loads `br_netfilter`, which sends bridged
//! frames through that chain: on such a machine every packet between two namespaces on one
//! of our bridges is dropped. So each bridge gets an ACCEPT rule for traffic that stays on it
//! (`-i bridge -o bridge`, nothing else), removed again on drop; without `iptables` on the
//! machine there is no such policy to work around. Needs root (CAP_NET_ADMIN) and `ip` (iproute2); without
//! them `create` fails the test with a message saying so — a partition test never passes
//! without a partition.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;

/// The port every node's Raft transport listens on (each node has its own addresses).
const RAFT_PORT: u16 = 7000;
/// The port every node's client API listens on.
const API_PORT: u16 = 8000;

/// The namespaces, bridges and links of one test.
pub struct Namespaces {
    prefix: String,
    size: u64,
    /// Second octet of every address, from the process id, so runs do not collide.
    subnet: u8,
    created_namespaces: Vec<String>,
    created_links: Vec<String>,
    /// Bridges with our FORWARD ACCEPT rule in iptables, to delete on drop.
    accepted_bridges: Vec<String>,
}

/// Adds (`-I`) or deletes (`-D`) the FORWARD rule accepting traffic that stays on `bridge`.
/// `Ok(false)` when the machine has no `iptables` (so no policy can drop bridged traffic).
fn forward_rule(action: &str, bridge: &str) -> Result<bool, String> {
    let args = ["-w", action, "FORWARD", "-i", bridge, "-o", bridge, "-j", "ACCEPT"];
    let output = match Command::new("iptables").args(args).output() {
        Ok(output) => output,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(error) => return Err(format!("running `iptables {}`: {error}", args.join(" "))),
    };
    if output.status.success() {
        Ok(true)
    } else {
        Err(format!(
            "`iptables {}` failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Runs `ip` with `args`; what it printed on failure.
fn ip(args: &[&str]) -> Result<(), String> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|error| format!("running `ip {}`: {error}", args.join(" ")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

impl Namespaces {
    /// Makes `size` namespaces wired as described above. Panics, saying why, when the machine
    /// does not allow it (not root, no iproute2, no veth/bridge support).
    pub fn create(size: u64) -> Namespaces {
        let pid = std::process::id();
        let mut namespaces = Namespaces {
            prefix: format!("tp{pid}"),
            size,
            subnet: u8::try_from(64 + pid % 128).unwrap_or(64),
            created_namespaces: Vec::new(),
            created_links: Vec::new(),
            accepted_bridges: Vec::new(),
        };
        if let Err(error) = namespaces.wire() {
            panic!(
                "this test needs Linux network namespaces (run as root with iproute2, veth and \
                 bridge support); setting them up failed: {error}"
            );
        }
        namespaces
    }

    fn wire(&mut self) -> Result<(), String> {
        let raft_bridge = format!("{}r", self.prefix);
        let api_bridge = format!("{}a", self.prefix);
        for bridge in [&raft_bridge, &api_bridge] {
            ip(&["link", "add", bridge, "type", "bridge"])?;
            self.created_links.push(bridge.clone());
            ip(&["link", "set", bridge, "up"])?;
            if forward_rule("-I", bridge)? {
                self.accepted_bridges.push(bridge.clone());
            }
        }
        let gateway = format!("10.{}.2.254/24", self.subnet);
        ip(&["addr", "add", &gateway, "dev", &api_bridge])?;
        for node_id in 1..=self.size {
            let namespace = self.name(node_id);
            ip(&["netns", "add", &namespace])?;
            self.created_namespaces.push(namespace.clone());
            ip(&["-n", &namespace, "link", "set", "lo", "up"])?;
            for (kind, bridge, octet) in [("r", &raft_bridge, 1), ("a", &api_bridge, 2)] {
                let outer = self.outer_link(kind, node_id);
                let inner = format!("{}i{kind}{node_id}", self.prefix);
                ip(&["link", "add", &outer, "type", "veth", "peer", "name", &inner])?;
                self.created_links.push(outer.clone());
                ip(&["link", "set", &inner, "netns", &namespace])?;
                ip(&["link", "set", &outer, "master", bridge])?;
                ip(&["link", "set", &outer, "up"])?;
                let address = format!("10.{}.{octet}.{node_id}/24", self.subnet);
                ip(&["-n", &namespace, "addr", "add", &address, "dev", &inner])?;
                ip(&["-n", &namespace, "link", "set", &inner, "up"])?;
            }
        }
        Ok(())
    }

    fn outer_link(&self, kind: &str, node_id: u64) -> String {
        format!("{}o{kind}{node_id}", self.prefix)
    }

    /// How many namespaces (nodes).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Node `node_id`'s namespace.
    pub fn name(&self, node_id: u64) -> String {
        format!("{}-n{node_id}", self.prefix)
    }

    fn address(&self, octet: u8, node_id: u64, port: u16) -> SocketAddr {
        let host = u8::try_from(node_id).expect("small node ids");
        SocketAddr::from((Ipv4Addr::new(10, self.subnet, octet, host), port))
    }

    /// Node `node_id`'s Raft address (on its Raft link).
    pub fn raft_address(&self, node_id: u64) -> SocketAddr {
        self.address(1, node_id, RAFT_PORT)
    }

    /// Node `node_id`'s client API address (on its client link).
    pub fn api_address(&self, node_id: u64) -> SocketAddr {
        self.address(2, node_id, API_PORT)
    }

    /// Cuts node `node_id` off the Raft network; its client API stays reachable.
    pub fn cut_raft(&self, node_id: u64) {
        let link = self.outer_link("r", node_id);
        ip(&["link", "set", &link, "down"]).expect("cut the raft link");
    }

    /// Reconnects node `node_id` to the Raft network.
    pub fn heal_raft(&self, node_id: u64) {
        let link = self.outer_link("r", node_id);
        ip(&["link", "set", &link, "up"]).expect("heal the raft link");
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for bridge in &self.accepted_bridges {
            if let Err(error) = forward_rule("-D", bridge) {
                eprintln!("cleanup: {error}");
            }
        }
        // Deleting a namespace deletes the veth ends in it, and with them their outer ends.
        for namespace in &self.created_namespaces {
            if let Err(error) = ip(&["netns", "del", namespace]) {
                eprintln!("cleanup: {error}");
            }
        }
        for link in &self.created_links {
            // Outer veth ends are usually gone with their namespace already.
            let _ = ip(&["link", "del", link]);
        }
    }
}
