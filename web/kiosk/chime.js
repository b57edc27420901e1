// A soft chime made with WebAudio (no sound file): two gentle sine notes, three for an
// urgent hint. Browsers start audio only after a first touch, so `unlockAudio` is called
// on every touch until it works; a kiosk browser may also allow autoplay outright.

let ctx = null;

function context() {
  if (!ctx) {
    const Ctor = window.AudioContext || window.webkitAudioContext;
    if (!Ctor) return null;
    ctx = new Ctor();
  }
  if (ctx.state === 'suspended') ctx.resume().catch(() => {});
  return ctx;
}

/** Call from a user gesture so later chimes may sound. */
export function unlockAudio() {
  context();
}

function note(ac, freq, start, length, peak) {
  const osc = ac.createOscillator();
  const gain = ac.createGain();
  osc.type = 'sine';
  osc.frequency.value = freq;
  gain.gain.setValueAtTime(0.0001, start);
  gain.gain.exponentialRampToValueAtTime(peak, start + 0.02);
  gain.gain.exponentialRampToValueAtTime(0.0001, start + length);
  osc.connect(gain).connect(ac.destination);
  osc.start(start);
  osc.stop(start + length + 0.05);
}

/** Plays the hint chime. Counts plays in `body[data-chimes]` so tests can see it. */
export function chime({ urgent = false } = {}) {
  document.body.dataset.chimes = String(Number(document.body.dataset.chimes || 0) + 1);
  const ac = context();
  if (!ac) return;
  const t0 = ac.currentTime + 0.01;
  const notes = urgent ? [880, 1175, 880] : [659.25, 987.77];
  notes.forEach((f, i) => note(ac, f, t0 + i * 0.18, 0.9, urgent ? 0.22 : 0.14));
}
