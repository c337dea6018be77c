//! The serving options `onyx serve` and a deployed app's `serve` share.
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::server::Limits;

#[derive(clap::Args, Clone, Debug)]
pub struct ServeArgs {
    /// The address to listen on; 0.0.0.0 for every interface.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// The port (8000, Triton's and KServe's HTTP port, by default; 0 picks a free one).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Largest request body, in MiB.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub max_body_mb: u64,
    /// Most values in one input tensor.
    #[arg(long, default_value_t = 16 << 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_elements: u64,
    /// Inferences run at once (the number of cores by default); more requests wait their turn.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub max_concurrency: Option<u32>,
    /// Seconds a request may take to arrive in full (headers and body) and get its turn.
    #[arg(long, default_value_t = 30.0)]
    pub timeout: f64,
    /// Connections open at once; more wait in the kernel's backlog.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub max_connections: u32,
    /// MiB of request bodies held at once (a body counts from its first byte until its answer is
    /// built); more requests wait, within --timeout, or get 503. Four 64 MiB bodies by default.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub max_inflight_mb: u64,
}

impl ServeArgs {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }

    pub fn limits(&self) -> Result<Limits, String> {
        if !(self.timeout > 0.0 && self.timeout <= 86_400.0) {
            return Err(format!("--timeout must be between 0 and 86400 seconds, got {}", self.timeout));
        }
        let mut limits = Limits {
            max_body_bytes: (self.max_body_mb << 20) as usize,
            max_elements: usize::try_from(self.max_elements).unwrap_or(usize::MAX),
            timeout: Duration::from_secs_f64(self.timeout),
            max_connections: self.max_connections as usize,
            max_inflight_bytes: (self.max_inflight_mb << 20) as usize,
            ..Limits::default()
        };
        if let Some(n) = self.max_concurrency {
            limits.max_concurrency = n as usize;
        }
        Ok(limits)
    }
}
