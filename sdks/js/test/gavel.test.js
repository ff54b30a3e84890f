// What the SDK covers beyond seed 003: the waiting room (a waitlisted self, a host accepting or
// rejecting), a host's media request answered, hands, the lock refusing a join with its code,
// and breakout rooms.

import assert from "node:assert/strict";
import { afterEach, describe, test } from "node:test";
import WebSocket from "ws";
import { Meeting } from "../src/index.js";
import { devToken, HTTP, join, next, remote, roomName, until } from "./helpers.js";

const open = [];
afterEach(async () => {
  for (const m of open.splice(0)) m.connection.close();
});
async function meeting(room, name, role) {
  const m = await join(room, name, role);
  open.push(m);
  return m;
}

describe("beyond seed 003", () => {
  test("the waiting room: waitlisted, accepted, or rejected with the host's words", async () => {
    const room = roomName("js-wait");
    const host = await meeting(room, "Hana", "host");
    await host.setWaitingRoom(true);
    const guest = await Meeting.init({ authToken: await devToken(room, "Wes", "participant"), url: HTTP, WebSocket });
    open.push(guest);
    const waitlisted = next(guest.self ?? guest, "waitlisted");
    await guest.join();
    await waitlisted;
    assert.ok(guest.waiting, "it waits");
    await until(() => host.participants.waitlisted.has("Wes"), "Hana sees Wes waiting");
    const joined = next(guest, "roomJoined");
    await host.participants.acceptWaitingRoomRequest("Wes");
    await joined;
    await until(() => remote(host, "Wes"), "Wes in the room");

    const other = await Meeting.init({ authToken: await devToken(room, "Zed", "participant"), url: HTTP, WebSocket });
    open.push(other);
    await other.join();
    await until(() => host.participants.waitlisted.has("Zed"), "Zed waiting");
    const left = next(other, "roomLeft");
    await host.participants.rejectWaitingRoomRequest("Zed", "full today");
    const [{ state, message }] = await left;
    assert.equal(state, "rejected");
    assert.equal(message, "full today");
  });

  test("a host's media request, answered; hands; the lock; breakout rooms", async () => {
    const room = roomName("js-more");
    const host = await meeting(room, "Hana", "host");
    const ben = await meeting(room, "Ben", "participant");
    await until(() => remote(host, "Ben"), "Ben there");
    const asked = next(ben.self, "mediaRequested");
    await remote(host, "Ben").requestAudio();
    const [request] = await asked;
    assert.equal(request.from, "Hana");
    await request.accept();

    await ben.self.raiseHand();
    await until(() => host.state.hands.includes("Ben"), "Ben's hand up");

    await host.lock();
    await assert.rejects(join(room, "Zed", "participant"), (err) => err.code === "room_locked");

    const opened = await host.openBreakouts({ count: 1, countdown_seconds: 0 });
    assert.deepEqual(opened.rooms[0].identities, ["Ben"]);
    await until(() => ben.meta.roomName === `${room}-breakout-1`, "Ben in the breakout room");
    await host.closeBreakouts();
    await until(() => ben.meta.roomName === room, "Ben back, through the lock");
  });
});

describe("the session", () => {
  test("a broken connection resumes the same session; the stage; the last host leaving", async () => {
    const room = roomName("js-resume");
    const host = await meeting(room, "Hana", "host");
    const ben = await meeting(room, "Ben", "participant");
    await until(() => remote(host, "Ben"), "Ben there");
    const sid = ben.self.id;
    const resumed = next(ben, "resumed");
    ben.connection.socket._socket.destroy(); // the network breaks: no close frame
    await resumed;
    assert.equal(ben.self.id, sid, "the same session");
    assert.ok(remote(host, "Ben"), "nobody saw Ben leave");

    const invited = next(ben.self, "stageInvited");
    await remote(host, "Ben").inviteToStage();
    const [invitation] = await invited;
    assert.equal(invitation.from, "Hana");
    const onStage = next(host, "stage_changed");
    await invitation.accept();
    assert.equal((await onStage)[0].on_stage, true);

  });

  test("when the last host leaves, everyone is told, then the meeting ends", async () => {
    const room = roomName("js-hostleft");
    const res = await fetch(`${HTTP}/v1/rooms`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${process.env.GAVEL_ADMIN_TOKEN}` },
      body: JSON.stringify({ name: room, host_left: { action: "end", grace_seconds: 1 } }),
    });
    assert.ok(res.ok, await res.text());
    const host = await meeting(room, "Hana", "host");
    const ben = await meeting(room, "Ben", "participant");
    const told = next(ben, "host_left");
    const ended = next(ben.self, "roomLeft");
    await host.leave();
    assert.equal((await told)[0].action, "end");
    assert.equal((await ended)[0].state, "ended");
  });
});
