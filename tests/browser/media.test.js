// Real media through the server, between Chromium contexts: a receiver decodes the sender's
// audio (Web Audio energy) and video (frames advancing); a host mute silences the sender for
// everyone even when its client keeps sending; its own unmute brings the sound back.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { HTTP, joinAs, api, launchWithTone, loudnessOf, roomName, textMatches, tile, until, WAIT } from "./harness.js";

/**
 * RMS above which a tone counts as heard. The tone plays at -6 dBFS (RMS 0.35); after Opus and
 * the browser's audio processing it arrives at 0.03–0.2. Silence is below 0.001.
 */
const HEARD = 0.01;

/** The receive slot (mid) carrying `identity`'s microphone on `page`, if any. */
async function audioSlot(page, identity) {
  return page.evaluate((identity) => window.gavelSession.session.audioOf(identity)?.dataset.mid ?? null, identity);
}

/** The loudest RMS heard on `page` over `ms` (1.5 s unless given): see `loudnessOf`. */
const loudness = (page, who, ms = 1500) => loudnessOf(page, who, ms);

/** Frames `identity`'s forwarded video shows on `page` within `ms` (requestVideoFrameCallback). */
async function framesShown(page, identity, ms = 1500) {
  return page.evaluate(
    async ({ identity, ms }) => {
      const video = window.gavelSession.session.videoOf(identity);
      if (!video) return -1;
      let frames = 0;
      const count = () => {
        frames++;
        video.requestVideoFrameCallback(count);
      };
      video.requestVideoFrameCallback(count);
      await new Promise((r) => setTimeout(r, ms));
      return frames;
    },
    { identity, ms },
  );
}


