// The doorplate as a device of the school: it tells the server which kiosk build it runs
// (the console lists it), obeys the console's commands, and fetches what only its own
// account may read (notice images stored as media).

import { api } from '/common/api.js';
import { identify } from './identify.js';

/** Tells the server which kiosk build this page runs (shown in the console). */
export function reportBuild(deviceToken, build) {
  if (!deviceToken || !build) return;
  api('POST', '/api/v1/doorplate/version', { token: deviceToken, body: { version: build } }).catch(() => {});
}

/**
 * A command from the console: reload the page (a new build, a stuck screen), or flash
 * the screen with its name so someone at the doors can tell which one it is.
 */
export function runCommand(data, { name, room }) {
  if (data.command === 'reload') location.reload();
  else if (data.command === 'identify') identify(document.body, { name: data.name || name, room });
}

/** A notice image: stored media needs the device's bearer; other URLs load as they are. */
export async function loadImage(url, deviceToken) {
  if (!url.startsWith('/api/')) return url;
  try {
    const blob = await api('GET', url, { token: deviceToken, responseType: 'blob' });
    return URL.createObjectURL(blob);
  } catch {
    return null;
  }
}
