/**
 * A real Sello auth server in its own process, so that its CPU time can be measured alone.
 * Settings come from the SELLO_* environment that the runner passes. The runner also sets
 * BENCH_USER_COUNT and BENCH_PASSWORD: the server creates users bench-user-0, bench-user-1, ...
 * with that password before it reports ready.
 */
import { createSelloServer, loadConfig } from "@sello/server";
import { reportFailure, reportReady, serveControl } from "./control.js";

async function main(): Promise<void> {
  const userCount = Number(process.env.BENCH_USER_COUNT ?? "0");
  const password = process.env.BENCH_PASSWORD;
  if (!Number.isSafeInteger(userCount) || userCount < 1 || password === undefined) {
    throw new Error("Set BENCH_USER_COUNT to a positive integer and BENCH_PASSWORD.");
  }

  const config = loadConfig(process.env, { cwd: process.env.SELLO_DATA_DIR ?? process.cwd() });
  const server = await createSelloServer({ config });
  const usernames: string[] = [];
  for (let index = 0; index < userCount; index++) {
    const username = `bench-user-${index}`;
    await server.auth.createUser(username, password, ["viewer"]);
    usernames.push(username);
  }

  const url = await server.listen();
  serveControl(() => server.close());
  reportReady({ url, usernames, algorithm: config.algorithm });
}

main().catch(reportFailure);
