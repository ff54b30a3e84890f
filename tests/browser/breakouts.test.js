// Breakout rooms in the console: a host opens two rooms from the panel, the participants land
// in them (their room's name on screen), a host's message reaches them, the host visits a room
// and comes back, and closing brings everyone back after the countdown they see.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { joinAs, roomName, textMatches, useBrowser, WAIT } from "./harness.js";

const shared = useBrowser();

describe("console: breakout rooms", () => {
  test("a host opens breakout rooms, messages them, visits one and brings everyone back", async () => {
    const room = roomName("class");
    const hana = (await joinAs(shared.browser, room, "Hana", "host")).page;
    const ann = (await joinAs(shared.browser, room, "Ann", "participant")).page;
    const bob = (await joinAs(shared.browser, room, "Bob", "participant")).page;
    assert.equal(await ann.locator("#breakouts-panel").isVisible(), false, "no breakout controls for a participant");

    await hana.locator("#breakout-count").fill("2");
    await hana.locator('[data-action="open-breakouts"]').click();
    await textMatches(ann.locator("#room-name"), `${room}-breakout-1`);
    await textMatches(bob.locator("#room-name"), `${room}-breakout-2`);
    await hana.locator(`[data-breakout="${room}-breakout-1"]`).waitFor({ state: "visible", timeout: WAIT });

    await hana.locator("#breakout-message").fill("Five minutes left");
    await hana.locator('[data-action="broadcast"]').click();
    await textMatches(ann.locator("#breakout-notice"), /Five minutes left/);
    await textMatches(bob.locator("#breakout-notice"), /Five minutes left/);

    // A visit: the host lands in Ann's room, sees her there, and goes back.
    await hana.locator(`[data-breakout="${room}-breakout-1"] [data-action="visit"]`).click();
    await textMatches(hana.locator("#room-name"), `${room}-breakout-1`);
    await hana.locator('#grid .tile[data-identity="Ann"]').waitFor({ state: "visible", timeout: WAIT });
    await hana.locator('[data-action="back-to-main"]').click();
    await textMatches(hana.locator("#room-name"), new RegExp(`^${room}$`));

    await hana.locator("#breakout-countdown").fill("2");
    await hana.locator('[data-action="close-breakouts"]').click();
    await textMatches(ann.locator("#breakout-notice"), /close in \d+ s/);
    await textMatches(ann.locator("#room-name"), new RegExp(`^${room}$`));
    await textMatches(bob.locator("#room-name"), new RegExp(`^${room}$`));
    await hana.locator('#grid .tile[data-identity="Bob"]').waitFor({ state: "visible", timeout: WAIT });
    await hana.locator('[data-action="open-breakouts"]').waitFor({ state: "visible", timeout: WAIT });
  });
});
