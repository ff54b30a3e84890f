// A console whose WebSocket breaks (no close frame) resumes its session by itself: nobody sees
// it leave, and what happened meanwhile reaches it. The console reaches the server through a
// TCP proxy here that the test cuts and restores.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { HTTP, api, joinAs, launch, proxy, roomName, tile, until, WAIT } from "./harness.js";

describe("resuming after a network blip", () => {
  let browser;
  let relay;
  before(async () => {
    browser = await launch();
    relay = proxy(new URL(HTTP));
  });
  after(async () => {
    await browser?.close();
    relay?.close();
  });

  test("the console resumes: nobody sees it leave, and it learns what happened meanwhile", async () => {
    const base = await relay.listen();
    const room = roomName("resume");
    const hana = (await joinAs(browser, room, "Hana", "host")).page;
    await joinAs(browser, room, "Ben", "participant");
    // Ann's console talks to the server through the proxy (its page is served through it too).
    const ann = (await joinAs(browser, room, "Ann", "participant", base)).page;
    await tile(ann, "Ben").waitFor({ timeout: WAIT });
    await tile(hana, "Ann").waitFor({ timeout: WAIT });
    const sid = await ann.evaluate(() => window.gavelSession.conn.sid);
    await hana.evaluate(() => {
      window.leftSeen = [];
      window.gavelSession.conn.onEvent((ev) => ev.type === "participant_left" && window.leftSeen.push(ev.identity));
    });

    // The network fails while Ben is pinned for everyone, then comes back.
    relay.refuse(true);
    relay.cut();
    await api(`/v1/rooms/${room}/participants/Ben/pin`, {});
    await new Promise((r) => setTimeout(r, 500));
    relay.refuse(false);

    await until(
      async () => (await ann.locator('#spotlight .tile[data-identity="Ben"]').count()) > 0,
      "Ben pinned in Ann's spotlight after the resume",
      WAIT * 2,
    );
    assert.equal(await ann.evaluate(() => window.gavelSession.conn.sid), sid, "the same session");
    assert.deepEqual(await hana.evaluate(() => window.leftSeen), [], "nobody saw Ann leave");
    assert.equal(await tile(hana, "Ann").count(), 1);
    // Ann's session is live: her requests are answered.
    const pong = await ann.evaluate(() => window.gavelSession.conn.request("ping"));
    assert.equal(pong.pong, true);
  });
});
