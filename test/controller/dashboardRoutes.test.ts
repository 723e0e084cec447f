/** /dashboard: the page and its files from web/dashboard, from this listener only (CSP 'self'), nothing else under it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestController } from '../helpers/testController.js';

test('/dashboard serves the page, its modules and stylesheet with a self-only CSP, and nothing outside web/dashboard', { timeout: 30_000 }, async (t) => {
  const tc = await startTestController();
  t.after(() => tc.close());
  const get = (path: string) => fetch(`${tc.url}${path}`);

  for (const path of ['/dashboard', '/dashboard/']) {
    const page = await get(path);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.match(page.headers.get('content-security-policy')!, /default-src 'none'; script-src 'self'; style-src 'self'/);
    const html = await page.text();
    assert.match(html, /<script type="module" src="\/dashboard\/js\/main\.js"><\/script>/);
    // Works offline: the page names no other origin.
    assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//);
  }
  const js = await get('/dashboard/js/main.js');
  assert.equal(js.status, 200);
  assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.equal((await get('/dashboard/dashboard.css')).headers.get('content-type'), 'text/css; charset=utf-8');
  for (const path of ['/dashboard/nothing.js', '/dashboard/..%2fpackage.json', '/dashboard/js/../../../package.json']) {
    assert.equal((await get(path)).status, 404, path);
  }
});
