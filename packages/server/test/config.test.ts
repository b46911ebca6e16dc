import { generateKeyPairSync } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  ConfigError,
  loadConfig,
  redactConfig,
  renderSettingsTable,
  SETTINGS,
  type ServerConfig,
  withListenPort,
} from "../src/config/index.js";

// A self-signed test certificate for CN=localhost, valid until 2126, and its private key.
// Both exist only for these tests.
const TEST_CERT = `-----BEGIN CERTIFICATE-----
MIIBgDCCASWgAwIBAgIUIrNGbiT3zufyL9nPqiZP9pGat1YwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTIwNDIwMjA0N1oYDzIxMjYxMTEw
MjAyMDQ3WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAQFLpSJ3fwDsmNBbcLV+Z8BVbpO67TmRs00TyowsYcKX3Awx0YX+LLA
8LEnAzVdzTSSUeMSsUfhaYAtJGmTJGyNo1MwUTAdBgNVHQ4EFgQUGXrDMAEe+sw5
zYYup94DvDlZZW0wHwYDVR0jBBgwFoAUGXrDMAEe+sw5zYYup94DvDlZZW0wDwYD
VR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNJADBGAiEAyTWmuOblEf6gcNqyvdZt
KLSiIuOfeMIhu5n79WjEIFMCIQCXE5GbChwcX1rmboKAqYQwNEKJCQAWnX2WQNU7
zZCvOw==
-----END CERTIFICATE-----
`;
const TEST_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg126WQgSdj10ZRbl1
mEOWJOIQ10AZgwiaaEi7e3Id5sGhRANCAAQFLpSJ3fwDsmNBbcLV+Z8BVbpO67Tm
Rs00TyowsYcKX3Awx0YX+LLA8LEnAzVdzTSSUeMSsUfhaYAtJGmTJGyN
-----END PRIVATE KEY-----
`;

const SECRET = "correct-horse-battery-staple-9f3a1c";
const PASSWORD = "admin-password-7d2e5b";
const PRODUCTION = {
  SELLO_MODE: "production",
  SELLO_PUBLIC_URL: "https://auth.example.com",
  SELLO_TRUST_PROXY: "10.0.0.1",
};

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "sello-config-"));
});

afterEach(() => {
  vi.useRealTimers();
  rmSync(dir, { recursive: true, force: true });
});

function load(env: NodeJS.ProcessEnv = {}): ServerConfig {
  return loadConfig(env, { cwd: dir });
}

/** Loads the configuration, expects a ConfigError, and returns its problems. */
function problemsOf(env: NodeJS.ProcessEnv): readonly string[] {
  try {
    load(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

/** Expects exactly one problem and returns it. */
function problemOf(env: NodeJS.ProcessEnv): string {
  const problems = problemsOf(env);
  expect(problems).toHaveLength(1);
  return problems[0] as string;
}

function writeFile(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

function writeConfigFile(content: unknown): string {
  return writeFile("sello.json", typeof content === "string" ? content : JSON.stringify(content));
}

describe("loadConfig defaults", () => {
  it("fills every setting from an empty environment", () => {
    const config = load({});

    expect(config).toEqual({
      mode: "development",
      host: "127.0.0.1",
      port: 3000,
      publicUrl: "http://localhost:3000",
      audience: ["http://localhost:3000"],
      clientId: "sello-web",
      dataDir: join(dir, "var"),
      database: { driver: "sqlite", filename: join(dir, "var", "sello.db") },
      redisUrl: undefined,
      redisPrefix: "default",
      revocationMaxStaleness: 5,
      algorithm: "ES256",
      hs256Secret: undefined,
      keyEncryptionKeyFile: join(dir, "var", "key-encryption.key"),
      accessTtl: 600,
      refreshIdleTtl: 604_800,
      refreshAbsoluteTtl: 2_592_000,
      refreshGrace: 10,
      corsOrigins: ["http://localhost:3000"],
      tls: undefined,
      trustProxy: [],
      registration: "closed",
      loginMaxAttemptsPerAccount: 5,
      loginMaxAttemptsPerIp: 20,
      loginWindow: 900,
      bodyLimit: 16_384,
      passwordHashThreads: undefined,
      logLevel: "info",
      admin: undefined,
      demoUsers: "auto",
      createDemoUsers: true,
      apiDocs: true,
      keyRotationInterval: 7_776_000,
      keyPropagationDelay: 900,
      cookieSecure: false,
      cookieName: "sello_refresh",
      configFile: undefined,
      sources: Object.fromEntries(SETTINGS.map((s) => [s.fileKey, "default"])),
      warnings: [],
    });
  });

  it("treats empty variables as unset", () => {
    const env = Object.fromEntries(SETTINGS.map((s) => [s.env, ""]));

    const config = load({ ...env, SELLO_CONFIG: "" });

    expect(config).toEqual(load({}));
  });

  it("derives the public URL, audience and origin from the port", () => {
    const config = load({ SELLO_PORT: "8080" });

    expect(config.publicUrl).toBe("http://localhost:8080");
    expect(config.audience).toEqual(["http://localhost:8080"]);
    expect(config.corsOrigins).toEqual(["http://localhost:8080"]);
  });

  it("derives database and key file from the data folder", () => {
    const config = load({ SELLO_DATA_DIR: "state/sello" });

    expect(config.dataDir).toBe(join(dir, "state", "sello"));
    expect(config.database).toEqual({
      driver: "sqlite",
      filename: join(dir, "state", "sello", "sello.db"),
    });
    expect(config.keyEncryptionKeyFile).toBe(join(dir, "state", "sello", "key-encryption.key"));
  });

  it("defaults the working directory to process.cwd()", () => {
    const config = loadConfig({});

    expect(config.dataDir).toBe(join(process.cwd(), "var"));
  });
});

describe("valid settings", () => {
  it.each<[string, string, keyof ServerConfig, unknown]>([
    ["SELLO_MODE", "production", "mode", "production"],
    ["SELLO_HOST", "0.0.0.0", "host", "0.0.0.0"],
    ["SELLO_HOST", "::", "host", "::"],
    ["SELLO_HOST", "auth.internal", "host", "auth.internal"],
    ["SELLO_PORT", "0", "port", 0],
    ["SELLO_PORT", "65535", "port", 65_535],
    ["SELLO_PORT", " 8080 ", "port", 8080],
    ["SELLO_PUBLIC_URL", "https://auth.example.com/", "publicUrl", "https://auth.example.com"],
    [
      "SELLO_PUBLIC_URL",
      "https://Auth.Example.com:443/sso/",
      "publicUrl",
      "https://auth.example.com/sso",
    ],
    ["SELLO_PUBLIC_URL", "http://127.0.0.1:4000", "publicUrl", "http://127.0.0.1:4000"],
    ["SELLO_PUBLIC_URL", "http://[::1]:4000/", "publicUrl", "http://[::1]:4000"],
    [
      "SELLO_AUDIENCE",
      "https://api.example.com, orders",
      "audience",
      ["https://api.example.com", "orders"],
    ],
    ["SELLO_AUDIENCE", "a,a,b", "audience", ["a", "b"]],
    ["SELLO_CLIENT_ID", "my-app", "clientId", "my-app"],
    ["SELLO_DATA_DIR", "/srv/sello", "dataDir", "/srv/sello"],
    [
      "SELLO_DATABASE_URL",
      "sqlite::memory:",
      "database",
      { driver: "sqlite", filename: ":memory:" },
    ],
    [
      "SELLO_DATABASE_URL",
      "sqlite:/srv/sello.db",
      "database",
      { driver: "sqlite", filename: "/srv/sello.db" },
    ],
    [
      "SELLO_DATABASE_URL",
      "postgres://sello:pw@127.0.0.1:5432/sello",
      "database",
      { driver: "postgres", url: "postgres://sello:pw@127.0.0.1:5432/sello" },
    ],
    [
      "SELLO_DATABASE_URL",
      "postgresql://127.0.0.1/sello",
      "database",
      { driver: "postgres", url: "postgresql://127.0.0.1/sello" },
    ],
    ["SELLO_REDIS_URL", "redis://127.0.0.1:6379", "redisUrl", "redis://127.0.0.1:6379"],
    [
      "SELLO_REDIS_URL",
      "rediss://:pw@127.0.0.1:6380/2",
      "redisUrl",
      "rediss://:pw@127.0.0.1:6380/2",
    ],
    ["SELLO_ALGORITHM", "EdDSA", "algorithm", "EdDSA"],
    ["SELLO_ALGORITHM", "PS256", "algorithm", "PS256"],
    [
      "SELLO_KEY_ENCRYPTION_KEY_FILE",
      "/run/secrets/kek",
      "keyEncryptionKeyFile",
      "/run/secrets/kek",
    ],
    ["SELLO_ACCESS_TTL", "30s", "accessTtl", 30],
    ["SELLO_ACCESS_TTL", "1d", "accessTtl", 86_400],
    ["SELLO_ACCESS_TTL", "900", "accessTtl", 900],
    ["SELLO_ACCESS_TTL", "1.5h", "accessTtl", 5400],
    ["SELLO_REFRESH_IDLE_TTL", "1m", "refreshIdleTtl", 60],
    ["SELLO_REFRESH_IDLE_TTL", "2w", "refreshIdleTtl", 1_209_600],
    ["SELLO_REFRESH_ABSOLUTE_TTL", "365d", "refreshAbsoluteTtl", 31_536_000],
    ["SELLO_REFRESH_GRACE", "0", "refreshGrace", 0],
    ["SELLO_REFRESH_GRACE", "60s", "refreshGrace", 60],
    ["SELLO_CORS_ORIGINS", "https://app.example.com", "corsOrigins", ["https://app.example.com"]],
    [
      "SELLO_CORS_ORIGINS",
      "HTTPS://App.Example.com:443/, http://localhost:5173",
      "corsOrigins",
      ["https://app.example.com", "http://localhost:5173"],
    ],
    ["SELLO_TRUST_PROXY", "loopback", "trustProxy", ["loopback"]],
    [
      "SELLO_TRUST_PROXY",
      "10.0.0.1, 10.0.0.0/8, 10.0.0.0/255.0.0.0, fd00::/8, ::1, uniquelocal, linklocal",
      "trustProxy",
      [
        "10.0.0.1",
        "10.0.0.0/8",
        "10.0.0.0/255.0.0.0",
        "fd00::/8",
        "::1",
        "uniquelocal",
        "linklocal",
      ],
    ],
    ["SELLO_REGISTRATION", "open", "registration", "open"],
    ["SELLO_LOGIN_MAX_ATTEMPTS_PER_ACCOUNT", "10", "loginMaxAttemptsPerAccount", 10],
    ["SELLO_LOGIN_MAX_ATTEMPTS_PER_IP", "100", "loginMaxAttemptsPerIp", 100],
    ["SELLO_LOGIN_WINDOW", "1h", "loginWindow", 3600],
    ["SELLO_BODY_LIMIT", "1024", "bodyLimit", 1024],
    ["SELLO_BODY_LIMIT", "1048576", "bodyLimit", 1_048_576],
    ["SELLO_PASSWORD_HASH_THREADS", "1", "passwordHashThreads", 1],
    ["SELLO_PASSWORD_HASH_THREADS", "64", "passwordHashThreads", 64],
    ["SELLO_LOG_LEVEL", "silent", "logLevel", "silent"],
    ["SELLO_LOG_LEVEL", "trace", "logLevel", "trace"],
    ["SELLO_DEMO_USERS", "off", "demoUsers", "off"],
    ["SELLO_DEMO_USERS", "on", "demoUsers", "on"],
  ])("%s=%j sets %s", (variable, value, property, expected) => {
    const env: NodeJS.ProcessEnv =
      variable === "SELLO_MODE" ? { ...PRODUCTION, [variable]: value } : { [variable]: value };

    const config = load(env);

    expect(config[property]).toEqual(expected);
  });

  it("resolves relative paths against the working directory", () => {
    const config = load({
      SELLO_DATABASE_URL: "sqlite:db/sello.db",
      SELLO_KEY_ENCRYPTION_KEY_FILE: "secrets/kek",
    });

    expect(config.database).toEqual({ driver: "sqlite", filename: join(dir, "db", "sello.db") });
    expect(config.keyEncryptionKeyFile).toBe(join(dir, "secrets", "kek"));
  });

  it("records environment variables as the source", () => {
    const config = load({ SELLO_PORT: "8080" });

    expect(config.sources.port).toBe("env");
    expect(config.sources.host).toBe("default");
  });
});

describe("invalid settings", () => {
  it.each<[string, string, string, string?]>([
    ["SELLO_MODE", "prod", "must be development or production"],
    ["SELLO_MODE", "Production", "so write production"],
    ["SELLO_HOST", "not a host", "such as 127.0.0.1"],
    ["SELLO_HOST", "[::1]", "without brackets"],
    ["SELLO_PORT", "abc", "must be an integer from 0 to 65535, such as 3000"],
    ["SELLO_PORT", "65536", "from 0 to 65535"],
    ["SELLO_PORT", "-1", "from 0 to 65535"],
    ["SELLO_PORT", "3000.5", "must be an integer"],
    ["SELLO_PORT", "1e3", "must be an integer"],
    ["SELLO_PORT", "Infinity", "must be an integer"],
    ["SELLO_PUBLIC_URL", "auth.example.com", "must be an absolute http or https URL"],
    ["SELLO_PUBLIC_URL", "ftp://auth.example.com", "must be an absolute http or https URL"],
    ["SELLO_PUBLIC_URL", "https://auth.example.com/?x=1", "must not contain a query or fragment"],
    ["SELLO_PUBLIC_URL", "https://auth.example.com/#top", "must not contain a query or fragment"],
    [
      "SELLO_PUBLIC_URL",
      "https://user:pw@auth.example.com",
      "must not contain a user name or password",
      '"https://user:***@auth.example.com"',
    ],
    ["SELLO_AUDIENCE", "a,,b", "without empty entries"],
    ["SELLO_AUDIENCE", "my api", "without spaces"],
    ["SELLO_CLIENT_ID", "my app", "printable ASCII characters without spaces"],
    ["SELLO_CLIENT_ID", "x".repeat(256), "1 to 255", `"${"x".repeat(79)}…`],
    ["SELLO_DATABASE_URL", "mysql://127.0.0.1/sello", "must be sqlite:PATH"],
    ["SELLO_DATABASE_URL", "sqlite:", "write the path right after"],
    ["SELLO_DATABASE_URL", "sqlite:///srv/sello.db", "write the path right after"],
    ["SELLO_DATABASE_URL", "postgres://[bad", "must be sqlite:PATH"],
    ["SELLO_REDIS_URL", "http://127.0.0.1:6379", "must be a redis:// or rediss:// (TLS) URL"],
    ["SELLO_REDIS_URL", "redis://", "with a host"],
    ["SELLO_ALGORITHM", "es256", "so write ES256"],
    ["SELLO_ALGORITHM", "none", "ES256, EdDSA, RS256, PS256 or HS256"],
    ["SELLO_ALGORITHM", "HS512", "ES256, EdDSA, RS256, PS256 or HS256"],
    ["SELLO_ACCESS_TTL", "10 minutes", "with a unit (s, m, h, d, w), such as 10m"],
    ["SELLO_ACCESS_TTL", "29s", "from 30s to 1d"],
    ["SELLO_ACCESS_TTL", "2d", "from 30s to 1d"],
    ["SELLO_ACCESS_TTL", "30.5", "in whole seconds"],
    ["SELLO_ACCESS_TTL", "-10m", "from 30s to 1d"],
    ["SELLO_REFRESH_IDLE_TTL", "59s", "from 1m to 365d"],
    ["SELLO_REFRESH_IDLE_TTL", "366d", "from 1m to 365d"],
    ["SELLO_REFRESH_ABSOLUTE_TTL", "53w", "from 1m to 365d"],
    ["SELLO_REFRESH_GRACE", "61", "from 0s to 1m"],
    ["SELLO_REFRESH_GRACE", "0.5s", "in whole seconds"],
    ["SELLO_LOGIN_WINDOW", "0", "from 1s to 1d"],
    ["SELLO_LOGIN_WINDOW", "25h", "from 1s to 1d"],
    ["SELLO_LOGIN_MAX_ATTEMPTS_PER_ACCOUNT", "0", "from 1 to 1000"],
    ["SELLO_LOGIN_MAX_ATTEMPTS_PER_ACCOUNT", "five", "from 1 to 1000, such as 5"],
    ["SELLO_LOGIN_MAX_ATTEMPTS_PER_IP", "1001", "from 1 to 1000"],
    ["SELLO_BODY_LIMIT", "1023", "from 1024 to 1048576"],
    ["SELLO_BODY_LIMIT", "16kb", "such as 16384"],
    ["SELLO_PASSWORD_HASH_THREADS", "0", "from 1 to 64"],
    ["SELLO_PASSWORD_HASH_THREADS", "auto", "such as 2"],
    ["SELLO_REGISTRATION", "yes", "must be open or closed"],
    ["SELLO_REGISTRATION", "OPEN", "so write open"],
    ["SELLO_LOG_LEVEL", "verbose", "fatal, error, warn, info, debug, trace or silent"],
    ["SELLO_DEMO_USERS", "true", "must be auto, on or off"],
  ])("%s=%j is rejected", (variable, value, fix, shown = JSON.stringify(value)) => {
    const problem = problemOf({ [variable]: value });

    expect(problem.startsWith(`${variable} `)).toBe(true);
    expect(problem).toContain(fix);
    expect(problem.endsWith(`; got ${shown}.`)).toBe(true);
  });

  it("reports every problem at once", () => {
    const problems = problemsOf({
      SELLO_PORT: "abc",
      SELLO_MODE: "staging",
      SELLO_ACCESS_TTL: "1s",
      SELLO_CORS_ORIGINS: "*",
      SELLO_TLS_CERT: "cert.pem",
      SELLO_ADMIN_PASSWORD: PASSWORD,
    });

    expect(problems).toHaveLength(6);
    const named = ["SELLO_PORT", "SELLO_MODE", "SELLO_ACCESS_TTL", "SELLO_CORS_ORIGINS"];
    for (const variable of [...named, "SELLO_TLS_KEY", "SELLO_ADMIN_USERNAME"]) {
      expect(
        problems.some((p) => p.includes(variable)),
        variable,
      ).toBe(true);
    }
  });

  it("puts every problem into the error message", () => {
    let error: unknown;
    try {
      load({ SELLO_PORT: "abc", SELLO_LOG_LEVEL: "loud" });
    } catch (caught) {
      error = caught;
    }

    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).name).toBe("ConfigError");
    expect((error as Error).message).toContain("(2 problems)");
    expect((error as Error).message).toContain(
      'SELLO_PORT must be an integer from 0 to 65535, such as 3000; got "abc".',
    );
    expect((error as Error).message).toContain("SELLO_LOG_LEVEL");
  });

  it("masks the password of a database URL", () => {
    const problem = problemOf({ SELLO_DATABASE_URL: "mysql://sello:hunter2@127.0.0.1/sello" });

    expect(problem).toContain('got "mysql://sello:***@127.0.0.1/sello"');
    expect(problem).not.toContain("hunter2");
  });

  it("rejects an absolute session lifetime shorter than the idle one", () => {
    const problem = problemOf({ SELLO_REFRESH_IDLE_TTL: "60d", SELLO_REFRESH_ABSOLUTE_TTL: "30d" });

    expect(problem).toContain(
      "SELLO_REFRESH_ABSOLUTE_TTL (30d) must be at least SELLO_REFRESH_IDLE_TTL (60d)",
    );
    expect(problem).toContain("raise SELLO_REFRESH_ABSOLUTE_TTL or lower SELLO_REFRESH_IDLE_TTL");
  });

  it("accepts equal idle and absolute session lifetimes", () => {
    const config = load({ SELLO_REFRESH_IDLE_TTL: "30d" });

    expect(config.refreshIdleTtl).toBe(config.refreshAbsoluteTtl);
  });

  it("rejects a data folder that is a file", () => {
    writeFile("var", "not a folder");

    const problem = problemOf({});

    expect(problem).toContain(`SELLO_DATA_DIR names ${join(dir, "var")}, which is a file`);
  });

  it("rejects a key encryption key file that is a folder", () => {
    mkdirSync(join(dir, "kek"));

    const problem = problemOf({ SELLO_KEY_ENCRYPTION_KEY_FILE: "kek" });

    expect(problem).toContain("SELLO_KEY_ENCRYPTION_KEY_FILE");
    expect(problem).toContain("which is a folder; choose a file path");
  });
});

