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
    const event = this.#createEvent(type, entry);
    await this.#store.appendAudit(event);
    this.#onRecord?.(type);
    return event;
  }

  /**
   * Builds an audit event and passes it to `write`, which stores it together with other changes,
   * such as a new session in the same transaction. Resolves with the result of `write`.
   */
  async recordWith<T>(
    type: string,
    entry: AuditEntry,
    write: (event: AuditEvent) => Promise<T>,
  ): Promise<T> {
    const result = await write(this.#createEvent(type, entry));
    this.#onRecord?.(type);
    return result;
  }

  #createEvent(type: string, entry: AuditEntry): AuditEvent {
    const time = this.#clock();
    return {
      id: createAuditEventId(time),
      time,
      type,
      userId: entry.userId ?? null,
      sessionId: entry.sessionId ?? null,
      ip: entry.ip ?? null,
      userAgent: truncate(entry.userAgent ?? null, 512),
      detail: entry.detail ?? {},
    };
  }
}

function truncate(text: string | null, length: number): string | null {
  return text === null || text.length <= length ? text : text.slice(0, length);
}
