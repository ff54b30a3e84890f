// The RealtimeKit-shaped surface (seed 003): `meeting.participants.joined` (a map emitting
// `participantJoined`, `participantLeft`, `audioUpdate`, `videoUpdate`, `screenShareUpdate`,
// `pinned`, `unpinned`), `meeting.self` (its permissions, `roomLeft` with its state),
// `participant.disableAudio()` / `disableVideo()` / `pin()` / `unpin()` / `kick()`,
// `meeting.participants.disableAllAudio()` / `disableAllVideo()` / `kickAll()`, and errors with
// code 1201 when the local participant lacks the permission. Built on the same connection and
// room state as the web console; Gavel's own features (the waiting room, hands, the stage,
// breakout rooms, the lock) are on `meeting.participants`, `meeting.self` and `meeting.room`.

import { Connection, ServerError } from "./connection.js";
import { MediaSession } from "./media-session.js";
import { Emitter } from "./emitter.js";
import { RoomState } from "./room-state.js";

/** RealtimeKit's code for "the local participant lacks the permission". */
export const PERMISSION_DENIED = 1201;

/** An error from a call: `code` is 1201 for a missing permission (as RealtimeKit's), else
 * Gavel's stable code (`not_found`, `room_locked`, …); `gavelCode` is always Gavel's. */
export class ClientError extends Error {
  constructor(gavelCode, message) {
    super(message);
    this.name = "ClientError";
    this.gavelCode = gavelCode;
    this.code = gavelCode === "permission_denied" ? PERMISSION_DENIED : gavelCode;
  }
}

/** RealtimeKit's `roomLeft` states for Gavel's leave reasons. */
const ROOM_LEFT_STATE = {
  left: "left",
  kicked: "kicked",
  ended: "ended",
  host_left: "ended",
  room_deleted: "ended",
  denied: "rejected",
  waiting_timeout: "rejected",
  disconnected: "disconnected",
  slow_consumer: "disconnected",
  server_shutdown: "disconnected",
  replaced: "disconnected",
  move_failed: "failed",
  hidden: "left",
};

async function call(conn, type, fields) {
  try {
    return await conn.request(type, fields);
  } catch (e) {
    throw e instanceof ServerError ? new ClientError(e.code, e.message) : e;
  }
}

function enabled(info, source) {
  return Boolean(info?.tracks?.some((t) => t.source === source && !t.muted));
}

/** One participant as the application sees it (a remote one; `Self` for the local one). */
export class Participant extends Emitter {
  constructor(meeting, info) {
    super();
    this.meeting = meeting;
    this.update(info);
  }

  update(info) {
    this.info = info;
    /** The session's id; `userId` and `customParticipantId` are the identity. */
    this.id = info.sid;
    this.userId = info.identity;
    this.customParticipantId = info.identity;
    this.name = info.name || info.identity;
    this.presetName = info.role;
    this.audioEnabled = enabled(info, "microphone");
    this.videoEnabled = enabled(info, "camera");
    this.screenShareEnabled = enabled(info, "screen_video");
    this.isPinned = this.meeting.state.pinned === info.identity;
  }

  get conn() {
    return this.meeting.connection;
  }

  /** Mutes its microphone for everyone (needs `mute_audio`). */
  async disableAudio() {
    await call(this.conn, "mute", { identity: this.userId, source: "microphone", muted: true });
  }

  async disableVideo() {
    await call(this.conn, "mute", { identity: this.userId, source: "camera", muted: true });
  }

  async disableScreenShare() {
    await call(this.conn, "mute", { identity: this.userId, source: "screen_video", muted: true });
  }

  /** Asks it to turn its microphone on (a consent request it accepts or rejects). */
  async requestAudio() {
    return call(this.conn, "request_media", { identity: this.userId, source: "microphone" });
  }

  async requestVideo() {
    return call(this.conn, "request_media", { identity: this.userId, source: "camera" });
  }

  async pin() {
    await call(this.conn, "pin", { identity: this.userId });
  }

  async unpin() {
    await call(this.conn, "unpin", { identity: this.userId });
  }

  /** Removes it from the meeting (with `banSeconds`, keeps it out that long). */
  async kick(banSeconds) {
    await call(this.conn, "kick", banSeconds ? { identity: this.userId, ban_seconds: banSeconds } : { identity: this.userId });
  }

  async setPreset(role) {
    await call(this.conn, "update_participant", { identity: this.userId, role });
  }

  async lowerHand() {
    await call(this.conn, "lower_hand", { identity: this.userId });
  }

