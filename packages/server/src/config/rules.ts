import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { readFileSync, type Stats, statSync } from "node:fs";
import { isIP } from "node:net";
import { formatDuration } from "./parsers.js";
import type { SettingKey } from "./settings.js";
import { describeFileError } from "./sources.js";
import { type LoadState, nameOf, reportValue } from "./state.js";
import type { AdminAccount, TlsConfig } from "./types.js";

/** Host names of a public URL that may use plain http in development. */
const LOCAL_URL_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** Reports whether a public URL is plain http on localhost, 127.0.0.1 or ::1. */
export function isLocalHttpUrl(publicUrl: string): boolean {
  const url = new URL(publicUrl);
  return url.protocol === "http:" && LOCAL_URL_HOSTS.has(url.hostname);
}

/** Reports whether a listen address accepts connections from this machine only. */
export function isLoopbackHost(host: string): boolean {
  if (host === "localhost" || host === "::1") {
    return true;
  }
  return isIP(host) === 4 && host.startsWith("127.");
}

function isSet(state: LoadState, key: SettingKey): boolean {
  return state.raw.has(key);
}

export function checkRefreshLifetimes(state: LoadState): void {
  const { refreshIdleTtl: idle, refreshAbsoluteTtl: absolute } = state.values;
  if (idle === undefined || absolute === undefined || absolute >= idle) {
    return;
  }

  const absoluteName = nameOf(state, "refreshAbsoluteTtl");
  const idleName = nameOf(state, "refreshIdleTtl");
  state.problems.push(
    `${absoluteName} (${formatDuration(absolute)}) must be at least ${idleName} ` +
      `(${formatDuration(idle)}), because a session cannot stay idle for longer than it may live; ` +
      `raise ${absoluteName} or lower ${idleName}.`,
  );
}

/**
 * Checks the HS256 secret settings against the algorithm and returns the secret, read from its
 * file when SELLO_HS256_SECRET_FILE is used. No message ever contains the secret.
 */
export function resolveHs256Secret(state: LoadState): string | undefined {
  const { algorithm } = state.values;
  const setKeys = (["hs256Secret", "hs256SecretFile"] as const).filter((key) => isSet(state, key));
  if (algorithm === undefined) {
    return undefined;
  }

  const algorithmName = nameOf(state, "algorithm");
  if (algorithm !== "HS256") {
    for (const key of setKeys) {
      const name = nameOf(state, key);
      state.problems.push(
        `${name} is set, but ${algorithmName} is ${algorithm}, which does not use a shared secret; ` +
          `unset ${name}, or set ${algorithmName} to HS256.`,
      );
    }
    return undefined;
  }

  if (setKeys.length === 0) {
    state.problems.push(
      `${algorithmName} is HS256, which needs a shared secret; set SELLO_HS256_SECRET_FILE to a file ` +
        "that contains it, or set SELLO_HS256_SECRET.",
    );
    return undefined;
  }
  if (setKeys.length === 2) {
    state.problems.push(
      `${nameOf(state, "hs256Secret")} and ${nameOf(state, "hs256SecretFile")} are both set; ` +
        "keep only one of them.",
    );
    return undefined;
  }

  const { hs256Secret, hs256SecretFile } = state.values;
  if (hs256SecretFile !== undefined) {
    return readSecretFile(state, hs256SecretFile);
  }
  return hs256Secret;
}

function readSecretFile(state: LoadState, path: string): string | undefined {
  const name = nameOf(state, "hs256SecretFile");
  const content = readSettingFile(state, "hs256SecretFile", path);
  if (content === undefined) {
    return undefined;
  }

  // Editors and `echo` end files with a newline that is not part of the secret.
  const secret = content.replace(/\r?\n$/, "");
  if (secret === "") {
    state.problems.push(`${name} names ${path}, which is empty; write the secret into it.`);
    return undefined;
  }
  return secret;
}

/** Reads a file named by a setting, or records a problem naming the setting and the path. */
function readSettingFile(state: LoadState, key: SettingKey, path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    state.problems.push(
      `${nameOf(state, key)} names ${path}, which cannot be read (${describeFileError(error)}); ` +
        "fix the path or the file's permissions.",
    );
    return undefined;
  }
}

/** Checks that certificate and key are set together and readable, and returns their contents. */
export function resolveTls(state: LoadState): TlsConfig | undefined {
  const certName = nameOf(state, "tlsCert");
  const keyName = nameOf(state, "tlsKey");
  if (isSet(state, "tlsCert") !== isSet(state, "tlsKey")) {
    const [setName, missingName] = isSet(state, "tlsCert")
      ? [certName, keyName]
      : [keyName, certName];
    state.problems.push(
      `${setName} is set without ${missingName}; set both to serve HTTPS, or neither to serve plain HTTP.`,
    );
    return undefined;
  }

  const { tlsCert: certFile, tlsKey: keyFile } = state.values;
  if (certFile === undefined || keyFile === undefined) {
    return undefined;
  }

  const cert = readSettingFile(state, "tlsCert", certFile);
  const key = readSettingFile(state, "tlsKey", keyFile);
  if (cert === undefined || key === undefined) {
    return undefined;
  }

  const certificate = parseCertificate(state, certFile, cert);
  const privateKey = parsePrivateKey(state, keyFile, key);
  if (certificate !== undefined && privateKey !== undefined) {
    checkKeyPair(state, certificate, privateKey);
  }
  return { certFile, keyFile, cert, key };
}

