//! Listening sockets of stale processes, without `lsof` or `ss`: the socket inodes of
//! `/proc/PID/fd` (links reading `socket:[INODE]`), matched against the socket tables
//! `/proc/PID/net/{tcp,tcp6,udp,udp6}` of the process's own network namespace (see
//! proc_net(5)). Each namespace's tables are read once (keyed by the inode of
//! `/proc/PID/ns/net`), each under a cap; procfs files are the kernel's, not a user's, but
//! a host with a million sockets must not cost a million lines of memory.

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::rawfs::{self, DirBuf, FileBuf, LinkBuf};
use crate::report::{AddressClass, ListeningSocket, Protocol};
use crate::roots::Roots;
use crate::stale::namespace_inode;

/// Largest socket table read (about 150 bytes a socket: a million sockets).
const TABLE_MAX: u64 = 160 << 20;

/// TCP `LISTEN` in the `st` column.
const TCP_LISTEN: u8 = 0x0A;
/// `TCP_CLOSE`: what an unconnected UDP socket shows.
const UDP_UNCONNECTED: u8 = 0x07;

/// The four tables and their protocol.
const TABLES: [(&str, Protocol); 4] = [
    ("tcp", Protocol::Tcp),
    ("tcp6", Protocol::Tcp),
    ("udp", Protocol::Udp),
    ("udp6", Protocol::Udp),
];

/// Listening sockets by socket inode, for one network namespace.
type Listening = HashMap<u64, ListeningSocket>;

/// Reads sockets for one run, each namespace's tables once.
#[derive(Debug, Default)]
pub struct Sockets {
    /// Network namespace inode -> its listening sockets, or why unreadable.
    by_netns: HashMap<u64, Result<Listening, String>>,
    /// Number of namespaces whose tables were read.
    pub namespaces_read: u32,
    file: FileBuf,
    link: LinkBuf,
    dir: DirBuf,
}

impl Sockets {
    /// The listening sockets of process `pid` (sorted, unique), or why they are unknown:
    /// its fd table and network namespace are read here (see [`Sockets::listening`] when
    /// the scan already read them).
    pub fn of(&mut self, roots: &Roots, pid: u32) -> Result<Vec<ListeningSocket>, String> {
        let proc_dir = open_proc(roots, pid)?;
        let inodes = self.socket_inodes(&proc_dir, pid)?;
        if inodes.is_empty() {
            return Ok(Vec::new());
        }
        let netns = self
            .link
            .read_at(&proc_dir, "ns/net")
            .ok()
            .and_then(|l| namespace_inode(&l));
        self.listening(roots, pid, netns, &inodes)
    }

    /// The listening sockets among `inodes`, the sockets process `pid` holds in network
    /// namespace `netns` (sorted, unique), or why they are unknown. The namespace's tables
    /// are read through `pid` the first time it is asked about.
    pub fn listening(
        &mut self,
        roots: &Roots,
        pid: u32,
        netns: Option<u64>,
        inodes: &[u64],
    ) -> Result<Vec<ListeningSocket>, String> {
        if inodes.is_empty() {
            return Ok(Vec::new());
        }
        let netns = netns.ok_or_else(|| format!("/proc/{pid}/ns/net not readable"))?;
        if !self.by_netns.contains_key(&netns) {
            let tables = open_proc(roots, pid).and_then(|dir| self.read_tables(&dir, pid));
            self.namespaces_read += 1;
            self.by_netns.insert(netns, tables);
        }
        let listening = match self.by_netns.get(&netns) {
            Some(Ok(l)) => l,
            Some(Err(e)) => return Err(e.clone()),
            None => return Ok(Vec::new()),
        };
        let found: BTreeSet<ListeningSocket> = inodes
            .iter()
            .filter_map(|i| listening.get(i).cloned())
            .collect();
        Ok(found.into_iter().collect())
    }

    /// Inodes of the sockets among the process's open files.
    fn socket_inodes(
        &mut self,
        proc_dir: &rustix::fd::OwnedFd,
        pid: u32,
    ) -> Result<Vec<u64>, String> {
        let fd_dir = rawfs::open_dir(proc_dir, "fd")
            .map_err(|e| format!("/proc/{pid}/fd not readable: {e}"))?;
        let mut inodes = Vec::new();
        let link = &mut self.link;
        self.dir
            .for_each(&fd_dir, |fd| {
                if let Ok(target) = link.read_at(&fd_dir, fd)
                    && let Some(inode) = socket_inode(&target)
                {
                    inodes.push(inode);
                }
            })
            .map_err(|e| format!("/proc/{pid}/fd not readable: {e}"))?;
        Ok(inodes)
    }

