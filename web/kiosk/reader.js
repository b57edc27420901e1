// The USB card reader / barcode scanner. Such a device "types": a burst of keystrokes a
// few milliseconds apart, ended by Enter. We listen on the whole window, so no field needs
// focus. A person typing is slower than 50 ms a key, so their keys pass through untouched.

const MAX_GAP_MS = 50;
const MIN_LENGTH = 3;

function isEditable(el) {
  return el instanceof HTMLElement && (el.isContentEditable || el.matches('input, textarea'));
}

/**
 * Starts listening. `onScan(text)` is called for each swipe; returns a stop function.
 * A QR badge token (`dpq_…`) read by a scanner arrives the same way.
 */
export function listenForReader(onScan) {
  let buffer = '';
  let last = 0;

  function onKeyDown(e) {
    if (e.isComposing || e.ctrlKey || e.altKey || e.metaKey) return;
    const now = performance.now();
    const gap = now - last;

    if (e.key === 'Enter') {
      const text = buffer;
      buffer = '';
      if (text.length >= MIN_LENGTH && gap < MAX_GAP_MS * 2) {
        e.preventDefault();
        e.stopPropagation();
        // The burst went into a focused field as well: take it back out.
        const target = e.target;
        if (isEditable(target) && typeof target.value === 'string' && target.value.endsWith(text)) {
          target.value = target.value.slice(0, -text.length);
          target.dispatchEvent(new Event('input', { bubbles: true }));
        }
        last = 0;
        // Counted (with the length read, never the text) so that tests can tell a whole
        // read from keys that came too slowly.
        document.body.dataset.scans = String(Number(document.body.dataset.scans || 0) + 1);
        document.body.dataset.scanLength = String(text.trim().length);
        onScan(text.trim());
      }
      return;
    }
    if (e.key.length !== 1) return;

    buffer = gap < MAX_GAP_MS ? buffer + e.key : e.key;
    last = now;
    // Keys on no field do nothing anyway; keep them from activating a focused button.
    if (!isEditable(e.target)) e.preventDefault();
  }

  window.addEventListener('keydown', onKeyDown, true);
  return () => window.removeEventListener('keydown', onKeyDown, true);
}

/** Turns what a reader or camera read into a credential. */
export function credentialFromScan(text) {
  return text.startsWith('dpq_') ? { qr: text } : { card: text };
}
