/**
 * Where the repository's own files are: the one definition of the project root and what lies in
 * it. Modules find files through here, never through their own import.meta.url, so that a worker
 * bundle (lib/workers/start.ts, which fixes PROTON_BEAM_ROOT at bundle time) finds them too.
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

declare const PROTON_BEAM_ROOT: string | undefined;

export const PATHS_MODULE = fileURLToPath(import.meta.url);
export const ROOT = typeof PROTON_BEAM_ROOT === 'string' ? PROTON_BEAM_ROOT : path.resolve(path.dirname(PATHS_MODULE), '..');
export const PROTO_PATH = path.join(ROOT, 'proto', 'nostr.proto');
export const PACKAGE_JSON = path.join(ROOT, 'package.json');
export const PRICES_JSON = path.join(ROOT, 'data', 'prices.json');
export const CLOUDFORMATION_TEMPLATE = path.join(ROOT, 'cloudformation', 'proton-beam.yaml');
export const WORKER_BUNDLE_CACHE = path.join(ROOT, 'node_modules', '.cache', 'proton-beam');

/** A module of lib/ by its path inside lib/, e.g. a worker thread's script: `libModule('convert/worker.ts')`. */
export function libModule(relative: string): URL {
  return pathToFileURL(path.join(ROOT, 'lib', relative));
}
