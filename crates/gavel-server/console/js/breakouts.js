// Breakout rooms in the console: a host's panel in the main room (open N rooms with an
// optional time limit, visit one, message every room, close them with a countdown), a
// "back to the main room" button for a host visiting a breakout room, and the notices everyone
// in a breakout room sees (a host's message, when everyone is brought back). Every button is a
// request any client may send (docs/protocol.md, "Breakout rooms").

import { announce, byId, h, toast } from "./dom.js";

export class BreakoutPanel {
  constructor(conn, state) {
    this.conn = conn;
    this.state = state;
    this.shapeKey = "";
    this.countdown = null;
  }

  run(type, body, done) {
    return this.conn
      .request(type, body)
      .then((r) => done && toast(done))
      .catch((e) => toast(`${e.code}: ${e.message}`, "error"));
  }

  /** The panel: what it offers depends on where we are and what is open. */
  render() {
    const s = this.state;
    const panel = byId("breakouts-panel");
    const parent = s.room?.settings?.parent;
    const open = s.room?.settings?.breakouts;
    const may = s.can("manage_participants");
    panel.hidden = !may;
    if (!may) return;
    const key = `${parent ?? ""}|${open ? open.rooms.join(",") : ""}|${open?.closes_at ?? ""}`;
    if (key === this.shapeKey) return;
    this.shapeKey = key;
    panel.replaceChildren(h("h2", { id: "breakouts-title" }, "Breakout rooms"), ...this.build(parent, open));
  }

  build(parent, open) {
    const me = this.state.me.identity;
    if (parent) {
      return [
        h("p", { class: "hint" }, `You are visiting a breakout room of ${parent}.`),
        h(
          "button",
          { type: "button", "data-action": "back-to-main", onclick: () => this.run("move", { identity: me, destination: parent }) },
          "Back to the main room",
        ),
      ];
    }
    if (!open) {
      const count = h("input", { id: "breakout-count", type: "number", min: "1", max: "50", value: "2" });
      const minutes = h("input", { id: "breakout-minutes", type: "number", min: "0", max: "1440", value: "0" });
      const openRooms = () => {
        const body = { count: Number(count.value) };
        if (Number(minutes.value) > 0) body.duration_seconds = Number(minutes.value) * 60;
        this.run("open_breakouts", body, "Breakout rooms opened");
      };
      return [
        h("label", { for: "breakout-count" }, "Rooms (everyone but hosts, spread in turn)"),
        count,
        h("label", { for: "breakout-minutes" }, "Time limit in minutes (0: none)"),
        minutes,
        h("button", { type: "button", "data-action": "open-breakouts", onclick: openRooms }, "Open breakout rooms"),
      ];
    }
    const message = h("input", { id: "breakout-message", maxlength: "1000", "aria-label": "Message to every breakout room" });
    const countdown = h("input", { id: "breakout-countdown", type: "number", min: "0", max: "600", value: "10" });
    const rooms = open.rooms.map((name) =>
      h(
        "li",
        { "data-breakout": name },
        `${name} `,
        h("button", { type: "button", "data-action": "visit", onclick: () => this.run("move", { identity: me, destination: name }) }, "Visit"),
      ),
    );
    return [
      h("ol", { class: "hands-list" }, rooms),
      message,
      h(
        "button",
        {
          type: "button",
          "data-action": "broadcast",
          onclick: () => message.value && this.run("broadcast_to_breakouts", { message: message.value }, "Sent to every room"),
        },
        "Send to every room",
      ),
      h("label", { for: "breakout-countdown" }, "Warn everyone this many seconds before bringing them back"),
      countdown,
      open.closes_at
        ? h("p", { class: "hint" }, `Closing at ${new Date(open.closes_at).toLocaleTimeString()}.`)
        : h(
            "button",
            {
              type: "button",
              "data-action": "close-breakouts",
              onclick: () => this.run("close_breakouts", { countdown_seconds: Number(countdown.value) }),
            },
            "Close breakout rooms",
          ),
    ];
  }

  /** What everyone is told: a host's message, and when everyone is brought back. */
  notify(ev) {
    const notice = byId("breakout-notice");
    if (ev.type === "breakout_broadcast") {
      const text = `Message from ${ev.by ?? "the host"} to every breakout room: ${ev.message}`;
      notice.textContent = text;
      notice.hidden = false;
      announce(text);
    }
    if (ev.type === "breakouts_closing") {
      clearInterval(this.countdown);
      const tick = () => {
        const left = Math.max(0, Math.ceil((ev.at - Date.now()) / 1000));
        notice.textContent = `Breakout rooms close in ${left} s: everyone comes back to the main room.`;
      };
      tick();
      notice.hidden = false;
      this.countdown = setInterval(tick, 1000);
      announce(`Breakout rooms close at ${new Date(ev.at).toLocaleTimeString()}.`);
    }
    if (ev.type === "breakouts_opened") announce("Breakout rooms are open.");
    if (ev.type === "joined" && !ev.room.settings?.parent) {
      // Back in the main room (or a fresh join): the breakout notices are over.
      clearInterval(this.countdown);
      notice.hidden = true;
    }
  }

  stop() {
    clearInterval(this.countdown);
  }
}
