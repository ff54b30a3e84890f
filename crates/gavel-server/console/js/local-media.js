// Our own microphone, camera and screen: capture in the browser, publish them through our media
// session (media-session.js: the server forwards the packets, and a host mute stops them there),
// keep the local capture in step with what the room says (a host mute disables it, a granted
// request or an unmute enables it, a revoked permission stops it), and show our own level. The
// server measures levels on our packets; without a media session (none could be opened) the
// console reports them itself with `audio_level`.

import { byId, toast } from "./dom.js";

/** How often audio levels go to the server (docs/protocol.md, "Active speaker"). */
const LEVEL_INTERVAL_MS = 50;
/** RFC 6464 levels: 0 is the loudest (0 dBov), 127 silence. */
const SILENCE = 127;

export class LocalMedia {
  constructor(conn, state, session) {
    this.conn = conn;
    this.state = state;
    /** The media session, or null when the browser could not open one. */
    this.session = session;
    /** Sources captured whose publication the server has not confirmed yet. */
    this.publishing = new Set();
    /** source → MediaStream captured for it. */
    this.streams = new Map();
    this.audio = null; // {context, analyser, buffer}
    this.level = SILENCE;
    this.timer = setInterval(() => this.measure(), LEVEL_INTERVAL_MS);
    this.meter = byId("mic-level");
    this.preview = byId("preview");
  }

  /**
   * Our media session ended while we stay in the room (cluster mode): keep the captures through
   * the new snapshot, which lists none of our tracks, until `adopt` publishes them again.
   */
  holdCaptures() {
    /** source → whether it was muted: it stays muted when published again. */
    this.held = new Map();
    for (const source of this.streams.keys()) {
      this.publishing.add(source);
      this.held.set(source, Boolean(this.state.myTrack(source)?.muted));
    }
  }

  /** The new media session (or none): publishes again everything we capture. */
  async adopt(session) {
    this.session = session;
    for (const [source, stream] of [...this.streams]) {
      const track = source === "microphone" ? stream.getAudioTracks()[0] : stream.getVideoTracks()[0];
      const muted = this.held?.get(source) ?? false;
      try {
        if (session) await session.publish(source, track);
        else await this.conn.request("publish_track", { source, muted });
        const published = this.state.myTrack(source);
        if (muted && published && !published.muted) {
          await this.conn.request("set_track_muted", { track_sid: published.sid, muted: true });
        }
      } catch (e) {
        this.release(source);
        toast(`Cannot send your ${source.replace("_", " ")} again: ${e.message}`, "error");
      } finally {
        this.publishing.delete(source);
      }
    }
    this.held = null;
    this.sync();
  }

  stop() {
    clearInterval(this.timer);
    for (const source of [...this.streams.keys()]) this.release(source);
  }

  /** The self-control button for `source`: publish if off, else toggle our mute. */
  async toggle(source) {
    const track = this.state.myTrack(source);
    try {
      if (!track) await this.publish(source);
      else await this.conn.request("set_track_muted", { track_sid: track.sid, muted: !track.muted });
    } catch (e) {
      toast(`Cannot change your ${source.replace("_", " ")}: ${e.message}`, "error");
    }
  }

  /** Captures `source` and publishes it unmuted. */
  async publish(source) {
    const stream = await capture(source);
    this.streams.set(source, stream);
    this.publishing.add(source);
    if (source === "screen_video") {
      // The browser's own "stop sharing" ends the capture: unpublish with it.
      stream.getVideoTracks()[0]?.addEventListener("ended", () => this.unpublish(source));
    }
    try {
      if (this.session) {
        const track = source === "microphone" ? stream.getAudioTracks()[0] : stream.getVideoTracks()[0];
        await this.session.publish(source, track);
      } else {
        await this.conn.request("publish_track", { source, muted: false });
      }
    } catch (e) {
      this.publishing.delete(source);
      this.release(source);
      throw e;
    }
    this.publishing.delete(source);
    this.sync();
  }

  async unpublish(source) {
    const track = this.state.myTrack(source);
    this.release(source);
    if (this.session) await this.session.unpublish(source);
    else if (track) await this.conn.request("unpublish_track", { track_sid: track.sid }).catch(() => {});
  }

  release(source) {
    const stream = this.streams.get(source);
    if (!stream) return;
    for (const t of stream.getTracks()) t.stop();
    this.streams.delete(source);
    if (source === "microphone" && this.audio) {
      this.audio.context.close();
      this.audio = null;
    }
  }

  /**
   * Called after every state change: capture follows the room. A track the server unpublished
   * (permission revoked) is released; a muted one is disabled so no sound or picture leaves.
   */
  sync() {
    for (const source of [...this.streams.keys()]) {
      const track = this.state.myTrack(source);
      if (!track && this.publishing.has(source)) continue;
      if (!track) {
        // Unpublished by the server (a revoked permission): stop sending on that m-line too.
        this.release(source);
        this.session?.unpublish(source);
        continue;
      }
      for (const t of this.streams.get(source).getTracks()) t.enabled = !track.muted;
    }
    const mic = this.streams.get("microphone");
    if (mic && !this.audio) this.audio = analyse(mic);
    const camera = this.streams.get("camera");
    if (this.preview.srcObject !== (camera ?? null)) this.preview.srcObject = camera ?? null;
    this.preview.hidden = !camera;
    byId("preview-empty").hidden = Boolean(camera);
  }

  /** Reads the microphone level, shows it, and sends it while the microphone is live. */
  measure() {
    const track = this.state.myTrack("microphone");
    const live = track && !track.muted && this.audio;
    this.level = live ? levelOf(this.audio) : SILENCE;
    this.meter.value = (SILENCE - this.level) / SILENCE;
    this.meter.textContent = live ? `${SILENCE - this.level} of ${SILENCE}` : "silent";
    if (live && !this.session) this.conn.fire("audio_level", { level: this.level });
  }
}

async function capture(source) {
  if (source === "microphone") return navigator.mediaDevices.getUserMedia({ audio: true });
  if (source === "camera") return navigator.mediaDevices.getUserMedia({ video: true });
  if (source === "screen_video") return navigator.mediaDevices.getDisplayMedia({ video: true });
  throw new Error(`the console cannot capture ${source}`);
}

function analyse(stream) {
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  analyser.fftSize = 1024;
  context.createMediaStreamSource(stream).connect(analyser);
  // A context created outside a user gesture may start suspended; resuming is harmless otherwise.
  context.resume().catch(() => {});
  return { context, analyser, buffer: new Float32Array(analyser.fftSize) };
}

/** RMS of the latest samples as RFC 6464 -dBov (0 loudest … 127 silence). */
function levelOf({ analyser, buffer }) {
  analyser.getFloatTimeDomainData(buffer);
  let sum = 0;
  for (const x of buffer) sum += x * x;
  const rms = Math.sqrt(sum / buffer.length);
  if (rms <= 0) return SILENCE;
  const dbov = 20 * Math.log10(rms);
  return Math.max(0, Math.min(SILENCE, Math.round(-dbov)));
}
