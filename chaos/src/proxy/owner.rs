//! Which process opened a TCP connection on loopback: how an ingress proxy knows the data
//! center a connection comes from.
//!
//! Every node of a local cluster dials a peer's advertised Raft address, and that address is
//! the same for every caller (it is in the replicated membership), so the proxy in front of a
//! node cannot tell a dc-a caller from a dc-b one by where they connected. Nor by the source
//! address: on loopback the kernel gives every outgoing connection 127.0.0.1. What does tell
//! them apart is the process: the kernel lists every TCP socket of the network namespace with
//! its inode in `/proc/net/tcp` (and `tcp6`), and `/proc/<pid>/fd` links each open socket
//! descriptor of a process to its inode. So the proxy finds the caller's socket (the one whose
//! local end is the accepted connection's peer and whose remote end is the proxy's own
//! address), then the candidate process holding it. This is what `ss -p` does; it needs the
//! proxy to run as the same user as the nodes (it starts them), and Linux.
//!
//! The caller's socket exists in its process from `socket()` on, before its `connect()` could
//! complete, so when the proxy has accepted the connection the lookup always finds it, unless
//! the caller already closed it (then the connection is refused as from nobody).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

/// The process among `candidates` that holds the client end of the loopback connection from
/// `peer` to `local` (the accepted socket's two addresses), if any.
pub fn socket_owner(
    peer: SocketAddr,
    local: SocketAddr,
    candidates: &[u32],
) -> io::Result<Option<u32>> {
    let Some(inode) = socket_inode(peer, local)? else {
        return Ok(None);
    };
    let link = format!("socket:[{inode}]");
    for &pid in candidates {
        if holds(pid, &link)? {
            return Ok(Some(pid));
        }
    }
    Ok(None)
}

/// The inode of the socket whose local end is `local_end` and remote end `remote_end`.
fn socket_inode(local_end: SocketAddr, remote_end: SocketAddr) -> io::Result<Option<u64>> {
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = match std::fs::read_to_string(table) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error),
        };
        if let Some(inode) = find_inode(&text, local_end, remote_end) {
            return Ok(Some(inode));
        }
    }
    Ok(None)
}

/// The inode on the line of a `/proc/net/tcp{,6}` table whose local and remote addresses are
/// these (an IPv4-mapped IPv6 address counts as the IPv4 one).
fn find_inode(table: &str, local_end: SocketAddr, remote_end: SocketAddr) -> Option<u64> {
    let wanted = (canonical(local_end), canonical(remote_end));
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let local = parse_address(fields.get(1)?)?;
        let remote = parse_address(fields.get(2)?)?;
        if (local, remote) == wanted { fields.get(9)?.parse().ok() } else { None }
    })
}

/// An address as the table prints it: the IP as 32-bit words in the kernel's byte order, in
/// hexadecimal, then `:` and the port in hexadecimal.
fn parse_address(text: &str) -> Option<SocketAddr> {
    let (ip_hex, port_hex) = text.split_once(':')?;
    let port = u16::from_str_radix(port_hex, 16).ok()?;
    let word = |index: usize| {
        let hex = ip_hex.get(index * 8..index * 8 + 8)?;
        u32::from_str_radix(hex, 16).ok().map(u32::to_ne_bytes)
    };
    let ip = match ip_hex.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for index in 0..4 {
                bytes[index * 4..index * 4 + 4].copy_from_slice(&word(index)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(canonical(SocketAddr::new(ip, port)))
}

/// The address with an IPv4-mapped IPv6 address turned into the IPv4 one.
fn canonical(address: SocketAddr) -> SocketAddr {
    match address.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), address.port()),
            None => address,
        },
        IpAddr::V4(_) => address,
    }
}

/// Whether process `pid` has a descriptor linked to `link` (`socket:[inode]`); a process that
/// is gone holds nothing.
fn holds(pid: u32, link: &str) -> io::Result<bool> {
    let directory = Path::new("/proc").join(pid.to_string()).join("fd");
    let entries = match std::fs::read_dir(&directory) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(error) => return Err(error),
    };
    for entry in entries {
        // A descriptor closed while the directory is read is simply not it.
        let Ok(entry) = entry else { continue };
        if let Ok(target) = std::fs::read_link(entry.path())
            && target.as_os_str() == link
        {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lines_are_read_in_the_kernels_format() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
            11: 0100007F:BB86 0100007F:CA49 01 00000000:00000000 00:00000000 00000000     0        0 18015 2 0 20 0 0 10 -1\n";
        let local: SocketAddr = "127.0.0.1:48006".parse().expect("address");
        let remote: SocketAddr = "127.0.0.1:51785".parse().expect("address");
        assert_eq!(find_inode(table, local, remote), Some(18015));
        assert_eq!(find_inode(table, remote, local), None, "the other end is another socket");
        let mapped = "0000000000000000FFFF00000100007F:BB86";
        assert_eq!(parse_address(mapped), Some(local));
    }

    #[test]
    fn the_process_holding_a_connection_is_found() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let client =
            std::net::TcpStream::connect(listener.local_addr().expect("address")).expect("connect");
        let (accepted, peer) = listener.accept().expect("accept");
        let local = accepted.local_addr().expect("address");
        assert_eq!(peer, client.local_addr().expect("address"));
        let me = std::process::id();
        assert_eq!(socket_owner(peer, local, &[me]).expect("lookup"), Some(me));
        assert_eq!(socket_owner(peer, local, &[]).expect("lookup"), None);
        drop(client);
    }
}
