//! The pipeline's producer batches when busy and does not make a quiet pipeline wait: a record
//! produced while nothing else is in flight is sent at once, not after `linger_ms`.

use std::time::{Duration, Instant};

use rdkafka::message::OwnedHeaders;
use ucx_common::kafka::{ensure_topics, Producer};
use ucx_e2e::Services;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_of_an_idle_producer_does_not_wait_for_linger() {
    let mut kafka = Services::from_env().kafka("linger");
    kafka.linger_ms = 3_000;
    ensure_topics(&kafka, &[&kafka.beats_topic]).await.unwrap();
    let producer = Producer::new(&kafka).unwrap();
    // the first record also waits for the producer's id from the broker
    let produce = || producer.produce(&kafka.beats_topic, b"k", b"v", OwnedHeaders::new());
    produce().await.expect("the first record acknowledged");

    for _ in 0..3 {
        let started = Instant::now();
        produce().await.expect("acknowledged");
        assert!(
            started.elapsed() < Duration::from_millis(1_000),
            "a record produced while nothing was in flight waited {:?} (linger_ms is 3 s)",
            started.elapsed()
        );
    }
}
