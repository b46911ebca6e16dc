import { randomBytes } from "node:crypto";
import { type Algorithm, type Options, parseOptions } from "@node-rs/argon2";
import { SelloError } from "@sello/core";
import { dictionary } from "@zxcvbn-ts/language-common";
import {
  defaultHasherLimits,
  PasswordHasher,
  type PasswordHasherLimits,
} from "./password-hasher.js";

// @node-rs/argon2 declares Algorithm and Version as const enums, which are absent at run time and
// unusable under isolatedModules, so the numeric values are written out here.
const ARGON2ID: Algorithm = 2;
const ARGON2_VERSION_0X13 = 1;

/**
 * The argon2id parameters for new hashes, the minimum that the OWASP Password Storage Cheat Sheet
 * recommends: 19 MiB of memory (`memoryCost` is in KiB), 2 passes and 1 lane, with a 32-byte
 * output.
 */
export const PASSWORD_HASH_OPTIONS = {
  algorithm: ARGON2ID,
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
  outputLen: 32,
} as const satisfies Options;

/**
 * The start of every PHC string made with {@link PASSWORD_HASH_OPTIONS}, up to the salt. A stored
 * hash with this prefix and a 32-byte output needs no rehash, which saves parsing it.
 */
const CURRENT_HASH_PREFIX = `$argon2id$v=19$m=${PASSWORD_HASH_OPTIONS.memoryCost},t=${PASSWORD_HASH_OPTIONS.timeCost},p=${PASSWORD_HASH_OPTIONS.parallelism}$`;
/** The unpadded base64 length of a 32-byte argon2 output. */
const CURRENT_OUTPUT_BASE64_LENGTH = 43;

/** The minimum password length, in Unicode code points after NFC normalisation. */
export const MIN_PASSWORD_LENGTH = 8;

/** The maximum password length, in Unicode code points after NFC normalisation. */
export const MAX_PASSWORD_LENGTH = 128;

// The maximum canonical decomposition of one code point is 4 code points (U+1F82, checked against
// Unicode 17 in Node 20.20), so a string whose NFC form has at most MAX_PASSWORD_LENGTH code
// points is at most 4 * 128 code points, or 8 * 128 UTF-16 code units, before normalising.
const MAX_RAW_PASSWORD_UNITS = 8 * MAX_PASSWORD_LENGTH;

/** The outcome of {@link verifyPassword}. */
export interface PasswordVerification {
  /** Whether the password matches the stored hash. */
  valid: boolean;
  /**
   * Whether the caller should store a new hash made with {@link hashPassword}: true only when the
   * password matched and the stored hash uses another argon2 variant, version or parameters.
   */
  needsRehash: boolean;
}

let hasher: PasswordHasher | undefined;
let hasherLimits: Partial<PasswordHasherLimits> = {};
let hasherUsers = 0;

function currentHasher(): PasswordHasher {
  hasher ??= new PasswordHasher(hasherLimits);
  return hasher;
}

/**
 * Retains the process-wide pool of password hashing threads for one user, such as a running
 * server, applies `limits` to it and starts its threads. Limits left out take the defaults: one
 * thread per core this process may use, and 128 waiting jobs per thread.
 *
 * Returns the function that releases the pool. When the last user releases it, its threads stop,
 * and a later hash starts new ones. Hashing without this call also works: the pool then starts on
 * demand, and its idle threads do not keep the process alive.
 */
export function retainPasswordHashing(
  limits: Partial<PasswordHasherLimits> = {},
): () => Promise<void> {
  hasherUsers += 1;
  hasherLimits = { ...limits };
  const pool = currentHasher();
  const defaults = defaultHasherLimits(limits.threads);
  pool.configure({ threads: defaults.threads, maxQueue: limits.maxQueue ?? defaults.maxQueue });
  pool.warm();

  let released = false;
  return async () => {
    if (released) {
      return;
    }
    released = true;
    hasherUsers -= 1;
    if (hasherUsers === 0) {
      hasherLimits = {};
      await closePasswordHashing();
    }
  };
}

/**
 * Stops the threads of the password hashing pool now. Jobs still running or waiting fail with
 * `service_unavailable`; a later hash starts a new pool.
 */
export async function closePasswordHashing(): Promise<void> {
  const pool = hasher;
  hasher = undefined;
  await pool?.close();
}

/** Returns the threads, running jobs and waiting jobs of the password hashing pool. */
export function passwordHashingStats(): { threads: number; running: number; queued: number } {
  return hasher?.stats ?? { threads: 0, running: 0, queued: 0 };
}

/**
 * Hashes a password with argon2id and {@link PASSWORD_HASH_OPTIONS} and a random 16-byte salt, and
 * returns the PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`). The password is NFC-normalised
 * first, so the same password typed on systems that compose accents differently still matches.
 * The work runs on the pool of low-priority hashing threads (see {@link retainPasswordHashing}),
 * off the event loop. Rejects with `service_unavailable` when too many hashes are waiting or a
 * hashing thread failed.
 */
export async function hashPassword(password: string): Promise<string> {
  return currentHasher().hash(password.normalize("NFC"), PASSWORD_HASH_OPTIONS);
}