  async inviteToStage() {
    return call(this.conn, "invite_to_stage", { identity: this.userId });
  }

  async removeFromStage() {
    await call(this.conn, "remove_from_stage", { identity: this.userId });
  }

  async moveTo(room) {
    await call(this.conn, "move", { identity: this.userId, destination: room });
  }
}

/** The local participant: its permissions in RealtimeKit's names, its own media state, and
 * `roomLeft {state}` when its session ends. */
export class Self extends Participant {
  update(info) {
    super.update(info);
    const host = new Set(info.permissions?.host ?? []);
    this.permissions = {
      canDisableParticipantAudio: host.has("mute_audio"),
      canDisableParticipantVideo: host.has("mute_video"),
      canDisableParticipantScreenShare: host.has("mute_screen"),
      canRequestMedia: host.has("request_media"),
      kickParticipant: host.has("kick"),
      pinParticipant: host.has("pin"),
      endSession: host.has("end_session"),
      manageParticipants: host.has("manage_participants"),
      lockRoom: host.has("lock"),
      stage: host.has("stage"),
      acceptWaitingRequests: host.has("admit"),
      canProduceAudio: Boolean(info.permissions?.can_send?.includes("microphone")),
      canProduceVideo: Boolean(info.permissions?.can_send?.includes("camera")),
      canProduceScreenshare: Boolean(info.permissions?.can_send?.includes("screen_video")),
      hostControls: [...host],
    };
  }

  /** Turns its microphone on: a track's state (no media unless the app sends some). */
  async enableAudio() {
    const track = this.info.tracks.find((t) => t.source === "microphone");
    if (track) await call(this.conn, "set_track_muted", { track_sid: track.sid, muted: false });
    else await call(this.conn, "publish_track", { source: "microphone", muted: false });
  }

  async disableAudio() {
    const track = this.info.tracks.find((t) => t.source === "microphone");
    if (track) await call(this.conn, "set_track_muted", { track_sid: track.sid, muted: true });
  }

  async enableVideo() {
    const track = this.info.tracks.find((t) => t.source === "camera");
    if (track) await call(this.conn, "set_track_muted", { track_sid: track.sid, muted: false });
    else await call(this.conn, "publish_track", { source: "camera", muted: false });
  }

  async disableVideo() {
    const track = this.info.tracks.find((t) => t.source === "camera");
    if (track) await call(this.conn, "set_track_muted", { track_sid: track.sid, muted: true });
  }

  async raiseHand(raised = true) {
    await call(this.conn, "raise_hand", { raised });
  }

  /** Answers a host's request (`mediaRequested`, `stageInvited`). */
  async respond(requestId, accept) {
    await call(this.conn, "respond_request", { request_id: requestId, accept });
  }
}

/** A map of participants by id (RealtimeKit's `meeting.participants.joined`), emitting the
 * events of each of them with the participant first. */
export class ParticipantMap extends Emitter {
  constructor() {
    super();
    /** @type {Map<string, Participant>} */
    this.map = new Map();
  }
  get size() {
    return this.map.size;
  }
  get(id) {
    return this.map.get(id);
  }
  has(id) {
    return this.map.has(id);
  }
  toArray() {
    return [...this.map.values()];
  }
  values() {
    return this.map.values();
  }
  keys() {
    return this.map.keys();
  }
  [Symbol.iterator]() {
    return this.map.values();
  }
}

/** `meeting.participants`: who is here, who is pinned, who waits, and room-wide host actions. */
export class Participants {
  constructor(meeting) {
    this.meeting = meeting;
    this.joined = new ParticipantMap();
    this.pinned = new ParticipantMap();
    /** The waiting room (to holders of `admit`): waiter info by identity. */
    this.waitlisted = new ParticipantMap();
  }

  get conn() {
    return this.meeting.connection;
  }

  /** Mutes every microphone, the local participant's included. */
  async disableAllAudio() {
    await call(this.conn, "mute_all", { source: "microphone" });
  }

  async disableAllVideo() {
    await call(this.conn, "mute_all", { source: "camera" });
  }

  /** Ends the meeting for everyone (`roomLeft {state: "ended"}`). */
  async kickAll() {
    await call(this.conn, "end_session");
  }

  async acceptWaitingRoomRequest(identity) {
    return call(this.conn, "admit", { identities: [identity] });
  }

  async acceptAllWaitingRoomRequests() {
    return call(this.conn, "admit", { all: true });
  }

