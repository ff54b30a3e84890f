// One WebSocket session with the server (docs/protocol.md, "Client protocol"): requests with ids
// answered by `response` messages, and events in `seq` order. Runs in browsers (the page's own
// server by default) and under Node: give `url` (`http://host:7880` or `ws://…`), and on
// Node < 22, which has no global WebSocket, a `WebSocket` implementation (such as `ws`).

/** An error the server answered with: `code` is stable (docs/protocol.md, "Errors"). */
export class ServerError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/** How long a broken connection tries to resume its session (the server's grace period). */
const RESUME_FOR_MS = 10_000;
const RESUME_RETRY_MS = 300;
/** WebSocket's `readyState` when open, the same in every implementation. */
const OPEN = 1;

export class Connection {
  /**
   * @param {string} token a join token (its room and identity decide where we land)
   * @param {{url?: string, WebSocket?: any}} [options] the server (default: the page's own) and
   *   a WebSocket implementation (default: the global one)
   */
  constructor(token, options = {}) {
    this.token = token;
    this.WebSocket = options.WebSocket ?? globalThis.WebSocket;
    if (!this.WebSocket) throw new ServerError("invalid_argument", "no WebSocket: pass options.WebSocket (e.g. the ws package)");
    const page = globalThis.location;
    const url = (options.url ?? (page ? `${page.protocol}//${page.host}` : "")).replace(/\/$/, "");
    if (!url) throw new ServerError("invalid_argument", "no server: pass options.url");
    /** The server over HTTP (for refusals before the upgrade) and over WebSocket. */
    this.httpBase = url.replace(/^ws(s?):/, "http$1:");
    this.wsBase = url.replace(/^http(s?):/, "ws$1:");
    this.nextId = 1;
    this.pending = new Map();
    this.listeners = [];
    this.closeListeners = [];
    this.resumeListeners = [];
    this.lastSeq = 0;
    /** The room's number of the last message received (`ev`), for a resume. */
    this.lastEv = 0;
    this.sid = null;
    this.socket = null;
    this.leaving = false;
  }

  /** `fn()` after the connection broke and the session resumed on a new one. */
  onResume(fn) {
    this.resumeListeners.push(fn);
  }

  /** Every server message but responses goes to `fn(message)`, in order. */
  onEvent(fn) {
    this.listeners.push(fn);
  }

  /** `fn({code, reason, roomLeft})` once the socket has closed. */
  onClose(fn) {
    this.closeListeners.push(fn);
  }

  /**
   * Opens the socket and resolves with the `joined` event — or with `waiting` when the room has
   * a waiting room we must wait in (`joined` follows as an event once a host lets us in).
   * Rejects with a ServerError when the server refuses: before the upgrade (bad token: the HTTP
   * error is fetched to name the cause) or in-band (banned, room_full, conflict).
   */
  connect() {
    this.base = `${this.wsBase}/v1/rtc?access_token=${encodeURIComponent(this.token)}`;
    return new Promise((resolve, reject) => {
      let joined = false;
      let refused = null;
      const socket = new this.WebSocket(this.base);
      this.socket = socket;
      this.roomLeft = null;
      socket.onmessage = (msg) => {
        const data = this.receive(msg);
        if (!data) return;
        if (data.type === "error" && !joined) {
          refused = new ServerError(data.error.code, data.error.message);
          return;
        }
        if ((data.type === "joined" || data.type === "waiting") && !joined) {
          joined = true;
          this.sid = data.self.sid;
          resolve(data);
        }
        this.dispatch(data);
      };
      socket.onclose = async (ev) => {
        this.failPending();
        if (!joined) {
          reject(refused ?? (await this.refusalBeforeUpgrade()));
          return;
        }
        this.closed(ev);
      };
    });
  }

