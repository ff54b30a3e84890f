//! The engine's own CPU per forwarded audio packet, without sockets: a benchmark, not a test
//! (ignored; `scripts/bench engine` runs it in release mode).
//!
//! 10 talking publishers and `SUBS` (100) receivers with 10 audio slots each, on virtual time:
//! each 20 ms one frame per publisher, arriving 2 ms apart, every timer run when it falls due.
//! Each datagram is its own batch, as in a room that keeps up. Only the engine's calls are
//! timed (the peers' own work is not). Prints microseconds per forwarded datagram and frames
//! per str0m timer pass.

mod common;

use common::Net;
use gavel_media::str0m::format::PayloadParams;
use gavel_media::str0m::media::MediaTime;
use gavel_media::str0m::net::{Protocol, Transmit};
use gavel_media::str0m::{Input, Output};
use gavel_media::EngineOutput;
use std::time::{Duration, Instant};

fn env(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_string())
}

#[test]
#[ignore]
fn engine_cost_per_forwarded_audio_packet() {
    let subs: usize = env("SUBS", "100").parse().unwrap();
    let secs: u64 = env("SECS", "10").parse().unwrap();
    let mut net = Net::new();
    for i in 0..10 {
        net.join(&format!("pub{i}"), true, 0);
    }
    for i in 0..subs {
        net.join(&format!("sub{i}"), false, 10);
    }
    net.connect();
    for _ in 0..5 {
        net.talk();
    }
    let stats_before = net.engine.stats().clone();
    let mut spent = Duration::ZERO;
    let mut sent = 0u64;
    let base = net.now;
    for round in 0..secs * 50 {
        let start = base + Duration::from_millis(20 * round);
        let inputs = publishers_talk(&mut net, start);
        let clock = Instant::now();
        for (i, t) in inputs.iter().enumerate() {
            let at = start + Duration::from_millis(2 * i as u64);
            sent += run_timers(&mut net, at);
            net.engine
                .receive(at, Protocol::Udp, t.source, t.destination, &t.contents);
            net.engine.flush(at);
            sent += drain(&mut net);
        }
        let end = start + Duration::from_millis(20);
        sent += run_timers(&mut net, end);
        spent += clock.elapsed();
        // The peers' clocks move too (they do not read what they were sent).
        net.now = end;
        for p in net.peers.values_mut() {
            let _ = p.rtc.handle_input(Input::Timeout(end));
            while let Ok(o) = p.rtc.poll_output() {
                if let Output::Timeout(_) = o {
                    break;
                }
            }
        }
    }
    let stats = net.engine.stats();
    let frames = stats.packets_forwarded - stats_before.packets_forwarded;
    let passes = stats.timer_passes - stats_before.timer_passes;
    println!(
        "engine: {subs} receivers, {sent} datagrams out in {:.2} s of engine time: \
         {:.2} µs per datagram, {:.2} frames per timer pass",
        spent.as_secs_f64(),
        spent.as_secs_f64() * 1e6 / sent.max(1) as f64,
        frames as f64 / passes.max(1) as f64,
    );
}

/// Each connected publisher writes one frame at `now`; returns the datagrams it sends.
fn publishers_talk(net: &mut Net, now: Instant) -> Vec<Transmit> {
    let mut out = Vec::new();
    let t = MediaTime::from_millis(now.duration_since(net.start).as_millis() as u64);
    for p in net.peers.values_mut() {
        let (Some(mid), true) = (p.send_mid, p.connected) else {
            continue;
        };
        let w = p.rtc.writer(mid).unwrap();
        let pt = w.payload_params().next().map(PayloadParams::pt).unwrap();
        w.audio_level(-10, true)
            .write(pt, now, t, vec![7u8; 80])
            .unwrap();
        let _ = p.rtc.handle_input(Input::Timeout(now));
        while let Ok(o) = p.rtc.poll_output() {
            match o {
                Output::Transmit(t) => out.push(t),
                Output::Timeout(_) => break,
                Output::Event(_) => {}
            }
        }
    }
    out
}

/// Runs every engine timer due by `until`, at its due time; returns the datagrams sent.
fn run_timers(net: &mut Net, until: Instant) -> u64 {
    let mut sent = 0;
    while let Some(due) = net.engine.poll_timeout().filter(|d| *d <= until) {
        net.engine.handle_timeout(due);
        sent += drain(net);
    }
    sent
}

fn drain(net: &mut Net) -> u64 {
    let mut sent = 0;
    while let Some(o) = net.engine.poll_output() {
        if let EngineOutput::Transmit(_) = o {
            sent += 1;
        }
    }
    sent
}
