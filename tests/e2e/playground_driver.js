// Drives one Microsoft 365 Agents Playground page in headless Chromium for the end-to-end tests.
//
// Spoken to in JSON lines: each line on stdin is {"id": n, "cmd": "...", ...}; each answer on stdout is
// {"id": n, "ok": true, ...} or {"id": n, "ok": false, "error": "..."}. One process is one browser with one
// fresh profile; the Python side decides the steps, so a test can move the bot's clock between two clicks.
//
// Every request to a host other than loopback is refused, so the page's web fonts and animations from a
// CDN are never fetched and the tests send no traffic off this machine.
//
// Usage: node playground_driver.js <user-data-dir>   (CHROMIUM_PATH overrides /usr/bin/chromium)

'use strict';

const path = require('path');
const readline = require('readline');
const { chromium } = require(path.join(__dirname, '..', 'node', 'node_modules', 'playwright-core'));

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);
const CHAT_ITEM = ':is(.ac-adaptiveCard, .fai-OutputCard)';
const LOG_LINE = /\[(\d{1,2}:\d{2}:\d{2}\s?[AP]M)\]\s*(Microsoft 365 Agents Playground|User Application)\s*(?:->|→|⟶|-->)\s*(Microsoft 365 Agents Playground|User Application)\s+(\w+)\s+(\d{3})/g;

let browser = null;
let page = null;
const blocked = [];
const pageErrors = [];

async function open({ url, width = 1400, height = 900, timeoutMs = 30000 }) {
  const userDataDir = process.argv[2];
  if (!userDataDir) throw new Error('usage: playground_driver.js <user-data-dir>');
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    viewport: { width, height },
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  browser = context;
  page = context.pages()[0] || (await context.newPage());
  await page.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.protocol === 'data:' || url.protocol === 'blob:' || LOOPBACK.has(url.hostname)) {
      return route.continue();
    }
    blocked.push(url.origin);
    return route.abort();
  });
  page.on('pageerror', (err) => pageErrors.push(String(err)));
  await page.goto(url, { timeout: timeoutMs });
  await page.locator('[data-lexical-editor="true"]').waitFor({ timeout: timeoutMs });
  return {};
}

// The chat's messages and cards whose text contains `text` (the chat list's previews are not included).
function chatItems(text) {
  return page.locator(CHAT_ITEM).filter({ hasText: text });
}

async function send({ text }) {
  const editor = page.locator('[data-lexical-editor="true"]');
  await editor.click();
  await page.keyboard.type(text);
  await page.keyboard.press('Enter');
  return {};
}

// Waits until a message's rendered text (innerText: what is shown, not what is typed into inputs)
// contains `text`; answers how many messages contain it.
async function waitText({ text, timeoutMs = 15000 }) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { messages: texts } = await messages();
    const count = texts.filter((t) => t.includes(text)).length;
    if (count > 0) return { count };
    if (Date.now() > deadline) throw new Error(`no message shows "${text}" after ${timeoutMs} ms`);
    await page.waitForTimeout(150);
  }
}

// The newest card holding a button named `button` (and, when given, the text `within`).
function cardWithButton(button, within) {
  let cards = page.locator('.ac-adaptiveCard').filter({
    has: page.getByRole('button', { name: button, exact: true }),
  });
  if (within) cards = cards.filter({ hasText: within });
  return cards.last();
}

// The input a card's visible label names (the Adaptive Cards renderer links them with `for`).
async function inputFor(card, label, timeoutMs) {
  const labels = card.locator('label');
  await card.locator('label').first().waitFor({ state: 'visible', timeout: timeoutMs });
  const id = await labels.evaluateAll((nodes, wanted) => {
    const clean = (t) => t.replace(/\s*\*\s*$/, '').replace(/\s+/g, ' ').trim();
    const exact = nodes.find((n) => clean(n.innerText) === wanted);
    const loose = exact || nodes.find((n) => clean(n.innerText).startsWith(wanted));
    return loose ? loose.getAttribute('for') : null;
  }, label);
  if (!id) throw new Error(`no input labelled "${label}" on the card`);
  return card.locator(`[id="${id}"]`);
}