describe("config file", () => {
  it("reads camelCase keys", () => {
    const path = writeConfigFile({
      port: 4000,
      accessTtl: "5m",
      refreshGrace: 5,
      corsOrigins: ["https://a.example.com", "https://b.example.com"],
      trustProxy: "loopback, 10.0.0.0/8",
      registration: "open",
    });

    const config = load({ SELLO_CONFIG: "sello.json" });

    expect(config.configFile).toBe(path);
    expect(config.port).toBe(4000);
    expect(config.accessTtl).toBe(300);
    expect(config.refreshGrace).toBe(5);
    expect(config.corsOrigins).toEqual(["https://a.example.com", "https://b.example.com"]);
    expect(config.trustProxy).toEqual(["loopback", "10.0.0.0/8"]);
    expect(config.registration).toBe("open");
    expect(config.sources.port).toBe("file");
  });

  it("lets environment variables override the file", () => {
    writeConfigFile({ port: 4000, host: "0.0.0.0", logLevel: "debug" });

    const config = load({ SELLO_CONFIG: "sello.json", SELLO_PORT: "5000", SELLO_LOG_LEVEL: "" });

    expect(config.port).toBe(5000);
    expect(config.sources.port).toBe("env");
    expect(config.host).toBe("0.0.0.0");
    expect(config.sources.host).toBe("file");
    expect(config.logLevel).toBe("debug");
  });

  it("ignores an invalid file value that the environment overrides", () => {
    writeConfigFile({ port: "abc" });

    const config = load({ SELLO_CONFIG: "sello.json", SELLO_PORT: "5000" });

    expect(config.port).toBe(5000);
  });

  it("ignores a file value of the wrong type that the environment overrides", () => {
    writeConfigFile({ port: true });

    const config = load({ SELLO_CONFIG: "sello.json", SELLO_PORT: "5000" });

    expect(config.port).toBe(5000);
  });

  it("names the file key in problems", () => {
    const path = writeConfigFile({ port: 70000 });

    const problem = problemOf({ SELLO_CONFIG: "sello.json" });

    expect(problem).toBe(
      `"port" in ${path} must be an integer from 0 to 65535, such as 3000; got 70000.`,
    );
  });

  it("rejects an unknown key and suggests the right one", () => {
    const path = writeConfigFile({ accesTtl: "10m" });

    const problem = problemOf({ SELLO_CONFIG: "sello.json" });

    expect(problem).toBe(
      `${path} contains the unknown key "accesTtl"; use "accessTtl" or remove it.`,
    );
  });

  it("suggests the file key for a variable name", () => {
    writeConfigFile({ SELLO_PORT: 3000 });

    const problem = problemOf({ SELLO_CONFIG: "sello.json" });

    expect(problem).toContain('unknown key "SELLO_PORT"; use "port"');
  });

  it("rejects an unknown key without a close match", () => {
    writeConfigFile({ colour: "blue" });

    const problem = problemOf({ SELLO_CONFIG: "sello.json" });

    expect(problem).toContain('unknown key "colour"; remove it');
  });

  it("rejects a missing file", () => {
    const problem = problemOf({ SELLO_CONFIG: "missing.json" });

    expect(problem).toBe(
      `SELLO_CONFIG names ${join(dir, "missing.json")}, which cannot be read (no such file); fix the path or its permissions, or unset SELLO_CONFIG.`,
    );
  });

  it("rejects a folder", () => {
    mkdirSync(join(dir, "conf"));

    const problem = problemOf({ SELLO_CONFIG: "conf" });

    expect(problem).toContain("cannot be read (it is a folder, not a file)");
  });

  it.skipIf(process.getuid?.() === 0)("rejects a file without read permission", () => {
    const path = writeConfigFile({ port: 3000 });
    chmodSync(path, 0o000);

    const problem = problemOf({ SELLO_CONFIG: "sello.json" });

    expect(problem).toContain("cannot be read (permission denied)");
  });

  it("rejects invalid JSON with its position", () => {
    writeConfigFile('{\n  "port": 3000\n  "host": "0.0.0.0"\n}');

    const problem = problemOf({ SELLO_CONFIG: "sello.json" });

    expect(problem).toContain("is not valid JSON");
    expect(problem).toContain("at line 3, column 3");
    expect(problem).toContain("fix the syntax");
  });

  it("keeps file content out of JSON syntax errors", () => {
    writeConfigFile(`{"hs256Secret": ${SECRET}}`);

    const problem = problemOf({ SELLO_CONFIG: "sello.json" });

    expect(problem).toContain("is not valid JSON");
    expect(problem).not.toContain(SECRET.slice(0, 6));
  });

  it.each([["[]"], ["3000"], ["null"], ['"port"']])("rejects %s as the document", (content) => {
    writeConfigFile(content);

    const problem = problemOf({ SELLO_CONFIG: "sello.json" });

    expect(problem).toContain('must contain a JSON object, such as {"port": 3000}');
  });

  it.each<[string, unknown, string]>([
    ["port", true, "must be a JSON string or number; got true."],
    ["host", null, "must be a JSON string or number; got null."],
    ["mode", { name: "production" }, "must be a JSON string or number"],
    ["corsOrigins", [1, 2], "must be a JSON array of strings or a comma-separated string"],
    ["audience", { a: 1 }, "must be a JSON array of strings"],
  ])("rejects %s of the wrong JSON type", (key, value, fix) => {
    writeConfigFile({ [key]: value });

    const problem = problemOf({ SELLO_CONFIG: "sello.json" });

    expect(problem.startsWith(`"${key}" in `)).toBe(true);
    expect(problem).toContain(fix);
  });

  it("treats empty strings and arrays as unset", () => {
    writeConfigFile({ host: "", trustProxy: [] });

    const config = load({ SELLO_CONFIG: "sello.json" });

    expect(config.host).toBe("127.0.0.1");
    expect(config.trustProxy).toEqual([]);
  });

  it("reports file and environment problems together", () => {
    writeConfigFile({ port: "abc", unknownKey: 1 });

    const problems = problemsOf({ SELLO_CONFIG: "sello.json", SELLO_LOG_LEVEL: "loud" });

    expect(problems).toHaveLength(3);
  });

  it("never shows a secret of the wrong JSON type", () => {
    writeConfigFile({ adminUsername: "root", adminPassword: 12_345_678 });

    const problem = problemOf({ SELLO_CONFIG: "sello.json" });

    expect(problem).toContain('"adminPassword" in');
    expect(problem).toContain("must be a JSON string.");
    expect(problem).not.toContain("12345678");
  });
});

