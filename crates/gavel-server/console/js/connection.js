// One WebSocket session with the server (docs/protocol.md, "Client protocol"): requests with ids
// answered by `response` messages, and events in `seq` order.

/** An error the server answered with: `code` is stable (docs/protocol.md, "Errors"). */
export class ServerError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

export class Connection {
  /** @param {string} token a join token (its room and identity decide where we land) */
  constructor(token) {
    this.token = token;
    this.nextId = 1;
    this.pending = new Map();
    this.listeners = [];
    this.closeListeners = [];
    this.lastSeq = 0;
    this.socket = null;
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
   * Opens the socket and resolves with the `joined` event. Rejects with a ServerError when the
   * server refuses: before the upgrade (bad token: the HTTP error is fetched to name the cause)
   * or in-band (banned, room_full, conflict).
   */
  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const url = `${scheme}://${location.host}/v1/rtc?access_token=${encodeURIComponent(this.token)}`;
    return new Promise((resolve, reject) => {
      let joined = false;
      let refused = null;
      let roomLeft = null;
      const socket = new WebSocket(url);
      this.socket = socket;
      socket.onmessage = (msg) => {
        let data;
        try {
          data = JSON.parse(msg.data);
        } catch {
          return; // The server only sends JSON; anything else is ignored rather than fatal.
        }
        if (typeof data.seq === "number") this.lastSeq = data.seq;
        if (data.type === "response") return this.settle(data);
        if (data.type === "error" && !joined) {
          refused = new ServerError(data.error.code, data.error.message);
          return;
        }
        if (data.type === "room_left") roomLeft = data;
        if (data.type === "ice_servers") this.iceServers = data.ice_servers;
        if (data.type === "joined" && !joined) {
          joined = true;
          resolve(data);
        }
        for (const fn of this.listeners) fn(data);
      };
      socket.onclose = async (ev) => {
        for (const [, p] of this.pending) p.reject(new ServerError("disconnected", "the connection closed"));
        this.pending.clear();
        if (!joined) {
          reject(refused ?? (await this.refusalBeforeUpgrade()));
          return;
        }
        for (const fn of this.closeListeners) fn({ code: ev.code, reason: ev.reason, roomLeft });
      };
    });
  }

  /** Browsers hide why an upgrade failed; the same URL over plain HTTP answers with the error. */
  async refusalBeforeUpgrade() {
    try {
      const res = await fetch(`/v1/rtc?access_token=${encodeURIComponent(this.token)}`);
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
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      return Promise.reject(new ServerError("disconnected", "not connected"));
    }
    socket.send(JSON.stringify({ id, type, ...fields }));
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }

  /** A message that needs no answer tracking (audio levels: 20 a second). */
  fire(type, fields = {}) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
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
    if (this.socket) this.socket.close(1000, "left");
  }
}
