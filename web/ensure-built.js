// Builds the dashboard when web/dist is missing or older than its sources. `npm install` runs
// it (the `prepare` script), so a fresh clone's `npx heatledger serve` has a dashboard;
// `npm start` and `npm run bench` run it too, and go straight on when the build is current.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = dirname(fileURLToPath(import.meta.url));
const built = join(web, 'dist', 'index.html');
const vite = join(web, '..', 'node_modules', 'vite', 'bin', 'vite.js');

function newest(path) {
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  return Math.max(s.mtimeMs, ...readdirSync(path).map((f) => newest(join(path, f))));
}

// server/csv.ts is bundled too (the CSV buttons share the server's rule).
const sources = ['src', 'public', 'index.html', 'vite.config.ts', '../server/csv.ts'].map((p) => join(web, p)).filter((p) => existsSync(p));
const stale = !existsSync(built) || Math.max(...sources.map(newest)) > statSync(built).mtimeMs;
if (stale && !existsSync(vite)) {
  // An install without dev dependencies (npm install --omit=dev) has no vite; failing here
  // would fail the whole install. The server then answers `/` with a page that says how to build.
  console.warn('heatledger: the dashboard is not built and vite is not installed (dev dependencies); run `npm install` with them, then `npm run build:web`.');
} else if (stale) {
  execFileSync(process.execPath, [vite, 'build', '--config', join(web, 'vite.config.ts'), '--logLevel', 'warn'], { stdio: 'inherit' });
}