describe("HS256 secret", () => {
  it("uses SELLO_HS256_SECRET as given", () => {
    const config = load({ SELLO_ALGORITHM: "HS256", SELLO_HS256_SECRET: ` ${SECRET} ` });

    expect(config.hs256Secret).toBe(` ${SECRET} `);
  });

  it("reads the secret file without one trailing newline", () => {
    writeFile("secret", `${SECRET}\n\n`);

    const config = load({ SELLO_ALGORITHM: "HS256", SELLO_HS256_SECRET_FILE: "secret" });

    expect(config.hs256Secret).toBe(`${SECRET}\n`);
  });

  it("removes a trailing CRLF from the secret file", () => {
    writeFile("secret", `${SECRET}\r\n`);

    const config = load({ SELLO_ALGORITHM: "HS256", SELLO_HS256_SECRET_FILE: "secret" });

    expect(config.hs256Secret).toBe(SECRET);
  });

  it("requires a secret for HS256", () => {
    const problem = problemOf({ SELLO_ALGORITHM: "HS256" });

    expect(problem).toContain("SELLO_ALGORITHM is HS256, which needs a shared secret");
    expect(problem).toContain("set SELLO_HS256_SECRET_FILE");
  });

  it("rejects both secret forms at once", () => {
    writeFile("secret", SECRET);

    const problem = problemOf({
      SELLO_ALGORITHM: "HS256",
      SELLO_HS256_SECRET: SECRET,
      SELLO_HS256_SECRET_FILE: "secret",
    });

    expect(problem).toBe(
      "SELLO_HS256_SECRET and SELLO_HS256_SECRET_FILE are both set; keep only one of them.",
    );
  });

  it.each([["SELLO_HS256_SECRET"], ["SELLO_HS256_SECRET_FILE"]])(
    "rejects %s with another algorithm",
    (variable) => {
      const problem = problemOf({ SELLO_ALGORITHM: "RS256", [variable]: SECRET });

      expect(problem).toBe(
        `${variable} is set, but SELLO_ALGORITHM is RS256, which does not use a shared secret; unset ${variable}, or set SELLO_ALGORITHM to HS256.`,
      );
    },
  );

  it("rejects a secret with the default algorithm", () => {
    const problem = problemOf({ SELLO_HS256_SECRET: SECRET });

    expect(problem).toContain("SELLO_ALGORITHM is ES256");
  });

  it("rejects a missing secret file", () => {
    const problem = problemOf({ SELLO_ALGORITHM: "HS256", SELLO_HS256_SECRET_FILE: "nope" });

    expect(problem).toBe(
      `SELLO_HS256_SECRET_FILE names ${join(dir, "nope")}, which cannot be read (no such file); fix the path or the file's permissions.`,
    );
  });

  it.each([[""], ["\n"], ["\r\n"]])("rejects the secret file content %j as empty", (content) => {
    writeFile("secret", content);

    const problem = problemOf({ SELLO_ALGORITHM: "HS256", SELLO_HS256_SECRET_FILE: "secret" });

    expect(problem).toContain("which is empty; write the secret into it");
  });

  it("rejects a whitespace-only secret without showing it", () => {
    const problem = problemOf({ SELLO_ALGORITHM: "HS256", SELLO_HS256_SECRET: "   " });

    expect(problem).toBe("SELLO_HS256_SECRET must not consist of whitespace only.");
  });

  it("keeps the secret out of every message", () => {
    writeFile("secret", SECRET);
    writeConfigFile({ hs256Secret: SECRET, port: "x" });

    const problems = [
      ...problemsOf({ SELLO_HS256_SECRET: SECRET, SELLO_PORT: SECRET }),
      ...problemsOf({ SELLO_CONFIG: "sello.json" }),
      ...problemsOf({ SELLO_HS256_SECRET_FILE: "secret" }),
      ...problemsOf({
        SELLO_ALGORITHM: "HS256",
        SELLO_HS256_SECRET: SECRET,
        SELLO_HS256_SECRET_FILE: "secret",
      }),
    ];

    const messages = problems.filter((p) => !p.startsWith("SELLO_PORT"));
    expect(messages.length).toBeGreaterThanOrEqual(4);
    for (const message of messages) {
      expect(message).not.toContain(SECRET);
    }
  });

  it("reads the secret from the config file", () => {
    writeConfigFile({ algorithm: "HS256", hs256Secret: SECRET });

    const config = load({ SELLO_CONFIG: "sello.json" });

    expect(config.hs256Secret).toBe(SECRET);
  });
});

