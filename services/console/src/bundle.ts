import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build, stop } from 'esbuild';

const WEB_DIR = fileURLToPath(new URL('../web/', import.meta.url));

export interface Asset {
  body: Buffer;
  gzip: Buffer;
  type: string;
}

export interface WebApp {
  assets: Map<string, Asset>;
  /** The page shell (the same for every page: the app routes by the URL's hash). */
  html: Asset;
  bytes: number;
  gzipBytes: number;
}

function asset(body: Buffer, type: string): Asset {
  return { body, gzip: gzipSync(body, { level: 9 }), type };
}

/**
 * Builds the browser app from web/ in memory with esbuild (about 0.2 s), so there is no build
 * step and nothing built is committed. Everything the page needs is served from here: no CDN, no
 * web fonts, no request beyond Sightline.
 */
export function buildWebApp(): Promise<WebApp> {
  // Callers at the same time share one build: stop() after one must not end another's.
  building ??= bundle().finally(() => (building = null));
  return building;
}

let building: Promise<WebApp> | null = null;

async function bundle(): Promise<WebApp> {
  // Asynchronous, then stopped: buildSync runs esbuild's service in a worker thread that lives on
  // with its Go process (25 MB and 20 MB of RSS for the console's lifetime); stop() ends the Go
  // process the async API started, so nothing of esbuild stays running (or keeps the process alive).
  const result = await build({
    entryPoints: [`${WEB_DIR}main.tsx`],
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['chrome120', 'firefox120', 'safari17'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    outdir: '/assets',
    entryNames: 'app',
    write: false,
    logLevel: 'silent',
    legalComments: 'none',
  }).finally(() => stop());
  const assets = new Map<string, Asset>();
  for (const file of result.outputFiles) {
    const name = file.path.slice(file.path.lastIndexOf('/') + 1);
    const type = name.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8';
    assets.set(`/assets/${name}`, asset(Buffer.from(file.contents), type));
  }
  const html = asset(await readFile(`${WEB_DIR}index.html`), 'text/html; charset=utf-8');
  let bytes = html.body.length;
  let gzipBytes = html.gzip.length;
  for (const a of assets.values()) {
    bytes += a.body.length;
    gzipBytes += a.gzip.length;
  }
  return { assets, html, bytes, gzipBytes };
}
