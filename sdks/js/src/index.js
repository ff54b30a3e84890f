// Gavel's JavaScript SDK: plain ES modules, no runtime dependencies (README.md).
export { Connection, ServerError } from "./connection.js";
export { RoomState, mediaState, SOURCES } from "./room-state.js";
export { Emitter } from "./emitter.js";
export { MediaSession } from "./media-session.js";
export { ClientError, Meeting, Participant, ParticipantMap, Participants, PERMISSION_DENIED, Self } from "./meeting.js";
