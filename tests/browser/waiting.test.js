// The waiting room in the console: a guest of a room with a waiting room sees the waiting
// screen (and nothing of the room) until a host admits it from the waiting-room panel; a host
// who denies turns the guest away with the ended screen; turning the waiting room off lets
// everyone in.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { api, endReason, fillJoinForm, HTTP, joinAs, roomName, textMatches, useBrowser, WAIT } from "./harness.js";

const shared = useBrowser();

/** A guest who fills the join form and lands in the waiting room. */
async function guest(browser, room, name) {
  const page = await (await browser.newContext()).newPage();
  await page.goto(HTTP);
  await fillJoinForm(page, room, name, "participant");
  await page.locator("#waiting-screen").waitFor({ state: "visible", timeout: WAIT });
  return page;
}

describe("console: waiting room", () => {
  test("a guest waits until a host admits it, and a denied guest is turned away", async () => {
    const room = roomName("wait");
    await api("/v1/rooms", { name: room, waiting_room: { enabled: true } });
    const hana = (await joinAs(shared.browser, room, "Hana", "host")).page;
    await textMatches(hana.locator("#waiting-state"), /newcomers wait here/);

    const ben = await guest(shared.browser, room, "Ben");
    await textMatches(ben.locator("#waiting-text"), new RegExp(room));
    const waiter = hana.locator('#waiting-list [data-waiter="Ben"]');
    await waiter.waitFor({ state: "visible", timeout: WAIT });
    await textMatches(hana.locator("#counts"), /1 waiting/);
    assert.equal(await ben.locator("#room-screen").isVisible(), false, "nothing of the room before admission");

    await waiter.locator('[data-action="admit"]').click();
    await ben.locator("#room-screen").waitFor({ state: "visible", timeout: WAIT });
    await hana.locator('#grid .tile[data-identity="Ben"]').waitFor({ state: "visible", timeout: WAIT });
    await waiter.waitFor({ state: "detached", timeout: WAIT });
    assert.equal(await ben.locator("#waiting-panel").isVisible(), false, "no waiting-room panel without admit");

    const cy = await guest(shared.browser, room, "Cy");
    await hana.locator('#waiting-list [data-waiter="Cy"] [data-action="deny"]').click();
    assert.equal(await endReason(cy), "denied");
    await textMatches(cy.locator("#end-title"), "You were not let in");
  });

  test("turning the waiting room off lets everyone waiting in", async () => {
    const room = roomName("waitoff");
    await api("/v1/rooms", { name: room, waiting_room: { enabled: true } });
    const hana = (await joinAs(shared.browser, room, "Hana", "host")).page;
    const ann = await guest(shared.browser, room, "Ann");
    const bo = await guest(shared.browser, room, "Bo");
    await hana.locator('#waiting-list [data-waiter="Bo"]').waitFor({ state: "visible", timeout: WAIT });
    await hana.locator('[data-action="waiting-toggle"]').click();
    await textMatches(hana.locator('[data-action="waiting-toggle"]'), "Turn waiting room on");
    await ann.locator("#room-screen").waitFor({ state: "visible", timeout: WAIT });
    await bo.locator("#room-screen").waitFor({ state: "visible", timeout: WAIT });
  });
});