describe("production and cookies", () => {
  it("accepts https behind a trusted proxy", () => {
    const config = load(PRODUCTION);

    expect(config.mode).toBe("production");
    expect(config.cookieSecure).toBe(true);
    expect(config.cookieName).toBe("__Secure-sello_refresh");
    expect(config.createDemoUsers).toBe(false);
    expect(config.corsOrigins).toEqual(["https://auth.example.com"]);
    expect(config.audience).toEqual(["https://auth.example.com"]);
  });

  it("accepts https served with a certificate", () => {
    writeFile("cert.pem", TEST_CERT);
    writeFile("key.pem", TEST_KEY);

    const config = load({
      SELLO_MODE: "production",
      SELLO_PUBLIC_URL: "https://localhost:8443",
      SELLO_TLS_CERT: "cert.pem",
      SELLO_TLS_KEY: "key.pem",
    });

    expect(config.tls?.cert).toBe(TEST_CERT);
  });

  it("rejects the default public URL", () => {
    const problems = problemsOf({ SELLO_MODE: "production", SELLO_TRUST_PROXY: "loopback" });

    expect(problems).toEqual([
      'SELLO_PUBLIC_URL must be an https URL in production, because the refresh cookie and tokens must not travel unencrypted; set it to the https address that clients use, such as https://auth.example.com; got "http://localhost:3000" (the default).',
    ]);
  });

  it("rejects a plain http public URL", () => {
    const problem = problemOf({ ...PRODUCTION, SELLO_PUBLIC_URL: "http://auth.example.com" });

    expect(problem).toContain("SELLO_PUBLIC_URL must be an https URL in production");
    expect(problem).toContain('got "http://auth.example.com".');
  });

  it("requires TLS or a trusted proxy", () => {
    const problem = problemOf({
      SELLO_MODE: "production",
      SELLO_PUBLIC_URL: "https://auth.example.com",
    });

    expect(problem).toContain("SELLO_MODE is production, which forbids serving plain HTTP");
    expect(problem).toContain("SELLO_TLS_CERT");
    expect(problem).toContain("SELLO_TLS_KEY");
    expect(problem).toContain("SELLO_TRUST_PROXY");
  });

  it("rejects demo users forced on", () => {
    const problem = problemOf({ ...PRODUCTION, SELLO_DEMO_USERS: "on" });

    expect(problem).toBe(
      "SELLO_DEMO_USERS is on, but SELLO_MODE is production, where accounts with published passwords must not exist; set it to off or auto.",
    );
  });

  it("names the file key of a production problem", () => {
    const path = writeConfigFile({ mode: "production", publicUrl: "https://auth.example.com" });

    const problem = problemOf({ SELLO_CONFIG: "sello.json" });

    expect(problem.startsWith(`"mode" in ${path} is production`)).toBe(true);
  });

  it.each([["http://localhost:3000"], ["http://127.0.0.1:3000"], ["http://[::1]:3000"]])(
    "allows %s in development without Secure cookies",
    (publicUrl) => {
      const config = load({ SELLO_PUBLIC_URL: publicUrl });

      expect(config.cookieSecure).toBe(false);
      expect(config.cookieName).toBe("sello_refresh");
    },
  );

  it.each([["http://192.168.1.20:3000"], ["http://auth.example.com"], ["http://127.0.0.2"]])(
    "rejects %s in development",
    (publicUrl) => {
      const problem = problemOf({ SELLO_PUBLIC_URL: publicUrl });

      expect(problem).toContain(
        "SELLO_PUBLIC_URL may use plain http only on localhost, 127.0.0.1 or ::1",
      );
      expect(problem).toContain("use an https URL");
    },
  );

  it("uses Secure cookies for https in development", () => {
    const config = load({ SELLO_PUBLIC_URL: "https://localhost:8443" });

    expect(config.cookieSecure).toBe(true);
    expect(config.cookieName).toBe("__Secure-sello_refresh");
  });

  it.each<[NodeJS.ProcessEnv, boolean]>([
    [{}, true],
    [{ SELLO_HOST: "localhost" }, true],
    [{ SELLO_HOST: "::1" }, true],
    [{ SELLO_HOST: "0.0.0.0" }, false],
    [{ SELLO_HOST: "0.0.0.0", SELLO_DEMO_USERS: "on" }, true],
    [{ SELLO_DEMO_USERS: "off" }, false],
    [{ ...PRODUCTION, SELLO_HOST: "127.0.0.1" }, false],
  ])("decides demo users for %j", (env, expected) => {
    expect(load(env).createDemoUsers).toBe(expected);
  });
});

