// The browsers the package is tested in, both from Debian: Chromium, driven by playwright-core
// over the DevTools protocol, and Firefox ESR, driven by puppeteer-core over WebDriver BiDi
// (playwright-core drives only its own patched Firefox builds). The page API the package tests
// use is the same in both: browser.newPage(), page.goto/evaluate/on('console' | 'pageerror')/close.

import { chromium } from 'playwright-core';
import puppeteer from 'puppeteer-core';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const FIREFOX = process.env.FIREFOX ?? '/usr/bin/firefox-esr';

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
// (js/src/relaxed-simd.mjs: both engines have them; Firefox's runs them slower).
export const BROWSERS = [
  { name: 'Chromium', launch: () => launchChromium(), relaxedSimdByDefault: true },
  { name: 'Firefox', launch: launchFirefox, relaxedSimdByDefault: false },
];
