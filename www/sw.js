// Offline after one visit. The page (main.js) hands this worker the URLs its visit fetched (the
// page, the wasm, MNIST, the weights); they are kept here. Later requests go to the network first
// (a new version is seen at once) and fall back to the kept copy when the network fails or has
// not answered in a few seconds — a lecture hall's network.
const CACHE = 'genlab-1';
const PATIENCE_MS = 4000;

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (e) => e.waitUntil(self.clients.claim()));

// One copy per file whatever the query (`?backend=cpu` opens the same page).
const key = (url) => { const u = new URL(url); u.search = ''; u.hash = ''; return u.href; };
const ours = (url) => new URL(url).origin === location.origin;

self.addEventListener('message', (e) => {
  if (e.data?.type !== 'cache') return;
  e.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    let kept = 0;
    for (const url of new Set(e.data.urls.filter(ours).map(key))) {
      try {
        // Mostly from the HTTP cache: this visit just fetched them.
        const response = await fetch(url, { cache: 'force-cache' });
        if (response.ok) { await cache.put(url, response); kept++; }
      } catch { /* offline already: keep what is kept */ }
    }
    e.ports[0]?.postMessage({ cached: kept });
  })());
});

self.addEventListener('fetch', (e) => {
  if (e.request.method !== 'GET' || !ours(e.request.url)) return;
  e.respondWith(networkFirst(e.request));
});

async function networkFirst(request) {
  const cache = await caches.open(CACHE);
  const kept = await cache.match(key(request.url));
  const network = fetch(request).then((response) => {
    if (response.ok) cache.put(key(request.url), response.clone());
    return response;
  });
  if (!kept) return network;
  const late = new Promise((resolve) => setTimeout(() => resolve(kept), PATIENCE_MS));
  return Promise.race([network.catch(() => kept), late]);
}
