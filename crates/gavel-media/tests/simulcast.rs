//! Simulcast: of a camera sent in layers, each receiver gets exactly one, the one the room
//! chooses for it (low by default, high when pinned or asked for), switching without
//! renegotiation.

mod common;

use common::Net;
use gavel_core::{Command, Layer};

/// Layers of `sender`'s frames `receiver` got since `from` (by index into its received list).
fn layers(net: &Net, receiver: &str, sender: &str, from: usize) -> Vec<String> {
    let mut seen: Vec<String> = net.peers[receiver].received[from..]
        .iter()
        .filter_map(|(_, who, _)| who.strip_prefix(&format!("{sender}/")).map(str::to_string))
        .collect();
    seen.sort();
    seen.dedup();
    seen
}

#[test]
fn each_receiver_gets_one_layer_and_can_switch() {
    let mut net = Net::new();
    net.join_video("ann", true, 0);
    net.join_video("ben", false, 2);
    net.connect();
    for _ in 0..25 {
        net.film();
    }
    assert_eq!(
        layers(&net, "ben", "ann", 0),
        ["l"],
        "the low layer by default"
    );

    ask_for_high(&mut net, "ben", "ann");
    let from = net.peers["ben"].received.len();
    for _ in 0..25 {
        net.film();
    }
    assert_eq!(
        layers(&net, "ben", "ann", from),
        ["h"],
        "only the high layer after the switch"
    );

    // Pinned participants go out in high to everyone.
    let mut net = Net::new();
    net.join_video("ann", true, 0);
    net.join_video("ben", false, 2);
    net.connect();
    net.host(Command::Pin {
        identity: "ann".into(),
    })
    .unwrap();
    for _ in 0..25 {
        net.film();
    }
    assert_eq!(layers(&net, "ben", "ann", 0), ["h"]);
}

/// A receiver asks for the high layer, but its downlink cannot carry it: its congestion
/// feedback lowers the estimate, and it gets the low layer; once the link recovers, the
/// estimator probes and the high layer comes back. Virtual time, a bottleneck queue in the
/// harness (delay, then loss).
#[test]
fn a_receiver_whose_link_cannot_carry_the_high_layer_gets_the_low_one_until_it_recovers() {
    let mut net = Net::new();
    net.join_video("ann", true, 0);
    net.join_video("ben", false, 1);
    net.connect();
    ask_for_high(&mut net, "ben", "ann");
    // High: 25 frames/s of 4,000 bytes (800 kbit/s); low: 300 bytes (60 kbit/s).
    let second = |net: &mut Net| {
        let from = net.peers["ben"].received.len();
        for _ in 0..25 {
            net.film_sized(300, 4_000);
        }
        layers(net, "ben", "ann", from)
    };
    for _ in 0..3 {
        second(&mut net);
    }
    assert_eq!(
        second(&mut net),
        ["h"],
        "an open link carries the high layer"
    );

    net.limit("ben", Some(300_000));
    let mut switched_down = None;
    for s in 0..30 {
        if second(&mut net) == ["l"] {
            switched_down = Some(s);
            break;
        }
    }
    assert!(
        switched_down.is_some(),
        "still not on the low layer after 30 s at 300 kbit/s"
    );
    // While the link stays narrow it stays down, but for brief retries of the high layer that
    // come less and less often (after 10 s, then 20 s, then 40 s).
    let pattern: Vec<bool> = (0..75)
        .map(|_| second(&mut net).contains(&"h".to_string()))
        .collect();
    let shown: String = pattern.iter().map(|h| if *h { 'h' } else { '.' }).collect();
    let retries = shown.split('.').filter(|run| !run.is_empty()).count();
    let high_seconds = pattern.iter().filter(|h| **h).count();
    assert!(
        (2..=4).contains(&retries) && high_seconds <= 10,
        "retries of the high layer on a narrow link, a second per character: {shown}"
    );

    net.limit("ben", None);
    let mut switched_up = false;
    for _ in 0..60 {
        if second(&mut net).contains(&"h".to_string()) {
            switched_up = true;
            break;
        }
    }
    assert!(
        switched_up,
        "the high layer never came back after the link recovered"
    );
}

/// `receiver` asks for the high layer of `publisher`'s camera.
fn ask_for_high(net: &mut Net, receiver: &str, publisher: &str) {
    let track = net.room.participant(publisher).unwrap().tracks[0]
        .sid
        .clone();
    net.act(
        receiver,
        Command::UpdateTrackSettings {
            track_sid: track,
            layer: Some(Layer::High),
        },
    )
    .unwrap();
}
