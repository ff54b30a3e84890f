// The console's entry point: the join form, then one room session wiring the connection to the
// state, the views and local media.

import { AuditTrail } from "./audit.js";
import { BreakoutPanel } from "./breakouts.js";
import { ConsentDialog } from "./consent.js";
import { Connection } from "./connection.js";
import { announce, byId, h, SOURCE_LABELS, toast } from "./dom.js";
import { HostPanel } from "./host-panel.js";
import { LocalMedia } from "./local-media.js";
import { MediaSession } from "./media-session.js";
import { RoomState } from "./room-state.js";
import { show, showEnd } from "./screens.js";
import { TileGrid } from "./tiles.js";
import { showWaiting, WaitingPanel } from "./waiting.js";

const SELF_SOURCES = ["microphone", "camera", "screen_video"];
/** Audit rows are committed in batches (≤ 100 ms apart): look a little after each action. */
const AUDIT_DELAY_MS = 300;
/** After a new `joined`, how long a new media session waits for the new node's ICE servers. */
const ICE_SERVERS_WAIT_MS = 1000;

let session = null;
let lastJoin = null;

boot();

async function boot() {
  const form = byId("join-form");
  const params = new URLSearchParams(location.search);
  if (params.get("room")) form.room.value = params.get("room");
  const devRoles = await devMode();
  byId("dev-roles").hidden = !devRoles;
  byId("token-hint").textContent = devRoles
    ? "Optional on this development server: leave empty to get a token for the role chosen above."
    : "Paste the token your application issued for this room.";
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    join(readForm(form, devRoles));
  });
  byId("end-rejoin").onclick = () => lastJoin && join(lastJoin);
  byId("end-back").onclick = () => show("join-screen");
  const token = params.get("token");
  if (token) {
    // An invitation link: join at once, and keep the token out of the address bar.
    history.replaceState(null, "", location.pathname);
    join({ token });
  } else {
    show("join-screen");
    form.name.focus();
  }
}

/** The development endpoint exists only under `gavel dev`. */
async function devMode() {
  try {
    const res = await fetch("/dev");
    return res.ok ? (await res.json()).roles : null;
  } catch {
    return null;
  }
}

function readForm(form, devRoles) {
  const token = form.token.value.trim();
  if (token) return { token };
  return {
    room: form.room.value.trim(),
    name: form.name.value.trim(),
    role: devRoles ? form.role.value : null,
  };
}

function joinError(text) {
  const box = byId("join-error");
  box.textContent = text;
  box.hidden = !text;
}

/** Joins with a token, or asks the development endpoint for one first. */
async function join(request) {
  joinError("");
  let token = request.token;
  if (!token) {
    if (!request.role) return joinError("A token is required to join.");
    if (!request.room || !request.name) return joinError("Enter a room and your name.");
    const res = await fetch("/dev/token", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ room: request.room, name: request.name, role: request.role }),
    });
    const body = await res.json();
    if (!res.ok) return joinError(`${body.error.code}: ${body.error.message}`);
    token = body.token;
  }
  lastJoin = { ...request, token };
  const conn = new Connection(token);
  let joined;
  try {
    joined = await conn.connect();
  } catch (e) {
    // Refusals get their own screen (banned, full); a bad token stays on the form.
    if (["banned", "room_full", "conflict", "room_locked"].includes(e.code)) return showEnd(e.code, null, e.message);
    show("join-screen");
    return joinError(`${e.code}: ${e.message}`);
  }
  session?.dispose();
  session = null;
  if (joined.type === "waiting") return waitToBeLetIn(conn, token, joined);
  session = new Session(conn, token, joined);
}

/** In the waiting room: the waiting screen until a host lets us in (`joined`) or not. */
function waitToBeLetIn(conn, token, status) {
  let waiting = true;
  showWaiting(status, () => conn.request("leave").catch(() => {}));
  conn.onEvent((ev) => {
    if (!waiting) return;
    if (ev.type === "joined") {
      waiting = false;
      announce("A host let you in.");
      session = new Session(conn, token, ev);
    }
    if (ev.type === "room_left") {
      waiting = false;
      showEnd(ev.reason, ev.by, ev.message);
    }
  });
  conn.onClose(({ reason, roomLeft }) => {
    if (!waiting || roomLeft) return;
    waiting = false;
    showEnd(reason || "left");
  });
}

