// driver.mjs -- drives Debian's chromium with playwright-core for
// tests/integration/test_browser.py, which holds the test logic: it starts
// hubd + lighttpd, publishes, kills and restarts hubd, and asks this driver
// what the page shows. tests/integration/test_browser_mercure.py uses it
// too (its page's own EventSource and fetch, through "evaluate").
//
//   node tests/browser/driver.mjs
//
// Protocol: one JSON command per line on stdin, one JSON answer per line on
// stdout ({"ok": true, ...} or {"ok": false, "error": "..."}), in order.
// Commands:
//   {"cmd": "launch", "executablePath": P, "userDataDir": D}  start chromium
//   {"cmd": "goto", "url": U}            open U, wait for its load event
//   {"cmd": "snapshot"}                  what the demo page shows (see below)
//   {"cmd": "offline", "value": B}       cut the page's network (true) or restore it
//   {"cmd": "publish_form", "data": S}   publish S with the page's own form
//   {"cmd": "screenshot", "path": P}     full-page PNG
//   {"cmd": "evaluate", "expression": E} evaluate the JavaScript expression E in
//                                        the page (a promise is awaited); answers
//                                        {"value": its JSON value, "pageErrors": [...]}
//   {"cmd": "clear_cookies"}             forget every cookie of the browser
//   {"cmd": "close"}                     close the browser; the driver exits
// Console messages of the page go to stderr ("# page: ..."); uncaught page
// errors are returned by every snapshot. End of stdin closes the browser too.
// Never downloads a browser: chromium is the executable given by the test.
import readline from 'node:readline';
import { chromium } from 'playwright-core';

let context = null;
let page = null;
const pageErrors = [];

function log(line) {
  process.stderr.write('# ' + line.replace(/\n/g, '\n#   ') + '\n');
}

// What a person sees on the demo page, read from the DOM.
function readPage() {
  const $ = (id) => document.getElementById(id);
  const text = (id) => ($(id) ? $(id).textContent : null);
  const items = Array.from(document.querySelectorAll('#log > li')).map((li) => ({
    id: li.dataset.id || null,
    note: li.classList.contains('note'),
    meta: li.querySelector('.meta') ? li.querySelector('.meta').textContent : '',
    data: li.querySelector('pre') ? li.querySelector('pre').textContent : null,
  }));
  return {
    state: text('state'),
    stateClass: $('state') ? $('state').className : null,
    lastId: text('lastid'),
    count: text('count'),
    result: text('result'),
    topic: $('topic') ? $('topic').value : null,
    token: $('token') ? $('token').value : null,
    items,
  };
}

const commands = {
  async launch(msg) {
    context = await chromium.launchPersistentContext(msg.userDataDir, {
      executablePath: msg.executablePath,
      headless: true,
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ],
      viewport: { width: 1000, height: 900 },
      handleSIGINT: true,
      handleSIGTERM: true,
      handleSIGHUP: true,
    });
    page = context.pages()[0] || (await context.newPage());
    page.on('console', (m) => log('page: ' + m.type() + ': ' + m.text()));
    page.on('pageerror', (e) => {
      pageErrors.push(String(e));
      log('page error: ' + String(e));
    });
    const version = context.browser() ? context.browser().version() : null;
    return { version };
  },
  async goto(msg) {
    const resp = await page.goto(msg.url, { waitUntil: 'load' });
    return { status: resp ? resp.status() : null };
  },
  async snapshot() {
    const s = await page.evaluate(readPage);
    s.pageErrors = pageErrors.slice();
    return s;
  },
  async offline(msg) {
    await context.setOffline(Boolean(msg.value));
    return {};
  },
  async publish_form(msg) {
    await page.fill('#data', msg.data);
    await page.click('#publish');
    return {};
  },
  async evaluate(msg) {
    const value = await page.evaluate(String(msg.expression));
    return { value: value === undefined ? null : value, pageErrors: pageErrors.slice() };
  },
  async clear_cookies() {
    await context.clearCookies();
    return {};
  },
  async screenshot(msg) {
    await page.screenshot({ path: msg.path, fullPage: true });
    return {};
  },
  async close() {
    await shutdown();
    return {};
  },
};

async function shutdown() {
  const c = context;
  context = null;
  page = null;
  if (c) await c.close().catch((e) => log('close: ' + e));
}

function reply(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
let queue = Promise.resolve();
let closing = false;
rl.on('line', (line) => {
  queue = queue.then(async () => {
    let msg;
    try {
      msg = JSON.parse(line);
      const fn = commands[msg.cmd];
      if (!fn) throw new Error('unknown command ' + JSON.stringify(msg.cmd));
      if (msg.cmd !== 'launch' && msg.cmd !== 'close' && !page) throw new Error('no browser');
      reply({ ok: true, ...(await fn(msg)) });
    } catch (e) {
      reply({ ok: false, error: String((e && e.stack) || e) });
    }
    if (msg && msg.cmd === 'close') {
      closing = true;
      process.exit(0);
    }
  });
});
rl.on('close', () => {
  queue.then(async () => {
    if (!closing) await shutdown();
    process.exit(0);
  });
});
