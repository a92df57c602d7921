// Entry of the `switchyard` command (bin/switchyard.js runs it on Node 24).

import { runCli } from './program.ts';

process.exitCode = await runCli(process.argv.slice(2));
