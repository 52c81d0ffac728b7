// A tiny static file server for dist/ (what any static host does), a Chromium launcher, and the
// picture check the tests share.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import { chromium } from 'playwright-core';

const types = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm',
  '.css': 'text/css', '.gz': 'application/octet-stream', '.bpk': 'application/octet-stream', '.json': 'application/json' };

export async function serve(root) {
  const server = createServer(async (req, res) => {
    let path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    if (path.endsWith('/')) path += 'index.html';
    try {
      const body = await readFile(join(root, path));
      res.writeHead(200, { 'content-type': types[extname(path)] ?? 'application/octet-stream', 'content-length': body.length });
      res.end(body);
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}/`, close: () => server.close() };
}

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run',
      '--disable-dev-shm-usage', '--enable-unsafe-webgpu'],
  });
}

// True when a canvas has at least three different pixel colours: a grid of digits that came
// out NaN or constant (black cells on the gap colour) has two; black-and-white samples have three.
export const drawn = (page, id) => page.evaluate((id) => {
  const c = document.getElementById(id);
  if (!c.width || !c.height) return false;
  const d = new Uint32Array(c.getContext('2d').getImageData(0, 0, c.width, c.height).data.buffer);
  const colours = new Set();
  for (const p of d) if (colours.add(p).size >= 3) return true;
  return false;
}, id);
