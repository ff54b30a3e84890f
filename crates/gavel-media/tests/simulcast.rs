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

    let track = net.room.participant("ann").unwrap().tracks[0].sid.clone();
    net.act(
        "ben",
        Command::UpdateTrackSettings {
            track_sid: track,
            layer: Some(Layer::High),
        },
    )
    .unwrap();
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
