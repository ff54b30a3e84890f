// Locking a room and losing its last host, in the console: a host locks the room from the
// host panel, everyone sees it locked, a newcomer gets the "room is locked" screen, and joins
// once it is unlocked; when the last host leaves, everyone is told what will happen and when,
// then sees the ended screen — or the longest-present participant gets the host panel.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { api, endReason, fillJoinForm, HTTP, joinAs, roomName, textMatches, useBrowser, WAIT } from "./harness.js";

const shared = useBrowser();

describe("console: lock and host left", () => {
  test("a host locks the room: a newcomer sees it refused, and joins once it is unlocked", async () => {
    const room = roomName("lock");
    const hana = (await joinAs(shared.browser, room, "Hana", "host")).page;
    const ben = (await joinAs(shared.browser, room, "Ben", "participant")).page;
    assert.equal(await ben.locator('[data-action="lock-room"]').count(), 0, "no lock control for a participant");
    await hana.locator('[data-action="lock-room"]').click();
    await textMatches(hana.locator('[data-action="lock-room"]'), "Unlock room");
    await ben.locator("#lock-badge").waitFor({ state: "visible", timeout: WAIT });

    const zed = await (await shared.browser.newContext()).newPage();
    await zed.goto(HTTP);
    await fillJoinForm(zed, room, "Zed", "participant");
    assert.equal(await endReason(zed), "room_locked");
    await textMatches(zed.locator("#end-title"), "The room is locked");

    await hana.locator('[data-action="lock-room"]').click();
    await ben.locator("#lock-badge").waitFor({ state: "hidden", timeout: WAIT });
    await zed.getByRole("button", { name: "Rejoin" }).click();
    await zed.locator("#room-screen").waitFor({ state: "visible", timeout: WAIT });
  });

  test("when the last host leaves the session ends for everyone after the grace period", async () => {
    const room = roomName("hostleft");
    await api("/v1/rooms", { name: room, host_left: { action: "end", grace_seconds: 2 } });
    const hana = (await joinAs(shared.browser, room, "Hana", "host")).page;
    const ben = (await joinAs(shared.browser, room, "Ben", "participant")).page;
    await hana.getByRole("button", { name: "Leave" }).click();
    await textMatches(ben.locator("#host-left-notice"), /session ends for everyone/);
    assert.equal(await endReason(ben), "host_left");
    await textMatches(ben.locator("#end-text"), /last host left/);
  });

  test("when the last host leaves the longest-present participant gets the host panel", async () => {
    const room = roomName("promote");
    await api("/v1/rooms", { name: room, host_left: { action: "promote", grace_seconds: 1 } });
    const ann = (await joinAs(shared.browser, room, "Ann", "participant")).page;
    const hana = (await joinAs(shared.browser, room, "Hana", "host")).page;
    await joinAs(shared.browser, room, "Ben", "participant");
    assert.equal(await ann.locator("#host-panel").isVisible(), false);
    await hana.getByRole("button", { name: "Leave" }).click();
    await ann.locator("#host-panel").waitFor({ state: "visible", timeout: WAIT });
    await textMatches(ann.locator("#me"), "host");
    await ann.locator('[data-action="lock-room"]').waitFor({ state: "visible", timeout: WAIT });
  });
});
