//! `ucx-bench-floor`: the floor of each stage's cost per beat — the work no implementation of
//! the stage can skip — measured on one core on the benchmark's beat mix (the simulator's
//! installations, as `ucx-bench` posts them), without the broker, ClickHouse or HTTP:
//! - gateway: JSON parse, validation and the personal-data scan (`parse_beat`), Avro encode;
//! - sinks: Avro decode and the rows of the beat (`add_beat`) — the RowBinary serialisation
//!   happens inside the clickhouse crate's insert and is not counted;
//! - processors: Avro decode and the rule library's judgement on warm state (the processors'
//!   engine through the offline judge, after a first pass over the same installations).
//!
//! Prints CPU-ms per 1,000 beats of each; with `--figures` (the `figures.json` of
//! `scripts/bench.sh`) also each stage's measured cost there as a ratio to its floor.

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use ucx_processors::backtest::judge::Judge;
use ucx_processors::rules::library::{RuleLibrary, BUILT_IN};
use ucx_schemas::{decode_beat, encode_beat, parse_beat, Beat, PiiPolicy};
use ucx_simulator::fleet::Installation;

/// The stages' allocator (see `mimalloc` in the workspace's Cargo.toml): the floor is measured
/// with the allocator the stages run with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(version, about = "The floor of each stage's cost per beat")]
struct Args {
    /// Installations of the beat mix (small, medium and large servers in turn).
    #[arg(long, default_value_t = 30)]
    installations: usize,
    /// Ticks (simulated minutes) of each installation: the mix is every beat they send.
    #[arg(long, default_value_t = 240)]
    ticks: usize,
    /// A `figures.json` of `scripts/bench.sh`: print each stage's cost there against its floor.
    #[arg(long)]
    figures: Option<PathBuf>,
    /// Passes over the beats of the gateway's and the sinks' work, the fastest counted (this
    /// box's speed varies from second to second; the processors' pass is one: it changes their
    /// state).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
}

/// CPU seconds this process has used (user + system).
fn cpu_seconds() -> f64 {
    let ticks = procfs::ticks_per_second() as f64;
    procfs::process::Process::myself()
        .and_then(|process| process.stat())
        .map(|stat| (stat.utime + stat.stime) as f64 / ticks)
        .unwrap_or(0.0)
}

/// The fewest CPU-ms per 1,000 beats of `rounds` passes of `work` over `beats` beats.
fn best_of(rounds: usize, beats: usize, mut work: impl FnMut()) -> f64 {
    (0..rounds.max(1))
        .map(|_| per_thousand(beats, &mut work))
        .fold(f64::INFINITY, f64::min)
}

/// The resident memory of this process, bytes.
fn resident_bytes() -> u64 {
    procfs::process::Process::myself()
        .and_then(|process| process.statm())
        .map(|statm| statm.resident * procfs::page_size())
        .unwrap_or(0)
}

/// CPU-ms per 1,000 beats of `work` over `beats` beats (wall time where the CPU clock's 10 ms
/// ticks are too coarse for the run).
fn per_thousand(beats: usize, mut work: impl FnMut()) -> f64 {
    let (cpu, wall) = (cpu_seconds(), Instant::now());
    work();
    let cpu = cpu_seconds() - cpu;
    let seconds = if cpu >= 1.0 {
        cpu
    } else {
        wall.elapsed().as_secs_f64()
    };
    seconds * 1e6 / beats as f64
}

/// Rows counted, not kept: the floor of building them.
#[derive(Default)]
struct CountingSink(usize);

