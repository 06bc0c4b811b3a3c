// Writes persisted-queries.json, the allow-list a server in allow-list mode loads; with
// --check it writes nothing and fails when the committed file differs.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { manifestJSON } from '../src/persisted.js';

// The script runs compiled from dist/scripts, two levels below the package.
const file = fileURLToPath(new URL('../../persisted-queries.json', import.meta.url));
const want = manifestJSON();

if (process.argv.includes('--check')) {
  let have = '';
  try {
    have = readFileSync(file, 'utf8');
  } catch {
    // A missing file is drift like any other.
  }
  if (have !== want) {
    console.error('persisted-queries.json is out of date: run `npm run generate` in clients/ and commit it');
    process.exit(1);
  }
  console.log('persisted-queries.json is up to date');
} else {
  writeFileSync(file, want);
  console.log(`wrote ${Object.keys(JSON.parse(want) as object).length} operations to persisted-queries.json`);
}
