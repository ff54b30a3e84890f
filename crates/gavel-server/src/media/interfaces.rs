//! The addresses to advertise when media binds a wildcard address and `[media] advertise` is
//! empty: every address of every interface that is up, of the bind's family (`0.0.0.0`: IPv4,
//! `::`: IPv6), except loopback and link-local ones. A client reaches the server on one of them
//! exactly as it reaches a host candidate of a browser. A server behind NAT still names its
//! public address in `advertise`: discovery asks no outside service.

use nix::ifaddrs::getifaddrs;
use nix::net::if_::InterfaceFlags;
use std::net::IpAddr;

/// This machine's usable addresses for a wildcard `bind` (empty if none, or on error).
pub fn discover(bind: IpAddr) -> Vec<IpAddr> {
    let Ok(interfaces) = getifaddrs() else {
        return Vec::new();
    };
    let mut found: Vec<IpAddr> = interfaces
        .filter(|i| {
            i.flags.contains(InterfaceFlags::IFF_UP)
                && !i.flags.contains(InterfaceFlags::IFF_LOOPBACK)
        })
        .filter_map(|i| {
            let a = i.address?;
            let ip = match (a.as_sockaddr_in(), a.as_sockaddr_in6()) {
                (Some(v4), _) => IpAddr::V4(v4.ip()),
                (_, Some(v6)) => IpAddr::V6(v6.ip()),
                _ => return None,
            };
            usable(ip, bind).then_some(ip)
        })
        .collect();
    found.sort();
    found.dedup();
    found
}

/// Whether `ip` can be advertised for a wildcard `bind`: same family, not loopback, not
/// link-local (a link-local IPv6 address needs a scope a candidate cannot carry), not
/// unspecified.
fn usable(ip: IpAddr, bind: IpAddr) -> bool {
    match (ip, bind) {
        (IpAddr::V4(v4), IpAddr::V4(_)) => {
            !v4.is_loopback() && !v4.is_link_local() && !v4.is_unspecified()
        }
        (IpAddr::V6(v6), IpAddr::V6(_)) => {
            !v6.is_loopback() && !v6.is_unicast_link_local() && !v6.is_unspecified()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_routable_addresses_of_the_binds_family() {
        let v4: IpAddr = "0.0.0.0".parse().unwrap();
        let v6: IpAddr = "::".parse().unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(usable(ip("10.77.0.1"), v4));
        assert!(usable(ip("203.0.113.7"), v4));
        assert!(!usable(ip("127.0.0.1"), v4));
        assert!(!usable(ip("169.254.1.1"), v4));
        assert!(!usable(ip("2001:db8::1"), v4), "other family");
        assert!(usable(ip("2001:db8::1"), v6));
        assert!(usable(ip("fd00::1"), v6));
        assert!(!usable(ip("fe80::1"), v6));
        assert!(!usable(ip("::1"), v6));
        assert!(!usable(ip("10.77.0.1"), v6), "other family");
    }

    /// On any machine: what it finds is usable, and loopback never is.
    #[test]
    fn discovery_never_offers_loopback() {
        for bind in ["0.0.0.0", "::"] {
            let bind: IpAddr = bind.parse().unwrap();
            for ip in discover(bind) {
                assert!(usable(ip, bind), "{ip}");
            }
        }
    }
}
