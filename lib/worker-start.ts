/**
 * Starts a worker thread on one of our TypeScript modules.
 *
 * Node 20 does not hand tsx's loader hooks to worker threads, and a worker that registers them
 * itself (worker-bootstrap.mjs) runs a loader thread of its own: ~20 MB more per worker and
 * 5 x the start-up time. So the module, with the files of ours it imports, is bundled once by
 * esbuild (the compiler tsx itself runs) into one ES module in node_modules/.cache/proton-beam/,
 * named by a hash of its text; npm packages stay imports, found in node_modules as usual.
 * Where that cannot be done (esbuild fails, the cache folder is not writable, a module of ours
 * lies outside the entry's folder), the worker registers tsx itself, as before.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { buildSync } from 'esbuild';

const BOOTSTRAP = new URL('./worker-bootstrap.mjs', import.meta.url);
const CACHE_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'node_modules', '.cache', 'proton-beam');
const bundles = new Map<string, URL | undefined>();

/** Starts a worker on `script`; the worker finds `data` in workerData.data. */
export function startWorker(script: URL, data: unknown): Worker {
  const bundle = bundleOf(script);
  // A bundle needs no loader: execArgv: [] keeps the worker from inheriting this process's --import tsx.
  return bundle ? new Worker(bundle, { workerData: { data }, execArgv: [] }) : new Worker(BOOTSTRAP, { workerData: { script: script.href, data } });
}

/** The bundled module for `script`, built once per process; undefined when it cannot be had. */
export function bundleOf(script: URL): URL | undefined {
  if (!bundles.has(script.href)) bundles.set(script.href, build(script));
  return bundles.get(script.href);
}

function build(script: URL): URL | undefined {
  const entry = fileURLToPath(script);
  const folder = path.dirname(entry);
  try {
    const { outputFiles, metafile } = buildSync({
      entryPoints: [entry], bundle: true, platform: 'node', format: 'esm', target: 'node20',
      packages: 'external', write: false, metafile: true, logLevel: 'silent', absWorkingDir: folder,
      // Our modules find files beside them through import.meta.url (proto/nostr.proto): in the
      // bundle it is the entry's, which is right for modules in the entry's folder only.
      define: { 'import.meta.url': JSON.stringify(script.href) },
    });
    if (Object.keys(metafile.inputs).some((input) => path.dirname(path.resolve(folder, input)) !== folder)) return undefined;
    const text = outputFiles[0].text;
    const hash = createHash('sha256').update(text).digest('hex').slice(0, 16);
    const file = path.join(CACHE_DIR, `${path.basename(entry, '.ts')}-${hash}.mjs`);
    if (!fs.existsSync(file)) {
      fs.mkdirSync(CACHE_DIR, { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, text);
      fs.renameSync(tmp, file); // whole or not at all, if another process writes it too
    }
    return pathToFileURL(file);
  } catch {
    return undefined;
  }
}
