// The host panel: only the controls our role holds (`permissions.host`), for the room and for the
// participant whose tile is selected. Every button is a client request on the same command path
// as the server API, so the server decides; the panel only reports what it answered.

import { byId, h, SOURCE_LABELS, toast } from "./dom.js";
import { mediaState } from "./room-state.js";

const MUTE_CONTROL = { microphone: "mute_audio", camera: "mute_video", screen_video: "mute_screen" };
const BAN_CHOICES = [
  [0, "No ban"],
  [300, "Ban for 5 minutes"],
  [3600, "Ban for 1 hour"],
  [86400, "Ban for 1 day"],
  [30 * 86400, "Ban for 30 days"],
];
const ROLES = ["host", "participant", "viewer", "observer"];
const SEND_SOURCES = ["microphone", "camera", "screen_video", "screen_audio"];

export class HostPanel {
  constructor(conn, state, onAction) {
    this.conn = conn;
    this.state = state;
    this.onAction = onAction;
    this.root = byId("host-panel");
    this.selected = null;
    this.shapeKey = "";
    this.dynamic = []; // functions that refresh labels and disabled states in place
  }

  select(identity) {
    this.selected = identity;
    this.render();
  }

  /** Called after every state change: rebuilds only when the panel's shape changes. */
  render() {
    const s = this.state;
    if (this.selected && !s.participants.has(this.selected)) this.selected = null;
    const controls = s.me?.permissions?.host ?? [];
    this.root.hidden = controls.length === 0;
    const key = `${controls.join(",")}|${this.selected ?? ""}`;
    if (key !== this.shapeKey) {
      this.shapeKey = key;
      this.dynamic = [];
      this.root.replaceChildren(...this.build());
    }
    for (const refresh of this.dynamic) refresh();
  }

  build() {
    const s = this.state;
    const parts = [h("h2", { id: "host-heading" }, "Host controls")];
    const muteSources = Object.keys(MUTE_CONTROL).filter((src) => s.can(MUTE_CONTROL[src]));
    if (muteSources.length) {
      parts.push(
        h(
          "fieldset",
          { class: "panel-group" },
          h("legend", {}, "Everyone except me"),
          muteSources.map((src) =>
            this.button(`Mute every ${SOURCE_LABELS[src]}`, "mute_all", { source: src, except: [s.me.identity] }, { "data-action": `mute-all-${src}` }),
          ),
        ),
      );
    }
    if (s.can("lock")) {
      const b = h("button", { type: "button", "data-action": "lock-room" });
      const locked = () => Boolean(s.room?.settings?.locked);
      b.onclick = () => {
        const lock = !locked();
        this.run("lock_room", { locked: lock }, lock ? "Locked the room" : "Unlocked the room");
      };
      this.dynamic.push(() => {
        b.textContent = locked() ? "Unlock room" : "Lock room";
        b.setAttribute("aria-pressed", String(locked()));
      });
      parts.push(b);
    }
    if (s.can("end_session")) {
      parts.push(
        h(
          "button",
          {
            type: "button",
            class: "danger",
            "data-action": "end-session",
            onclick: () => {
              if (confirm("End the session for everyone?")) this.run("end_session", {}, "Ended the session");
            },
          },
          "End session for everyone",
        ),
      );
    }
    parts.push(this.buildTarget());
    return parts;
  }

