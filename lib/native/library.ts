/**
 * A system shared library called through koffi (an FFI whose prebuilt binary ships in its npm
 * package): the Schnorr verifier's libsecp256k1 and the gzip of libdeflate.
 */
import { createRequire } from 'node:module';
import { PACKAGE_JSON } from '../paths.ts';

export interface NativeLibrary {
  func(signature: string): (...args: unknown[]) => unknown;
}

interface Koffi {
  load(path: string): NativeLibrary;
}

/** koffi is loaded on demand (its native module may be missing on an odd platform). */
function loadKoffi(): Koffi {
  const mod = createRequire(PACKAGE_JSON)('koffi') as Koffi & { default?: Koffi };
  return mod.default ?? mod;
}

/** Opens the first of `names` found; throws an Error saying what was tried. */
export function openLibrary(what: string, names: readonly string[]): { lib: NativeLibrary; name: string } {
  const koffi = loadKoffi();
  const failures: string[] = [];
  for (const name of names) {
    try {
      return { lib: koffi.load(name), name };
    } catch (err) {
      failures.push(`${name}: ${String((err as Error).message).split('\n')[0]}`);
    }
  }
  throw new Error(`${what} not found (${failures.join('; ')})`);
}
