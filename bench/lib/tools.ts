// External tools the bench drives: h2load (nghttp2-client), wrk and nginx (nginx-light). On a fresh
// Debian/Ubuntu machine, as root, they are installed with apt-get; otherwise the bench says what to
// install and stops.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { NGINX_BINARY } from './nginx.ts';

/** A tool the bench needs and the Debian package that provides it. */
interface Tool {
  name: string;
  present: () => boolean;
  aptPackage: string;
}

function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

const TOOLS: Record<string, Tool> = {
  h2load: { name: 'h2load', present: () => onPath('h2load'), aptPackage: 'nghttp2-client' },
  wrk: { name: 'wrk', present: () => onPath('wrk'), aptPackage: 'wrk' },
  nginx: { name: 'nginx', present: () => existsSync(NGINX_BINARY), aptPackage: 'nginx-light' },
};

/**
 * Makes sure the named tools exist: installs the missing ones with apt-get when running as root on
 * a machine with apt-get, else prints the install command and exits 1.
 */
export function ensureTools(names: readonly (keyof typeof TOOLS)[]): void {
  const missing = names.map((n) => TOOLS[n] as Tool).filter((t) => !t.present());
  if (missing.length === 0) return;
  const packages = missing.map((t) => t.aptPackage);
  const root = process.getuid?.() === 0;
  if (root && onPath('apt-get')) {
    process.stderr.write(`bench: installing ${packages.join(' ')} with apt-get...\n`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const install = () =>
      spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...packages], { stdio: 'inherit', env });
    if (install().status !== 0) {
      spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
      install();
    }
  }
  // nginx-light's post-install may fail to start the system nginx (port 80 taken); only the binary matters.
  const still = missing.filter((t) => !t.present());
  if (still.length > 0) {
    process.stderr.write(
      `bench: missing ${still.map((t) => t.name).join(', ')}; install with:\n  sudo apt-get install -y ${still
        .map((t) => t.aptPackage)
        .join(' ')}\n`,
    );
    process.exit(1);
  }
}
