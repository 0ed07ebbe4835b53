import type { Readable } from 'node:stream';

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Asserts that `promise` rejects with a FatalError whose one-line message matches all `patterns`. */
export async function fatal(promise: Promise<unknown>, ...patterns: RegExp[]): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    const e = err as Error & { exitCode?: number };
    let c = e?.constructor;
    while (c && c.name !== 'FatalError') c = Object.getPrototypeOf(c); // or a subclass of it
    if (!c) throw new Error(`expected a FatalError, got ${e.constructor?.name}: ${e.message}`, { cause: err });
    if (e.message.includes('\n')) throw new Error(`message is not one line: ${JSON.stringify(e.message)}`);
    for (const p of patterns) if (!p.test(e.message)) throw new Error(`message ${JSON.stringify(e.message)} does not match ${p}`);
    return e;
  }
  throw new Error('expected a FatalError, but it succeeded');
}
