import { randomBytes } from "node:crypto";
import type { AuditEvent, Store } from "@sello/core";

/** The client address and user agent of a request, recorded with every audit event. */
export interface RequestOrigin {
  ip: string | null;
  userAgent: string | null;
}

export interface AuditEntry extends Partial<RequestOrigin> {
  userId?: string | null;
  sessionId?: string | null;
  detail?: Record<string, unknown>;
}

/**
 * Creates an audit event id that sorts by time: 10 base-36 digits of milliseconds, then 12 random
 * hex digits. Cursor pagination orders events by this id.
 */
export function createAuditEventId(time: number): string {
  return `${time.toString(36).padStart(10, "0")}${randomBytes(6).toString("hex")}`;
}

/** Writes audit events (login, refresh reuse, logout, revocation, password change) to the store. */
export class AuditLog {
  readonly #store: Store;
  readonly #clock: () => number;
  readonly #onRecord: ((type: string) => void) | undefined;

  /** `onRecord` is called with each event type once the event is stored (metrics use it). */
  constructor(store: Store, clock: () => number, onRecord?: (type: string) => void) {
    this.#store = store;
    this.#clock = clock;
    this.#onRecord = onRecord;
  }

  async record(type: string, entry: AuditEntry = {}): Promise<AuditEvent> {
    const time = this.#clock();
    const event: AuditEvent = {
      id: createAuditEventId(time),
      time,
      type,
      userId: entry.userId ?? null,
      sessionId: entry.sessionId ?? null,
      ip: entry.ip ?? null,
      userAgent: truncate(entry.userAgent ?? null, 512),
      detail: entry.detail ?? {},
    };
    await this.#store.appendAudit(event);
    this.#onRecord?.(type);
    return event;
  }
}

function truncate(text: string | null, length: number): string | null {
  return text === null || text.length <= length ? text : text.slice(0, length);
}
