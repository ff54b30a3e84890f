// A browser that can reach the server only through TURN over TLS still sends and receives media.
//
// Run by crates/gavel-server/tests/turn_browser.rs inside scripts/netns-pair: the server is in
// one network namespace (HTTPS on 7443, TURN over TLS on 5349, media on UDP 7882 and ICE-TCP
// 7881), Chromium in another whose firewall (nftables) lets out nothing to the server but TCP
// to 7443 and 5349. Both people's media must go through the relay: they hear and see each
// other, and each connection's selected candidate pair is a relay candidate over TLS.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { HTTP, joinAs, launch, loudnessOf as loudness, roomName, textMatches, tile, tone, until, WAIT } from "../harness.js";

const HEARD = 0.01;

/** How `page`'s media connection reaches the server: its selected pair's local candidate. */
async function route(page) {
  return page.evaluate(async () => {
    const stats = await window.gavelSession.session.pc.getStats();
    let pair = null;
    stats.forEach((s) => {
      if (s.type === "transport" && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
    });
    if (!pair) {
      stats.forEach((s) => {
        if (s.type === "candidate-pair" && s.state === "succeeded" && s.nominated) pair = s;
      });
    }
    if (!pair) return null;
    const local = stats.get(pair.localCandidateId);
    return { type: local.candidateType, relayProtocol: local.relayProtocol ?? null, bytes: pair.bytesSent };
  });
}

describe("through TURN over TLS only", () => {
  let browser;
  before(async () => {
    const wav = path.join(tmpdir(), `gavel-turn-tone-${process.pid}.wav`);
    writeFileSync(wav, tone(440, 3, 0.5));
    browser = await launch([
      `--use-file-for-fake-audio-capture=${wav}`,
      "--autoplay-policy=no-user-gesture-required",
      // The server's test certificate (for 10.78.0.1) is trusted by its key, for the page,
      // its WebSocket and the TURN relay's TLS alike.
      `--ignore-certificate-errors-spki-list=${process.env.SERVER_SPKI}`,
    ]);
  });
  after(async () => {
    await browser?.close();
  });

  test("two people behind a firewall hear and see each other through the relay", async () => {
    const room = roomName("turn");
    const ann = (await joinAs(browser, room, "Ann", "host")).page;
    const ben = (await joinAs(browser, room, "Ben", "participant")).page;
    for (const page of [ann, ben]) {
      await page.getByRole("button", { name: "Turn on microphone" }).click();
    }
    await ann.getByRole("button", { name: "Turn on camera" }).click();
    await textMatches(tile(ben, "Ann").locator('.media[data-source="camera"]'), "on");

    // Sent and received both ways.
    await until(async () => (await loudness(ben, "Ann", 500)) > HEARD, "Ann's tone at Ben", WAIT * 3);
    await until(async () => (await loudness(ann, "Ben", 500)) > HEARD, "Ben's tone at Ann", WAIT * 3);
    await until(
      async () => ben.evaluate(() => (window.gavelSession.session.videoOf("Ann")?.videoWidth ?? 0) > 0),
      "Ann's picture at Ben",
      WAIT * 3,
    );

    // Only the relay could carry it: a relay candidate, reached over TLS.
    for (const [who, page] of [["Ann", ann], ["Ben", ben]]) {
      const r = await route(page);
      assert.ok(r, `${who} has a selected candidate pair`);
      assert.deepEqual({ type: r.type, relayProtocol: r.relayProtocol }, { type: "relay", relayProtocol: "tls" }, who);
    }
    const metrics = await (await fetch(`${HTTP}/metrics`)).text();
    const relayed = Number(/gavel_turn_relayed_bytes_total (\d+)/.exec(metrics)?.[1] ?? 0);
    assert.ok(relayed > 10_000, `the relay carried ${relayed} bytes`);
  });
});
