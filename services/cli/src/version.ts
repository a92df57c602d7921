// The Switchyard version `switchyard --version` prints: the root package.json's, read once.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './node-binary.ts';

/** Version of this Switchyard checkout (the root package.json's `version`, e.g. `0.1.0`). */
export const SWITCHYARD_VERSION: string = (
  JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }
).version;
