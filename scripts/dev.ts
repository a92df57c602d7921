// `npm start` (via scripts/bootstrap.mjs, on Node 24): runs `switchyard dev` in this process with
// the arguments given after `npm start --`.
import { runCli } from '@switchyard/cli';

process.exitCode = await runCli(['dev', ...process.argv.slice(2)]);
