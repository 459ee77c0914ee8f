//! Which network addresses the service may call when a caller hands it a URL (a service
//! account's key-set URL): only globally routable unicast ones. Everything a URL could use to
//! reach the service's own neighbourhood — loopback, private and shared address space,
//! link-local (where cloud metadata services live), unique-local, multicast, reserved and
//! documentation ranges, and IPv6 forms that embed such an IPv4 address — is refused
//! (docs/security.md, "Outbound requests").

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address may not be called, or `None` when it is a public unicast address.
pub fn refusal(address: IpAddr) -> Option<AddressClass> {
    match address {
        IpAddr::V4(v4) => v4_refusal(v4),
        IpAddr::V6(v6) => v6_refusal(v6),
    }
}

/// The kinds of non-public address, so a message can say which one a URL reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressClass {
    Loopback,
    Private,
    LinkLocal,
    Other,
}

impl AddressClass {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Loopback => "a loopback address",
            Self::Private => "a private address",
            Self::LinkLocal => "a link-local address (where metadata services live)",
            Self::Other => "an address that is not public",
        }
    }
}

fn in_v4(address: Ipv4Addr, network: [u8; 4], prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32_u32.saturating_sub(prefix)).unwrap_or(0);
    u32::from(address) & mask == u32::from(Ipv4Addr::from(network)) & mask
}

fn v4_refusal(address: Ipv4Addr) -> Option<AddressClass> {
    if address.is_loopback() {
        return Some(AddressClass::Loopback);
    }
    // RFC 1918 and the shared address space of carrier-grade NAT (RFC 6598), which some clouds
    // use for their own services.
    if address.is_private() || in_v4(address, [100, 64, 0, 0], 10) {
        return Some(AddressClass::Private);
    }
    if address.is_link_local() {
        return Some(AddressClass::LinkLocal);
    }
    // RFC 6890's special-purpose registry: "this network", IETF protocol assignments,
    // documentation, benchmarking, multicast, reserved and broadcast.
    let special: [([u8; 4], u32); 8] = [
        ([0, 0, 0, 0], 8),
        ([192, 0, 0, 0], 24),
        ([192, 0, 2, 0], 24),
        ([198, 51, 100, 0], 24),
        ([203, 0, 113, 0], 24),
        ([198, 18, 0, 0], 15),
        ([224, 0, 0, 0], 4),
        ([240, 0, 0, 0], 4),
    ];
    special.iter().any(|&(network, prefix)| in_v4(address, network, prefix)).then_some(AddressClass::Other)
}

fn v6_refusal(address: Ipv6Addr) -> Option<AddressClass> {
    if address.is_loopback() {
        return Some(AddressClass::Loopback);
    }
    let segments = address.segments();
    // IPv4-mapped (::ffff:a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4
    // address that the connection ends up at: judge that one.
    if let Some(v4) = address.to_ipv4_mapped() {
        return v4_refusal(v4);
    }
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [a, b] = segments[6].to_be_bytes();
        let [c, d] = segments[7].to_be_bytes();
        return v4_refusal(Ipv4Addr::new(a, b, c, d));
    }
    if segments[0] == 0x2002 {
        let [a, b] = segments[1].to_be_bytes();
        let [c, d] = segments[2].to_be_bytes();
        return v4_refusal(Ipv4Addr::new(a, b, c, d));
    }
    let first = segments[0];
    if first & 0xfe00 == 0xfc00 {
        // Unique local (fc00::/7), e.g. fd00:ec2::254, a metadata service.
        return Some(AddressClass::Private);
    }
    if first & 0xffc0 == 0xfe80 || first & 0xffc0 == 0xfec0 {
        // Link-local and the deprecated site-local.
        return Some(AddressClass::LinkLocal);
    }
    let global_unicast = first & 0xe000 == 0x2000;
    // Inside 2000::/3: documentation (2001:db8::/32), Teredo (2001::/32, which tunnels to any
    // IPv4 address) and ORCHID/benchmarking (2001:2::/48, 2001:10::/28).
    let special = matches!((segments[0], segments[1]), (0x2001, 0x0db8) | (0x2001, 0x0000) | (0x2001, 0x0002))
        || (segments[0] == 0x2001 && segments[1] & 0xfff0 == 0x0010);
    (!global_unicast || special).then_some(AddressClass::Other)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(text: &str) -> Option<AddressClass> {
        refusal(text.parse().unwrap())
    }

    #[test]
    fn public_unicast_addresses_may_be_called() {
        for address in ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4001:82b::200e"] {
            assert_eq!(judge(address), None, "{address}");
        }
    }

    #[test]
    fn the_service_s_own_neighbourhood_is_refused() {
        let cases = [
            ("127.0.0.1", AddressClass::Loopback),
            ("127.255.0.9", AddressClass::Loopback),
            ("::1", AddressClass::Loopback),
            ("10.1.2.3", AddressClass::Private),
            ("172.16.0.1", AddressClass::Private),
            ("192.168.1.1", AddressClass::Private),
            ("100.100.100.200", AddressClass::Private),
            ("169.254.169.254", AddressClass::LinkLocal),
            ("fd00:ec2::254", AddressClass::Private),
            ("fe80::1", AddressClass::LinkLocal),
            ("::ffff:127.0.0.1", AddressClass::Loopback),
            ("::ffff:169.254.169.254", AddressClass::LinkLocal),
            ("64:ff9b::a00:1", AddressClass::Private),
            ("2002:7f00:1::", AddressClass::Loopback),
            ("0.0.0.0", AddressClass::Other),
            ("::", AddressClass::Other),
            ("224.0.0.1", AddressClass::Other),
            ("255.255.255.255", AddressClass::Other),
            ("192.0.2.10", AddressClass::Other),
            ("2001:db8::1", AddressClass::Other),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", AddressClass::Other),
            ("ff02::1", AddressClass::Other),
        ];
        for (address, class) in cases {
            assert_eq!(judge(address), Some(class), "{address}");
        }
    }
}
