//! Addresses a server may be made to send to. A unit configures its webhook by URL; the
//! departments service refuses a URL whose address is not public when it is configured,
//! and the reporting server's delivery worker checks the addresses a host name resolves
//! to again when it sends, so that a name cannot be pointed at an internal host later.

use std::net::IpAddr;

/// Whether an address may be on the public internet: not private, link-local, shared,
/// unspecified, broadcast, multicast or documentation space.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => {
            let [a, b, ..] = ip.octets();
            !(ip.is_private()
                || ip.is_link_local()
                || ip.is_unspecified()
                || ip.is_broadcast()
                || ip.is_multicast()
                || ip.is_documentation()
                || a == 0
                // 100.64.0.0/10, carrier-grade NAT.
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(ip) => {
            let first = ip.segments()[0];
            !(ip.is_unspecified()
                || ip.is_multicast()
                // fc00::/7 unique local, fe80::/10 link-local.
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || ip.to_ipv4_mapped().is_some_and(|v4| !is_public_ip(IpAddr::V4(v4))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_public_addresses_from_internal_ones() {
        for public in ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888"] {
            assert!(is_public_ip(public.parse().unwrap()), "{public}");
        }
        for internal in [
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public_ip(internal.parse().unwrap()), "{internal}");
        }
    }
}
