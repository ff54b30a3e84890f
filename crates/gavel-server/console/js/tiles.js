// The participant grid: one tile per known participant, virtualised (only the rows in view exist
// in the DOM), so a room of thousands scrolls without freezing; and the spotlight for the pinned
// participant, which every client shows because pins are room-wide.

import { h, SOURCE_LABELS } from "./dom.js";
import { mediaState } from "./room-state.js";

const TILE_WIDTH = 220;
const TILE_HEIGHT = 132;
const GAP = 10;
/** Rows drawn beyond the visible ones, so fast scrolling rarely shows blanks. */
const OVERSCAN_ROWS = 2;
const TILE_SOURCES = ["microphone", "camera", "screen_video"];
const SHORT = { microphone: "Mic", camera: "Cam", screen_video: "Screen" };

export class TileGrid {
  /**
   * @param {HTMLElement} scroller the scrolling container
   * @param {(identity: string) => void} onSelect called when a tile is chosen (click or Enter)
   */
  constructor(scroller, spotlight, onSelect, session = null) {
    this.session = session;
    this.scroller = scroller;
    this.spotlight = spotlight;
    this.onSelect = onSelect;
    this.canvas = h("div", { class: "grid-canvas", role: "list" });
    scroller.append(this.canvas);
    /** identity → tile element, for the tiles currently in the DOM. */
    this.mounted = new Map();
    this.state = null;
    this.selected = null;
    this.frame = 0;
    scroller.addEventListener("scroll", () => this.schedule(), { passive: true });
    new ResizeObserver(() => this.schedule()).observe(scroller);
  }

