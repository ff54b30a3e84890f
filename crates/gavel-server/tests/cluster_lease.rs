//! Room ownership in PostgreSQL (`cluster/lease.rs`), against a private server: nodes racing
//! for rooms get exactly one owner each; a lease that is renewed keeps its rooms; an expired
//! one loses them to the next node at a higher epoch, and the former owner's commits are then
//! refused (fenced) while the new owner's go through; a released room is taken at once.

mod common;

use common::postgres::Postgres;
use gavel_core::DurableWrite;
use gavel_server::cluster::lease::{Fence, Leases, Owner, FENCED};
use gavel_server::store::postgres::PostgresStore;
use gavel_server::store::Store;
use std::time::Duration;

const TTL: Duration = Duration::from_secs(1);

fn ban(identity: &str) -> DurableWrite {
    DurableWrite::Ban {
        identity: identity.into(),
        until: Some(u64::MAX / 2),
        by: "host".into(),
    }
}

fn mine(owner: Owner) -> Fence {
    match owner {
        Owner::Me(f) => f,
        Owner::Other(n) => panic!("owned by {n}"),
    }
}

#[test]
fn racing_nodes_get_one_owner_per_room() {
    let pg = Postgres::start();
    let url = pg.database("race");
    drop(PostgresStore::connect(&url).unwrap()); // the schema
    let rooms: Vec<String> = (0..40).map(|i| format!("room-{i}")).collect();
    let results: Vec<Vec<Owner>> = std::thread::scope(|scope| {
        let handles: Vec<_> = ["a", "b", "c"]
            .iter()
            .map(|node| {
                let (url, rooms) = (&url, &rooms);
                scope.spawn(move || {
                    let (mut leases, _) =
                        Leases::register(url, node, Duration::from_secs(30)).unwrap();
                    rooms
                        .iter()
                        .map(|r| leases.acquire(r).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, room) in rooms.iter().enumerate() {
        let winners: Vec<&str> = ["a", "b", "c"]
            .iter()
            .zip(&results)
            .filter(|(_, r)| matches!(r[i], Owner::Me(_)))
            .map(|(n, _)| *n)
            .collect();
        assert_eq!(winners.len(), 1, "{room}: owned by {winners:?}");
        for r in &results {
            match &r[i] {
                Owner::Me(f) => assert_eq!(f.epoch, 1),
                Owner::Other(n) => assert_eq!(n, winners[0], "{room}"),
            }
        }
    }
}

#[test]
fn an_expired_owner_loses_its_room_and_can_commit_nothing_more() {
    let pg = Postgres::start();
    let url = pg.database("expiry");
    let store = PostgresStore::connect(&url).unwrap();
    let (mut a, _) = Leases::register(&url, "a", TTL).unwrap();
    let (mut b, _) = Leases::register(&url, "b", Duration::from_secs(30)).unwrap();
    let fence_a = mine(a.acquire("r").unwrap());
    store.commit("r", Some(&fence_a), &[ban("one")]).unwrap();

    // Renewed, a's lease keeps the room.
    for _ in 0..6 {
        std::thread::sleep(TTL / 4);
        a.renew().unwrap();
        assert_eq!(b.acquire("r").unwrap(), Owner::Other("a".into()));
    }
    // Not renewed (a paused node): past the lease, b takes the room at the next epoch.
    std::thread::sleep(TTL + Duration::from_millis(200));
    let fence_b = mine(b.acquire("r").unwrap());
    assert_eq!(fence_b.epoch, fence_a.epoch + 1);
    assert_eq!(b.owner("r").unwrap(), Some(fence_b.clone()));

    // a wakes up: even with its lease renewed, its writes for the room are fenced.
    a.renew().unwrap();
    let err = store
        .commit("r", Some(&fence_a), &[ban("two")])
        .unwrap_err();
    assert!(err.unavailable && err.message.contains(FENCED), "{err}");
    assert_eq!(a.acquire("r").unwrap(), Owner::Other("b".into()));
    store.commit("r", Some(&fence_b), &[ban("three")]).unwrap();
    let banned: Vec<String> = store
        .bans("r", 0)
        .unwrap()
        .into_iter()
        .map(|b| b.identity)
        .collect();
    assert_eq!(
        banned,
        ["one", "three"],
        "nothing of the fenced commit was written"
    );
}

#[test]
fn a_released_room_is_taken_at_once_and_a_node_without_a_lease_takes_nothing() {
    let pg = Postgres::start();
    let url = pg.database("release");
    drop(PostgresStore::connect(&url).unwrap());
    let (mut a, _) = Leases::register(&url, "a", Duration::from_secs(30)).unwrap();
    let (mut b, _) = Leases::register(&url, "b", Duration::from_secs(30)).unwrap();
    let fence = mine(a.acquire("r").unwrap());
    assert_eq!(
        mine(a.acquire("r").unwrap()),
        fence,
        "the owner asking again"
    );
    a.release("r", &fence).unwrap();
    assert_eq!(mine(b.acquire("r").unwrap()).epoch, fence.epoch + 1);
    // Leaving releases everything a node owns.
    mine(b.acquire("s").unwrap());
    b.leave().unwrap();
    assert_eq!(mine(a.acquire("s").unwrap()).epoch, 2);
    assert!(b.renew().is_err(), "a node that left has no lease to renew");
    // A node whose lease expired cannot take a room, even a free one.
    let (mut c, _) = Leases::register(&url, "c", Duration::from_millis(300)).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let err = c.acquire("free").unwrap_err();
    assert!(err.unavailable, "{err}");
}
