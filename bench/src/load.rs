//! The load generator: request bodies prepared before the clock starts (a realistic mix of
//! beats from the simulator's fleet, every beat id unique), posted by `concurrency` workers on
//! loopback, each request's latency recorded.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use ucx_simulator::fleet::Installation;

/// One prepared request: the installation's key and its JSON body.
pub struct Request {
    pub key: Arc<str>,
    pub body: Vec<u8>,
    pub beats: usize,
}

/// The fleet's installations with their keys.
pub struct Fleet {
    pub installations: Vec<Installation>,
    pub keys: Vec<Arc<str>>,
    /// Simulated time of the next tick of each installation.
    next_tick: Vec<i64>,
    /// Ticks (a simulated minute of one installation) made so far, and their beats.
    ticks: u64,
    ticked_beats: u64,
}

impl Fleet {
    pub fn new(installations: Vec<Installation>, keys: Vec<Arc<str>>) -> Self {
        // Beats may be up to 7 days old: start six hours back, a tick a minute.
        let start = ucx_common::now_ms() - 6 * 3_600_000;
        let next_tick = vec![start; installations.len()];
        Fleet {
            installations,
            keys,
            next_tick,
            ticks: 0,
            ticked_beats: 0,
        }
    }

    /// Beats an installation of this fleet posts a minute on average, at the simulator's
    /// cadence (measurements every minute, UCX Suite counters every 5th, inventory every 15th;
    /// one to three nodes), as counted over every tick made so far.
    pub fn beats_per_installation_minute(&self) -> f64 {
        self.ticked_beats as f64 / self.ticks.max(1) as f64
    }

    /// `count` beats as requests of up to `batch` beats of one installation each (`batch` 1:
    /// single-beat requests, a JSON object each).
    pub fn requests(&mut self, count: usize, batch: usize) -> Vec<Request> {
        let mut requests = Vec::new();
        let mut made = 0;
        let mut turn = 0;
        let mut pending: Vec<serde_json::Value> = Vec::new();
        while made < count {
            let index = turn % self.installations.len();
            turn += 1;
            let at = self.next_tick[index].min(ucx_common::now_ms());
            self.next_tick[index] += 60_000;
            let beats = self.installations[index].tick(at);
            self.ticks += 1;
            self.ticked_beats += beats.len() as u64;
            for beat in beats {
                if made == count {
                    break;
                }
                pending.push(beat.to_wire_json());
                made += 1;
                if pending.len() == batch {
                    requests.push(self.request(index, &mut pending));
                }
            }
            if !pending.is_empty() {
                requests.push(self.request(index, &mut pending));
            }
        }
        requests
    }

    fn request(&self, index: usize, pending: &mut Vec<serde_json::Value>) -> Request {
        let beats = pending.len();
        let body = if beats == 1 {
            serde_json::to_vec(&pending[0])
        } else {
            serde_json::to_vec(&pending)
        }
        .expect("JSON");
        pending.clear();
        Request {
            key: self.keys[index].clone(),
            body,
            beats,
        }
    }
}

pub struct LoadResult {
    pub beats: usize,
    pub requests: usize,
    pub failed: usize,
    pub seconds: f64,
    /// Request latency, microseconds.
    pub latency: Histogram<u64>,
    pub body_bytes: usize,
}

impl LoadResult {
    pub fn beats_per_second(&self) -> f64 {
        self.beats as f64 / self.seconds
    }

    pub fn p(&self, quantile: f64) -> f64 {
        self.latency.value_at_quantile(quantile) as f64 / 1000.0
    }
}

/// Posts every request (`concurrency` at a time), or as many as fit in `limit`; with `rate`
/// (beats per second), no faster than that.
pub async fn post_all(
    client: &reqwest::Client,
    url: &str,
    requests: Vec<Request>,
    concurrency: usize,
    limit: Duration,
    rate: Option<f64>,
) -> LoadResult {
    let requests = Arc::new(requests);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let beats_sent = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, url) = (client.clone(), url.to_string());
        let (requests, next, beats_sent) = (requests.clone(), next.clone(), beats_sent.clone());
        workers.push(tokio::spawn(async move {
            let mut latency = Histogram::<u64>::new(3).expect("histogram");
            let (mut beats, mut done, mut failed, mut bytes) = (0, 0, 0, 0);
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= requests.len() || started.elapsed() > limit {
                    break;
                }
                let request = &requests[index];
                if let Some(rate) = rate {
                    // Pace: the beats sent so far must not run ahead of the rate.
                    let sent = beats_sent.fetch_add(request.beats, Ordering::Relaxed);
                    let due = Duration::from_secs_f64(sent as f64 / rate);
                    tokio::time::sleep_until((started + due).into()).await;
                }
                let begun = Instant::now();
                let answer = client
                    .post(&url)
                    .bearer_auth(&*request.key)
                    .header("content-type", "application/json")
                    .body(request.body.clone())
                    .send()
                    .await;
                let accepted = match answer {
                    Ok(response) => {
                        let status = response.status();
                        let _ = response.bytes().await;
                        status.as_u16() == 202
                    }
                    Err(_) => false,
                };
                let _ = latency.record(begun.elapsed().as_micros() as u64);
                done += 1;
                bytes += request.body.len();
                if accepted {
                    beats += request.beats;
                } else {
                    failed += 1;
                }
            }
            (latency, beats, done, failed, bytes)
        }));
    }
    let mut result = LoadResult {
        beats: 0,
        requests: 0,
        failed: 0,
        seconds: 0.0,
        latency: Histogram::new(3).expect("histogram"),
        body_bytes: 0,
    };
    for worker in workers {
        let (latency, beats, done, failed, bytes) = worker.await.expect("a load worker");
        result.latency.add(latency).expect("same histogram bounds");
        result.beats += beats;
        result.requests += done;
        result.failed += failed;
        result.body_bytes += bytes;
    }
    result.seconds = started.elapsed().as_secs_f64();
    result
}
