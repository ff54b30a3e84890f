// Types of Gavel's JavaScript SDK (hand-written: the package is plain JavaScript, with no build
// step, so the web console embeds the same files).

export type Source = "microphone" | "camera" | "screen_video" | "screen_audio";
export type HostControl =
  | "mute_audio" | "mute_video" | "mute_screen" | "request_media" | "pin" | "kick"
  | "end_session" | "manage_participants" | "lock" | "stage" | "admit";

export interface TrackInfo {
  sid: string;
  source: Source;
  muted: boolean;
  muted_by?: string;
  name?: string;
  media?: boolean;
}

export interface Permissions {
  can_send: Source[];
  can_receive: Source[];
  can_publish_data: boolean;
  can_update_own_metadata: boolean;
  hidden: boolean;
  host: HostControl[];
}

export interface ParticipantInfo {
  sid: string;
  identity: string;
  name: string;
  metadata: string;
  attributes: Record<string, string>;
  role: string;
  permissions: Permissions;
  tracks: TrackInfo[];
  joined_at: number;
  speaking_time_ms: number;
}

export interface WaiterInfo {
  sid: string;
  identity: string;
  name: string;
  metadata?: string;
  role: string;
  since: number;
  until: number;
}

/** A server event (docs/protocol.md, "Events"): `type` names it. */
export interface ServerEvent {
  type: string;
  [field: string]: unknown;
}

export interface ConnectionOptions {
  /** The server: `http://host:7880` or `ws://…` (default: the page's own). */
  url?: string;
  /** A WebSocket implementation where there is no global one (Node < 22: the `ws` package). */
  WebSocket?: unknown;
}

export class ServerError extends Error {
  code: string;
  constructor(code: string, message: string);
}

export class Connection {
  constructor(token: string, options?: ConnectionOptions);
  sid: string | null;
  iceServers?: unknown[];
  /** Resolves with `joined`, or `waiting` in a room with a waiting room. */
  connect(): Promise<ServerEvent>;
  request(type: string, fields?: Record<string, unknown>): Promise<Record<string, unknown>>;
  fire(type: string, fields?: Record<string, unknown>): void;
  onEvent(fn: (event: ServerEvent) => void): void;
  onClose(fn: (close: { code: number; reason: string; roomLeft: ServerEvent | null }) => void): void;
  onResume(fn: () => void): void;
  close(): void;
}

export class RoomState {
  room: { name: string; settings: Record<string, unknown>; host_left_at?: number } | null;
  me: ParticipantInfo | null;
  participants: Map<string, ParticipantInfo>;
  counts: { present: number; hidden: number; waiting: number };
  pinned: string | null;
  hands: string[];
  stage: string[];
  waiters: WaiterInfo[];
  activeSpeaker: string | null;
  apply(event: ServerEvent): "members" | "room" | null;
  can(control: HostControl): boolean;
  maySend(source: Source): boolean;
}

export function mediaState(p: ParticipantInfo, source: Source): { state: "on" | "muted" | "off" | "blocked"; by?: string };
export const SOURCES: Source[];

export class Emitter {
  on(event: string, fn: (...args: any[]) => void): this;
  off(event: string, fn: (...args: any[]) => void): this;
  once(event: string, fn: (...args: any[]) => void): this;
  emit(event: string, ...args: unknown[]): void;
}

/** RealtimeKit's code for "the local participant lacks the permission". */
export const PERMISSION_DENIED: 1201;

export class ClientError extends Error {
  /** 1201 for a missing permission, else Gavel's code (`not_found`, `room_locked`, …). */
  code: 1201 | string;
  gavelCode: string;
}

export class Participant extends Emitter {
  id: string;
  userId: string;
  customParticipantId: string;
  name: string;
  presetName: string;
  audioEnabled: boolean;
  videoEnabled: boolean;
  screenShareEnabled: boolean;
  isPinned: boolean;
  info: ParticipantInfo;
  disableAudio(): Promise<void>;
  disableVideo(): Promise<void>;
  disableScreenShare(): Promise<void>;
  requestAudio(): Promise<unknown>;
  requestVideo(): Promise<unknown>;
  pin(): Promise<void>;
  unpin(): Promise<void>;
  kick(banSeconds?: number): Promise<void>;
  setPreset(role: string): Promise<void>;
  lowerHand(): Promise<void>;
  inviteToStage(): Promise<unknown>;
  removeFromStage(): Promise<void>;
  moveTo(room: string): Promise<void>;
}

export interface SelfPermissions {
  canDisableParticipantAudio: boolean;
  canDisableParticipantVideo: boolean;
  canDisableParticipantScreenShare: boolean;
  canRequestMedia: boolean;
  kickParticipant: boolean;
  pinParticipant: boolean;
  endSession: boolean;
  manageParticipants: boolean;
  lockRoom: boolean;
  stage: boolean;
  acceptWaitingRequests: boolean;
  canProduceAudio: boolean;
  canProduceVideo: boolean;
  canProduceScreenshare: boolean;
  hostControls: HostControl[];
}

export type RoomLeftState = "left" | "kicked" | "ended" | "rejected" | "disconnected" | "failed";

export class Self extends Participant {
  permissions: SelfPermissions;
  enableAudio(): Promise<void>;
  enableVideo(): Promise<void>;
  raiseHand(raised?: boolean): Promise<void>;
  respond(requestId: string, accept: boolean): Promise<void>;
}

export class ParticipantMap<T = Participant> extends Emitter {
  readonly size: number;
  get(id: string): T | undefined;
  has(id: string): boolean;
  toArray(): T[];
  values(): IterableIterator<T>;
  keys(): IterableIterator<string>;
  [Symbol.iterator](): IterableIterator<T>;
}

export class Participants {
  joined: ParticipantMap;
  pinned: ParticipantMap;
  waitlisted: ParticipantMap<WaiterInfo>;
  disableAllAudio(): Promise<void>;
  disableAllVideo(): Promise<void>;
  kickAll(): Promise<void>;
  acceptWaitingRoomRequest(identity: string): Promise<unknown>;
  acceptAllWaitingRoomRequests(): Promise<unknown>;
  rejectWaitingRoomRequest(identity: string, message?: string): Promise<unknown>;
}

export class MediaSession {
  constructor(connection: Connection);
  start(): Promise<void>;
  publish(source: Source, track: MediaStreamTrack): Promise<void>;
  unpublish(source: Source): Promise<void>;
  videoOf(identity: string): HTMLVideoElement | null;
  audioOf(identity: string): HTMLAudioElement | null;
  close(): void;
}

export class Meeting extends Emitter {
  static init(options: { authToken: string; url?: string; WebSocket?: unknown }): Promise<Meeting>;
  connection: Connection;
  state: RoomState;
  self: Self | null;
  participants: Participants;
  meta: { roomName?: string };
  waiting: WaiterInfo | null;
  media?: MediaSession;
  join(): Promise<void>;
  joinRoom(): Promise<void>;
  leave(): Promise<void>;
  request(type: string, fields?: Record<string, unknown>): Promise<Record<string, unknown>>;
  startMedia(): Promise<MediaSession>;
  lock(locked?: boolean): Promise<unknown>;
  setWaitingRoom(enabled: boolean): Promise<unknown>;
  openBreakouts(plan: { count?: number; rooms?: { name?: string; identities: string[] }[]; duration_seconds?: number; countdown_seconds?: number }): Promise<Record<string, unknown>>;
  closeBreakouts(countdownSeconds?: number): Promise<unknown>;
  broadcastToBreakouts(message: string): Promise<unknown>;
}
