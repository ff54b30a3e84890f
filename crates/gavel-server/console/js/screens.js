// Which screen shows (join, room, or an end screen) and the words for why a session ended.

import { byId } from "./dom.js";

const SCREENS = ["join-screen", "waiting-screen", "room-screen", "end-screen"];

export function show(screen) {
  for (const id of SCREENS) byId(id).hidden = id !== screen;
  document.body.dataset.screen = screen;
}

/**
 * The end screen for a `room_left` reason (or a refusal code when a join fails), naming who did it.
 * `reason` is also set on the screen (`data-reason`) so tests and styles can tell them apart.
 */
export function showEnd(reason, by, detail) {
  const [title, text] = endWords(reason, by, detail);
  byId("end-title").textContent = title;
  byId("end-text").textContent = text;
  byId("end-screen").dataset.reason = reason;
  show("end-screen");
  byId("end-title").focus();
}

function endWords(reason, by, detail) {
  const who = by ? by : "A host";
  switch (reason) {
    case "kicked":
      return ["You were removed from the room", `${who} removed you from the meeting.`];
    case "banned":
      return ["You are banned from this room", detail || "A host banned you from this room."];
    case "ended":
      return ["The session has ended", `${who} ended the session for everyone.`];
    case "host_left":
      return ["The session has ended", "The last host left and did not come back, so the session ended for everyone."];
    case "denied":
      return ["You were not let in", detail ? `${who} did not let you in: “${detail}”` : `${who} did not let you in.`];
    case "waiting_timeout":
      return ["Nobody let you in", detail ? `No host let you in: ${detail}.` : "No host let you in in time."];
    case "room_locked":
      return ["The room is locked", detail || "A host locked the room: nobody new can join until it is unlocked."];
    case "moved":
      return ["You were moved", `${who} moved you to another room.`];
    case "replaced":
      return ["You joined somewhere else", "The same identity joined from another tab or device, so this one left."];
    case "room_deleted":
      return ["The room was closed", "The room no longer exists."];
    case "server_shutdown":
      return ["The server restarted", "The server shut down. Rejoin in a moment."];
    case "slow_consumer":
      return ["Disconnected", "This browser fell too far behind the room's events and was disconnected."];
    case "hidden":
      return ["You are now hidden", "Your role changed to one that others cannot see."];
    case "move_failed":
      return ["The move failed", detail || "You could not be moved, and the original room could not take you back."];
    case "left":
      return ["You left the room", "Rejoin whenever you like."];
    case "room_full":
      return ["The room is full", detail || "The room has reached its participant limit."];
    case "conflict":
      return ["Already in the room", detail || "This identity is already in the room."];
    case "unauthenticated":
      return ["Cannot join", detail || "The server did not accept the token."];
    default:
      return ["Disconnected", detail || "The connection to the room closed."];
  }
}