    /// The listening sockets of the namespace `pid` is in.
    fn read_tables(
        &mut self,
        proc_dir: &rustix::fd::OwnedFd,
        pid: u32,
    ) -> Result<Listening, String> {
        let mut out = Listening::new();
        for (name, protocol) in TABLES {
            let path = format!("net/{name}");
            let read = rawfs::open_file(proc_dir, path.as_str())
                .and_then(|fd| self.file.read_fd(&fd, TABLE_MAX).map(<[u8]>::to_vec));
            match read {
                Ok(bytes) => out.extend(parse_table(&String::from_utf8_lossy(&bytes), protocol)),
                // A kernel without IPv6 has no tcp6/udp6.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("/proc/{pid}/{path} not readable: {e}")),
            }
        }
        Ok(out)
    }
}

/// `/proc/PID`, open.
fn open_proc(roots: &Roots, pid: u32) -> Result<rustix::fd::OwnedFd, String> {
    rawfs::open_dir(rustix::fs::CWD, roots.proc_path(pid.to_string()))
        .map_err(|e| format!("/proc/{pid} not readable: {e}"))
}

/// `INODE` of a `socket:[INODE]` link target.
pub fn socket_inode(target: &str) -> Option<u64> {
    target
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// The listening sockets of one `/proc/net/{tcp,tcp6,udp,udp6}` table, by inode. Lines
/// that do not parse (the header, a truncated last line) are skipped.
pub fn parse_table(text: &str, protocol: Protocol) -> Listening {
    let mut out = Listening::new();
    for line in text.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
        let (Some(local), Some(remote), Some(state), Some(inode)) =
            (cols.get(1), cols.get(2), cols.get(3), cols.get(9))
        else {
            continue;
        };
        let Ok(state) = u8::from_str_radix(state, 16) else {
            continue;
        };
        let listening = match protocol {
            Protocol::Tcp => state == TCP_LISTEN,
            Protocol::Udp => {
                state == UDP_UNCONNECTED && parse_endpoint(remote).is_some_and(|(_, p)| p == 0)
            }
        };
        let (Some((addr, port)), Ok(inode)) = (parse_endpoint(local), inode.parse::<u64>()) else {
            continue;
        };
        if !listening || inode == 0 {
            continue;
        }
        out.insert(
            inode,
            ListeningSocket {
                protocol,
                address: addr.to_string(),
                port,
                class: classify(addr),
            },
        );
    }
    out
}

/// `ADDR:PORT` in the kernel's hex: the address as the kernel stores it, printed as 32-bit
/// words in host byte order (so byte-swapped on little-endian hosts), the port as a
/// number.
pub fn parse_endpoint(text: &str) -> Option<(IpAddr, u16)> {
    let (addr, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |s: &str| u32::from_str_radix(s, 16).ok().map(u32::to_ne_bytes);
    let addr = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(addr)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                chunk.copy_from_slice(&word(addr.get(i * 8..i * 8 + 8)?)?);
            }
            let v6 = Ipv6Addr::from(bytes);
            // `::ffff:a.b.c.d` is an IPv4 address on a dual-stack socket.
            v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
        }
        _ => return None,
    };
    Some((addr, port))
}

