import { serve, launch } from './serve.mjs';
const server = await serve('dist');
const browser = await launch();
const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
page.on('pageerror', (e) => console.log('PAGEERROR', e.message));
page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') console.log('CONSOLE', m.type(), m.text().slice(0, 200)); });
await page.goto(server.url + '?backend=cpu');
await page.waitForFunction(() => window.genlab?.ready, null, { timeout: 600000 });
await page.waitForTimeout(8000);
const h = await page.evaluate(() => document.body.scrollHeight);
console.log('height', h);
for (let y = 0, i = 0; y < h && i < 14; y += 900, i++) {
  await page.evaluate((y) => window.scrollTo(0, y), y);
  await page.waitForTimeout(600);
  await page.screenshot({ path: `/tmp/shots/s${String(i).padStart(2, '0')}.png` });
}
await browser.close(); server.close();
