export {
  type ClientErrorCode,
  isTransient,
  SelloClientError,
  type SelloClientErrorCode,
  type SelloClientErrorOptions,
} from "./errors.js";
export { createSession } from "./session.js";
export type {
  LogoutEvent,
  SelloUser,
  Session,
  SessionEvents,
  SessionOptions,
} from "./types.js";
