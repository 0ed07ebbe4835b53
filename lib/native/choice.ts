/**
 * A choice between a system library and a fallback of our own (the Schnorr verifier, the gzip):
 * `auto` takes the library when it loads and passes its self-test, else the fallback with one
 * line saying why and how to get the library; asking for the library by name and not having it
 * is a one-line FatalError.
 */
import { FatalError } from '../cli/errors.ts';

export interface Chosen<K extends string> {
  kind: K;
  /** How the run names it, e.g. "native (libsecp256k1.so.1)". */
  label: string;
  /** For `auto` falling back: one line saying why, and how to get the library. */
  note?: string;
}

export interface ChoiceOf<K extends string> {
  /** The flag, for the error: "--verifier". */
  flag: string;
  native: K;
  fallback: { kind: K; label: string };
  /** Loads and self-tests the library: its label; throws saying why it cannot be had. */
  load: () => string;
  /** How to get the library: "apt-get install ...". */
  hint: string;
  /** The note's start, before the reason: "signatures: WASM verifier, native unavailable". */
  fallingBack: string;
}

export function chooseNative<K extends string>(choice: string, o: ChoiceOf<K>): Chosen<K> {
  if (choice === o.fallback.kind) return { ...o.fallback };
  try {
    return { kind: o.native, label: o.load() };
  } catch (err) {
    const why = String((err as Error).message);
    if (choice === o.native) throw new FatalError(`${o.flag} ${o.native}: ${why}; ${o.hint}`);
    return { ...o.fallback, note: `${o.fallingBack}: ${why}; ${o.hint}` };
  }
}