/** One joined room: state, views and media, fed by the connection's events. */
class Session {
  constructor(conn, token, joined) {
    this.conn = conn;
    this.state = new RoomState();
    this.session = openMediaSession(conn);
    this.grid = new TileGrid(byId("grid"), byId("spotlight"), (id) => this.select(id), this.session);
    this.media = new LocalMedia(conn, this.state, this.session);
    // Tests reach the session through this (a client that ignores a host mute, levels heard).
    window.gavelSession = this;
    this.consent = new ConsentDialog(conn, this.state, this.media);
    this.panel = new HostPanel(conn, this.state, () => setTimeout(() => this.audit.refresh(), AUDIT_DELAY_MS));
    this.audit = new AuditTrail(token);
    this.waiting = new WaitingPanel(conn, this.state);
    this.breakouts = new BreakoutPanel(conn, this.state);
    this.ended = false;
    /** Set while our media session is to be opened again (`followMedia`). */
    this.reopen = null;
    for (const source of SELF_SOURCES) byId(`self-${source}`).onclick = () => this.media.toggle(source);
    byId("leave").onclick = () => this.leave();
    byId("self-hand").onclick = () => {
      const raised = !this.state.hands.includes(this.state.me.identity);
      this.conn.request("raise_hand", { raised }).catch((e) => toast(`${e.code}: ${e.message}`, "error"));
    };
    conn.onEvent((ev) => this.handle(ev));
    conn.onClose((c) => this.closed(c));
    // Back after a network blip: our media path may have changed too (another network).
    conn.onResume(() => this.session?.restartIce().catch(() => {}));
    this.handle(joined);
    show("room-screen");
    if (this.session) {
      this.session.onChange = () => this.grid.schedule(this.state);
      this.session.start().catch((e) => toast(`No audio or video: ${e.message}`, "error"));
    }
  }

  dispose() {
    this.breakouts.stop();
    this.session?.close();
    this.media.stop();
    this.audit.stop();
    byId("grid").replaceChildren();
  }

  handle(ev) {
    const changed = this.state.apply(ev);
    this.session?.handle(ev);
    this.consent.handle(ev);
    this.notify(ev);
    this.breakouts.notify(ev);
    if (ev.type === "joined") this.audit.setRoom(ev.room.name);
    // Given `admit` just now: the queue we could not see is fetched.
    if (ev.type === "permissions_changed" && ev.permissions?.host?.includes("admit") && !this.couldAdmit) this.waiting.load();
    this.couldAdmit = this.state.can("admit");
    this.followMedia(ev);
    if (ev.type === "room_left") {
      this.ended = true;
      this.session?.close();
      this.media.stop();
      this.audit.stop();
      showEnd(ev.reason, ev.by, ev.message);
      return;
    }
    if (changed) this.redraw();
  }

  /** Our hand button, and the queue of raised hands (a host with `stage` may lower each). */
  drawHands() {
    const s = this.state;
    const mine = s.hands.includes(s.me.identity);
    const button = byId("self-hand");
    button.textContent = mine ? "Lower hand" : "Raise hand";
    button.setAttribute("aria-pressed", String(mine));
    byId("hands").hidden = s.hands.length === 0;
    const items = s.hands.map((identity, i) => {
      const p = identity === s.me.identity ? s.me : s.participants.get(identity);
      const li = h("li", { "data-identity": identity }, `${i + 1}. ${p?.name || identity}`);
      if (identity !== s.me.identity && s.can("stage")) {
        li.append(
          " ",
          h(
            "button",
            {
              type: "button",
              "data-action": "lower-hand",
              onclick: () => this.conn.request("lower_hand", { identity }).catch((e) => toast(`${e.code}: ${e.message}`, "error")),
            },
            "Lower",
          ),
        );
      }
      return li;
    });
    byId("hands-list").replaceChildren(...items);
  }

  /** Tells us about things done to us, in words, on screen and to screen readers. */
  notify(ev) {
    const me = this.state.me?.identity;
    const mutedMe =
      ev.type === "track_muted" &&
      ev.muted &&
      ev.by &&
      ev.by !== me &&
      (ev.all ? !ev.except?.includes(me) && this.state.myTrack(ev.source) : ev.identity === me);
    if (mutedMe) {
      const text = `${ev.by} muted your ${SOURCE_LABELS[ev.source]}.`;
      byId("muted-notice").textContent = text;
      byId("muted-notice").hidden = false;
      toast(text);
      announce(text);
    }
    if (ev.type === "track_muted" && !ev.all && ev.identity === me && !ev.muted) byId("muted-notice").hidden = true;
    if (ev.type === "permissions_changed" && ev.by) toast(`${ev.by} changed your role to ${ev.role}.`);
    if (ev.type === "permissions_changed" && ev.reason === "host_left") {
      const text = `The last host left: you are now ${ev.role === "host" ? "a host" : ev.role}.`;
      toast(text);
      announce(text);
    }
    if (ev.type === "host_left") announce(hostLeftWords(ev.action, ev.at));
    if (ev.type === "host_returned") announce(`${ev.identity} is back: the room goes on as before.`);
    if (ev.type === "hand_changed" && ev.raised) announce(`${ev.identity} raised a hand.`);
    if (ev.type === "hand_changed" && !ev.raised && ev.by && ev.identity === me) toast(`${ev.by} lowered your hand.`);
    if (ev.type === "moved") {
      // A move keeps the session: the next `joined` is the new room. Say so where it cannot be missed.
      const text = `${ev.by ?? "A host"} moved you from room ${ev.from} to room ${ev.room}.`;
      byId("moved-notice").textContent = text;
      byId("moved-notice").hidden = false;
      byId("muted-notice").hidden = true;
      announce(text);
    }
    if (ev.type === "pinned") announce(`${ev.identity} is pinned for everyone.`);
  }

