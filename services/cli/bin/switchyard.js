#!/usr/bin/env node
// The `switchyard` command. Plain JavaScript so any Node can start it: on Node 24+ it imports
// src/main.ts directly (type stripping); on an older Node it re-runs src/main.ts with the Node 24
// that the repository's `node` devDependency installs, forwarding signals and the exit code.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const major = Number(process.versions.node.split('.')[0]);

if (major >= 24) {
  await import(pathToFileURL(main).href);
} else {
  const node24 = fileURLToPath(new URL('../../../node_modules/node/bin/node', import.meta.url));
  if (!existsSync(node24)) {
    process.stderr.write(
      `error: switchyard needs Node 24 (this is ${process.version})\nhint: run \`npm install\` at the repository root (it installs Node 24 as a devDependency)\n`,
    );
    process.exit(1);
  }
  const child = spawn(node24, [main, ...process.argv.slice(2)], { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal === 'SIGINT' || signal === 'SIGTERM' ? 0 : 1)));
}
