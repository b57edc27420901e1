// A small client for the Doorplate HTTP API (shared by the kiosk, the family app and
// the console). It speaks JSON, turns the server's `{"error": {code, message}}` into an
// `ApiError`, and never keeps a token anywhere: callers pass the bearer they hold.

/**
 * The school this page belongs to: `/s/{slug}` when it was loaded under one, or '' at
 * the root paths (the default school). Every path the faces build starts with it.
 */
export const SCHOOL_BASE = (location.pathname.match(/^\/s\/[a-z0-9-]{2,32}(?=\/)/) || [''])[0];

/** A root-relative path (`/api/v1/…`, `/kiosk`) at this page's school. */
export function at(path) {
  return typeof path === 'string' && path.startsWith('/') && !path.startsWith('//') ? SCHOOL_BASE + path : path;
}

/**
 * A storage key of this school: two schools' faces open in one browser (same origin)
 * must not share a device token, a sign-in or a cache. The default school keeps the
 * plain key, so a browser signed in before many schools stays signed in.
 */
export function schoolKey(key) {
  return SCHOOL_BASE ? `${key}@${SCHOOL_BASE.slice(3)}` : key;
}

/**
 * The name of the school at this address, for a sign-in screen to say where a person signs
 * in; null for a one-school install that was never named (the brand says enough), or when
 * the server cannot be reached.
 */
export async function schoolName() {
  try {
    const info = await api('GET', '/api/v1/school');
    return SCHOOL_BASE || (info.name && info.name !== 'Doorplate') ? info.name : null;
  } catch {
    return null;
  }
}

/** An API call that did not succeed. `status` 0 means the server could not be reached. */
export class ApiError extends Error {
  constructor(status, code, message, retryAfter = null, params = {}) {
    super(message || code || `HTTP ${status}`);
    this.name = 'ApiError';
    /** What the face needs to word the error itself: `{field, max}` and the like. */
    this.params = params || {};
    /** HTTP status, or 0 for a network failure, or -1 when the call was aborted. */
    this.status = status;
    /** The server's snake_case code, e.g. `invalid_credential`. */
    this.code = code;
    /** Seconds to wait before trying again (from `Retry-After`), or null. */
    this.retryAfter = retryAfter;
  }
}

/** Parses a `Retry-After` header (seconds or an HTTP date) into whole seconds. */
function parseRetryAfter(value) {
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, Math.ceil(seconds));
  const when = Date.parse(value);
  return Number.isNaN(when) ? null : Math.max(0, Math.ceil((when - Date.now()) / 1000));
}

/**
 * Calls the API. Returns the parsed JSON body (null for 204 or an empty body), or a Blob
 * when `responseType` is `'blob'`.
 *
 * @param {string} method  GET, POST, PATCH, DELETE…
 * @param {string} path    e.g. `/api/v1/doorplate/state`
 * @param {object} [opts]
 * @param {string} [opts.token]        bearer token
 * @param {*} [opts.body]              a value sent as JSON
 * @param {Blob|ArrayBuffer} [opts.raw] bytes sent as they are (with `contentType`)
 * @param {string} [opts.contentType]  Content-Type of `raw`
 * @param {'json'|'blob'} [opts.responseType]
 * @param {AbortSignal} [opts.signal]
 */
export async function api(method, path, opts = {}) {
  const { token, body, raw, contentType, responseType = 'json', signal } = opts;
  const headers = { Accept: responseType === 'blob' ? '*/*' : 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload;
  if (raw !== undefined) {
    payload = raw;
    headers['Content-Type'] = contentType || raw.type || 'application/octet-stream';
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers['Content-Type'] = 'application/json';
  }

  let response;
  try {
    response = await fetch(at(path), { method, headers, body: payload, signal, cache: 'no-store', credentials: 'same-origin' });
  } catch (err) {
    if (err && err.name === 'AbortError') throw new ApiError(-1, 'aborted', 'aborted');
    throw new ApiError(0, 'network', String(err && err.message || err));
  }

  if (!response.ok) {
    let code = `http_${response.status}`;
    let message = response.statusText;
    let params = {};
    try {
      const data = await response.json();
      if (data && data.error) {
        code = data.error.code || code;
        message = data.error.message || message;
        params = data.error.params || {};
      }
    } catch { /* not JSON: keep the status text */ }
    throw new ApiError(response.status, code, message, parseRetryAfter(response.headers.get('Retry-After')), params);
  }

  if (responseType === 'blob') return response.blob();
  if (response.status === 204) return null;
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(response.status, 'bad_response', 'The server sent something that is not JSON.');
  }
}

/** A random UUID (v4), also where `crypto.randomUUID` is missing (plain-HTTP pages). */
export function uuid() {
  if (globalThis.crypto && typeof crypto.randomUUID === 'function') {
    try { return crypto.randomUUID(); } catch { /* insecure context */ }
  }
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
