import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, startCli } from "./helpers/cli.js";
import { freePort } from "./helpers/server.js";

let workDir: string;

beforeAll(() => {
  workDir = mkdtempSync(join(tmpdir(), "sello-cli-"));
});

afterAll(() => {
  rmSync(workDir, { recursive: true, force: true });
});

/** Settings for a quiet development server in its own data folder. */
async function baseEnv(name: string): Promise<Record<string, string>> {
  return {
    SELLO_DATA_DIR: join(workDir, name),
    SELLO_PORT: String(await freePort()),
    SELLO_HOST: "127.0.0.1",
    SELLO_LOG_LEVEL: "warn",
    SELLO_DEMO_USERS: "off",
  };
}

describe("sello serve", () => {
  it("prints URL and development mode", async () => {
    const env = await baseEnv("development");
    const cli = await startCli(env);

    try {
      expect(cli.output().stdout).toBe(
        `Sello development server listening on http://127.0.0.1:${env.SELLO_PORT} ` +
          `(public URL http://localhost:${env.SELLO_PORT})\n`,
      );
      const health = await fetch(`${cli.url}/healthz`);
      expect(health.status).toBe(200);
    } finally {
      const result = await cli.stop();
      expect(result.code).toBe(0);
      expect(result.stderr).toBe("");
    }
  });

  it("port in use names SELLO_PORT", async () => {
    const blocker: Server = createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => blocker.listen(port, "127.0.0.1", resolve));

    try {
      const result = await runCli(["serve"], {
        ...(await baseEnv("busy")),
        SELLO_PORT: String(port),
      });

      expect(result.code).not.toBe(0);
      expect(result.stderr).toBe(
        `sello: port ${port} on 127.0.0.1 is already in use. Stop the other process or set SELLO_PORT to a free port.\n`,
      );
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it("invalid settings name each variable", async () => {
    const result = await runCli(["serve"], {
      ...(await baseEnv("invalid")),
      SELLO_PORT: "eighty",
      SELLO_ACCESS_TTL: "forever",
    });

    expect(result.code).toBe(78);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(/^sello: Invalid Sello configuration \(2 problems\):\n/);
    expect(result.stderr).toContain(
      '- SELLO_PORT must be an integer from 0 to 65535, such as 3000; got "eighty".',
    );
    expect(result.stderr).toContain("- SELLO_ACCESS_TTL ");
  });

  it("data folder under a file fails", async () => {
    const file = join(workDir, "plain-file.txt");
    writeFileSync(file, "not a folder\n");
    const dataDir = join(file, "sub");

    const result = await runCli(["serve"], {
      ...(await baseEnv("unused")),
      SELLO_DATA_DIR: dataDir,
    });

    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`the data folder ${dataDir} cannot be created or written`);
    expect(result.stderr).toContain("set SELLO_DATA_DIR to a writable folder");
  });

  it("weak HS256 secret stops the start", async () => {
    const result = await runCli(["serve"], {
      ...(await baseEnv("hs256")),
      SELLO_ALGORITHM: "HS256",
      SELLO_HS256_SECRET: "secretsecretsecretsecretsecretsecret",
    });

    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/^sello: cannot start: Invalid HS256 secret: /);
    expect(result.stderr).toContain("openssl rand -base64 32");
    expect(result.stderr).not.toContain("secretsecretsecret");
  });
});