  /** One message off the socket: numbering noted, responses settled; `null` once handled. */
  receive(msg) {
    let data;
    try {
      data = JSON.parse(msg.data);
    } catch {
      return null; // The server only sends JSON; anything else is ignored rather than fatal.
    }
    if (typeof data.seq === "number") this.lastSeq = data.seq;
    if (typeof data.ev === "number") this.lastEv = data.ev;
    if (data.type === "response") {
      this.settle(data);
      return null;
    }
    return data;
  }

  dispatch(data) {
    if (data.type === "room_left") this.roomLeft = data;
    if (data.type === "ice_servers") this.iceServers = data.ice_servers;
    // A copy: a listener added while this message is handed out starts with the next one.
    for (const fn of [...this.listeners]) fn(data);
  }

  failPending() {
    for (const [, p] of this.pending) p.reject(new ServerError("disconnected", "the connection closed"));
    this.pending.clear();
  }

  /**
   * The socket closed. One that broke (no close frame from the server: 1006) while we were
   * in the room resumes the session — same session, the messages missed meanwhile — for up to
   * RESUME_FOR_MS; anything else ends it for the listeners.
   */
  async closed(ev) {
    const broke = ev.code === 1006 && !this.leaving && !this.roomLeft;
    if (broke && (await this.resume())) {
      for (const fn of this.resumeListeners) fn();
      return;
    }
    for (const fn of this.closeListeners) fn({ code: ev.code, reason: ev.reason, roomLeft: this.roomLeft });
  }

  /** Tries to resume until the server answers `resumed` (true) or refuses, or time runs out. */
  async resume() {
    const end = Date.now() + RESUME_FOR_MS;
    while (Date.now() < end && !this.leaving) {
      const url = `${this.base}&resume=${encodeURIComponent(this.sid)}&last_seq=${this.lastSeq}&last_ev=${this.lastEv}`;
      const outcome = await new Promise((settle) => {
        const socket = new this.WebSocket(url);
        let first = true;
        socket.onmessage = (msg) => {
          const data = this.receive(msg);
          if (first) {
            first = false;
            if (data?.type !== "resumed") {
              socket.onclose = null;
              socket.close();
              settle("refused");
              return;
            }
            this.socket = socket;
            settle("resumed");
            return;
          }
          if (data) this.dispatch(data);
        };
        socket.onclose = (ev) => {
          if (first) settle("retry");
          else {
            this.failPending();
            this.closed(ev);
          }
        };
      });
      if (outcome === "resumed") return true;
      if (outcome === "refused") return false;
      await new Promise((r) => setTimeout(r, RESUME_RETRY_MS));
    }
    return false;
  }

  /** Browsers hide why an upgrade failed; the same URL over plain HTTP answers with the error. */
  async refusalBeforeUpgrade() {
    try {
      const res = await fetch(`${this.httpBase}/v1/rtc?access_token=${encodeURIComponent(this.token)}`);
      const body = await res.json();
      if (body && body.error && res.status !== 400) return new ServerError(body.error.code, body.error.message);
    } catch {
      // Server unreachable: fall through.
    }
    return new ServerError("unavailable", "cannot reach the server");
  }

  /** Sends a request; resolves with the response's fields, rejects with a ServerError. */
  request(type, fields = {}) {
    const id = this.nextId++;
    const socket = this.socket;
    if (!socket || socket.readyState !== OPEN) {
      return Promise.reject(new ServerError("disconnected", "not connected"));
    }
    socket.send(JSON.stringify({ id, type, ...fields }));
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }

  /** A message that needs no answer tracking (audio levels: 20 a second). */
  fire(type, fields = {}) {
    if (this.socket && this.socket.readyState === OPEN) {
      this.socket.send(JSON.stringify({ id: this.nextId++, type, ...fields }));
    }
  }

  settle(response) {
    const p = this.pending.get(response.id);
    if (!p) return;
    this.pending.delete(response.id);
    if (response.ok) p.resolve(response);
    else p.reject(new ServerError(response.error.code, response.error.message));
  }

  close() {
    this.leaving = true;
    if (this.socket) this.socket.close(1000, "left");
  }
}