describe("media through the server", () => {
  let browser;
  before(async () => {
    browser = await launchWithTone("media");
  });
  after(async () => {
    await browser?.close();
  });

  test("audio and video reach the others; a host mute silences a client that keeps sending", async () => {
    const room = roomName("media");
    await joinAs(browser, room, "Hana", "host");
    const ann = (await joinAs(browser, room, "Ann", "participant")).page;
    const ben = (await joinAs(browser, room, "Ben", "participant")).page;
    await ann.getByRole("button", { name: "Turn on microphone" }).click();
    await ann.getByRole("button", { name: "Turn on camera" }).click();
    await textMatches(tile(ben, "Ann").locator('.media[data-source="camera"]'), "on");

    // Ben hears Ann and sees her picture moving, in her tile.
    await until(async () => (await loudness(ben, "Ann", 500)) > HEARD, "Ann's tone at Ben", WAIT * 2);
    await until(async () => (await framesShown(ben, "Ann", 500)) > 3, "Ann's video at Ben", WAIT * 2);
    await tile(ben, "Ann").locator("video").waitFor({ timeout: WAIT });
    const mid = await audioSlot(ben, "Ann");
    assert.ok(mid, "a slot carries Ann's microphone");

    // The host mutes Ann. Her client then misbehaves: it puts a live microphone back on the
    // sender (the console had disabled its own). The server must still drop every packet.
    await api(`/v1/rooms/${room}/participants/Ann/mute`, { source: "microphone", muted: true });
    await textMatches(tile(ben, "Ann").locator('.media[data-source="microphone"]'), "muted by");
    await ann.evaluate(async () => {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      await window.gavelSession.session.senderOf("microphone").replaceTrack(stream.getAudioTracks()[0]);
    });
    // Frames already on their way are gone after a moment; then nothing more arrives.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await audioSlot(ben, "Ann"), null, "a muted track leaves its slot");
    const silent = await loudness(ben, { mid }, 2000);
    assert.ok(silent >= 0 && silent < 0.001, `Ben still hears Ann after the mute (rms ${silent})`);
    const metrics = await (await fetch(`${HTTP}/metrics`)).text();
    const dropped = Number(/gavel_media_dropped_total\{reason="muted"\} (\d+)/.exec(metrics)?.[1] ?? 0);
    assert.ok(dropped > 10, `muted packets were not dropped by the server: ${dropped}`);

    // Ann unmutes herself: Ben hears her again.
    await ann.getByRole("button", { name: "Unmute microphone" }).click();
    await until(async () => (await loudness(ben, "Ann", 500)) > HEARD, "Ann's tone at Ben again", WAIT * 2);
  });

  test("a camera is seen in its small layer, and in its full one once pinned", async () => {
    const room = roomName("layers");
    await joinAs(browser, room, "Hana", "host");
    const ann = (await joinAs(browser, room, "Ann", "participant")).page;
    const ben = (await joinAs(browser, room, "Ben", "participant")).page;
    // Camera only: a speaking Ann would get the full layer anyway.
    await ann.getByRole("button", { name: "Turn on camera" }).click();
    await until(async () => (await framesShown(ben, "Ann", 500)) > 3, "Ann's video at Ben", WAIT * 2);
    const sent = await ann.evaluate(() => window.gavelSession.session.senderOf("camera").getParameters().encodings.length);
    assert.equal(sent, 2, "the console sends its camera in two layers");
    const width = () => ben.evaluate(() => window.gavelSession.session.videoOf("Ann")?.videoWidth ?? 0);
    await until(async () => (await width()) > 0, "Ann's picture has a size at Ben", WAIT);
    const small = await width();

    // Pinned: Ben's slot switches to the full layer (a new source for the same slot, which the
    // server renumbers), and the picture keeps moving at the larger size.
    await api(`/v1/rooms/${room}/participants/Ann/pin`, {});
    await until(async () => (await width()) > small, `Ann's full layer at Ben (small: ${small} px)`, WAIT * 3);
    await until(async () => (await framesShown(ben, "Ann", 500)) > 3, "Ann's full layer moving at Ben", WAIT * 2);

    // Unpinned: back to the small layer, still moving.
    const full = await width();
    await api(`/v1/rooms/${room}/participants/Ann/pin`, {}, "DELETE");
    await until(async () => (await width()) < full, "Ann's small layer at Ben again", WAIT * 3);
    await until(async () => (await framesShown(ben, "Ann", 500)) > 3, "Ann's small layer moving at Ben", WAIT * 2);
  });

  test("a revoked camera stops the picture and a kicked participant's media ends", async () => {
    const room = roomName("revoke");
    await joinAs(browser, room, "Hana", "host");
    const ann = (await joinAs(browser, room, "Ann", "participant")).page;
    const ben = (await joinAs(browser, room, "Ben", "participant")).page;
    await ann.getByRole("button", { name: "Turn on camera" }).click();
    await ann.getByRole("button", { name: "Turn on microphone" }).click();
    await until(async () => (await framesShown(ben, "Ann", 500)) > 3, "Ann's video at Ben", WAIT * 2);

    await fetch(`${HTTP}/v1/rooms/${room}/participants/Ann`, {
      method: "PATCH",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${process.env.GAVEL_ADMIN_TOKEN}` },
      body: JSON.stringify({ permissions: { can_send: ["microphone"] } }),
    });
    await textMatches(tile(ben, "Ann").locator('.media[data-source="camera"]'), "not allowed");
    await tile(ben, "Ann").locator("video").waitFor({ state: "detached", timeout: WAIT });
    // Her sound still flows.
    await until(async () => (await loudness(ben, "Ann", 500)) > HEARD, "Ann's tone at Ben", WAIT * 2);
    const mid = await audioSlot(ben, "Ann");

    await api(`/v1/rooms/${room}/participants/Ann/remove`, {});
    await ben.locator('#grid .tile[data-identity="Ann"]').waitFor({ state: "detached", timeout: WAIT });
    await until(async () => {
      const rms = await loudness(ben, { mid }, 300);
      return rms >= 0 && rms <= 0.001;
    }, "silence once Ann is gone", WAIT);
  });
});