/// Who can reach a local address.
pub fn classify(addr: IpAddr) -> AddressClass {
    match addr {
        IpAddr::V4(a) if a.is_unspecified() => AddressClass::Any,
        IpAddr::V4(a) if a.is_loopback() => AddressClass::Loopback,
        IpAddr::V4(a) => {
            let [o1, o2, ..] = a.octets();
            let shared = o1 == 100 && (64..128).contains(&o2);
            if a.is_private() || a.is_link_local() || shared {
                AddressClass::Private
            } else {
                AddressClass::Public
            }
        }
        IpAddr::V6(a) if a.is_unspecified() => AddressClass::Any,
        IpAddr::V6(a) if a.is_loopback() => AddressClass::Loopback,
        IpAddr::V6(a) => {
            let first = a.segments()[0];
            let unique_local = first & 0xfe00 == 0xfc00;
            let link_local = first & 0xffc0 == 0xfe80;
            if unique_local || link_local {
                AddressClass::Private
            } else {
                AddressClass::Public
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real lines of a little-endian host (x86_64), header included, with a truncated tail.
    const TCP: &str = "\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000   108        0 21345 1 0000000000000000 100 0 0 10 0
   1: 00000000:01BB 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 21400 1 0000000000000000 100 0 0 10 0
   2: 0100A8C0:0016 0200A8C0:D1F2 01 00000000:00000000 02:0009B4E5 00000000     0        0 31337 4 0000000000000000 20 4 30 10 -1
   3: 0A01000A:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 21500 1 0000000000000000 100 0 0 10 0
   4: 08080808:0035 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 21600 1
   5: 0100007F:1F91 00000000:0000 0A 00000000:000";

    const TCP6: &str = "\
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 22001 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:0277 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 22002 1 0000000000000000 100 0 0 10 0
   2: 0000000000000000FFFF00000100007F:1F92 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 22003 1 0000000000000000 100 0 0 10 0
   3: 000080FE00000000FF00A2BA4F2D5EFE:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 22004 1 0000000000000000 100 0 0 10 0
   4: B80D0120000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 22005 1 0000000000000000 100 0 0 10 0";

    const UDP: &str = "\
   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  120: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 23001 2 0000000000000000 0
  121: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 23002 2 0000000000000000 0
  122: 0100A8C0:A1B2 0200A8C0:0035 01 00000000:00000000 00:00000000 00000000     0        0 23003 2 0000000000000000 0";

    fn sock(t: &Listening, inode: u64) -> (String, u16, AddressClass) {
        let s = t.get(&inode).expect("listening");
        (s.address.clone(), s.port, s.class)
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn ipv4_tcp_listeners_with_their_class() {
        let t = parse_table(TCP, Protocol::Tcp);
        assert_eq!(t.len(), 4, "{t:?}");
        assert_eq!(
            sock(&t, 21345),
            ("127.0.0.1".into(), 3306, AddressClass::Loopback)
        );
        assert_eq!(sock(&t, 21400), ("0.0.0.0".into(), 443, AddressClass::Any));
        assert_eq!(
            sock(&t, 21500),
            ("10.0.1.10".into(), 8080, AddressClass::Private)
        );
        assert_eq!(
            sock(&t, 21600),
            ("8.8.8.8".into(), 53, AddressClass::Public)
        );
        // Established connections are not listeners.
        assert!(!t.contains_key(&31337));
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn ipv6_tcp_listeners_with_their_class() {
        let t = parse_table(TCP6, Protocol::Tcp);
        assert_eq!(sock(&t, 22001), ("::".into(), 443, AddressClass::Any));
        assert_eq!(sock(&t, 22002), ("::1".into(), 631, AddressClass::Loopback));
        // A v4-mapped address is classed as the IPv4 address it is.
        assert_eq!(
            sock(&t, 22003),
            ("127.0.0.1".into(), 8082, AddressClass::Loopback)
        );
        assert_eq!(
            sock(&t, 22004),
            ("fe80::baa2:ff:fe5e:2d4f".into(), 22, AddressClass::Private)
        );
        assert_eq!(
            sock(&t, 22005),
            ("2001:db8::1".into(), 80, AddressClass::Public)
        );
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn udp_counts_only_unconnected_sockets() {
        let t = parse_table(UDP, Protocol::Udp);
        assert_eq!(t.len(), 2);
        assert_eq!(sock(&t, 23001), ("0.0.0.0".into(), 68, AddressClass::Any));
        assert_eq!(
            sock(&t, 23002),
            ("127.0.0.53".into(), 53, AddressClass::Loopback)
        );
    }

    #[test]
    fn socket_links_and_bad_endpoints() {
        assert_eq!(socket_inode("socket:[21345]"), Some(21345));
        assert_eq!(socket_inode("pipe:[21345]"), None);
        assert_eq!(socket_inode("/socket:[1]"), None);
        assert_eq!(parse_endpoint("0100007F"), None);
        assert_eq!(parse_endpoint("0100007:0016"), None);
        assert_eq!(parse_endpoint("0100007F:10000"), None);
        assert_eq!(parse_endpoint("ZZ00007F:0016"), None);
    }

    #[test]
    fn this_process_listening_is_found() {
        // A real listener of this test process, found through /proc like any other.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let mut s = Sockets::default();
        let found = s
            .of(&Roots::default(), std::process::id())
            .expect("own sockets");
        let want = ListeningSocket {
            protocol: Protocol::Tcp,
            address: "127.0.0.1".into(),
            port,
            class: AddressClass::Loopback,
        };
        assert!(found.contains(&want), "{found:?}");
        // A second process in the same namespace reuses the tables.
        let _ = s.of(&Roots::default(), std::process::id());
        assert_eq!(s.namespaces_read, 1);
    }
}
