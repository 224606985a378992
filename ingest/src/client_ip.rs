//! The server's address as the gateway records it (the one address the terms allow). Behind a
//! proxy the peer is the proxy; `Forwarded` (RFC 7239) or else `X-Forwarded-For` name the
//! client, but only proxies listed in `trusted_proxies` may say so: the chain is walked from the
//! nearest hop outwards and the first address that is not a trusted proxy is the client.

use std::net::IpAddr;

use axum::http::HeaderMap;
use forwarded_header_value::{ForwardedHeaderValue, Identifier};
use ipnet::IpNet;

#[derive(Clone)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses `10.0.0.0/8`-style networks and single addresses.
    pub fn parse(entries: &[String]) -> anyhow::Result<Self> {
        let networks = entries
            .iter()
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        anyhow::anyhow!(
                            "ingest.trusted_proxies: {entry:?} is neither an IP address nor a network"
                        )
                    })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(TrustedProxies(networks))
    }

    pub fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|network| network.contains(&address))
    }

    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let mut client = peer;
        // Nearest hop first; an entry that is not an address (`unknown`, obfuscated, garbage)
        // ends the walk: nothing beyond it can be attributed.
        for hop in forwarded_chain(headers).into_iter().rev() {
            let Some(address) = hop else { break };
            client = address;
            if !self.trusts(address) {
                break;
            }
        }
        client
    }
}

/// The addresses a request passed through, client first; `None` for an entry without one.
fn forwarded_chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let joined = |name: &str| {
        let values: Vec<&str> = headers
            .get_all(name)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    };
    if let Some(forwarded) = joined("forwarded") {
        return match ForwardedHeaderValue::from_forwarded(&forwarded) {
            Ok(value) => value
                .iter()
                .map(|stanza| match &stanza.forwarded_for {
                    Some(Identifier::SocketAddr(address)) => Some(address.ip()),
                    Some(Identifier::IpAddr(address)) => Some(*address),
                    _ => None,
                })
                .collect(),
            Err(_) => vec![None],
        };
    }
    match joined("x-forwarded-for") {
        Some(chain) => chain
            .split(',')
            .map(|entry| entry.trim().parse::<IpAddr>().ok())
            .collect(),
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_cannot_claim_another_address() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8".into()]).unwrap();
        let spoofed = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(
            proxies.client_ip(ip("198.51.100.7"), &spoofed),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn the_first_untrusted_hop_from_the_proxy_side_is_the_client() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8".into(), "192.0.2.1".into()]).unwrap();
        let chain = headers(&[("x-forwarded-for", "203.0.113.66, 198.51.100.7, 192.0.2.1")]);
        assert_eq!(
            proxies.client_ip(ip("10.1.2.3"), &chain),
            ip("198.51.100.7")
        );
        let forwarded = headers(&[(
            "forwarded",
            "for=203.0.113.66, for=\"[2001:db8::7]:4711\";proto=https, for=192.0.2.1",
        )]);
        assert_eq!(
            proxies.client_ip(ip("10.1.2.3"), &forwarded),
            ip("2001:db8::7")
        );
    }

    #[test]
    fn forwarded_wins_over_x_forwarded_for_and_garbage_stops_the_walk() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8".into()]).unwrap();
        let both = headers(&[
            ("forwarded", "for=198.51.100.7"),
            ("x-forwarded-for", "203.0.113.1"),
        ]);
        assert_eq!(proxies.client_ip(ip("10.0.0.1"), &both), ip("198.51.100.7"));
        let garbage = headers(&[("x-forwarded-for", "198.51.100.7, not-an-ip, 10.0.0.2")]);
        assert_eq!(proxies.client_ip(ip("10.0.0.1"), &garbage), ip("10.0.0.2"));
        assert_eq!(
            proxies.client_ip(ip("10.0.0.1"), &HeaderMap::new()),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn bad_entries_are_configuration_errors() {
        assert!(TrustedProxies::parse(&["10.0.0.0/33".into()]).is_err());
        assert!(TrustedProxies::parse(&["proxy.local".into()]).is_err());
    }
}