  async rejectWaitingRoomRequest(identity, message) {
    return call(this.conn, "deny", message ? { identities: [identity], message } : { identities: [identity] });
  }
}

/** A meeting: `await Meeting.init({authToken, url?, WebSocket?})`, then `await meeting.join()`. */
export class Meeting extends Emitter {
  static async init({ authToken, url, WebSocket }) {
    return new Meeting(authToken, { url, WebSocket });
  }

  constructor(authToken, options = {}) {
    super();
    this.connection = new Connection(authToken, options);
    this.state = new RoomState();
    this.self = null;
    this.participants = new Participants(this);
    /** `{roomName}` once joined (RealtimeKit's `meeting.meta`). */
    this.meta = {};
    /** This client waits in the waiting room (its status), until admitted. */
    this.waiting = null;
    this.connection.onEvent((ev) => this.handle(ev));
    this.connection.onClose(({ reason, roomLeft }) => {
      if (!roomLeft && this.self && !this.left) this.leftWith(reason || "disconnected");
    });
    this.connection.onResume(() => this.emit("resumed"));
  }

  /** Joins (or, in a room with a waiting room, starts waiting: `self` emits `waitlisted`, then
   * `roomJoined` once admitted). Rejects with a ClientError when refused. */
  async join() {
    try {
      await this.connection.connect();
    } catch (e) {
      throw e instanceof ServerError ? new ClientError(e.code, e.message) : e;
    }
  }

  /** RealtimeKit's other name for `join`. */
  joinRoom() {
    return this.join();
  }

  async leave() {
    await this.connection.request("leave").catch(() => {});
    this.connection.close();
  }

  /** Any request of Gavel's protocol (docs/protocol.md), with ClientErrors. */
  request(type, fields = {}) {
    return call(this.connection, type, fields);
  }

  /**
   * Browsers: opens the media session (WebRTC through the server's media plane) and returns
   * it — `publish(source, track)` sends a captured track, `videoOf(identity)` gives the
   * <video> element of someone's camera, remote audio plays by itself.
   */
  async startMedia() {
    if (typeof RTCPeerConnection === "undefined") throw new ClientError("unavailable", "no WebRTC here (a browser is needed for media)");
    this.media = new MediaSession(this.connection);
    this.connection.onEvent((ev) => this.media?.handle(ev));
    await this.media.start();
    return this.media;
  }

  lock(locked = true) {
    return call(this.connection, "lock_room", { locked });
  }

  setWaitingRoom(enabled) {
    return call(this.connection, "set_waiting_room", { enabled });
  }

  openBreakouts(plan) {
    return call(this.connection, "open_breakouts", plan);
  }

  closeBreakouts(countdownSeconds) {
    return call(this.connection, "close_breakouts", countdownSeconds === undefined ? {} : { countdown_seconds: countdownSeconds });
  }

  broadcastToBreakouts(message) {
    return call(this.connection, "broadcast_to_breakouts", { message });
  }

  leftWith(reason, by, message) {
    this.left = reason;
    const state = ROOM_LEFT_STATE[reason] ?? "disconnected";
    this.self?.emit("roomLeft", { state, reason, by, message });
    this.emit("roomLeft", { state, reason, by, message });
  }

  /** One server event: the room state first, then what it means in RealtimeKit's terms. */
  handle(ev) {
    const before = this.snapshotFlags(ev);
    this.state.apply(ev);
    switch (ev.type) {
      case "joined":
        return this.rebuild();
      case "waiting":
        this.waiting = ev.self;
        this.meta = { roomName: ev.room };
        this.self = new Self(this, { sid: ev.self.sid, identity: ev.self.identity, name: ev.self.name, role: ev.self.role, tracks: [], permissions: {} });
        this.self.emit("waitlisted", ev.self);
        return this.emit("waitlisted", ev.self);
      case "participant_joined":
        return this.added(ev.participant);
      case "participant_left": {
        const p = this.byIdentity(ev.identity);
        if (!p) return;
        this.participants.joined.map.delete(p.id);
        this.participants.pinned.map.delete(p.id);
        return this.participants.joined.emit("participantLeft", p, { reason: ev.reason, by: ev.by });
      }
      case "waiter_added":
        this.participants.waitlisted.map.set(ev.waiter.identity, ev.waiter);
        return this.participants.waitlisted.emit("participantJoined", ev.waiter);
      case "waiters_removed":
        for (const id of ev.identities) {
          const w = this.participants.waitlisted.map.get(id);
          this.participants.waitlisted.map.delete(id);
          if (w) this.participants.waitlisted.emit("participantLeft", w, { outcome: ev.outcome });
        }
        return;
      case "room_left":
        return this.leftWith(ev.reason, ev.by, ev.message);
      case "media_requested":
        return this.self?.emit("mediaRequested", { requestId: ev.request_id, source: ev.source, from: ev.from, accept: () => this.self.respond(ev.request_id, true), reject: () => this.self.respond(ev.request_id, false) });
      case "stage_invited":
        return this.self?.emit("stageInvited", { requestId: ev.request_id, from: ev.from, accept: () => this.self.respond(ev.request_id, true), reject: () => this.self.respond(ev.request_id, false) });
      default:
        this.followUpdates(ev, before);
        this.emit(ev.type, ev);
    }
  }

