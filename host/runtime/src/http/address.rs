//! Step 2's list: the addresses no request reaches unless its manifest grants
//! them, and the CIDR blocks `[http] addresses` grants them with.
//!
//! Kept apart from names and origins because it is the part that stops a
//! guest reaching the host itself or the cloud's credentials, whatever name
//! it used to get there: it only ever sees resolved addresses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The one class an IP literal in `allow` does not grant: metadata services
/// hand out the cloud account's credentials, so only `addresses` may.
pub(super) const METADATA: &str = "a cloud metadata address";

/// Why an address is forbidden by default, or `None` if it is not.
///
/// Forbidden: the host itself (loopback, unspecified, `0.0.0.0/8`), link-local
/// (169.254/16, fe80::/10), multicast, broadcast, and the cloud metadata
/// services (169.254.169.254, fd00:ec2::254, 100.100.100.200), also when
/// written as IPv4-mapped, IPv4-compatible or NAT64 (64:ff9b::/96) IPv6.
/// Private LAN ranges (10/8, 172.16/12, 192.168/16, fc00::/7) are allowed: an
/// edge host talks to its LAN, and the origin allowlist already names them.
pub fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) if v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) => {
            Some(METADATA)
        }
        IpAddr::V6(v6) if v6.is_unspecified() => Some("the unspecified address"),
        IpAddr::V6(v6) if v6.is_loopback() => Some("a loopback address"),
        IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80 => Some("a link-local address"),
        IpAddr::V6(v6) if v6.is_multicast() => Some("a multicast address"),
        IpAddr::V6(v6) => embedded_v4(v6).and_then(forbidden_v4),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    if ip == Ipv4Addr::new(169, 254, 169, 254) || ip == Ipv4Addr::new(100, 100, 100, 200) {
        Some(METADATA)
    } else if ip.octets()[0] == 0 {
        // Linux connects 0.0.0.0 to the host itself.
        Some("an unspecified (0.0.0.0/8) address")
    } else if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_link_local() {
        Some("a link-local address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else if ip.is_broadcast() {
        Some("the broadcast address")
    } else {
        None
    }
}

/// The IPv4 address inside an IPv4-mapped, IPv4-compatible or NAT64 address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let [.., a, b, c, d] = ip.octets();
    let tail = Ipv4Addr::new(a, b, c, d);
    let mapped = s[..5] == [0; 5] && (s[5] == 0xffff || s[5] == 0);
    let nat64 = s[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    (mapped || nat64).then_some(tail)
}

/// An IP address or CIDR block from `addresses`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub(super) fn parse(text: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let net: IpAddr = addr
            .parse()
            .map_err(|_| format!("\"{addr}\" is not an IP address"))?;
        let (value, width) = bits(net);
        let prefix = match prefix {
            None => width,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= width)
                .ok_or_else(|| format!("prefix \"/{p}\" is not a number from 0 to {width}"))?,
        };
        let host_bits = low_bits(width - prefix);
        if value & host_bits != 0 {
            let base = value & !host_bits;
            let base = match net {
                IpAddr::V4(_) => IpAddr::from(Ipv4Addr::from(u32::try_from(base).unwrap_or(0))),
                IpAddr::V6(_) => IpAddr::from(Ipv6Addr::from(base)),
            };
            return Err(format!(
                "has bits set past its /{prefix} prefix; did you mean {base}/{prefix}?"
            ));
        }
        // `::ffff:a.b.c.d/n` is the IPv4 block a.b.c.d/(n-96).
        match (net.to_canonical(), prefix.checked_sub(96)) {
            (v4 @ IpAddr::V4(_), Some(p)) if net.is_ipv6() => Ok(Cidr { net: v4, prefix: p }),
            _ => Ok(Cidr { net, prefix }),
        }
    }

    pub(super) fn contains(&self, ip: IpAddr) -> bool {
        let ((net, width), (value, other)) = (bits(self.net), bits(ip));
        let host_bits = low_bits(width - self.prefix);
        width == other && net & !host_bits == value & !host_bits
    }
}

/// An address as a number, and how many bits it has.
fn bits(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
        IpAddr::V6(v6) => (u128::from(v6), 128),
    }
}

/// A mask of the lowest `n` bits (`n` at most 128).
fn low_bits(n: u8) -> u128 {
    u128::MAX.checked_shr(128 - u32::from(n)).unwrap_or(0)
}