// Fills a card's inputs, named by their labels: text is typed, a drop-down or filtered list gets the
// choice whose title is the value, radio buttons get the one labelled with the value, a toggle is set.
async function fill({ fields, button, within, timeoutMs = 15000 }) {
  const card = cardWithButton(button, within);
  await card.waitFor({ state: 'visible', timeout: timeoutMs });
  const filled = [];
  for (const [label, value] of Object.entries(fields)) {
    const input = await inputFor(card, label, timeoutMs);
    const kind = await input.evaluate((el) => [
      el.tagName.toLowerCase(), el.getAttribute('type') || '', el.getAttribute('role') || '',
      el.getAttribute('aria-haspopup') || '',
    ].join(':'));
    const [tag, type, role, popup] = kind.split(':');
    if (role === 'radiogroup') {
      await input.getByLabel(String(value), { exact: true }).check();
    } else if (type === 'checkbox') {
      if (value) await input.check(); else await input.uncheck();
    } else if (tag === 'select') {
      await input.selectOption({ label: String(value) });
    } else if (role === 'combobox' && popup !== 'dialog') {
      await input.click();
      await page.getByRole('option', { name: String(value), exact: true }).click({ timeout: timeoutMs });
    } else {
      await input.fill(String(value));
      if (popup === 'dialog') await page.keyboard.press('Escape');
    }
    filled.push(label);
  }
  return { filled };
}

async function click({ button, within, timeoutMs = 15000 }) {
  const card = cardWithButton(button, within);
  await card.waitFor({ state: 'visible', timeout: timeoutMs });
  await card.getByRole('button', { name: button, exact: true }).click({ timeout: timeoutMs });
  return {};
}

async function cards() {
  const texts = await page.locator('.ac-adaptiveCard').allInnerTexts();
  return { cards: texts };
}

// The text of each message in the open chat: outermost items only, so a card is counted once.
async function messages() {
  const texts = await page.locator(CHAT_ITEM).evaluateAll((nodes, selector) => nodes
    .filter((n) => !(n.parentElement && n.parentElement.closest(selector)))
    .map((n) => n.innerText), CHAT_ITEM);
  return { messages: texts };
}

// Every request the Log Panel lists, oldest first, as {from, to, type, status}.
async function log() {
  const text = await page.locator('body').innerText();
  const entries = [];
  for (const m of text.matchAll(LOG_LINE)) {
    entries.push({ time: m[1], from: m[2], to: m[3], type: m[4], status: Number(m[5]) });
  }
  return { entries };
}

// Waits until the Log Panel lists at least `count` requests of `type` (any status), then returns them.
async function waitLog({ type, count = 1, timeoutMs = 15000 }) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { entries } = await log();
    const matching = entries.filter((e) => e.type === type);
    if (matching.length >= count) return { entries };
    if (Date.now() > deadline) {
      throw new Error(`Log Panel shows ${matching.length} ${type} request(s), wanted ${count}`);
    }
    await page.waitForTimeout(200);
  }
}

// Opens the Log Panel entry showing `text` (e.g. "message 500") and answers the page's text with its
// details, to explain a failed request in a test's failure message.
async function logDetail({ text }) {
  await page.getByText(text, { exact: true }).last().click();
  await page.waitForTimeout(300);
  return { text: await page.locator('body').innerText() };
}

async function screenshot({ file, settleMs = 400 }) {
  await page.waitForTimeout(settleMs);
  await page.screenshot({ path: file, fullPage: false });
  return { file };
}

async function close() {
  if (browser) await browser.close();
  browser = null;
  return { blocked: [...new Set(blocked)], pageErrors };
}

const COMMANDS = { open, logDetail, send, waitText, fill, click, cards, messages, log, waitLog, screenshot, close };

function answer(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

async function main() {
  const lines = readline.createInterface({ input: process.stdin, terminal: false });
  for await (const line of lines) {
    if (!line.trim()) continue;
    let request;
    try {
      request = JSON.parse(line);
    } catch (err) {
      answer({ id: null, ok: false, error: `not JSON: ${err.message}` });
      continue;
    }
    const handler = COMMANDS[request.cmd];
    if (!handler) {
      answer({ id: request.id, ok: false, error: `unknown command ${request.cmd}` });
      continue;
    }
    try {
      const result = await handler(request);
      answer({ id: request.id, ok: true, ...result });
    } catch (err) {
      answer({ id: request.id, ok: false, error: String((err && err.message) || err).split('\n').slice(0, 12).join('\n') });
    }
    if (request.cmd === 'close') break;
  }
  if (browser) await browser.close();
  process.exit(0);
}

main().catch((err) => {
  process.stderr.write(String((err && err.stack) || err) + '\n');
  process.exit(1);
});
