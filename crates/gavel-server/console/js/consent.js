// The participant's side of "ask to unmute" and of an invitation to the stage: a dialog naming who
// asks for what, with the time left before the request expires. Requests that arrive while one is
// open wait their turn.

import { byId, SOURCE_LABELS, toast } from "./dom.js";

export class ConsentDialog {
  /**
   * @param conn the Connection
   * @param media LocalMedia, to turn the source on when we accept and have not published it yet
   */
  constructor(conn, state, media) {
    this.conn = conn;
    this.state = state;
    this.media = media;
    this.queue = [];
    this.current = null;
    this.timer = 0;
    this.dialog = byId("consent-dialog");
    byId("consent-accept").onclick = () => this.answer(true);
    byId("consent-reject").onclick = () => this.answer(false);
    // Escape is a "no", never a silent dismissal that leaves the host waiting.
    this.dialog.addEventListener("cancel", (e) => {
      e.preventDefault();
      this.answer(false);
    });
  }

  /** Feeds server events in. */
  handle(ev) {
    if (ev.type === "media_requested" || ev.type === "stage_invited") {
      this.queue.push(ev);
      if (!this.current) this.next();
    } else if (ev.type === "stage_invite_resolved") {
      this.queue = this.queue.filter((r) => r.request_id !== ev.request_id);
      const mine = this.state.me && ev.identity === this.state.me.identity;
      if (this.current?.request_id === ev.request_id) {
        if (ev.outcome === "expired") toast("The invitation to the stage expired.");
        if (ev.outcome === "cancelled") toast(`${ev.from}'s invitation to the stage was withdrawn.`);
        this.close();
      } else if (!mine) {
        toast(`${ev.identity} ${outcomeWords(ev.outcome)} the invitation to the stage.`);
      }
    } else if (ev.type === "request_resolved") {
      this.queue = this.queue.filter((r) => r.request_id !== ev.request_id);
      const mine = this.state.me && ev.identity === this.state.me.identity;
      if (this.current?.request_id === ev.request_id) {
        if (ev.outcome === "expired") toast(`The request to turn on your ${SOURCE_LABELS[ev.source]} expired.`);
        if (ev.outcome === "cancelled") toast(`${ev.from} withdrew the request for your ${SOURCE_LABELS[ev.source]}.`);
        this.close();
      } else if (!mine) {
        // We asked: tell us the answer.
        toast(`${ev.identity} ${outcomeWords(ev.outcome)} the request to turn on their ${SOURCE_LABELS[ev.source]}.`);
      }
    }
  }

  next() {
    this.current = this.queue.shift() ?? null;
    if (!this.current) return;
    const r = this.current;
    if (r.type === "stage_invited") {
      byId("consent-title").textContent = "Join the stage?";
      byId("consent-text").textContent = `${r.from} invites you to the stage: you could then speak, show your camera and share your screen.`;
      byId("consent-accept").textContent = "Join the stage";
    } else {
      const what = SOURCE_LABELS[r.source];
      byId("consent-title").textContent = `Turn on your ${what}?`;
      byId("consent-text").textContent = `${r.from} asks you to turn on your ${what}.`;
      byId("consent-accept").textContent = `Turn on ${what}`;
    }
    byId("consent-progress").max = Math.max(1, Math.ceil((r.expires_at - Date.now()) / 1000));
    this.tick();
    this.timer = setInterval(() => this.tick(), 250);
    if (!this.dialog.open) this.dialog.showModal();
    byId("consent-accept").focus();
  }

  tick() {
    const left = Math.max(0, Math.ceil((this.current.expires_at - Date.now()) / 1000));
    byId("consent-countdown").textContent = `${left} s left`;
    byId("consent-progress").value = left;
  }

  async answer(accept) {
    const r = this.current;
    if (!r) return;
    this.close();
    try {
      await this.conn.request("respond_request", { request_id: r.request_id, accept });
      // The server turns a muted track back on; a source we never published we turn on now.
      if (accept && r.source && !this.state.myTrack(r.source)) await this.media.publish(r.source);
    } catch (e) {
      toast(`Could not answer: ${e.message}`, "error");
    }
  }

  close() {
    clearInterval(this.timer);
    this.current = null;
    if (this.dialog.open) this.dialog.close();
    if (this.queue.length) this.next();
  }
}

function outcomeWords(outcome) {
  return { accepted: "accepted", rejected: "declined", expired: "did not answer", cancelled: "cancelled" }[outcome] ?? outcome;
}
