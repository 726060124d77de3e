// The browsers the package is tested in, all from Debian.
// Chromium is driven by playwright-core over the DevTools protocol and Firefox ESR by
// puppeteer-core over WebDriver BiDi (playwright-core drives only its own patched Firefox
// builds); both give the tests the same page API: browser.newPage(),
// page.goto/evaluate/on('console' | 'pageerror')/close(). WebKitGTK's MiniBrowser (WebKit and
// JavaScriptCore, the engine of Safari) is driven by selenium-webdriver through WebKitWebDriver
// (WebDriver classic), on an Xvfb display: it has no headless mode.

import { spawn } from 'node:child_process';
import { createServer } from 'node:http';

import { chromium } from 'playwright-core';
import puppeteer from 'puppeteer-core';
import { Builder } from 'selenium-webdriver';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const FIREFOX = process.env.FIREFOX ?? '/usr/bin/firefox-esr';
const WEBKIT_DRIVER = process.env.WEBKIT_DRIVER ?? '/usr/bin/WebKitWebDriver';
const MINIBROWSER = process.env.MINIBROWSER ?? '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';

// Flags that work as root in a container, with no network but loopback (TOOLCHAIN.md).
export const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
// A synthetic camera, granted without a prompt, for the demo's webcam snapshot.
export const CAMERA_FLAGS = ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'];

export const launchChromium = (extraFlags = []) =>
  chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_FLAGS, ...extraFlags] });

// puppeteer-core gives Firefox a new profile whose preferences turn off updates, telemetry and
// the other background connections.
export const launchFirefox = () => puppeteer.launch({ browser: 'firefox', executablePath: FIREFOX, headless: true });

// relaxedSimdByDefault: where the package uses the relaxed-SIMD kernels unless told otherwise
// (js/src/engine.mjs: both engines have them; Firefox's runs them slower).
export const BROWSERS = [
  { name: 'Chromium', launch: () => launchChromium(), relaxedSimdByDefault: true },
  { name: 'Firefox', launch: launchFirefox, relaxedSimdByDefault: false },
];

const stop = (child) =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', resolve);
    child.kill('SIGTERM');
  });

// Xvfb on a display it picks (-displayfd: it writes the number once it is ready); resolves to
// {xvfb, display}.
function startXvfb() {
  const xvfb = spawn('Xvfb', ['-displayfd', '1', '-screen', '0', '1280x1024x24', '-nolisten', 'tcp'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Xvfb did not start:\n${output}`)), 15_000);
    const read = (chunk) => {
      output += chunk;
      const number = /^(\d+)\n/.exec(output)?.[1];
      if (number === undefined) return;
      clearTimeout(timer);
      resolve({ xvfb, display: `:${number}` });
    };
    xvfb.stdout.on('data', read);
    xvfb.stderr.on('data', (chunk) => (output += chunk));
    xvfb.once('error', reject);
    xvfb.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Xvfb exited with ${code}:\n${output}`));
    });
  });
}

const freePort = () =>
  new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });

// The page API the other drivers give, over a WebDriver session: goto(url) and
// evaluate(script, arg), where `script` is a function or the source of one, called with `arg` (a
// JSON value), or the source of an expression when there is no `arg`. Resolves to the awaited
// value, or rejects with the error thrown in the page.
function webDriverPage(driver) {
  return {
    goto: (url) => driver.get(url),
    async evaluate(script, arg) {
      const call = typeof script === 'function' || arg !== undefined ? `(${script})(arguments[0])` : `(${script})`;
      const outcome = await driver.executeAsyncScript(
        `const done = arguments[arguments.length - 1];
         Promise.resolve().then(() => ${call}).then((value) => done({ value }), (error) => done({ error: String(error?.stack ?? error) }));`,
        arg,
      );
      if (outcome.error) throw new Error(`in the page: ${outcome.error}`);
      return outcome.value;
    },
  };
}

// MiniBrowser in a WebDriver session on a display of its own; scripts may run for `scriptMs`.
// Resolves to {driver, page, close()}, `page` as webDriverPage's.
export async function launchWebKit({ scriptMs = 120_000 } = {}) {
  const started = [];
  const stopAll = async () => {
    for (const child of started.reverse()) await stop(child);
  };
  try {
    const { xvfb, display } = await startXvfb();
    started.push(xvfb);
    const port = await freePort();
    started.push(spawn(WEBKIT_DRIVER, [`--port=${port}`], { stdio: 'ignore', env: { ...process.env, DISPLAY: display } }));
    const server = `http://127.0.0.1:${port}`;
    // The driver prints nothing when it is ready: ask for its status until it answers.
    for (let tries = 0; !(await fetch(`${server}/status`).then((r) => r.ok, () => false)); tries++) {
      if (tries === 150) throw new Error('WebKitWebDriver did not answer within 15 s');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const driver = await new Builder()
      .usingServer(server)
      .withCapabilities({ browserName: 'MiniBrowser', 'webkitgtk:browserOptions': { binary: MINIBROWSER, args: ['--automation'] } })
      .build();
    await driver.manage().setTimeouts({ script: scriptMs });
    return {
      driver,
      page: webDriverPage(driver),
      close: async () => {
        await driver.quit().catch(() => {});
        await stopAll();
      },
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
