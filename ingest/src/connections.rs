//! Open connections are counted, in all and per client address, when they are accepted (before
//! TLS or a request byte). A connection beyond either limit is still served, but every request on
//! it is answered 503 with `Retry-After` and the connection is closed: a client learns why, and
//! slow or idle connections of one address cannot take the places of everybody else's.

use std::collections::HashMap;
use std::future::Ready;
use std::io;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_server::accept::Accept;
use tokio::net::TcpStream;
use tower::Layer;

use crate::client_ip::TrustedProxies;
use crate::error::IngestError;

#[derive(Clone)]
pub struct ConnectionLimit {
    counts: Arc<Counts>,
}

struct Counts {
    max_total: usize,
    max_per_address: usize,
    trusted_proxies: TrustedProxies,
    retry_after_seconds: u32,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

impl ConnectionLimit {
    pub fn new(
        max_total: usize,
        max_per_address: usize,
        trusted_proxies: TrustedProxies,
        retry_after_seconds: u32,
    ) -> Self {
        ConnectionLimit {
            counts: Arc::new(Counts {
                max_total,
                max_per_address,
                trusted_proxies,
                retry_after_seconds,
                open: Mutex::new(Open::default()),
            }),
        }
    }

    fn open(&self, address: Option<IpAddr>) -> ConnectionSlot {
        let counts = &self.counts;
        let mut open = counts.open.lock().unwrap();
        open.total += 1;
        let mut over = open.total > counts.max_total;
        if let Some(address) = address {
            let from_address = open.by_address.entry(address).or_default();
            *from_address += 1;
            over |=
                *from_address > counts.max_per_address && !counts.trusted_proxies.trusts(address);
        }
        ConnectionSlot(Arc::new(Slot {
            counts: counts.clone(),
            address,
            over_limit: over,
        }))
    }
}

/// A connection's place; dropped with the connection's service, which frees it.
#[derive(Clone)]
pub struct ConnectionSlot(Arc<Slot>);

struct Slot {
    counts: Arc<Counts>,
    address: Option<IpAddr>,
    over_limit: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.counts.open.lock().unwrap();
        open.total -= 1;
        if let Some(address) = self.address {
            if let Some(count) = open.by_address.get_mut(&address) {
                *count -= 1;
                if *count == 0 {
                    open.by_address.remove(&address);
                }
            }
        }
    }
}

impl<S> Accept<TcpStream, S> for ConnectionLimit {
    type Stream = TcpStream;
    type Service = <axum::Extension<ConnectionSlot> as Layer<S>>::Service;
    type Future = Ready<io::Result<(Self::Stream, Self::Service)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let slot = self.open(stream.peer_addr().ok().map(|peer| peer.ip()));
        std::future::ready(Ok((stream, axum::Extension(slot).layer(service))))
    }
}

/// Answers every request of a connection beyond the limits with 503 and closes it.
pub async fn refuse_over_limit(request: Request, next: Next) -> Response {
    let over = request
        .extensions()
        .get::<ConnectionSlot>()
        .filter(|slot| slot.0.over_limit)
        .map(|slot| slot.0.counts.retry_after_seconds);
    match over {
        None => next.run(request).await,
        Some(retry_after_seconds) => {
            let mut response = IngestError::TooManyConnections {
                retry_after_seconds,
            }
            .into_response();
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_counted_per_address_and_freed_with_the_connection() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let limit = ConnectionLimit::new(
            3,
            2,
            TrustedProxies::parse(&["10.0.0.1".into()]).unwrap(),
            5,
        );
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let first = limit.open(Some(a));
        let second = limit.open(Some(a));
        let third = limit.open(Some(a));
        assert!(!first.0.over_limit && !second.0.over_limit && third.0.over_limit);
        drop(third);
        drop(second);
        assert!(
            !limit.open(Some(a)).0.over_limit,
            "a closed connection frees its place"
        );
        let from_proxy: Vec<_> = (0..2).map(|_| limit.open(Some(proxy))).collect();
        assert!(
            from_proxy.iter().all(|slot| !slot.0.over_limit),
            "a trusted proxy is excepted"
        );
        let fifth = limit.open(Some(proxy));
        assert!(fifth.0.over_limit, "the total limit holds for everybody");
        drop((first, from_proxy, fifth));
        assert_eq!(limit.counts.open.lock().unwrap().total, 0);
        assert!(limit.counts.open.lock().unwrap().by_address.is_empty());
    }
}