  rebuild() {
    const s = this.state;
    this.waiting = null;
    this.meta = { roomName: s.room.name };
    this.self = this.self && this.self.userId === s.me.identity ? this.self : new Self(this, s.me);
    this.self.update(s.me);
    this.participants.joined.map.clear();
    this.participants.pinned.map.clear();
    this.participants.waitlisted.map.clear();
    for (const w of s.waiters) this.participants.waitlisted.map.set(w.identity, w);
    for (const info of s.participants.values()) {
      if (info.identity === s.me.identity) continue;
      const p = new Participant(this, info);
      this.participants.joined.map.set(p.id, p);
      if (p.isPinned) this.participants.pinned.map.set(p.id, p);
    }
    this.self.emit("roomJoined", this.meta);
    this.emit("roomJoined", this.meta);
  }

  added(info) {
    if (info.identity === this.self?.userId) return;
    const p = new Participant(this, info);
    this.participants.joined.map.set(p.id, p);
    this.participants.joined.emit("participantJoined", p);
  }

  byIdentity(identity) {
    if (this.self?.userId === identity) return this.self;
    for (const p of this.participants.joined.map.values()) if (p.userId === identity) return p;
    return null;
  }

  /** The flags an event may change, before it: so only real changes are announced. */
  snapshotFlags(ev) {
    const all = ev.type === "track_muted" && ev.all;
    const who = all ? [this.self, ...this.participants.joined.map.values()] : [ev.identity ? this.byIdentity(ev.identity) : null, this.byIdentity(this.state.pinned ?? "")];
    return new Map(who.filter(Boolean).map((p) => [p, { audio: p.audioEnabled, video: p.videoEnabled, screen: p.screenShareEnabled, pinned: p.isPinned }]));
  }

  followUpdates(ev, before) {
    const touched = new Map(before);
    if (ev.identity) {
      const p = this.byIdentity(ev.identity);
      if (p && !touched.has(p)) touched.set(p, { audio: p.audioEnabled, video: p.videoEnabled, screen: p.screenShareEnabled, pinned: p.isPinned });
    }
    if (ev.type === "permissions_changed" && this.self && !touched.has(this.self)) {
      const p = this.self;
      touched.set(p, { audio: p.audioEnabled, video: p.videoEnabled, screen: p.screenShareEnabled, pinned: p.isPinned });
    }
    if (ev.type === "participant_updated") {
      const p = this.byIdentity(ev.participant.identity);
      if (p && !touched.has(p)) touched.set(p, { audio: p.audioEnabled, video: p.videoEnabled, screen: p.screenShareEnabled, pinned: p.isPinned });
    }
    for (const [p, was] of touched) {
      const info = this.state.participants.get(p.userId);
      if (!info) continue;
      p.update(info);
      const self = p === this.self;
      const say = (event, payload) => {
        p.emit(event, payload);
        if (!self) this.participants.joined.emit(event, p, payload);
      };
      const track = (source) => info.tracks.find((t) => t.source === source) ?? null;
      if (p.audioEnabled !== was.audio) say("audioUpdate", { audioEnabled: p.audioEnabled, audioTrack: track("microphone") });
      if (p.videoEnabled !== was.video) say("videoUpdate", { videoEnabled: p.videoEnabled, videoTrack: track("camera") });
      if (p.screenShareEnabled !== was.screen) say("screenShareUpdate", { screenShareEnabled: p.screenShareEnabled });
      if (p.isPinned !== was.pinned) {
        if (p.isPinned && !self) this.participants.pinned.map.set(p.id, p);
        else this.participants.pinned.map.delete(p.id);
        say(p.isPinned ? "pinned" : "unpinned", p);
        if (!self) this.participants.pinned.emit(p.isPinned ? "pinned" : "unpinned", p);
      }
    }
  }
}
