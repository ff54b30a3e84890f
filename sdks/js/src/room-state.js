// A client's copy of the room: rebuilt from `joined`, then kept current by applying each event
// in `seq` order. No DOM here, so it runs (and is tested) under Node as well; the web console
// and the RealtimeKit-shaped `Meeting` (meeting.js) both build on it.

export const SOURCES = ["microphone", "camera", "screen_video", "screen_audio"];

export class RoomState {
  constructor() {
    this.reset();
  }

  reset() {
    this.room = null; // {name, settings}
    this.me = null; // our own ParticipantInfo
    /** identity → ParticipantInfo, ourselves included. */
    this.participants = new Map();
    this.counts = { present: 0, hidden: 0, waiting: 0 };
    this.pinned = null;
    /** [{identity, level}], loudest first. */
    this.speakers = [];
    /** Raised hands we may see, oldest first. */
    this.hands = [];
    /** Who is on the stage. */
    this.stage = [];
    /** The waiting room, oldest first (only when we hold `admit`). */
    this.waiters = [];
    /** Daily's single active speaker: the latest loudest. */
    this.activeSpeaker = null;
    this.sortedCache = null;
  }

  /**
   * Applies one server event. Returns what it changed: `"members"` (someone came or went: the
   * order changes), `"room"` (anything else visible) or null (nothing to redraw).
   */
  apply(ev) {
    switch (ev.type) {
      case "joined": {
        this.reset();
        this.room = ev.room;
        this.me = ev.self;
        this.put(ev.self);
        for (const p of ev.participants) this.put(p);
        this.counts = ev.counts;
        this.pinned = ev.pinned ?? null;
        this.speakers = ev.active_speakers ?? [];
        this.hands = ev.hands ?? [];
        this.stage = ev.stage ?? [];
        this.waiters = ev.waiters ?? [];
        this.activeSpeaker = this.speakers[0]?.identity ?? null;
        return "members";
      }
      case "participant_joined":
        this.put(ev.participant);
        return "members";
      case "participant_left":
        this.participants.delete(ev.identity);
        this.sortedCache = null;
        this.speakers = this.speakers.filter((s) => s.identity !== ev.identity);
        this.hands = this.hands.filter((h) => h !== ev.identity);
        this.stage = this.stage.filter((m) => m !== ev.identity);
        if (this.pinned === ev.identity) this.pinned = null;
        return "members";
      case "participant_updated":
        this.put(ev.participant);
        return "room";
      case "permissions_changed":
        if (!this.me) return null;
        this.me = { ...this.me, role: ev.role, permissions: ev.permissions };
        this.participants.set(this.me.identity, this.me);
        return "room";
      case "counts_updated":
        this.counts = { present: ev.present, hidden: ev.hidden, waiting: ev.waiting ?? 0 };
        return "room";
      case "waiter_added":
        this.waiters = [...this.waiters.filter((w) => w.identity !== ev.waiter.identity), ev.waiter];
        return "room";
      case "waiters_removed": {
        const gone = new Set(ev.identities);
        this.waiters = this.waiters.filter((w) => !gone.has(w.identity));
        return "room";
      }
      case "track_published":
        this.editTracks(ev.identity, (tracks) => [...tracks.filter((t) => t.sid !== ev.track.sid), ev.track]);
        return "room";
      case "track_unpublished":
        this.editTracks(ev.identity, (tracks) => tracks.filter((t) => t.sid !== ev.track_sid));
        return "room";
      case "track_muted":
        if (ev.all) this.muteAll(ev);
        else
          this.editTracks(ev.identity, (tracks) =>
            tracks.map((t) => (t.sid === ev.track_sid ? withMute(t, ev.muted, ev.by) : t)),
          );
        return "room";
      case "pinned":
        this.pinned = ev.identity;
        return "room";
      case "unpinned":
        if (this.pinned === ev.identity || !ev.identity) this.pinned = null;
        return "room";
      case "active_speakers":
        this.speakers = ev.speakers;
        return "room";
      case "active_speaker_changed":
        this.activeSpeaker = ev.identity;
        return "room";
      case "room_updated":
        this.room = ev.room;
        return "room";
      case "host_left":
        this.room = { ...this.room, host_left_at: ev.at };
        return "room";
      case "stage_changed":
        this.stage = this.stage.filter((m) => m !== ev.identity);
        if (ev.on_stage) this.stage.push(ev.identity);
        return "room";
      case "hand_changed":
        this.hands = this.hands.filter((h) => h !== ev.identity);
        if (ev.raised) this.hands.push(ev.identity);
        return "room";
      case "host_returned":
        this.room = { ...this.room, host_left_at: undefined };
        return "room";
      default:
        return null;
    }
  }

  put(p) {
    if (!this.participants.has(p.identity)) this.sortedCache = null;
    this.participants.set(p.identity, p);
    if (this.me && p.identity === this.me.identity) this.me = p;
  }

  editTracks(identity, edit) {
    const p = this.participants.get(identity);
    if (!p) return;
    this.put({ ...p, tracks: edit(p.tracks) });
  }

  /** A mute-all event stands for one mute per track of its source whose owner is not excepted. */
  muteAll(ev) {
    const except = new Set(ev.except ?? []);
    for (const p of this.participants.values()) {
      if (except.has(p.identity)) continue;
      if (!p.tracks.some((t) => t.source === ev.source && t.muted !== ev.muted)) continue;
      this.put({
        ...p,
        tracks: p.tracks.map((t) => (t.source === ev.source ? withMute(t, ev.muted, ev.by) : t)),
      });
    }
  }

  /** Everyone we know of, ourselves first, then by arrival (stable while nobody comes or goes). */
  sorted() {
    if (!this.sortedCache) {
      // The order is cached as identities: participants are replaced (not edited) on every change.
      const me = this.me?.identity;
      this.sortedCache = [...this.participants.values()]
        .sort((a, b) => {
          if (a.identity === me) return -1;
          if (b.identity === me) return 1;
          return a.joined_at - b.joined_at || (a.identity < b.identity ? -1 : 1);
        })
        .map((p) => p.identity);
    }
    return this.sortedCache.map((identity) => this.participants.get(identity));
  }

  /** Present participants the console has not been told about (large rooms list only some). */
  unlisted() {
    return Math.max(0, this.counts.present - this.participants.size);
  }

  /** Whether our own role holds a host control (`mute_audio`, `kick`, …). */
  can(control) {
    return Boolean(this.me?.permissions?.host?.includes(control));
  }

  /** Whether we may publish `source`. */
  maySend(source) {
    return Boolean(this.me?.permissions?.can_send?.includes(source));
  }

  /** Our published track of `source`, if any. */
  myTrack(source) {
    return this.me?.tracks.find((t) => t.source === source) ?? null;
  }

  isSpeaking(identity) {
    return this.speakers.some((s) => s.identity === identity);
  }
}

function withMute(track, muted, by) {
  const t = { ...track, muted };
  if (muted && by) t.muted_by = by;
  else delete t.muted_by;
  return t;
}

/**
 * How a participant's `source` looks: `{state: "on" | "muted" | "off" | "blocked", by}` where
 * `by` names who muted it (absent when they muted themselves).
 */
export function mediaState(p, source) {
  const track = p.tracks.find((t) => t.source === source);
  if (!track) {
    const blocked = !p.permissions?.can_send?.includes(source);
    return { state: blocked ? "blocked" : "off" };
  }
  if (!track.muted) return { state: "on" };
  const by = track.muted_by && track.muted_by !== p.identity ? track.muted_by : undefined;
  return { state: "muted", by };
}
