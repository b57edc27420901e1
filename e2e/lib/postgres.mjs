// PostgreSQL for the browser tests of a district, found as the Rust tests find theirs
// (crates/pgtest): the database DOORPLATE_TEST_DATABASE names when it is set, otherwise
// the throwaway cluster the Rust tests share — `scripts/pg-throwaway.sh start` starts it
// (initdb and pg_ctl on a free loopback port, under the same lock as crates/pgtest) or
// finds it running, and prints its URL. It stays up for the next test, like the Rust
// tests' (`scripts/test.sh` stops it at the end; `scripts/pg-throwaway.sh stop` by hand).
// Each district takes a namespace of its own (a prefix of its schemas), dropped after.

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { REPO } from './server.mjs';

const SCRIPT = path.join(REPO, 'scripts', 'pg-throwaway.sh');

function script(args) {
  return new Promise((resolve, reject) => {
    execFile(SCRIPT, args, { timeout: 120_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`scripts/pg-throwaway.sh ${args[0]} failed: ${stderr || err.message}`));
      else resolve(stdout.trim());
    });
  });
}

let url = null;

/** A `postgresql://` URL of a database the test may make schemas in. */
export async function databaseUrl() {
  const given = process.env.DOORPLATE_TEST_DATABASE;
  if (given && given.trim()) return given.trim();
  if (!url) url = (await script(['start'])).split('\n').pop();
  return url;
}

/** A schema prefix no other district uses: `e2e<hex>_` (at most 16 bytes, as the server wants). */
export function freshNamespace() {
  return `e2e${randomBytes(5).toString('hex')}_`;
}

/** Drops every schema of the namespace (the district's and its schools'). */
export async function dropNamespace(databaseUrl, namespace) {
  await script(['drop-namespace', databaseUrl, namespace]);
}

/** Runs one SQL statement on the database (for a test's fault, as an operator would with psql). */
export async function sql(databaseUrl, statement) {
  return script(['sql', databaseUrl, statement]);
}