describe("CORS origins", () => {
  it.each<[string, string]>([
    ["*", 'must not be "*"'],
    ["https://app.example.com, *", 'must not be "*"'],
    ["https://app.example.com/login", "no path"],
    ["https://app.example.com?x=1", "no path"],
    ["https://user@app.example.com", "no path"],
    ["null", "such as https://app.example.com"],
    ["app.example.com", "such as https://app.example.com"],
    ["file:///tmp/page.html", "such as https://app.example.com"],
  ])("rejects %j", (value, fix) => {
    const problem = problemOf({ SELLO_CORS_ORIGINS: value });

    expect(problem.startsWith("SELLO_CORS_ORIGINS ")).toBe(true);
    expect(problem).toContain(fix);
  });

  it("explains why the wildcard is rejected", () => {
    const problem = problemOf({ SELLO_CORS_ORIGINS: "*" });

    expect(problem).toContain("credentialed requests");
    expect(problem).toContain("list each origin");
  });
});

describe("trusted proxies", () => {
  it.each([
    ["true"],
    ["*"],
    ["0.0.0.0/0"],
    ["::/0"],
    ["10.0.0.1, 0.0.0.0/0"],
    ["10.0.0.0/0.0.0.0"],
  ])("rejects %j as trusting every peer", (value) => {
    const problem = problemOf({ SELLO_TRUST_PROXY: value });

    expect(problem.startsWith("SELLO_TRUST_PROXY must not trust every peer")).toBe(true);
    expect(problem).toContain("forge its IP address");
    expect(problem).toContain("such as 10.0.0.5 or 10.0.0.0/8");
  });

  it.each<[string, string]>([
    [
      "proxy.internal",
      "must list IP addresses, CIDR ranges or the names loopback, linklocal or uniquelocal",
    ],
    ["1", "must list IP addresses"],
    ["false", "must list IP addresses"],
    ["10.0.0.0/33", "prefix length from 1 to 32"],
    ["fd00::/129", "prefix length from 1 to 128"],
    ["10.0.0.0/255.0.255.0", "prefix length from 1 to 32"],
    ["10.0.0.0/abc", "prefix length"],
    ["Loopback", "must list IP addresses"],
  ])("rejects %j", (value, fix) => {
    const problem = problemOf({ SELLO_TRUST_PROXY: value });

    expect(problem).toContain(fix);
  });
});

