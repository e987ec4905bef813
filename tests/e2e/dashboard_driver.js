// Opens the monitoring dashboard in headless Chromium, waits until it has drawn its figures, and reports what
// it shows: the summary tiles, the tables, how many plotly charts were drawn, requests refused (anything off
// loopback) and page errors (a Content Security Policy violation included). Takes a full-page screenshot.
//
// Usage: node dashboard_driver.js <url> <screenshot.png> [width] [height] [token]   (prints one JSON object)
//
// With a token, the page is given a stand-in for the Teams JavaScript library whose getAuthToken answers it,
// as Teams would inside the tab.

'use strict';

const path = require('path');
const { chromium } = require(path.join(__dirname, '..', 'node', 'node_modules', 'playwright-core'));

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

async function main() {
  const [url, shot, width = '1280', height = '900', token = ''] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
  const blocked = [];
  const errors = [];
  try {
    const page = await browser.newPage({ viewport: { width: Number(width), height: Number(height) } });
    await page.route('**/*', (route) => {
      const target = new URL(route.request().url());
      if (target.protocol === 'data:' || target.protocol === 'blob:' || LOOPBACK.has(target.hostname)) {
        return route.continue();
      }
      blocked.push(target.origin);
      return route.abort();
    });
    if (token) {
      await page.addInitScript((t) => {
        window.microsoftTeams = {
          app: { initialize: async () => {} },
          authentication: { getAuthToken: async () => t },
        };
      }, token);
    }
    page.on('pageerror', (err) => errors.push(String(err)));
    page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text()); });
    const started = Date.now();
    await page.goto(url, { timeout: 30000 });
    await page.waitForSelector('body[data-rendered]', { timeout: 30000 });
    const loadedMs = Date.now() - started;
    const report = await page.evaluate(() => {
      const tables = {};
      for (const holder of document.querySelectorAll('[id^="table-"]')) {
        tables[holder.id] = [...holder.querySelectorAll('tr')].map(tr => [...tr.children].map(c => c.textContent));
      }
      const tiles = {};
      for (const tile of document.querySelectorAll('#tiles > div')) {
        tiles[tile.querySelector('dt').textContent] = tile.querySelector('dd').textContent;
      }
      const charts = {};
      for (const chart of document.querySelectorAll('.chart')) {
        charts[chart.id] = {
          svg: chart.querySelectorAll('svg.main-svg').length,
          marks: chart.querySelectorAll('.trace .point, .trace path.js-line, .heatmaplayer image, .hm image').length,
        };
      }
      return {
        rendered: document.body.dataset.rendered,
        status: document.getElementById('status').textContent,
        localMode: !document.getElementById('local-mode').hidden,
        title: document.getElementById('title').textContent,
        partnerships: [...document.querySelectorAll('#partnership option')].map(o => o.value),
        tiles, tables, charts,
        overflowX: document.documentElement.scrollWidth > window.innerWidth + 1,
        headings: [...document.querySelectorAll('h1, h2, h3')].map(h => h.tagName + ' ' + h.textContent),
      };
    });
    if (shot) await page.screenshot({ path: shot, fullPage: true });
    process.stdout.write(JSON.stringify({ ...report, loadedMs, blocked, errors }) + '\n');
  } finally {
    await browser.close();
  }
}

main().catch((err) => { process.stderr.write(String(err && err.stack || err) + '\n'); process.exit(1); });
