// What a kiosk's card reader does, for the browser tests of the kiosk face.

const tid = (id) => `[data-testid="${id}"]`;

/**
 * A USB card reader: a fast burst of keys, then Enter. No focus needed.
 * On a busy machine a key can lag past the reader's 150 ms gap, and the page rightly takes
 * (part of) the burst for typing; then the swipe is repeated, as a person would.
 */
export async function swipe(p, text) {
  const scans = () => p.evaluate(() => [Number(document.body.dataset.scans || 0), Number(document.body.dataset.scanLength || 0)]);
  for (let attempt = 1; ; attempt++) {
    const [before] = await scans();
    await p.keyboard.type(text);
    await p.keyboard.press('Enter');
    const [after, length] = await scans();
    if (after === before + 1 && length === text.length) return;
    if (after > before) {
      // Read, but cut short: the page acted on a part of the card. Let it answer first.
      await p.locator(tid('proof-busy')).waitFor({ state: 'hidden' }).catch(() => {});
    }
    if (attempt === 5) throw new Error(`the card reader did not recognise ${text} after 5 swipes`);
    console.log(`swipe of ${text} was too slow for a reader; swiping again`);
    // Keys taken for typing went into the focused sign-in field: clear it.
    await p.evaluate(() => {
      const el = document.activeElement;
      if (el && el.matches('input[inputmode="none"]')) el.value = '';
    });
  }
}