  buildTarget() {
    const s = this.state;
    const p = this.selected && s.participants.get(this.selected);
    if (!p) return h("p", { class: "hint", id: "host-target" }, "Choose a participant's tile to act on them.");
    const identity = p.identity;
    const name = p.name || identity;
    const group = h("section", { class: "panel-target", id: "host-target", "aria-labelledby": "host-target-title" });
    const title = h("h3", { id: "host-target-title" });
    this.dynamic.push(() => {
      const now = s.participants.get(identity);
      if (now) title.textContent = `${now.name || identity} (${now.role})`;
    });
    group.append(title);

    for (const src of Object.keys(MUTE_CONTROL)) {
      const canMute = s.can(MUTE_CONTROL[src]);
      const canAsk = s.can("request_media");
      if (!canMute && !canAsk) continue;
      const row = h("div", { class: "panel-row", role: "group", "aria-label": SOURCE_LABELS[src] });
      if (canMute) {
        const b = this.button(`Mute ${SOURCE_LABELS[src]}`, "mute", { identity, source: src, muted: true }, { "data-action": `mute-${src}` });
        this.dynamic.push(() => (b.disabled = stateOf(s, identity, src) !== "on"));
        row.append(b);
      }
      if (canAsk) {
        const b = this.button(`Ask to turn on ${SOURCE_LABELS[src]}`, "request_media", { identity, source: src }, { "data-action": `ask-${src}` });
        this.dynamic.push(() => {
          const st = stateOf(s, identity, src);
          b.disabled = st === "on" || st === "blocked";
        });
        row.append(b);
      }
      group.append(row);
    }

    if (s.can("pin")) {
      const b = h("button", { type: "button", "data-action": "pin" });
      b.onclick = () =>
        s.pinned === identity ? this.run("unpin", { identity }, `Unpinned ${name}`) : this.run("pin", { identity }, `Pinned ${name}`);
      this.dynamic.push(() => (b.textContent = s.pinned === identity ? `Unpin ${name}` : `Pin ${name} for everyone`));
      group.append(h("div", { class: "panel-row" }, b));
    }

    if (s.can("stage") && identity !== s.me.identity) {
      const b = h("button", { type: "button", "data-action": "stage" });
      const onStage = () => s.stage.includes(identity);
      b.onclick = () =>
        onStage()
          ? this.run("remove_from_stage", { identity }, `Took ${name} off the stage`)
          : this.run("invite_to_stage", { identity }, `Invited ${name} to the stage`);
      this.dynamic.push(() => (b.textContent = onStage() ? `Take ${name} off the stage` : `Invite ${name} to the stage`));
      group.append(h("div", { class: "panel-row" }, b));
    }

    if (s.can("kick") && identity !== s.me.identity) {
      const ban = h("select", { id: "kick-ban", "aria-label": "Ban after removing" }, BAN_CHOICES.map(([v, label]) => h("option", { value: v }, label)));
      const kick = h("button", { type: "button", class: "danger", "data-action": "kick" }, `Remove ${name}`);
      kick.onclick = () => {
        const seconds = Number(ban.value);
        this.run("kick", seconds ? { identity, ban_seconds: seconds } : { identity }, seconds ? `Removed and banned ${name}` : `Removed ${name}`);
      };
      group.append(h("div", { class: "panel-row" }, ban, kick));
    }

    if (s.can("manage_participants")) {
      const role = h("select", { id: "role-select", "aria-label": "Role" }, ROLES.map((r) => h("option", { value: r, selected: p.role === r }, r)));
      const apply = this.button("Change role", null, null, { "data-action": "role" });
      apply.onclick = () => this.run("update_participant", { identity, role: role.value }, `${name} is now ${role.value}`);
      group.append(h("div", { class: "panel-row" }, h("label", { for: "role-select" }, "Role"), role, apply));

      const boxes = SEND_SOURCES.map((src) => {
        const box = h("input", { type: "checkbox", id: `perm-${src}`, checked: p.permissions.can_send.includes(src) });
        return [src, box, h("label", { class: "check" }, box, ` ${SOURCE_LABELS[src]}`)];
      });
      const data = h("input", { type: "checkbox", id: "perm-data", checked: p.permissions.can_publish_data });
      const save = this.button("Save permissions", null, null, { "data-action": "permissions" });
      save.onclick = () =>
        this.run(
          "update_participant",
          { identity, permissions: { can_send: boxes.filter(([, b]) => b.checked).map(([src]) => src), can_publish_data: data.checked } },
          `Updated ${name}'s permissions`,
        );
      group.append(
        h(
          "fieldset",
          { class: "panel-group" },
          h("legend", {}, "May send"),
          boxes.map(([, , label]) => label),
          h("label", { class: "check" }, data, " data messages"),
          save,
        ),
      );

      const destination = h("input", { id: "move-destination", placeholder: "breakout-1", autocomplete: "off" });
      const move = this.button("Move", null, null, { "data-action": "move" });
      move.onclick = () => {
        const room = destination.value.trim();
        if (!room) return toast("Type the room to move them to.", "error");
        this.run("move", { identity, destination: room }, `Moved ${name} to ${room}`);
      };
      group.append(h("div", { class: "panel-row" }, h("label", { for: "move-destination" }, "Move to room"), destination, move));
    }
    return group;
  }

  /** A button sending `type` with `fields` (when given). */
  button(label, type, fields, attrs = {}) {
    const b = h("button", { type: "button", ...attrs }, label);
    if (type) b.onclick = () => this.run(type, fields, null);
    return b;
  }

  async run(type, fields, success) {
    try {
      const res = await this.conn.request(type, fields);
      toast(success ?? describe(type, fields, res));
    } catch (e) {
      toast(`${e.code}: ${e.message}`, "error");
    }
    this.onAction();
  }
}

function stateOf(s, identity, source) {
  const p = s.participants.get(identity);
  return p ? mediaState(p, source).state : "off";
}

function describe(type, fields, res) {
  const what = SOURCE_LABELS[fields?.source] ?? "";
  switch (type) {
    case "mute_all":
      return `Muted ${res.changed} ${what}${res.changed === 1 ? "" : "s"}`;
    case "mute":
      return `Muted ${fields.identity}'s ${what}`;
    case "request_media":
      return `Asked ${fields.identity} to turn on their ${what}`;
    default:
      return "Done";
  }
}
