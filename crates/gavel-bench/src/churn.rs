//! Active-speaker churn: `TALKERS` publishers send audio levels every 50 ms (as browsers do) while
//! the loudest one changes every round. Latency is from the first loud level of the new loudest
//! talker to each client's first `active_speakers` naming it first. It includes the server's
//! detection window (400 ms: a talker counts once 40 % of a window's samples are loud), so the
//! floor is set by the algorithm, not by fan-out. The report also gives the spread (first to
//! last client for the same update: the fan-out part) and the update rate one client sees.

use crate::clients::Crowd;
use crate::report::Report;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const TALKERS: usize = 50;
const LEVEL_INTERVAL: Duration = Duration::from_millis(50);
const ROUND: Duration = Duration::from_millis(1500);
const ROUNDS: usize = 8;
/// RFC 6464 -dBov: the loudest talker, a few background talkers (also above the 35 threshold),
/// and everyone else quiet but still sending.
const LOUD: u8 = 5;
const BACKGROUND: u8 = 30;
const BACKGROUND_TALKERS: usize = 3;
const QUIET: u8 = 100;

pub async fn run(crowd: &Crowd, n: usize, timeout: Duration) -> Result<Report, String> {
    let talkers = TALKERS.min(n);
    let loudest = Arc::new(AtomicUsize::new(usize::MAX));
    let stop = Arc::new(AtomicUsize::new(0));
    let levels = {
        let (loudest, stop) = (loudest.clone(), stop.clone());
        let sends: Vec<_> = (0..talkers).map(|i| (i, crowd.sender(i))).collect();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(LEVEL_INTERVAL);
            while stop.load(Ordering::Relaxed) == 0 {
                tick.tick().await;
                let top = loudest.load(Ordering::Relaxed);
                for (i, send) in &sends {
                    let level = level_of(*i, top, talkers);
                    let _ = send.send(format!(
                        r#"{{"id":0,"type":"audio_level","level":{level}}}"#
                    ));
                }
            }
        })
    };
    let mut samples = Vec::new();
    let started = Instant::now();
    let updates_before = crowd.speaker_updates();
    for round in 0..ROUNDS.min(talkers) {
        let top = (round * 7) % talkers; // not a neighbour of the last: a real change each round
        let pattern = format!(r#""speakers":[{{"identity":"{}""#, crowd.identity(top));
        let report = crowd
            .probes()
            .measure("speaker", &pattern, n, timeout, || async {
                loudest.store(top, Ordering::Relaxed);
                Ok(())
            })
            .await?;
        samples.push(report);
        // A different phase against the server's 400 ms windows each round, so the detection
        // delay is sampled across the window rather than at one point of it.
        tokio::time::sleep(ROUND + Duration::from_millis((round as u64 * 137) % 400)).await;
    }
    stop.store(1, Ordering::Relaxed);
    let _ = levels.await;
    let seconds = started.elapsed().as_secs_f64();
    // Fan-out alone: how far apart the first and the last client got the same update.
    let mut spreads: Vec<f64> = samples
        .iter()
        .map(|r| r.percentile(100.0) - r.percentile(0.0))
        .collect();
    spreads.sort_by(|a, b| a.total_cmp(b));
    let mut merged = Report::merge("active-speaker", &samples);
    merged.extra("spread_median_ms", spreads[spreads.len() / 2]);
    merged.extra("spread_max_ms", spreads.last().copied().unwrap_or(0.0));
    merged.extra("talkers", talkers as f64);
    merged.extra("rounds", samples.len() as f64);
    merged.extra(
        "updates_per_second_per_client",
        (crowd.speaker_updates() - updates_before) as f64 / seconds,
    );
    Ok(merged)
}

fn level_of(i: usize, top: usize, talkers: usize) -> u8 {
    if top == usize::MAX {
        return QUIET;
    }
    let behind = (i + talkers - top) % talkers;
    match behind {
        0 => LOUD,
        d if d <= BACKGROUND_TALKERS => BACKGROUND,
        _ => QUIET,
    }
}