/**
 * Verifies a password against a PHC string made by {@link hashPassword} or by another argon2
 * configuration. A malformed or non-argon2 stored hash yields `{ valid: false }` instead of an
 * error. Callers should check {@link isPasswordTooLong} first, so that an over-long password is
 * never hashed. Rejects with `service_unavailable`, like {@link hashPassword}, when the check
 * could not run; that is never reported as a wrong password.
 */
export async function verifyPassword(
  storedHash: string,
  password: string,
): Promise<PasswordVerification> {
  const valid = await currentHasher().verify(storedHash, password.normalize("NFC"));
  return { valid, needsRehash: valid && usesOtherParameters(storedHash) };
}

function usesOtherParameters(storedHash: string): boolean {
  if (
    storedHash.startsWith(CURRENT_HASH_PREFIX) &&
    storedHash.length - storedHash.lastIndexOf("$") - 1 === CURRENT_OUTPUT_BASE64_LENGTH &&
    storedHash.indexOf("$", CURRENT_HASH_PREFIX.length) === storedHash.lastIndexOf("$")
  ) {
    return false;
  }

  let stored: ReturnType<typeof parseOptions>;
  try {
    stored = parseOptions(storedHash);
  } catch {
    return true;
  }

  return (
    stored.algorithm !== PASSWORD_HASH_OPTIONS.algorithm ||
    stored.version !== ARGON2_VERSION_0X13 ||
    stored.memoryCost !== PASSWORD_HASH_OPTIONS.memoryCost ||
    stored.timeCost !== PASSWORD_HASH_OPTIONS.timeCost ||
    stored.parallelism !== PASSWORD_HASH_OPTIONS.parallelism ||
    stored.outputLen !== PASSWORD_HASH_OPTIONS.outputLen
  );
}

let dummyHash: Promise<string> | undefined;

/**
 * Verifies a password against a dummy argon2id hash made with {@link PASSWORD_HASH_OPTIONS}, so a
 * login for an unknown username takes as long as one for a known username. The dummy hash of a
 * random secret is computed on the first call and reused. Always resolves to false.
 */
export async function verifyAgainstDummy(password: string): Promise<false> {
  dummyHash ??= hashPassword(randomBytes(32).toString("base64url"));

  let storedHash: string;
  try {
    storedHash = await dummyHash;
  } catch (error) {
    // Forget the failed attempt so the next call computes the dummy hash again.
    dummyHash = undefined;
    throw error;
  }

  await verifyPassword(storedHash, password);
  return false;
}

/**
 * Reports whether a login password is longer than {@link MAX_PASSWORD_LENGTH} code points after NFC
 * normalisation, the same measure {@link checkNewPassword} applies, so such a password can be
 * rejected before any hashing. Input longer than 1,024 UTF-16 code units is rejected without
 * normalising it, because no password within the limit can be that long.
 */
export function isPasswordTooLong(password: string): boolean {
  if (password.length > MAX_RAW_PASSWORD_UNITS) {
    return true;
  }

  return countCodePoints(password.normalize("NFC")) > MAX_PASSWORD_LENGTH;
}

let commonPasswords: Set<string> | undefined;

function isCommonPassword(key: string): boolean {
  // The list from @zxcvbn-ts/language-common 4.x is already lowercase; about 49,000 entries.
  commonPasswords ??= new Set(dictionary["passwords-common"]);
  return commonPasswords.has(key);
}

/**
 * Throws `SelloError("weak_password")` unless a new password meets the policy. The password must
 * be {@link MIN_PASSWORD_LENGTH} to {@link MAX_PASSWORD_LENGTH} code points long after NFC
 * normalisation. It must not be on the common-password list of @zxcvbn-ts/language-common, and
 * it must not equal `context.username`. Both comparisons ignore case and compatibility forms
 * (NFKC), so `Password1` and fullwidth `ｐａｓｓｗｏｒｄ１` count as common. The message names the
 * failed rule and never contains the password. `reason` is one of `password_too_short`,
 * `password_too_long`, `password_common` or `password_equals_username`.
 */
export function checkNewPassword(password: string, context: { username?: string } = {}): void {
  const length = countCodePoints(password.normalize("NFC"));
  if (length < MIN_PASSWORD_LENGTH) {
    throw new SelloError("weak_password", {
      message: `The password must be at least ${MIN_PASSWORD_LENGTH} characters long.`,
      reason: "password_too_short",
    });
  }
  if (length > MAX_PASSWORD_LENGTH) {
    throw new SelloError("weak_password", {
      message: `The password must be at most ${MAX_PASSWORD_LENGTH} characters long.`,
      reason: "password_too_long",
    });
  }

  const key = comparisonKey(password);
  if (isCommonPassword(key)) {
    throw new SelloError("weak_password", {
      message: "The password is on a list of commonly used passwords. Choose a less common one.",
      reason: "password_common",
    });
  }

  const username = context.username?.trim();
  if (username !== undefined && username !== "" && key === comparisonKey(username)) {
    throw new SelloError("weak_password", {
      message: "The password must not be the same as the username.",
      reason: "password_equals_username",
    });
  }
}

function comparisonKey(text: string): string {
  return text.normalize("NFKC").toLowerCase();
}

function countCodePoints(text: string): number {
  let count = 0;
  for (const _ of text) {
    count += 1;
  }
  return count;
}
