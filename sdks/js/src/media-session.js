// A media session with the server (docs/protocol.md, "Media"), in browsers: one
// RTCPeerConnection that sends what we publish and receives into slots the server fills. Only
// we ever offer: our tracks as sendonly m-lines, plus recvonly slots; `media_slots` events say
// whose track each slot carries, so remote audio plays (in hidden <audio> elements) and remote
// video is available per participant (`videoOf`). Used by the web console and by applications
// (`meeting.startMedia()`); everything the host controls decide is enforced by the server on
// the packets.

/** A DOM element with attributes (true: present; false, null: absent). */
function element(tag, attrs) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === true) el.setAttribute(key, "");
    else if (value !== false && value !== null && value !== undefined) el.setAttribute(key, String(value));
  }
  return el;
}

/** Receive slots offered at first; more are offered when the server says tracks went unserved. */
const AUDIO_SLOTS = 4;
const VIDEO_SLOTS = 6;
const MAX_SLOTS = 32;
/** The camera's simulcast layers, lowest first (names the server knows: `l`, `m`, `h`). */
const CAMERA_LAYERS = [
  { rid: "l", scaleResolutionDownBy: 2, maxBitrate: 200_000 },
  { rid: "h", maxBitrate: 1_200_000 },
];
/** How long to wait for our ICE candidates before offering without the rest. */
const GATHER_MS = 2000;

export class MediaSession {
  constructor(conn) {
    this.conn = conn;
    // The server's TURN relay (and any other ICE servers), with our credential: sent after
    // `joined` as `ice_servers`. One transport for every line (the server bundles them all):
    // without max-bundle the browser gathers candidates, and takes a TURN allocation, for each
    // of the offer's many receive lines until the answer arrives, and the server's limit on
    // allocations per participant could refuse the one that is kept.
    this.pc = new RTCPeerConnection({ iceServers: conn.iceServers ?? [], bundlePolicy: "max-bundle" });
    /** source → RTCRtpTransceiver we send on. */
    this.sending = new Map();
    /** mid → {identity, source, track_sid} the server put there. */
    this.slots = new Map();
    /** mid → the <audio> or <video> element playing that slot. */
    this.elements = new Map();
    this.audioSlots = AUDIO_SLOTS;
    this.videoSlots = VIDEO_SLOTS;
    this.busy = Promise.resolve();
    this.closed = false;
    this.onChange = () => {};
    this.sink = element("div", { id: "remote-audio", hidden: true });
    document.body.append(this.sink);
    this.pc.ontrack = (e) => this.attach(e.transceiver, e.track);
    for (let i = 0; i < this.audioSlots; i++) this.pc.addTransceiver("audio", { direction: "recvonly" });
    for (let i = 0; i < this.videoSlots; i++) this.pc.addTransceiver("video", { direction: "recvonly" });
  }

  /** Opens the session (receive only) right after joining. */
  start() {
    return this.negotiate();
  }

  close() {
    this.closed = true;
    this.pc.close();
    this.sink.remove();
  }

  /** Starts sending `track` as `source` (one per source); resolves once the server accepted. */
  async publish(source, track) {
    const old = this.sending.get(source);
    if (old) {
      await old.sender.replaceTrack(track);
      return;
    }
    const init = { direction: "sendonly" };
    // The camera goes out in two simulcast layers: the server forwards the small one to most
    // receivers and the full one to whoever has us pinned or speaking (docs/media.md).
    if (source === "camera") init.sendEncodings = CAMERA_LAYERS;
    const t = this.pc.addTransceiver(track, init);
    this.sending.set(source, t);
    try {
      await this.negotiate();
    } catch (e) {
      t.stop();
      this.sending.delete(source);
      await this.negotiate().catch(() => {});
      throw e;
    }
  }

  /** Stops sending `source` (the server unpublishes it when the m-line stops). */
  async unpublish(source) {
    const t = this.sending.get(source);
    if (!t) return;
    this.sending.delete(source);
    t.stop();
    await this.negotiate().catch(() => {});
  }

  /** The sender of `source`, for tests that play a client ignoring a host mute. */
  senderOf(source) {
    return this.sending.get(source)?.sender ?? null;
  }

  /** After a network blip: new ICE credentials and candidates, the same tracks and slots. */
  restartIce() {
    this.pc.restartIce();
    return this.negotiate();
  }

  /** Offer → answer, one at a time. */
  negotiate() {
    this.busy = this.busy.catch(() => {}).then(() => this.offer());
    return this.busy;
  }

  async offer() {
    if (this.closed) return;
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    await gathered(this.pc);
    const tracks = [...this.sending].filter(([, t]) => t.mid && !t.stopped).map(([source, t]) => ({ mid: t.mid, source }));
    const reply = await this.conn.request("media_offer", { sdp: this.pc.localDescription.sdp, tracks });
    await this.pc.setRemoteDescription({ type: "answer", sdp: reply.sdp });
  }

  /** A `media_slots` event: which slot carries what, and whether to offer more slots. */
  handle(ev) {
    if (ev.type === "ice_servers") this.pc.setConfiguration({ ...this.pc.getConfiguration(), iceServers: ev.ice_servers });
    if (ev.type !== "media_slots") return;
    this.slots.clear();
    for (const s of ev.slots) if (s.identity) this.slots.set(s.mid, s);
    const more = ev.unserved_audio + ev.unserved_video > 0 && this.audioSlots + this.videoSlots < MAX_SLOTS;
    if (more) {
      for (let i = 0; i < ev.unserved_audio; i++, this.audioSlots++) this.pc.addTransceiver("audio", { direction: "recvonly" });
      for (let i = 0; i < ev.unserved_video; i++, this.videoSlots++) this.pc.addTransceiver("video", { direction: "recvonly" });
      this.negotiate().catch(() => {});
    }
    this.onChange();
  }

  /** A receive slot's track arrived: audio plays at once (hidden); video waits for its tile. */
  attach(transceiver, track) {
    const mid = transceiver.mid;
    if (!mid || this.elements.has(mid)) return;
    const stream = new MediaStream([track]);
    const el =
      track.kind === "audio"
        ? element("audio", { autoplay: true, "data-mid": mid })
        : element("video", { autoplay: true, muted: true, playsinline: true, class: "tile-video", "data-mid": mid });
    el.srcObject = stream;
    if (track.kind === "audio") this.sink.append(el);
    el.play?.().catch(() => {});
    this.elements.set(mid, el);
    this.onChange();
  }

  /** The <video> element showing `identity`'s camera (or screen), if a slot carries it. */
  videoOf(identity) {
    for (const [mid, s] of this.slots) {
      if (s.identity === identity && (s.source === "camera" || s.source === "screen_video")) {
        return this.elements.get(mid) ?? null;
      }
    }
    return null;
  }

  /** The <audio> element playing `identity`'s microphone, if a slot carries it. */
  audioOf(identity) {
    for (const [mid, s] of this.slots) {
      if (s.identity === identity && s.source === "microphone") return this.elements.get(mid) ?? null;
    }
    return null;
  }
}

/** Resolves once ICE gathering is complete (or after GATHER_MS: offer what we have). */
function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState !== "complete") return;
      pc.removeEventListener("icegatheringstatechange", done);
      resolve();
    };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, GATHER_MS);
  });
}