  /**
   * Cluster mode: our media session can end while we stay in the room (a move into a room
   * another node serves, or that node taking our room over). The server says so before the new
   * `joined`; we open a new session after it — once the `ice_servers` of the node now serving
   * the room arrive, when the server gives ICE servers at all — and publish again what we capture.
   */
  followMedia(ev) {
    if (ev.type === "media_session_ended" && this.session && !this.reopen) {
      this.session.close();
      this.session = null;
      this.media.holdCaptures();
      this.reopen = { timer: null };
      return;
    }
    if (!this.reopen) return;
    if (ev.type === "joined") {
      if (this.conn.iceServers?.length) this.reopen.timer = setTimeout(() => this.reopenMedia(), ICE_SERVERS_WAIT_MS);
      else this.reopenMedia();
    }
    if (ev.type === "ice_servers" && this.reopen.timer) {
      clearTimeout(this.reopen.timer);
      this.reopenMedia();
    }
  }

  reopenMedia() {
    this.reopen = null;
    if (this.ended) return;
    this.session = openMediaSession(this.conn);
    this.grid.session = this.session;
    if (!this.session) return this.media.adopt(null);
    this.session.onChange = () => this.grid.schedule(this.state);
    this.session
      .start()
      .then(() => this.media.adopt(this.session))
      .catch((e) => toast(`No audio or video: ${e.message}`, "error"));
  }

  redraw() {
    const s = this.state;
    byId("room-name").textContent = s.room.name;
    const unlisted = s.unlisted();
    byId("counts").textContent =
      `${s.counts.present} present` +
      (s.counts.hidden ? ` · ${s.counts.hidden} hidden` : "") +
      (s.counts.waiting ? ` · ${s.counts.waiting} waiting` : "") +
      (unlisted ? ` · ${unlisted} in the audience not listed` : "");
    byId("me").textContent = `${s.me.name || s.me.identity} · ${s.me.role}`;
    byId("lock-badge").hidden = !s.room.settings?.locked;
    this.drawHands();
    const hostLeft = byId("host-left-notice");
    hostLeft.hidden = !s.room.host_left_at;
    if (s.room.host_left_at) hostLeft.textContent = hostLeftWords(s.room.settings?.host_left?.action, s.room.host_left_at);
    for (const source of SELF_SOURCES) selfButton(s, source);
    this.grid.schedule(s);
    this.panel.render();
    this.waiting.render();
    this.breakouts.render();
    this.media.sync();
  }

  select(identity) {
    this.grid.select(identity);
    this.panel.select(identity);
    byId("host-panel").hidden || byId("host-target").scrollIntoView({ block: "nearest" });
  }

  async leave() {
    await this.conn.request("leave").catch(() => {});
  }

  closed({ roomLeft, reason }) {
    if (this.ended || roomLeft) return;
    this.session?.close();
    this.media.stop();
    this.audit.stop();
    showEnd(reason || "disconnected");
  }
}

/** A media session, or null where the browser has no WebRTC (the console still moderates). */
function openMediaSession(conn) {
  if (typeof RTCPeerConnection === "undefined") return null;
  try {
    return new MediaSession(conn);
  } catch {
    return null;
  }
}

/** A self-control button's label and state: what pressing it will do. */
function selfButton(s, source) {
  const b = byId(`self-${source}`);
  const track = s.myTrack(source);
  const what = SOURCE_LABELS[source];
  const allowed = s.maySend(source);
  b.disabled = !allowed;
  b.dataset.state = !allowed ? "blocked" : !track ? "off" : track.muted ? "muted" : "on";
  b.setAttribute("aria-pressed", String(Boolean(track && !track.muted)));
  b.textContent = !allowed
    ? `${capital(what)} not allowed`
    : !track
      ? `Turn on ${what}`
      : track.muted
        ? `Unmute ${what}`
        : `Mute ${what}`;
  if (source === "screen_video" && track && !track.muted) b.textContent = "Pause screen share";
}

function capital(s) {
  return s[0].toUpperCase() + s.slice(1);
}

/** What happens now that the last host left, and when (`at`: ms since the epoch). */
function hostLeftWords(action, at) {
  const time = new Date(at).toLocaleTimeString();
  return action === "promote"
    ? `The last host left. Unless a host returns, the longest-present participant becomes a host at ${time}.`
    : `The last host left. Unless a host returns, the session ends for everyone at ${time}.`;
}