describe("TLS files", () => {
  it("reads the certificate and key", () => {
    const certFile = writeFile("cert.pem", TEST_CERT);
    const keyFile = writeFile("key.pem", TEST_KEY);

    const config = load({ SELLO_TLS_CERT: "cert.pem", SELLO_TLS_KEY: "key.pem" });

    expect(config.tls).toEqual({ certFile, keyFile, cert: TEST_CERT, key: TEST_KEY });
    expect(config.warnings).toEqual([]);
  });

  it.each<[NodeJS.ProcessEnv, string]>([
    [{ SELLO_TLS_CERT: "cert.pem" }, "SELLO_TLS_CERT is set without SELLO_TLS_KEY"],
    [{ SELLO_TLS_KEY: "key.pem" }, "SELLO_TLS_KEY is set without SELLO_TLS_CERT"],
  ])("requires both files for %j", (env, message) => {
    const problem = problemOf(env);

    expect(problem).toContain(message);
    expect(problem).toContain("set both to serve HTTPS, or neither");
  });

  it("reports unreadable files", () => {
    const problems = problemsOf({ SELLO_TLS_CERT: "no-cert.pem", SELLO_TLS_KEY: "no-key.pem" });

    expect(problems).toEqual([
      `SELLO_TLS_CERT names ${join(dir, "no-cert.pem")}, which cannot be read (no such file); fix the path or the file's permissions.`,
      `SELLO_TLS_KEY names ${join(dir, "no-key.pem")}, which cannot be read (no such file); fix the path or the file's permissions.`,
    ]);
  });

  it("rejects files that are not PEM", () => {
    writeFile("cert.pem", "hello");
    writeFile("key.pem", "world");

    const problems = problemsOf({ SELLO_TLS_CERT: "cert.pem", SELLO_TLS_KEY: "key.pem" });

    expect(problems).toHaveLength(2);
    expect(problems[0]).toContain("SELLO_TLS_CERT");
    expect(problems[0]).toContain("does not contain a PEM certificate");
    expect(problems[1]).toContain("SELLO_TLS_KEY");
    expect(problems[1]).toContain("does not contain an unencrypted PEM private key");
  });

  it("rejects a key encrypted with a passphrase", () => {
    const { privateKey } = generateKeyPairSync("ec", {
      namedCurve: "P-256",
      privateKeyEncoding: { type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: "pw" },
      publicKeyEncoding: { type: "spki", format: "pem" },
    });
    writeFile("cert.pem", TEST_CERT);
    writeFile("key.pem", privateKey);

    const problem = problemOf({ SELLO_TLS_CERT: "cert.pem", SELLO_TLS_KEY: "key.pem" });

    expect(problem).toContain("decrypt the key if it has a passphrase");
    expect(problem).not.toContain("PRIVATE KEY-----");
  });

  it("rejects a key that does not match the certificate", () => {
    const { privateKey } = generateKeyPairSync("ec", {
      namedCurve: "P-256",
      privateKeyEncoding: { type: "pkcs8", format: "pem" },
      publicKeyEncoding: { type: "spki", format: "pem" },
    });
    writeFile("cert.pem", TEST_CERT);
    writeFile("key.pem", privateKey);

    const problem = problemOf({ SELLO_TLS_CERT: "cert.pem", SELLO_TLS_KEY: "key.pem" });

    expect(problem).toBe(
      "SELLO_TLS_KEY does not belong to the certificate in SELLO_TLS_CERT; use the private key that the certificate was issued for.",
    );
  });

  it("warns about an expired certificate", () => {
    writeFile("cert.pem", TEST_CERT);
    writeFile("key.pem", TEST_KEY);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(new Date("2127-01-01T00:00:00Z"));

    const config = load({ SELLO_TLS_CERT: "cert.pem", SELLO_TLS_KEY: "key.pem" });

    expect(config.warnings).toHaveLength(1);
    expect(config.warnings[0]).toContain("The certificate in SELLO_TLS_CERT expired on 2126-11-10");
  });
});