function parseCertificate(
  state: LoadState,
  path: string,
  pem: string,
): X509Certificate | undefined {
  try {
    return new X509Certificate(pem);
  } catch {
    state.problems.push(
      `${nameOf(state, "tlsCert")} names ${path}, which does not contain a PEM certificate ` +
        '("-----BEGIN CERTIFICATE-----"); point it at the certificate chain file.',
    );
    return undefined;
  }
}

function parsePrivateKey(state: LoadState, path: string, pem: string): KeyObject | undefined {
  try {
    return createPrivateKey(pem);
  } catch {
    state.problems.push(
      `${nameOf(state, "tlsKey")} names ${path}, which does not contain an unencrypted PEM ` +
        "private key; point it at the key file, and decrypt the key if it has a passphrase.",
    );
    return undefined;
  }
}

function checkKeyPair(state: LoadState, certificate: X509Certificate, key: KeyObject): void {
  if (!certificate.checkPrivateKey(key)) {
    state.problems.push(
      `${nameOf(state, "tlsKey")} does not belong to the certificate in ${nameOf(state, "tlsCert")}; ` +
        "use the private key that the certificate was issued for.",
    );
  }

  const expiry = new Date(certificate.validTo);
  if (expiry.getTime() < Date.now()) {
    state.warnings.push(
      `The certificate in ${nameOf(state, "tlsCert")} expired on ${expiry.toISOString()}; clients will reject it.`,
    );
  }
}

/** Checks that the administrator's user name and password are set together. */
export function resolveAdmin(state: LoadState): AdminAccount | undefined {
  const usernameName = nameOf(state, "adminUsername");
  const passwordName = nameOf(state, "adminPassword");
  if (isSet(state, "adminUsername") !== isSet(state, "adminPassword")) {
    const [setName, missingName] = isSet(state, "adminUsername")
      ? [usernameName, passwordName]
      : [passwordName, usernameName];
    state.problems.push(
      `${setName} is set without ${missingName}; set both to create the first administrator, or neither.`,
    );
    return undefined;
  }

  const { adminUsername: username, adminPassword: password } = state.values;
  return username === undefined || password === undefined ? undefined : { username, password };
}

/**
 * Checks the public URL against the mode. Plain http is allowed only in development and only on
 * localhost, 127.0.0.1 or ::1, where browsers treat the page as a secure context.
 */
export function checkPublicUrl(state: LoadState): void {
  const { mode, publicUrl } = state.values;
  if (mode === undefined || publicUrl === undefined || !publicUrl.startsWith("http:")) {
    return;
  }

  const isDefault = !isSet(state, "publicUrl");
  const suffix = isDefault ? `; got "${publicUrl}" (the default)` : "";
  if (mode === "production") {
    reportValue(
      state,
      "publicUrl",
      "must be an https URL in production, because the refresh cookie and tokens must not travel " +
        `unencrypted; set it to the https address that clients use, such as https://auth.example.com${suffix}`,
    );
    return;
  }
  if (!isLocalHttpUrl(publicUrl)) {
    reportValue(
      state,
      "publicUrl",
      "may use plain http only on localhost, 127.0.0.1 or ::1, because the refresh cookie would " +
        "otherwise travel unencrypted; use an https URL",
    );
  }
}

/** Requires HTTPS in production: served by the server itself or by a trusted proxy. */
export function checkProductionTransport(state: LoadState): void {
  const transportKeys = ["tlsCert", "tlsKey", "trustProxy"] as const;
  const anyTransportSet = transportKeys.some((key) => isSet(state, key));
  if (state.values.mode !== "production" || anyTransportSet) {
    return;
  }

  state.problems.push(
    `${nameOf(state, "mode")} is production, which forbids serving plain HTTP; set SELLO_TLS_CERT ` +
      "and SELLO_TLS_KEY so that the server serves HTTPS, or set SELLO_TRUST_PROXY to the address " +
      "of the TLS-terminating proxy in front of it.",
  );
}

export function checkDemoUsers(state: LoadState): void {
  if (state.values.mode !== "production" || state.values.demoUsers !== "on") {
    return;
  }

  state.problems.push(
    `${nameOf(state, "demoUsers")} is on, but ${nameOf(state, "mode")} is production, where ` +
      "accounts with published passwords must not exist; set it to off or auto.",
  );
}

/** Rejects a data folder or key file path that exists with the wrong file type. */
export function checkPathTypes(state: LoadState): void {
  const { dataDir, keyEncryptionKeyFile } = state.values;
  if (dataDir !== undefined && statPath(dataDir)?.isDirectory() === false) {
    state.problems.push(
      `${nameOf(state, "dataDir")} names ${dataDir}, which is a file, not a folder; ` +
        "choose a folder path.",
    );
  }

  if (
    keyEncryptionKeyFile !== undefined &&
    statPath(keyEncryptionKeyFile)?.isDirectory() === true
  ) {
    state.problems.push(
      `${nameOf(state, "keyEncryptionKeyFile")} names ${keyEncryptionKeyFile}, which is a folder; ` +
        "choose a file path.",
    );
  }
}

/**
 * Returns the file's stats, or undefined when they cannot be read. Missing or unreadable paths
 * are left for the code that creates or opens them, which reports the exact error.
 */
function statPath(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}
