// Runs the `sello` command from the TypeScript sources, as bin/sello.js runs the built files, so
// the CLI tests need no build step. Start it with `node --conditions=sello-source --import tsx`.
import { main } from "../../src/cli.js";

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`sello: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
