//! `ucx-bench-backtest`: how fast a backtest replays a fleet's history on this machine. A
//! simulated fleet's beats (the simulator's cadence: measurements every minute, UCX Suite
//! counters every 5th, inventory every 15th) are generated in memory and replayed through the
//! processors' engine with two libraries, as `ucx-backtest` does after reading and decoding
//! them from the beats topic; decoding is measured on its own. Prints beats per second of each
//! part and what a backtest of `--target-installations` × `--target-days` would take.

use std::time::Instant;

use clap::Parser;
use ucx_processors::backtest;
use ucx_processors::rules::library::{RuleLibrary, BUILT_IN};
use ucx_simulator::offline::{self, Scenario};

#[derive(Parser)]
#[command(version, about = "How fast a backtest replays a fleet's history")]
struct Args {
    /// Installations replayed.
    #[arg(long, default_value_t = 100)]
    installations: usize,
    /// Hours of their history replayed.
    #[arg(long, default_value_t = 24.0)]
    hours: f64,
    /// The backtest whose duration is extrapolated from the measured rate.
    #[arg(long, default_value_t = 1_000)]
    target_installations: usize,
    #[arg(long, default_value_t = 7.0)]
    target_days: f64,
    /// Installations whose encoded records are held in memory for the sharded measurement.
    #[arg(long, default_value_t = 20)]
    sharded_installations: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let scenario = Scenario {
        installations: args.installations,
        tick_s: 60,
        hours: args.hours,
        fault_share: 0.5,
        seed: 1,
        start_ms: ucx_common::now_ms() - (args.hours * 3_600_000.0) as i64,
    };
    let library = || RuleLibrary::parse(BUILT_IN).expect("the built-in library");

    // generating the beats alone, and a sample encoded as the beats topic holds them
    let started = Instant::now();
    let mut beats = 0u64;
    let mut sample = Vec::new();
    offline::play(scenario, |beat| {
        beats += 1;
        if sample.len() < 100_000 {
            sample.push(ucx_schemas::encode_beat(&beat).expect("encodes"));
        }
    });
    let generation_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    for record in &sample {
        ucx_schemas::decode_beat(record).expect("decodes");
    }
    let decode_per_beat_s = started.elapsed().as_secs_f64() / sample.len() as f64;

    // generation + the engine with one library (the live processors' judgement) …
    let started = Instant::now();
    let ids: Vec<String> = (0..scenario.installations)
        .map(|index| format!("inst-{:04}", index + 1))
        .collect();
    let mut judge = backtest::judge::Judge::new(
        library(),
        offline::registry(scenario.installations),
        &ids,
        0,
    )
    .await;
    offline::play(scenario, |beat| judge.beat(&beat));
    let single_s = started.elapsed().as_secs_f64() - generation_s;
    // … and with two (a backtest)
    let started = Instant::now();
    let (outcomes, _, _) = backtest::simulated(scenario, library(), library()).await;
    let replay_s = started.elapsed().as_secs_f64() - generation_s;
    let alerts = outcomes.in_force.len();

    // what ucx-backtest does with the records it reads: dealt to a shard per core, each
    // decoding, routing and replaying its installations (records of a sample of the fleet held
    // in memory, as read from the topic)
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let held = Scenario {
        installations: args.installations.min(args.sharded_installations),
        ..scenario
    };
    let mut records = Vec::new();
    offline::play(held, |beat| {
        let key = beat.envelope.installation_id.clone().into_bytes();
        records.push((key, ucx_schemas::encode_beat(&beat).expect("encodes")));
    });
    let held_beats = records.len();
    let router = std::sync::Arc::new(backtest::simulated_router(held.installations));
    let started = Instant::now();
    let mut shards = backtest::shards::Shards::start(
        cores,
        (&library(), &library()),
        (held.start_ms, held.end_ms()),
        router,
        Default::default(),
    );
    for (offset, (key, payload)) in records.into_iter().enumerate() {
        let at = ucx_processors::state::Applied {
            partition: 0,
            offset: offset as i64,
        };
        shards
            .push(&key, backtest::shards::Record { payload, at })
            .await;
    }
    let (sharded, _) = shards.finish().await?;
    let sharded_s = started.elapsed().as_secs_f64();
    assert_eq!(sharded.beats.values().sum::<u64>() as usize, held_beats);

    let backtest_per_beat_s = replay_s / beats as f64 + decode_per_beat_s;
    let rate = 1.0 / backtest_per_beat_s;
    let sharded_rate = held_beats as f64 / sharded_s;
    let target_beats = beats as f64 / args.installations as f64 / args.hours
        * args.target_installations as f64
        * args.target_days
        * 24.0;
    println!(
        "backtest bench: {} installations × {} h = {beats} beats ({alerts} alert changes)",
        args.installations, args.hours
    );
    println!(
        "  generating them (simulator, not part of a backtest): {:.1} s",
        generation_s
    );
    println!(
        "  decoding one (Avro, as read from the beats topic):   {:.1} µs",
        decode_per_beat_s * 1e6
    );
    println!(
        "  engine, one library (the processors' judgement):     {:.0} beats/s",
        beats as f64 / single_s
    );
    println!(
        "  engine, two libraries (a backtest's replay):         {:.0} beats/s",
        beats as f64 / replay_s
    );
    println!(
        "  backtest, decode + replay:                           {rate:.0} beats/s on one core"
    );
    println!(
        "  backtest, decode + replay, {cores} shards:                 {sharded_rate:.0} beats/s ({} installations' {held_beats} beats held)",
        held.installations
    );
    println!(
        "  a backtest of {} installations × {} days ({:.0} M beats) would take {:.1} min on one core, {:.1} min on {cores}",
        args.target_installations,
        args.target_days,
        target_beats / 1e6,
        target_beats / rate / 60.0,
        target_beats / sharded_rate / 60.0
    );
    Ok(())
}
