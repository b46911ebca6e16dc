import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { KEY_ENCRYPTION_KEY_BYTES } from "@sello/core/node";

/**
 * Reads the key-encryption key (32 random bytes, base64) from `path`, creating the file with mode
 * 0600 when it does not exist. This key encrypts signing keys at rest and nothing else.
 */
export function loadKeyEncryptionKey(path: string): Buffer {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new Error(`Cannot read the key-encryption key file ${path}.`, { cause: error });
    }
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const key = randomBytes(KEY_ENCRYPTION_KEY_BYTES);
    writeFileSync(path, `${key.toString("base64")}\n`, { mode: 0o600, flag: "wx" });
    chmodSync(path, 0o600);
    return key;
  }

  const key = Buffer.from(text.trim(), "base64");
  if (key.length !== KEY_ENCRYPTION_KEY_BYTES) {
    throw new Error(
      `The key-encryption key file ${path} must hold ${KEY_ENCRYPTION_KEY_BYTES} bytes in base64 ` +
        "(for example the output of `openssl rand -base64 32`).",
    );
  }
  return key;
}
