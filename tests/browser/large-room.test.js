// 1,000 participants in one room: the console draws only the tiles in view (a virtualised grid),
// keeps up with the room's events, and still finds and acts on anyone.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import WebSocket from "ws";
import { devToken, HTTP, joinAs, launch, roomName, select, shot, textMatches, tile, until, WAIT } from "./harness.js";

const CROWD = 999; // plus the host in the browser: 1,000
const ADMIN = process.env.GAVEL_ADMIN_TOKEN;

let browser;
const sockets = [];
before(async () => {
  browser = await launch();
});
after(async () => {
  for (const s of sockets) s.terminate();
  await browser?.close();
});

/** Joins `name` over a plain WebSocket; resolves once joined. Incoming events are discarded. */
function joinSocket(room, token) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${HTTP.replace("http", "ws")}/v1/rtc?access_token=${encodeURIComponent(token)}`);
    sockets.push(ws);
    ws.on("message", (data) => {
      // Only the first message is parsed: joined, or the refusal.
      if (ws.joined) return;
      const msg = JSON.parse(data.toString());
      ws.joined = true;
      if (msg.type === "joined") resolve(ws);
      else reject(new Error(JSON.stringify(msg)));
    });
    ws.on("error", reject);
  });
}

test("a 1,000-participant room stays usable", { timeout: 180_000 }, async () => {
  assert.ok(ADMIN, "GAVEL_ADMIN_TOKEN (a server-API token) is set by the test runner");
  const room = roomName("crowd");
  // listed_limit 0: everyone is announced, so the console has all 1,000 tiles to draw.
  const created = await fetch(`${HTTP}/v1/rooms`, {
    method: "POST",
    headers: { Authorization: `Bearer ${ADMIN}`, "Content-Type": "application/json" },
    body: JSON.stringify({ name: room, listed_limit: 0 }),
  });
  assert.equal(created.status, 201);
  const names = Array.from({ length: CROWD }, (_, i) => `p${String(i).padStart(4, "0")}`);
  const tokens = await Promise.all(names.map((n) => devToken(room, n, "participant")));
  for (let i = 0; i < tokens.length; i += 100) {
    await Promise.all(tokens.slice(i, i + 100).map((t) => joinSocket(room, t)));
  }
  const host = (await joinAs(browser, room, "Ann", "host")).page;
  await textMatches(host.locator("#counts"), "1000 present");

  // Virtualised: a screenful of tiles exists, not a thousand.
  const drawn = await host.locator("#grid .tile").count();
  assert.ok(drawn > 10 && drawn < 150, `${drawn} tiles in the DOM`);
  assert.equal(await tile(host, names.at(-1)).count(), 0);

  // Scrolling to the end draws the last arrivals (the last batch joined concurrently, so which
  // of them is the very last tile is up to the server's order).
  await host.locator("#grid").evaluate((g) => (g.scrollTop = g.scrollHeight));
  await host.locator('#grid .tile[aria-posinset="1000"]').waitFor({ timeout: WAIT });
  const last = await host.locator('#grid .tile[aria-posinset="1000"]').getAttribute("data-identity");
  assert.ok(names.slice(-100).includes(last), `${last} is one of the last to join`);
  assert.ok((await host.locator("#grid .tile").count()) < 150);
  await shot(host, "large-room");

  // The room's events keep flowing: someone at the far end leaves, someone new arrives.
  sockets[0].close();
  await textMatches(host.locator("#counts"), "999 present");
  await joinSocket(room, await devToken(room, "late", "participant"));
  await textMatches(host.locator("#counts"), "1000 present");
  await tile(host, "late").waitFor({ timeout: WAIT });

  // And the host can act on anyone in view.
  await select(host, "late");
  await host.getByRole("button", { name: "Pin late for everyone" }).click();
  await host.locator('#spotlight .tile[data-identity="late"]').waitFor({ timeout: WAIT });
  await until(async () => (await host.locator("#grid .tile").count()) < 150, "a bounded DOM");
});