describe("administrator", () => {
  it("reads user name and password", () => {
    const config = load({ SELLO_ADMIN_USERNAME: "root", SELLO_ADMIN_PASSWORD: PASSWORD });

    expect(config.admin).toEqual({ username: "root", password: PASSWORD });
  });

  it("requires the password with the user name", () => {
    const problem = problemOf({ SELLO_ADMIN_USERNAME: "root" });

    expect(problem).toBe(
      "SELLO_ADMIN_USERNAME is set without SELLO_ADMIN_PASSWORD; set both to create the first administrator, or neither.",
    );
  });

  it("requires the user name with the password and hides the password", () => {
    const problem = problemOf({ SELLO_ADMIN_PASSWORD: PASSWORD });

    expect(problem).toContain("SELLO_ADMIN_PASSWORD is set without SELLO_ADMIN_USERNAME");
    expect(problem).not.toContain(PASSWORD);
  });

  it("never shows a rejected password", () => {
    const problem = problemOf({ SELLO_ADMIN_USERNAME: "root", SELLO_ADMIN_PASSWORD: "  " });

    expect(problem).toBe("SELLO_ADMIN_PASSWORD must not consist of whitespace only.");
  });
});

describe("misspelled variables", () => {
  it("warns about a variable close to a setting", () => {
    const config = load({ SELLO_PROT: "3000", SELLO_ACESS_TTL: "5m" });

    expect(config.warnings).toEqual([
      "SELLO_PROT is not a Sello setting and is ignored; did you mean SELLO_PORT?",
      "SELLO_ACESS_TTL is not a Sello setting and is ignored; did you mean SELLO_ACCESS_TTL?",
    ]);
  });

  it("leaves unrelated variables alone", () => {
    const config = load({ SELLO_CONFIG: "", SELLO_DEMO_APP_URL: "x", PORT: "1" });

    expect(config.warnings).toEqual([]);
  });
});

