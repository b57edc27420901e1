// Reading a QR badge with the device camera, through the browser's BarcodeDetector.
// Where the browser has no detector (or no camera), the caller hides the camera part.

/** True when this browser can read QR codes from the camera. */
export async function qrSupported() {
  if (!('BarcodeDetector' in window) || !navigator.mediaDevices?.getUserMedia) return false;
  try {
    const formats = await window.BarcodeDetector.getSupportedFormats();
    return formats.includes('qr_code');
  } catch {
    return false;
  }
}

/**
 * Shows the camera in `video` and calls `onCode(text)` once for the first QR code read.
 * Returns a stop function that releases the camera. Rejects when the camera can't start.
 */
export async function startQrScanner(video, onCode) {
  const stream = await navigator.mediaDevices.getUserMedia({
    video: { facingMode: 'user', width: { ideal: 640 }, height: { ideal: 480 } },
    audio: false,
  });
  const detector = new window.BarcodeDetector({ formats: ['qr_code'] });
  let stopped = false;
  let timer = null;
  video.srcObject = stream;
  video.muted = true;
  video.playsInline = true;
  await video.play().catch(() => {});

  async function scan() {
    if (stopped) return;
    try {
      if (video.readyState >= 2) {
        const codes = await detector.detect(video);
        const text = codes.find((c) => c.rawValue)?.rawValue;
        if (text && !stopped) {
          onCode(text.trim());
          return; // one read per start; the caller restarts if it wants more
        }
      }
    } catch { /* a frame that could not be read */ }
    timer = setTimeout(scan, 200);
  }
  scan();

  return function stop() {
    stopped = true;
    clearTimeout(timer);
    for (const track of stream.getTracks()) track.stop();
    video.srcObject = null;
  };
}
