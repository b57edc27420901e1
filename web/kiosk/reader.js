// The USB card reader / barcode scanner. Such a device "types": a burst of keystrokes ended
// by Enter. We listen on the whole window, so no field needs focus.
//
// A burst is told from a person by its rhythm, not by one gap: a reader's keys come a few
// milliseconds apart, but on a busy kiosk (or a slow reader) a key can lag by 120 ms.
// So a burst survives any single gap up to MAX_GAP_MS (with room above that 120), and counts as a reader's only if
// it ends in Enter and its typical (median) gap is below TYPICAL_GAP_MS — a person, even a
// fast one, types slower than that on most keys. Gaps are read from the events' own
// timestamps (when the key was pressed), so a busy page does not stretch them.
//
// A burst that started while a text field had focus must leave nothing there: the field's
// value is remembered at the burst's first key and put back when the burst turns out to be
// a scan; once a burst looks like a reader's, its further keys are held out of the field
// (and given back, in order, if no Enter comes after all, so a fast typist loses nothing).

/** The longest pause between two keys of one burst. */
const MAX_GAP_MS = 150;
/** The median pause of a reader's burst is below this; a person's is above. */
const TYPICAL_GAP_MS = 80;
/** Shorter bursts are keys, not credentials. */
const MIN_LENGTH = 3;

function isEditable(el) {
  return el instanceof HTMLElement && (el.isContentEditable || el.matches('input, textarea'));
}

function median(values) {
  if (!values.length) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Whether a field's text can be read and put back (inputs of text kinds and textareas). */
function hasText(el) {
  return el && typeof el.value === 'string' && typeof el.setRangeText === 'function';
}

/**
 * Starts listening. `onScan(text)` is called for each swipe; returns a stop function.
 * A QR badge token (`dpq_…`) read by a scanner arrives the same way.
 */
export function listenForReader(onScan) {
  let buffer = '';
  let gaps = [];
  let last = 0;
  /** The focused field and its text when the burst began, to put back after a scan. */
  let snapshot = null;
  /** Keys kept out of that field once the burst looked like a reader's. */
  let held = '';
  let flushTimer = 0;

  /** Gives held keys back to the field: the burst was typing after all. */
  function flush() {
    clearTimeout(flushTimer);
    flushTimer = 0;
    if (!held) return;
    const el = snapshot?.el;
    if (el?.isConnected && hasText(el)) {
      el.setRangeText(held, el.selectionStart ?? el.value.length, el.selectionEnd ?? el.value.length, 'end');
      el.dispatchEvent(new Event('input', { bubbles: true }));
    }
    held = '';
  }

  function reset() {
    flush();
    buffer = '';
    gaps = [];
    snapshot = null;
  }

  /** Puts the field back as it was before the burst's first key. */
  function restore() {
    clearTimeout(flushTimer);
    flushTimer = 0;
    held = '';
    const s = snapshot;
    if (!s || !s.el.isConnected || !hasText(s.el) || s.el.value === s.value) return;
    s.el.value = s.value;
    try {
      s.el.setSelectionRange(s.start, s.end);
    } catch {
      // Some input types have no selection; the value is what matters.
    }
    s.el.dispatchEvent(new Event('input', { bubbles: true }));
  }

  function onKeyDown(e) {
    if (e.isComposing || e.ctrlKey || e.altKey || e.metaKey) return;
    const now = e.timeStamp || performance.now();
    const gap = now - last;
    // A pause too long for a reader: what came before was typing, and stays.
    if (buffer && gap > MAX_GAP_MS) reset();

    if (e.key === 'Enter') {
      const text = buffer.trim();
      const isScan = text.length >= MIN_LENGTH && median([...gaps, gap]) <= TYPICAL_GAP_MS;
      if (isScan) {
        e.preventDefault();
        e.stopPropagation();
        restore();
        // Counted (with the length read, never the text) so that tests can tell a whole
        // read from keys that came too slowly.
        document.body.dataset.scans = String(Number(document.body.dataset.scans || 0) + 1);
        document.body.dataset.scanLength = String(text.length);
      }
      // Not a scan: keys held back go to the field before the Enter does.
      reset();
      last = 0;
      if (isScan) onScan(text);
      return;
    }
    if (e.key.length !== 1) return;

    const target = e.target;
    if (!buffer) {
      snapshot = isEditable(target) && hasText(target)
        ? { el: target, value: target.value, start: target.selectionStart, end: target.selectionEnd }
        : null;
    } else {
      gaps.push(gap);
    }
    buffer += e.key;
    last = now;

    if (!isEditable(target)) {
      // Keys on no field do nothing anyway; keep them from activating a focused button.
      e.preventDefault();
    } else if (snapshot?.el === target && buffer.length >= MIN_LENGTH && median(gaps) <= TYPICAL_GAP_MS) {
      // This is a reader: keep the rest of its burst out of the field.
      e.preventDefault();
      held += e.key;
      clearTimeout(flushTimer);
      flushTimer = setTimeout(flush, MAX_GAP_MS);
    }
  }

  window.addEventListener('keydown', onKeyDown, true);
  return () => {
    window.removeEventListener('keydown', onKeyDown, true);
    clearTimeout(flushTimer);
  };
}

/** Turns what a reader or camera read into a credential. */
export function credentialFromScan(text) {
  return text.startsWith('dpq_') ? { qr: text } : { card: text };
}
