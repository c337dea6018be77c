//! `GET /metrics`: request counts by route and status, and a latency histogram by route, in
//! Prometheus' text format.
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteStatus {
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    route: String,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RouteStatus, Counter>,
    latency: Family<Route, Histogram>,
    in_flight: Gauge,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("onyx");
        let requests = Family::<RouteStatus, Counter>::default();
        // 0.1 ms to about 13 s, doubling.
        let latency = Family::<Route, Histogram>::new_with_constructor(|| Histogram::new(exponential_buckets(1e-4, 2.0, 18)));
        let in_flight = Gauge::default();
        registry.register("requests", "HTTP requests answered, by route and status", requests.clone());
        registry.register("request_duration_seconds", "Time from a request's arrival to its answer, by route", latency.clone());
        registry.register("requests_in_flight", "Requests being answered now", in_flight.clone());
        Metrics { registry, requests, latency, in_flight }
    }

    /// Counts a request on `route` from its arrival to its answer.
    pub fn start(&self) -> InFlight<'_> {
        self.in_flight.inc();
        InFlight { metrics: self, started: std::time::Instant::now() }
    }

    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// A request under way; `finish` records it.
pub struct InFlight<'a> {
    metrics: &'a Metrics,
    started: std::time::Instant,
}

impl InFlight<'_> {
    pub fn finish(self, route: &str, status: u16) {
        let m = self.metrics;
        m.requests.get_or_create(&RouteStatus { route: route.to_string(), status }).inc();
        m.latency.get_or_create(&Route { route: route.to_string() }).observe(self.started.elapsed().as_secs_f64());
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.metrics.in_flight.dec();
    }
}
