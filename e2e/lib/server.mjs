// Starts the real Doorplate server for browser tests, and talks to its API as a client.
//
// `startServer()` creates a fresh data folder, makes the first admin through the CLI
// (`doorplate --data DIR admin create --username admin --password-stdin`), then runs
// `doorplate serve --data DIR --listen 127.0.0.1:0` and waits for its line
// `doorplate listening on http://127.0.0.1:PORT` (no sleeping: the line is the signal).

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = process.env.DOORPLATE_BIN || path.join(REPO, 'target', 'debug', 'doorplate');
const START_TIMEOUT_MS = Number(process.env.DOORPLATE_START_TIMEOUT_MS || 60_000);
const LISTEN_LINE = /doorplate listening on (http:\/\/127\.0\.0\.1:(\d+))/;

/** Runs `doorplate ARGS…` (a CLI command) and resolves with its output; rejects on failure. */
export function run(args, { input } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' } });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`doorplate ${args.join(' ')} exited ${code}:\n${out}`))));
    child.stdin.end(input ?? '');
  });
}

/** Spawns `doorplate serve` and resolves with the child and its URL once it listens. */
export function serve(dataDir, listen, extra = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, ['serve', '--data', dataDir, '--listen', listen, ...extra], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' },
    });
    let log = '';
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      child.kill('SIGKILL');
      reject(new Error(`doorplate serve did not print its listening line within ${START_TIMEOUT_MS} ms:\n${log}`));
    }, START_TIMEOUT_MS);
    const onData = (chunk) => {
      log += chunk;
      if (log.length > 200_000) log = log.slice(-100_000);
      const m = log.match(LISTEN_LINE);
      if (m && !done) {
        done = true;
        clearTimeout(timer);
        resolve({ child, url: m[1], port: Number(m[2]), log: () => log });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (err) => { if (!done) { done = true; clearTimeout(timer); reject(err); } });
    child.on('exit', (code, signal) => {
      if (!done) { done = true; clearTimeout(timer); reject(new Error(`doorplate serve exited (${code ?? signal}) before listening:\n${log}`)); }
    });
  });
}

/** Resolves true once the child has exited, or false after `ms`. */
export function waitExit(child, ms) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => { clearTimeout(timer); resolve(true); });
  });
}

/** True when the server binary is there to test (the suite skips otherwise). */
export function serverAvailable() {
  return existsSync(BIN);
}

/**
 * Starts a server on a fresh data folder with an admin; `args` go to `serve` as well.
 * @returns {Promise<{url: string, port: number, dataDir: string, admin: {username, password},
 *   stop(): Promise<void>, kill(): Promise<void>, restart(): Promise<void>, cleanup(): Promise<void>}>}
 */
