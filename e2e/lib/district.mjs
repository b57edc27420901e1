// A district of several servers for browser tests, started as crates/doorplate/tests/
// district.rs starts one: a namespace of a PostgreSQL database (lib/postgres.mjs), one key
// file every server is given, a data folder per server (media), the schools and a first
// admin made with the CLI (`doorplate --database URL … school create`, `admin create`),
// then `doorplate serve --name NAME` per server on 127.0.0.1:0, each advertising the
// address it listens on.

import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { BIN, serve, waitExit } from './server.mjs';
import { databaseUrl, freshNamespace, dropNamespace, sql } from './postgres.mjs';

/**
 * Runs `doorplate` with the district's database flags; resolves with its standard output
 * (standard error is kept for the failure's message).
 */
function cli(flags, args, input = '') {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, [...flags, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: 'warn' } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`doorplate ${args.join(' ')} exited ${code}:\n${out}${err}`))));
    child.stdin.end(input);
  });
}

/**
 * Starts a district: `schools` = [{slug, name}] besides `main` (which gets the admin),
 * and one server per name in `servers`. Every server serves `main` at its root paths.
 */
export async function startDistrict({ schools = [], servers = ['alpha', 'beta'] } = {}) {
  const db = await databaseUrl();
  const namespace = freshNamespace();
  const dir = await mkdtemp(path.join(tmpdir(), 'doorplate-e2e-district-'));
  const key = path.join(dir, 'district.key');
  const flags = ['--data', path.join(dir, 'setup'), '--database', db, '--database-namespace', namespace, '--key-file', key];
  const admin = { username: 'admin', password: `pw-${randomBytes(9).toString('hex')}` };
  // The first command makes the district and its first school, `main`.
  await cli(flags, ['admin', 'create', '--username', admin.username, '--password-stdin'], `${admin.password}\n`);
  for (const s of schools) await cli(flags, ['school', 'create', '--slug', s.slug, '--name', s.name]);

  const running = new Map();
  const district = {
    db,
    namespace,
    admin,
    /** name → {name, url, child} of the servers running now. */
    servers: running,
    /** `doorplate district status --json`: what the lease tables say now. */
    async status() {
      return JSON.parse(await cli(flags, ['district', 'status', '--json']));
    },
    /** One SQL statement on the district's database. */
    sql: (statement) => sql(db, statement),
    /** The schema a school's tables live in. */
    schoolSchema: (slug) => `${namespace}school_${slug.replace(/-/g, '_')}`,
    /** Starts `doorplate serve --name NAME` (again, after a stop) on a free port. */
    async start(name) {
      const data = path.join(dir, name);
      await mkdir(data, { recursive: true });
      const proc = await serve(data, '127.0.0.1:0', [
        '--database', db, '--database-namespace', namespace, '--key-file', key, '--name', name, '--default-school', 'main',
      ]);
      const server = { name, url: proc.url, child: proc.child, log: proc.log };
      running.set(name, server);
      return server;
    },
    /** SIGTERM: the server hands its schools over and exits. */
    async stop(name) {
      const s = running.get(name);
      if (!s) return;
      running.delete(name);
      s.child.kill('SIGTERM');
      if (!(await waitExit(s.child, 15_000))) {
        s.child.kill('SIGKILL');
        await waitExit(s.child, 5_000);
      }
    },
    /** SIGKILL: a crash; its leases run out by themselves. */
    async kill(name) {
      const s = running.get(name);
      if (!s) return;
      running.delete(name);
      s.child.kill('SIGKILL');
      await waitExit(s.child, 5_000);
    },
    /** The end of every running server's log, for a failure's message. */
    logs() {
      return [...running.values()].map((s) => `--- ${s.name} ---\n${s.log().split('\n').slice(-30).join('\n')}`).join('\n');
    },
    async cleanup() {
      for (const name of [...running.keys()]) await district.kill(name);
      await dropNamespace(db, namespace).catch((err) => console.error(err.message));
      await rm(dir, { recursive: true, force: true });
    },
  };
  for (const name of servers) await district.start(name);
  return district;
}
