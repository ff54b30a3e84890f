// The waiting room in the console: the screen of someone waiting to be let in, and the panel of
// a host holding `admit` (who waits, admit or deny each or everyone, turn the waiting room on or
// off). Both only send the requests any client may send (docs/protocol.md, "The waiting room").

import { announce, byId, h, toast } from "./dom.js";
import { show } from "./screens.js";

/** Shows the waiting screen for our `waiting` status; `leave` asks to leave the queue. */
export function showWaiting(status, leave) {
  const until = new Date(status.self.until).toLocaleTimeString();
  byId("waiting-text").textContent = `A host of room ${status.room} will let you in. You join as soon as they do.`;
  byId("waiting-until").textContent = `If nobody lets you in by ${until}, you will have to join again.`;
  byId("waiting-leave").onclick = leave;
  show("waiting-screen");
  byId("waiting-title").focus();
  announce("You are in the waiting room.");
}

/** The waiting-room panel of a host holding `admit`. */
export class WaitingPanel {
  constructor(conn, state) {
    this.conn = conn;
    this.state = state;
    this.known = new Set();
    byId("admit-all").onclick = () => this.run("admit", { all: true });
    byId("waiting-toggle").onclick = () => {
      const enabled = !this.enabled();
      this.run("set_waiting_room", { enabled });
    };
  }

  enabled() {
    return Boolean(this.state.room?.settings?.waiting_room?.enabled);
  }

  run(type, body) {
    this.conn.request(type, body).catch((e) => toast(`${e.code}: ${e.message}`, "error"));
  }

  render() {
    const s = this.state;
    const panel = byId("waiting-panel");
    panel.hidden = !s.can("admit");
    if (panel.hidden) return;
    const on = this.enabled();
    byId("waiting-state").textContent = on
      ? s.waiters.length
        ? `${s.waiters.length} waiting to be let in.`
        : "On: newcomers wait here until a host lets them in."
      : "Off: newcomers join directly.";
    const toggle = byId("waiting-toggle");
    toggle.textContent = on ? "Turn waiting room off" : "Turn waiting room on";
    toggle.setAttribute("aria-pressed", String(on));
    byId("admit-all").hidden = s.waiters.length === 0;
    for (const w of s.waiters) {
      if (!this.known.has(w.identity)) announce(`${w.name || w.identity} is waiting to be let in.`);
    }
    this.known = new Set(s.waiters.map((w) => w.identity));
    const items = s.waiters.map((w) =>
      h(
        "li",
        { "data-waiter": w.identity },
        `${w.name || w.identity} `,
        h("button", { type: "button", "data-action": "admit", onclick: () => this.run("admit", { identities: [w.identity] }) }, "Admit"),
        " ",
        h("button", { type: "button", "data-action": "deny", onclick: () => this.run("deny", { identities: [w.identity] }) }, "Deny"),
      ),
    );
    byId("waiting-list").replaceChildren(...items);
  }

  /** We just got `admit` (a role change): fetch the queue we could not see before. */
  async load() {
    try {
      const reply = await this.conn.request("list_waiting");
      this.state.waiters = reply.waiting ?? [];
      this.render();
    } catch {
      // The control was taken away again meanwhile; nothing to show.
    }
  }
}
