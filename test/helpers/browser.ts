import { chromium, type Browser } from 'playwright-core'

/** Debian's Chromium (.ci/run installs it); no tool ever downloads a browser of its own. */
export const CHROMIUM = '/usr/bin/chromium'

/**
 * Headless Chromium, closed at teardown. Without the background-networking flags Chromium keeps
 * trying to reach Google's hosts, which this machine's closed network refuses.
 */
export async function launchChromium(t: { teardown(fn: () => unknown): void }): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
  t.teardown(() => browser.close())
  return browser
}