impl ucx_tables::RowSink for CountingSink {
    fn push<R: clickhouse::RowOwned + clickhouse::RowWrite + Send + Sync + 'static>(
        &mut self,
        _table: &'static str,
        rows: Vec<R>,
    ) {
        self.0 += rows.len();
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let start = ucx_common::now_ms() - args.ticks as i64 * 60_000;
    let mut fleet: Vec<Installation> = (0..args.installations)
        .map(|index| Installation::new(index, start))
        .collect();
    let mut beats: Vec<Beat> = Vec::new();
    for tick in 0..args.ticks {
        for installation in &mut fleet {
            beats.extend(installation.tick(start + tick as i64 * 60_000));
        }
    }
    let bodies: Vec<Vec<u8>> = beats
        .iter()
        .map(|beat| serde_json::to_vec(&beat.to_wire_json()).expect("JSON"))
        .collect();
    let received_at = ucx_common::now_ms();
    let records: Vec<Vec<u8>> = bodies
        .iter()
        .map(|body| {
            let beat = parse_beat(body, received_at, PiiPolicy::Redact)
                .expect("the simulator's beats are valid")
                .beat;
            encode_beat(&beat).expect("encodes")
        })
        .collect();
    let ids: Vec<String> = (0..args.installations)
        .map(|index| format!("inst-{:04}", index + 1))
        .collect();
    // the judge before the passes below: its growth is its own, not memory they freed
    let mut judge = Judge::new(
        RuleLibrary::parse(BUILT_IN)?,
        ucx_simulator::offline::registry(args.installations),
        &ids,
        0,
    )
    .await;
    let resident_before = resident_bytes();
    // warm: every installation's state, baselines and forecasts built by a first pass
    for beat in &beats {
        judge.beat(beat);
    }
    let state_resident = resident_bytes().saturating_sub(resident_before) as f64;
    let count = beats.len();
    let json_bytes = bodies.iter().map(Vec::len).sum::<usize>() / count;
    let avro_bytes = records.iter().map(Vec::len).sum::<usize>() / count;

    let gateway = best_of(args.rounds, count, || {
        for body in &bodies {
            let beat = parse_beat(body, received_at, PiiPolicy::Redact)
                .expect("valid")
                .beat;
            std::hint::black_box(encode_beat(&beat).expect("encodes"));
        }
    });
    let parse = best_of(args.rounds, count, || {
        for body in &bodies {
            std::hint::black_box(parse_beat(body, received_at, PiiPolicy::Redact).expect("valid"));
        }
    });
    let decode = best_of(args.rounds, count, || {
        for record in &records {
            std::hint::black_box(decode_beat(record).expect("decodes"));
        }
    });
    let mut rows = CountingSink::default();
    let sinks = best_of(args.rounds, count, || {
        rows.0 = 0; // the rows of one pass
        for record in &records {
            let beat = decode_beat(record).expect("decodes");
            ucx_tables::add_beat(&beat, "cust", &mut rows).expect("rows");
        }
    });
    // the same beats again, later (a second stretch of the same servers' lives)
    let later = args.ticks as i64 * 60_000;
    let again: Vec<Vec<u8>> = beats
        .iter()
        .map(|beat| {
            let mut beat = beat.clone();
            beat.envelope.sent_at += later;
            beat.envelope.received_at += later;
            encode_beat(&beat).expect("encodes")
        })
        .collect();
    let processors = per_thousand(count, || {
        for record in &again {
            judge.beat(&decode_beat(record).expect("decodes"));
        }
    });

    // a processors' checkpoint writes the state of every installation that had a beat since
    // the previous one: the encoding of each warm state, 20 times over
    let states: Vec<_> = judge
        .take_state_documents()
        .iter()
        .map(|document| ucx_processors::state::decode(document))
        .collect::<anyhow::Result<_>>()?;
    let (mut document_bytes, rounds) = (0, 20);
    let checkpoint_start = Instant::now();
    for _ in 0..rounds {
        for state in &states {
            document_bytes += ucx_processors::state::encode(state).len();
        }
    }
    let encodings = (rounds * states.len().max(1)) as f64;
    let state_encode_us = checkpoint_start.elapsed().as_secs_f64() * 1e6 / encodings;
    let document_bytes = document_bytes as f64 / encodings;

    println!(
        "floor per beat, one core: {count} beats of {} installations × {} ticks ({json_bytes} B JSON, {avro_bytes} B Avro, {:.1} rows each)",
        args.installations,
        args.ticks,
        rows.0 as f64 / count as f64
    );
    println!("  CPU-ms per 1,000 beats");
    println!("  gateway     {gateway:>7.2}  (JSON parse, validation and personal-data scan {parse:.2}, + Avro encode)");
    println!("  sinks       {sinks:>7.2}  (Avro decode {decode:.2} + rows)");
    println!("  processors  {processors:>7.2}  (Avro decode {decode:.2} + rules on warm state)");
    println!("  together    {:>7.2}", gateway + sinks + processors);
    println!(
        "  a processors' checkpoint: {state_encode_us:.0} µs per installation's state ({document_bytes:.0} B on average; written once a checkpoint interval for each installation that had a beat, not counted above)"
    );
    println!(
        "  a processor's memory: {:.0} KB resident per installation's state after the first pass ({:.0} MB for these {}; the resident size's growth, allocator slack included)",
        state_resident / args.installations as f64 / 1024.0,
        state_resident / 1048576.0,
        args.installations
    );
    if let Some(path) = &args.figures {
        let text = std::fs::read_to_string(path)
            .map_err(|error| anyhow::anyhow!("reading {}: {error}", path.display()))?;
        let figures: serde_json::Value = serde_json::from_str(&text)?;
        println!(
            "  measured in {} (CPU-ms per 1,000 beats, ratio to the floor):",
            path.display()
        );
        let mut total = 0.0;
        for (stage, floor) in [
            ("gateway", gateway),
            ("processors", processors),
            ("sinks", sinks),
        ] {
            let measured = figures["cpu"][format!("{stage}_cpu_ms_per_1000_beats")]
                .as_f64()
                .ok_or_else(|| anyhow::anyhow!("{} has no cpu.{stage}_cpu_ms_per_1000_beats: is it a figures.json of scripts/bench.sh?", path.display()))?;
            total += measured;
            println!(
                "  {stage:<11} {measured:>7.2}  {:>5.1}× its floor",
                measured / floor
            );
        }
        println!(
            "  together    {total:>7.2}  {:>5.1}× the floor",
            total / (gateway + sinks + processors)
        );
    }
    Ok(())
}
