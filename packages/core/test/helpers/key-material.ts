import type { KeyObject } from "node:crypto";
import type { SelloKey } from "../../src/node/types.js";

/**
 * Lists the forms in which a public key can reach an attacker, each usable as an HMAC secret in
 * an algorithm-confusion attack.
 */
export function publicKeyForms(key: SelloKey): { name: string; secret: Buffer }[] {
  const publicKey = key.verifyKey;
  const pem = publicKey.export({ type: "spki", format: "pem" }).toString();
  const jwk = { ...publicKey.export({ format: "jwk" }), kid: key.kid, alg: key.alg, use: "sig" };

  const forms = [
    { name: "SPKI PEM", secret: Buffer.from(pem) },
    { name: "PEM with surrounding whitespace", secret: Buffer.from(`\n  ${pem}\n\n`) },
    { name: "PEM with CRLF line ends", secret: Buffer.from(pem.replace(/\n/g, "\r\n")) },
    { name: "PEM without its final newline", secret: Buffer.from(pem.trimEnd()) },
    { name: "SPKI DER", secret: publicKey.export({ type: "spki", format: "der" }) },
    { name: "JWK JSON from a JWKS", secret: Buffer.from(JSON.stringify(jwk)) },
    { name: "OpenSSH public key line", secret: Buffer.from(openSshLine(publicKey)) },
  ];
  if (publicKey.asymmetricKeyType === "rsa") {
    const pkcs1 = publicKey.export({ type: "pkcs1", format: "pem" }).toString();
    forms.push({ name: "PKCS#1 PEM", secret: Buffer.from(pkcs1) });
  }
  return forms;
}

/** Formats an RSA or P-256 public key as an `authorized_keys` line (RFC 4253, RFC 5656). */
export function openSshLine(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: "jwk" });
  const fromBase64url = (value: string | undefined) => Buffer.from(value ?? "", "base64url");

  if (jwk.kty === "RSA") {
    const blob = Buffer.concat([
      sshString(Buffer.from("ssh-rsa")),
      sshMpint(fromBase64url(jwk.e)),
      sshMpint(fromBase64url(jwk.n)),
    ]);
    return `ssh-rsa ${blob.toString("base64")} attacker@example.test`;
  }

  const point = Buffer.concat([Buffer.from([4]), fromBase64url(jwk.x), fromBase64url(jwk.y)]);
  const blob = Buffer.concat([
    sshString(Buffer.from("ecdsa-sha2-nistp256")),
    sshString(Buffer.from("nistp256")),
    sshString(point),
  ]);
  return `ecdsa-sha2-nistp256 ${blob.toString("base64")} attacker@example.test`;
}

function sshString(bytes: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

function sshMpint(unsigned: Buffer): Buffer {
  let start = 0;
  while (start < unsigned.length - 1 && unsigned[start] === 0) {
    start++;
  }
  const trimmed = unsigned.subarray(start);
  const needsSignByte = ((trimmed[0] ?? 0) & 0x80) !== 0;
  return sshString(needsSignByte ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}
