// Entry of `npm start`: runs the Sello demo with the SELLO_* settings of the environment.
import { runDemo } from "./run.js";

process.exitCode = await runDemo();
