//! Prometheus metrics: request counts and a latency histogram labelled by method, route
//! pattern (never the raw path, which may carry identifiers) and status; plus pool gauges.
//! Every label comes from a closed set, so no caller can grow the exposition: a method outside
//! the standard ones is `other`, a path no route matches is `unmatched`, and statuses are the
//! few this service answers.
//! One registry per application, no global recorder, so tests can run many apps at once.

use crate::db::Database;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

/// The method label: one of the methods HTTP defines, else `other`.
pub fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"];
    KNOWN.iter().find(|known| **known == method).copied().unwrap_or("other")
}

type HistogramFamily = Family<RequestLabels, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily,
    pool_connections: Gauge,
    pool_idle: Gauge,
    database: Database,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms … ~8 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

impl Metrics {
    pub fn new(database: Database) -> Self {
        let mut registry = Registry::with_prefix("rapport");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: HistogramFamily = Family::new_with_constructor(latency_histogram);
        let pool_connections = Gauge::default();
        let pool_idle = Gauge::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register("http_request_duration_seconds", "Time to answer HTTP requests", latency.clone());
        registry.register("db_pool_connections", "Open database connections", pool_connections.clone());
        registry.register("db_pool_idle_connections", "Idle database connections", pool_idle.clone());
        Self { registry, requests, latency, pool_connections, pool_idle, database }
    }

    /// `route` must be a registered route pattern or `unmatched`.
    pub fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let labels = RequestLabels { method: method_label(method), route: route.to_owned(), status };
        self.requests.get_or_create(&labels).inc();
        self.latency.get_or_create(&labels).observe(elapsed.as_secs_f64());
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let (connections, idle) = self.database.pool_state();
        self.pool_connections.set(i64::from(connections));
        self.pool_idle.set(i64::from(idle));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_methods_share_one_label() {
        assert_eq!(method_label("GET"), "GET");
        assert_eq!(method_label("XYZ123"), "other");
        assert_eq!(method_label("get"), "other");
    }
}