export async function startServer({ args = [] } = {}) {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'doorplate-e2e-'));
  const admin = { username: 'admin', password: `pw-${randomBytes(9).toString('hex')}` };
  await run(['--data', dataDir, 'admin', 'create', '--username', admin.username, '--password-stdin'], { input: `${admin.password}\n` });
  let proc = await serve(dataDir, '127.0.0.1:0', args);
  const port = proc.port;

  const server = {
    url: proc.url,
    port,
    dataDir,
    admin,
    log: () => proc.log(),
    /** The server's process id (for measuring it), or null while stopped. */
    pid: () => (proc ? proc.child.pid : null),
    /** Graceful stop (SIGTERM), SIGKILL if it hangs. */
    async stop() {
      if (!proc) return;
      const { child } = proc;
      proc = null;
      child.kill('SIGTERM');
      if (!(await waitExit(child, 10_000))) {
        child.kill('SIGKILL');
        await waitExit(child, 5_000);
      }
    },
    /** A crash: SIGKILL. */
    async kill() {
      if (!proc) return;
      const { child } = proc;
      proc = null;
      child.kill('SIGKILL');
      await waitExit(child, 5_000);
    },
    /** Stops, then starts again on the same data folder and the same port. */
    async restart() {
      await server.stop();
      await server.start();
    },
    /** Starts a stopped server again on the same data folder and port. */
    async start() {
      if (proc) return;
      // The port was just released; a few quick retries cover a slow socket close.
      let lastErr;
      for (let i = 0; i < 20; i++) {
        try {
          proc = await serve(dataDir, `127.0.0.1:${port}`, args);
          return;
        } catch (err) {
          lastErr = err;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
      throw lastErr;
    },
    async cleanup() {
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return server;
}

// ---- API client ----------------------------------------------------------------------

export class HttpError extends Error {
  constructor(method, url, status, body) {
    super(`${method} ${url} → ${status}: ${typeof body === 'string' ? body : JSON.stringify(body)}`);
    this.status = status;
    this.body = body;
  }
}

/** A small JSON client bound to one server and (optionally) one bearer token. */
export function client(baseUrl, token = null) {
  async function call(method, p, body, { raw, contentType, expect } = {}) {
    const headers = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    let payload;
    if (raw !== undefined) {
      payload = raw;
      headers['Content-Type'] = contentType;
    } else if (body !== undefined) {
      payload = JSON.stringify(body);
      headers['Content-Type'] = 'application/json';
    }
    const res = await fetch(baseUrl + p, { method, headers, body: payload });
    const text = await res.text();
    let data = text;
    try { data = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
    if (expect ? res.status !== expect : !res.ok) throw new HttpError(method, p, res.status, data);
    return data;
  }
  return {
    token,
    get: (p, o) => call('GET', p, undefined, o),
    post: (p, b, o) => call('POST', p, b, o),
    patch: (p, b, o) => call('PATCH', p, b, o),
    del: (p, b, o) => call('DELETE', p, b, o),
    raw: call,
  };
}

/** Logs in and returns `{token, user, api}`. */
export async function login(baseUrl, username, password) {
  const res = await client(baseUrl).post('/api/v1/auth/login', { username, password });
  return { ...res, api: client(baseUrl, res.token) };
}

// ---- a school ------------------------------------------------------------------------

const rand = () => randomBytes(4).toString('hex');

/** HH:MM of a Date in a time zone. */
export function hhmm(date, timeZone = 'UTC') {
  return new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(date);
}

/** YYYY-MM-DD and ISO weekday (1 = Monday) of a Date in a time zone. */
export function dayOf(date, timeZone = 'UTC') {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-GB', {
    timeZone, year: 'numeric', month: '2-digit', day: '2-digit', weekday: 'short',
  }).formatToParts(date).map((p) => [p.type, p.value]));
  return {
    date: `${parts.year}-${parts.month}-${parts.day}`,
    weekday: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'].indexOf(parts.weekday) + 1,
  };
}

/**
 * Helpers to set up a school as the admin. Every create returns the created object.
 */
export async function schoolAdmin(server) {
  const { api } = await login(server.url, server.admin.username, server.admin.password);
  const school = {
    api,
    async user(role, display_name, extra = {}) {
      const body = { role, display_name, ...extra };
      if (extra.password && !extra.username) body.username = `${role}-${rand()}`;
      const { user } = await api.post('/api/v1/users', body);
      return { ...user, password: extra.password, card_uid: extra.card_uid };
    },
    /** A student with a card (and a password, for the keyboard). */
    async student(display_name, { card = `04${rand().toUpperCase()}${rand().toUpperCase()}`, password = `pw${rand()}`, username = `s${rand()}` } = {}) {
      return school.user('student', display_name, { username, password, card_uid: card });
    },
    async guardian(display_name, { username = `g${rand()}`, password = `pw${rand()}` } = {}) {
      const u = await school.user('guardian', display_name, { username, password });
      return { ...u, username, password };
    },
    async teacher(display_name, { username = `t${rand()}`, password = `pw${rand()}`, card = `0T${rand().toUpperCase()}` } = {}) {
      const u = await school.user('teacher', display_name, { username, password, card_uid: card });
      return { ...u, username, password, card_uid: card };
    },
    async badge(userId) {
      return (await api.post(`/api/v1/users/${userId}/badge`)).qr_token;
    },
    async link(guardianId, studentId) {
      await api.post('/api/v1/guardianships', { guardian_id: guardianId, student_id: studentId });
    },
    async room(name, kind = 'classroom') {
      return (await api.post('/api/v1/rooms', { name, kind })).room;
    },
    async group(name, memberIds, teacherId) {
      return (await api.post('/api/v1/groups', { name, member_ids: memberIds, teacher_id: teacherId })).group;
    },
    async doorplate(roomId, name) {
      return api.post('/api/v1/doorplates', { room_id: roomId, name });
    },
    async settings() {
      return api.get('/api/v1/settings');
    },
    async patchSettings(patch) {
      return api.patch('/api/v1/settings', patch);
    },
    /** A timetable slot for the room, from `startMin` to `endMin` minutes around now. */
    async slotAroundNow({ roomId, groupId, teacherId, kind = 'lesson', title, beforeMin = 20, afterMin = 30 }) {
      const settings = await school.settings().catch(() => ({}));
      const tz = settings?.timezone || 'UTC';
      const now = new Date();
      const start = new Date(now.getTime() - beforeMin * 60_000);
      const end = new Date(now.getTime() + afterMin * 60_000);
      // Keep the slot inside today (in the school's zone).
      const today = dayOf(now, tz);
      const startHm = dayOf(start, tz).date === today.date ? hhmm(start, tz) : '00:00';
      const endHm = dayOf(end, tz).date === today.date ? hhmm(end, tz) : '23:59';
      const body = {
        room_id: roomId, weekday: today.weekday, start: startHm, end: endHm, kind, title,
        group_id: groupId, teacher_id: teacherId, valid_from: today.date, valid_until: today.date,
      };
      const res = await api.post('/api/v1/timetable', body);
      return { ...body, res, endHm, tz };
    },
  };
  return school;
}

/** A guardian (or anyone) sends a text message to `peerId`; returns the message. */
export async function sendMessage(userApi, peerId, text, { urgent = false } = {}) {
  const { conversation } = await userApi.post('/api/v1/conversations', { peer_id: peerId });
  const { message } = await userApi.post(`/api/v1/conversations/${conversation.id}/messages`, {
    client_id: crypto.randomUUID(), kind: 'text', text, urgent,
  });
  return { conversation, message };
}
