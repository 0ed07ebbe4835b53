/**
 * Starts a worker thread on one of our TypeScript modules.
 *
 * Node 20 does not hand tsx's loader hooks to worker threads, and a worker that registers them
 * itself (worker-bootstrap.mjs) runs a loader thread of its own: ~20 MB more per worker and
 * 5 x the start-up time. So the module, with the files of ours it imports, is bundled once by
 * esbuild (the compiler tsx itself runs) into one ES module in node_modules/.cache/proton-beam/,
 * named by a hash of its text; npm packages stay imports, found in node_modules as usual.
 * Modules find the repository's files through lib/paths.ts, whose root is fixed at bundle time,
 * so a worker may import modules from any folder. Where bundling cannot be done (esbuild fails,
 * the cache folder is not writable, a bundled module other than lib/paths.ts reads
 * import.meta), the worker registers tsx itself.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { buildSync } from 'esbuild';
import { PATHS_MODULE, ROOT, WORKER_BUNDLE_CACHE, libModule } from '../paths.ts';

const BOOTSTRAP = libModule('workers/bootstrap.mjs');
const CACHE_DIR = WORKER_BUNDLE_CACHE;
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
      define: { PROTON_BEAM_ROOT: JSON.stringify(ROOT) },
    });
    // In a bundle, import.meta.url is the bundle's own: a module that relies on it cannot be bundled.
    const inputs = Object.keys(metafile.inputs).map((input) => path.resolve(folder, input));
    if (inputs.some((input) => input !== PATHS_MODULE && fs.readFileSync(input, 'utf8').includes('import.meta.'))) return undefined;
    const text = outputFiles[0].text;
    const hash = createHash('sha256').update(text).digest('hex').slice(0, 16);
    const file = path.join(CACHE_DIR, `${bundleName(entry)}-${hash}.mjs`);
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

/** lib/convert/worker.ts -> convert-worker: the module's place, readable in a process listing. */
function bundleName(entry: string): string {
  return path.relative(ROOT, entry).replace(/^lib\//, '').replace(/\.ts$/, '').replaceAll(path.sep, '-');
}
