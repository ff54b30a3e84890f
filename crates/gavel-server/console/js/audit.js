// The room's audit trail (GET /v1/rooms/{room}/audit). The server API is for room admins, so it
// shows only when our token carries `roomAdmin` for this room; the server checks that again.

import { byId, h } from "./dom.js";

const AUTO_REFRESH_MS = 5000;

export class AuditTrail {
  constructor(token) {
    this.token = token;
    this.root = byId("audit");
    this.list = byId("audit-list");
    // "Nothing yet" and load failures are a plain line beside the list, not a numbered entry.
    this.status = byId("audit-status");
    this.room = null;
    this.loading = false;
    this.again = false;
    byId("audit-refresh").onclick = () => this.refresh();
    // Actions by other hosts and by the server API show up without a click.
    this.timer = setInterval(() => this.refresh(), AUTO_REFRESH_MS);
  }

  stop() {
    clearInterval(this.timer);
  }

  /** Shows the trail for `room` if the token administers it. */
  setRoom(room) {
    this.room = room;
    this.root.hidden = !administers(this.token, room);
    if (!this.root.hidden) this.refresh();
  }

  async refresh() {
    if (this.root.hidden) return;
    if (this.loading) {
      this.again = true; // Coalesce bursts of actions into one more fetch.
      return;
    }
    this.loading = true;
    try {
      const res = await fetch(`/v1/rooms/${encodeURIComponent(this.room)}/audit?limit=50`, {
        headers: { Authorization: `Bearer ${this.token}` },
      });
      const body = await res.json();
      if (!res.ok) throw new Error(body.error?.message ?? res.statusText);
      this.list.replaceChildren(...body.entries.map(entry));
      this.showStatus(body.entries.length ? "" : "No host actions yet.");
    } catch (e) {
      this.list.replaceChildren();
      this.showStatus(`Cannot load the audit trail: ${e.message}`);
    } finally {
      this.loading = false;
      if (this.again) {
        this.again = false;
        this.refresh();
      }
    }
  }

  /** Shows `text` under the list, or nothing when it is empty. */
  showStatus(text) {
    this.status.textContent = text;
    this.status.hidden = !text;
  }
}

function entry(e) {
  const time = new Date(e.at).toLocaleTimeString();
  const targets = e.targets?.length ? ` → ${e.targets.join(", ")}` : "";
  const ok = e.outcome === "ok";
  return h(
    "li",
    { class: ok ? "audit-ok" : "audit-refused" },
    h("time", { datetime: new Date(e.at).toISOString() }, time),
    " ",
    h("strong", {}, e.actor),
    ` ${e.action.replaceAll("_", " ")}${targets}`,
    ok ? "" : h("span", { class: "audit-outcome" }, ` (refused: ${e.outcome})`),
  );
}

/** Whether the JWT's `video` grant has roomAdmin for `room` (display only; never trusted). */
export function administers(token, room) {
  const claims = decodeClaims(token);
  const video = claims?.video;
  return Boolean(video?.roomAdmin && (!video.room || video.room === room));
}

/** The claims of a JWT, unverified (the console only uses them to choose what to show). */
export function decodeClaims(token) {
  try {
    const part = token.split(".")[1].replaceAll("-", "+").replaceAll("_", "/");
    const json = decodeURIComponent(
      [...atob(part)].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`).join(""),
    );
    return JSON.parse(json);
  } catch {
    return null;
  }
}
