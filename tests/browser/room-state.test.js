// The console's room model (crates/gavel-server/console/js/room-state.js) under Node: each event
// of docs/protocol.md applied to a snapshot, no browser needed.

import assert from "node:assert/strict";
import { test } from "node:test";
import { mediaState, RoomState } from "../../sdks/js/src/room-state.js";

const ALL = ["microphone", "camera", "screen_video", "screen_audio"];

function person(identity, joined_at, tracks = [], role = "participant") {
  return {
    sid: `PA_${identity}`,
    identity,
    name: identity,
    role,
    permissions: { can_send: role === "viewer" ? [] : ALL, host: role === "host" ? ["mute_audio", "kick"] : [] },
    tracks,
    joined_at,
  };
}

function mic(sid, muted = false, muted_by) {
  return { sid, source: "microphone", muted, ...(muted_by ? { muted_by } : {}) };
}

function joinedRoom() {
  const s = new RoomState();
  s.apply({
    type: "joined",
    room: { name: "demo", settings: {} },
    self: person("ann", 5, [], "host"),
    participants: [person("bob", 2, [mic("TR_b")]), person("cy", 1, [mic("TR_c")])],
    counts: { present: 3, hidden: 0 },
    pinned: null,
    active_speakers: [],
  });
  return s;
}

test("the snapshot: ourselves first, then by arrival; our controls", () => {
  const s = joinedRoom();
  assert.deepEqual(s.sorted().map((p) => p.identity), ["ann", "cy", "bob"]);
  assert.equal(s.can("kick"), true);
  assert.equal(s.can("pin"), false);
  assert.equal(s.unlisted(), 0);
});

test("joins and leaves change the order; a leaver's pin and speaking go with it", () => {
  const s = joinedRoom();
  assert.equal(s.apply({ type: "participant_joined", participant: person("dee", 9) }), "members");
  assert.deepEqual(s.sorted().map((p) => p.identity), ["ann", "cy", "bob", "dee"]);
  s.apply({ type: "pinned", identity: "bob", by: "ann" });
  s.apply({ type: "active_speakers", speakers: [{ identity: "bob", level: 10 }] });
  s.apply({ type: "participant_left", identity: "bob", sid: "PA_bob", reason: "kicked" });
  assert.deepEqual(s.sorted().map((p) => p.identity), ["ann", "cy", "dee"]);
  assert.equal(s.pinned, null);
  assert.equal(s.isSpeaking("bob"), false);
});

test("a single mute names who muted; an unmute clears it", () => {
  const s = joinedRoom();
  s.apply({ type: "track_muted", identity: "bob", track_sid: "TR_b", source: "microphone", muted: true, by: "ann" });
  assert.deepEqual(mediaState(s.participants.get("bob"), "microphone"), { state: "muted", by: "ann" });
  // sorted() sees the new state too (the order is cached, the participants are not).
  assert.equal(s.sorted()[2].tracks[0].muted, true);
  s.apply({ type: "track_muted", identity: "bob", track_sid: "TR_b", source: "microphone", muted: false });
  assert.deepEqual(mediaState(s.participants.get("bob"), "microphone"), { state: "on" });
});

test("mute-all mutes every track of the source but the excepted", () => {
  const s = joinedRoom();
  s.apply({ type: "track_published", identity: "ann", track: mic("TR_a") });
  s.apply({ type: "track_muted", all: true, source: "microphone", muted: true, by: "ann", except: ["ann"] });
  assert.deepEqual(mediaState(s.participants.get("bob"), "microphone"), { state: "muted", by: "ann" });
  assert.deepEqual(mediaState(s.participants.get("cy"), "microphone"), { state: "muted", by: "ann" });
  assert.deepEqual(mediaState(s.me, "microphone"), { state: "on" });
  assert.equal(s.myTrack("microphone").sid, "TR_a");
});

test("media states: off, blocked by permission, muted by oneself", () => {
  const viewer = person("vi", 1, [], "viewer");
  assert.deepEqual(mediaState(viewer, "camera"), { state: "blocked" });
  assert.deepEqual(mediaState(person("p", 1), "camera"), { state: "off" });
  assert.deepEqual(mediaState(person("p", 1, [mic("T", true, "p")]), "microphone"), { state: "muted", by: undefined });
});

test("permission changes update our own controls; unpublished tracks disappear", () => {
  const s = joinedRoom();
  s.apply({ type: "track_published", identity: "ann", track: mic("TR_a") });
  s.apply({ type: "permissions_changed", role: "viewer", permissions: { can_send: [], host: [] }, by: "admin" });
  assert.equal(s.maySend("microphone"), false);
  assert.equal(s.can("kick"), false);
  s.apply({ type: "track_unpublished", identity: "ann", track_sid: "TR_a", source: "microphone", reason: "permission" });
  assert.equal(s.myTrack("microphone"), null);
});

test("counts beyond the listed participants are the unlisted audience", () => {
  const s = joinedRoom();
  s.apply({ type: "counts_updated", present: 10003, hidden: 1 });
  assert.equal(s.unlisted(), 10000);
});

test("a new joined (after a move) replaces the whole room", () => {
  const s = joinedRoom();
  s.apply({ type: "pinned", identity: "bob" });
  s.apply({
    type: "joined",
    room: { name: "breakout", settings: {} },
    self: person("ann", 20, [], "host"),
    participants: [],
    counts: { present: 1, hidden: 0 },
    pinned: null,
    active_speakers: [],
  });
  assert.equal(s.room.name, "breakout");
  assert.deepEqual(s.sorted().map((p) => p.identity), ["ann"]);
  assert.equal(s.pinned, null);
});

test("unknown events change nothing", () => {
  const s = joinedRoom();
  assert.equal(s.apply({ type: "something_new" }), null);
  assert.equal(s.participants.size, 3);
});