describe("withListenPort", () => {
  it("derives default URLs from the real port", () => {
    const config = withListenPort(load({ SELLO_PORT: "0" }), 41_234);

    expect(config.port).toBe(41_234);
    expect(config.publicUrl).toBe("http://localhost:41234");
    expect(config.audience).toEqual(["http://localhost:41234"]);
    expect(config.corsOrigins).toEqual(["http://localhost:41234"]);
  });

  it("keeps explicitly set URLs", () => {
    const loaded = load({ SELLO_PORT: "0", SELLO_PUBLIC_URL: "https://auth.example.com" });

    const config = withListenPort(loaded, 41_234);

    expect(config.port).toBe(41_234);
    expect(config.publicUrl).toBe("https://auth.example.com");
    expect(config.corsOrigins).toEqual(["https://auth.example.com"]);
  });

  it("keeps an explicit audience with a default public URL", () => {
    const config = withListenPort(load({ SELLO_AUDIENCE: "api" }), 5000);

    expect(config.audience).toEqual(["api"]);
    expect(config.corsOrigins).toEqual(["http://localhost:5000"]);
  });
});

describe("redactConfig", () => {
  it("hides secrets and keeps the rest", () => {
    writeFile("cert.pem", TEST_CERT);
    writeFile("key.pem", TEST_KEY);
    const config = load({
      SELLO_ALGORITHM: "HS256",
      SELLO_HS256_SECRET: SECRET,
      SELLO_ADMIN_USERNAME: "root",
      SELLO_ADMIN_PASSWORD: PASSWORD,
      SELLO_TLS_CERT: "cert.pem",
      SELLO_TLS_KEY: "key.pem",
      SELLO_DATABASE_URL: "postgres://sello:dbpass@127.0.0.1/sello",
      SELLO_REDIS_URL: "redis://:redispass@127.0.0.1:6379",
    });

    const text = JSON.stringify(redactConfig(config));

    for (const secret of [SECRET, PASSWORD, "dbpass", "redispass", "PRIVATE KEY"]) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain('"username":"root"');
    expect(text).toContain("postgres://sello:***@127.0.0.1/sello");
    expect(text).toContain(join(dir, "key.pem"));
  });
});

describe("SETTINGS table", () => {
  const toEnvName = (fileKey: string) =>
    `SELLO_${fileKey.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase()}`;

  it("derives each variable name from its file key", () => {
    for (const setting of SETTINGS) {
      expect(setting.env, setting.fileKey).toBe(toEnvName(setting.fileKey));
    }
  });

  it("has unique names and a description for each setting", () => {
    expect(new Set(SETTINGS.map((s) => s.env)).size).toBe(SETTINGS.length);
    for (const setting of SETTINGS) {
      expect(setting.description, setting.env).toMatch(/^\S.*\.$/);
      expect(setting.unit !== "" || setting.allowed !== undefined, setting.env).toBe(true);
    }
  });

  it("parses each literal default", () => {
    for (const setting of SETTINGS) {
      if (setting.defaultText !== undefined) {
        expect(
          () => setting.parse(setting.defaultText as string, { cwd: dir }),
          setting.env,
        ).not.toThrow();
      }
    }
  });
});

/** Splits Markdown table lines into trimmed cells, so column padding does not matter. */
function tableCells(lines: readonly string[]): string[][] {
  return lines.map((line) =>
    line
      .replace(/^\|/, "")
      .replace(/\|$/, "")
      .split(/(?<!\\)\|/)
      .map((cell) => cell.trim()),
  );
}

describe("docs/configuration.md", () => {
  const page = readFileSync(new URL("../../../docs/configuration.md", import.meta.url), "utf8");
  const rows = tableCells(page.split("\n").filter((line) => /^\| `SELLO_/.test(line)));

  it("has one row per setting with its file key and default", () => {
    expect(rows).toHaveLength(SETTINGS.length);
    for (const setting of SETTINGS) {
      const row = rows.find((cells) => cells[0] === `\`${setting.env}\``);
      expect(row, setting.env).toBeDefined();
      expect(row?.[1], setting.env).toBe(`\`${setting.fileKey}\``);
      expect(row?.[2], setting.env).toBe(setting.defaultDescription);
    }
  });

  it("names no variable that SETTINGS lacks", () => {
    const known = new Set(["SELLO_CONFIG", ...SETTINGS.map((s) => s.env)]);
    const named = new Set(page.match(/SELLO_[A-Z0-9_]*[A-Z0-9]/g) ?? []);

    // SELLO_PROT is the page's example of a misspelled variable.
    const unknown = [...named].filter((name) => !known.has(name) && name !== "SELLO_PROT");
    expect(unknown).toEqual([]);
  });

  it("shows the rows that renderSettingsTable produces", () => {
    const rendered = renderSettingsTable()
      .split("\n")
      .filter((line) => line.startsWith("| `"));

    expect(rows, "regenerate the rows with renderSettingsTable()").toEqual(tableCells(rendered));
  });
});