  /** Redraws on the next animation frame; many events in one frame cost one redraw. */
  schedule(state = this.state) {
    this.state = state;
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  select(identity) {
    this.selected = identity;
    this.schedule();
  }

  draw() {
    const state = this.state;
    if (!state) return;
    const people = state.sorted();
    const width = Math.max(this.scroller.clientWidth - GAP, TILE_WIDTH);
    const columns = Math.max(1, Math.floor(width / (TILE_WIDTH + GAP)));
    const rows = Math.ceil(people.length / columns);
    this.canvas.style.height = `${rows * (TILE_HEIGHT + GAP)}px`;
    this.canvas.setAttribute("aria-rowcount", String(rows));
    const rowHeight = TILE_HEIGHT + GAP;
    const first = Math.max(0, Math.floor(this.scroller.scrollTop / rowHeight) - OVERSCAN_ROWS);
    const last = Math.min(
      rows - 1,
      Math.ceil((this.scroller.scrollTop + this.scroller.clientHeight) / rowHeight) + OVERSCAN_ROWS,
    );
    const keep = new Set();
    for (let i = first * columns; i <= Math.min(people.length - 1, (last + 1) * columns - 1); i++) {
      const p = people[i];
      keep.add(p.identity);
      let tile = this.mounted.get(p.identity);
      if (!tile) {
        tile = this.createTile(p.identity);
        this.mounted.set(p.identity, tile);
        this.canvas.append(tile);
      }
      tile.style.transform = `translate(${(i % columns) * (TILE_WIDTH + GAP)}px, ${Math.floor(i / columns) * rowHeight}px)`;
      tile.setAttribute("aria-posinset", String(i + 1));
      tile.setAttribute("aria-setsize", String(people.length));
      fillTile(tile, p, state, this.selected, this.session);
    }
    for (const [identity, tile] of this.mounted) {
      // A focused tile stays mounted (off screen) so keyboard focus is never lost under the user.
      if (!keep.has(identity) && !(tile.contains(document.activeElement) && state.participants.has(identity))) {
        tile.remove();
        this.mounted.delete(identity);
      }
    }
    this.drawSpotlight(state);
  }

  createTile(identity) {
    const button = h("button", {
      type: "button",
      class: "tile-button",
      onclick: () => this.onSelect(identity),
    });
    // The picture and the level meter sit beside the button, which is rewritten on changes: a
    // <video> element must not be recreated (it would restart).
    const view = h("div", { class: "tile-view", "aria-hidden": "true" }, h("meter", { class: "tile-level", min: 0, max: 1, value: 0 }));
    return h("div", { class: "tile", role: "listitem", "data-identity": identity }, button, view);
  }

  drawSpotlight(state) {
    const p = state.pinned ? state.participants.get(state.pinned) : null;
    this.spotlight.hidden = !p;
    if (!p) {
      this.spotlight.replaceChildren();
      return;
    }
    let tile = this.spotlight.querySelector(".tile");
    if (!tile || tile.dataset.identity !== p.identity) {
      tile = this.createTile(p.identity);
      tile.classList.add("tile-spotlight");
      this.spotlight.replaceChildren(h("h2", { class: "visually-hidden" }, "Pinned"), tile);
    }
    fillTile(tile, p, state, this.selected, this.session);
  }
}

/** Writes a participant's current look into its tile (in place, keeping focus). */
function fillTile(tile, p, state, selected, session) {
  showMedia(tile, p, state, session);
  const me = state.me?.identity === p.identity;
  const pinned = state.pinned === p.identity;
  const speaking = state.isSpeaking(p.identity);
  const active = state.activeSpeaker === p.identity && speaking;
  tile.classList.toggle("tile-me", me);
  tile.classList.toggle("tile-pinned", pinned);
  tile.classList.toggle("tile-speaking", speaking);
  tile.classList.toggle("tile-active", active);
  tile.classList.toggle("tile-selected", selected === p.identity);
  const media = TILE_SOURCES.map((source) => ({ source, ...mediaState(p, source) }));
  const words = media.map((m) => `${SOURCE_LABELS[m.source]} ${describe(m)}`);
  const hand = state.hands?.includes(p.identity);
  const onStage = state.stage?.includes(p.identity);
  const flags = [me && "you", pinned && "pinned", hand && "hand raised", onStage && "on stage", active ? "active speaker" : speaking && "speaking"].filter(Boolean);
  const button = tile.firstElementChild;
  const label = `${p.name || p.identity}, ${p.role}${flags.length ? `, ${flags.join(", ")}` : ""}; ${words.join("; ")}`;
  button.setAttribute("aria-pressed", String(selected === p.identity));
  if (button.getAttribute("aria-label") === label) return; // Unchanged: skip the DOM work.
  button.setAttribute("aria-label", label);
  button.replaceChildren(
    h("span", { class: "avatar", "aria-hidden": "true" }, initials(p.name || p.identity)),
    h(
      "span",
      { class: "tile-heading" },
      h("span", { class: "tile-name" }, p.name || p.identity, me ? " (you)" : ""),
      h("span", { class: `role role-${p.role}` }, p.role),
    ),
    h(
      "span",
      { class: "tile-badges" },
      pinned && h("span", { class: "badge badge-pin" }, "pinned"),
      hand && h("span", { class: "badge badge-hand" }, "hand raised"),
      onStage && h("span", { class: "badge badge-stage" }, "on stage"),
      active && h("span", { class: "badge badge-speaker" }, "speaking"),
    ),
    h(
      "span",
      { class: "media-row" },
      media.map((m) =>
        h(
          "span",
          { class: `media media-${m.state}`, "data-source": m.source, "data-state": m.state, title: `${SOURCE_LABELS[m.source]}: ${describe(m)}` },
          h("span", { class: "media-kind", "aria-hidden": "true" }, SHORT[m.source]),
          " ",
          describe(m),
        ),
      ),
    ),
  );
}

/**
 * The picture the server forwards for `p` (its camera or screen in one of our video slots), and
 * its level as the server measured it on the packets (`active_speakers`).
 */
function showMedia(tile, p, state, session) {
  const view = tile.querySelector(".tile-view");
  if (!view) return;
  const video = session?.videoOf(p.identity) ?? null;
  const current = view.querySelector("video");
  if (current !== video) {
    current?.remove();
    if (video) view.prepend(video);
  }
  tile.classList.toggle("tile-has-video", Boolean(video));
  const level = state.speakers.find((s) => s.identity === p.identity)?.level ?? 0;
  view.querySelector("meter").value = level;
}

function describe(m) {
  switch (m.state) {
    case "on":
      return "on";
    case "muted":
      return m.by ? `muted by ${m.by}` : "muted";
    case "blocked":
      return "not allowed";
    default:
      return "off";
  }
}

function initials(name) {
  return name
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((w) => [...w][0].toUpperCase())
    .join("");
}
