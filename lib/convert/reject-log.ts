/** proton-beam.log in the output folder: one line per rejected input line, appended per run. */
import fs from 'node:fs';
import { once } from 'node:events';
import type { LineRejection } from './batch.ts';
import { FatalError, describeFsError } from '../cli/errors.ts';

export const LOG_NAME = 'proton-beam.log';

export class RejectLog {
  private stream: fs.WriteStream;
  private failure: Error | undefined;

  constructor(readonly filePath: string) {
    this.stream = fs.createWriteStream(filePath, { flags: 'a' });
    // Its own failure (a full disk), named as such rather than blamed on the input.
    this.stream.on('error', (err) => { this.failure ??= new FatalError(`cannot write ${describeFsError(err, filePath)}`); });
  }

  info(text: string): void {
    this.stream.write(`${new Date().toISOString()} INFO ${text}\n`);
  }

  /** Writes the rejections; waits when the disk is slower than the input. */
  async rejected(rejects: LineRejection[]): Promise<void> {
    if (this.failure) throw this.failure;
    let text = '';
    for (const r of rejects) text += `line ${r.line}: ${r.reason}: ${r.detail}\n`;
    if (text && !this.stream.write(text)) await once(this.stream, 'drain');
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve, reject) => this.stream.end((err?: Error | null) => (err ? reject(err) : resolve())));
    if (this.failure) throw this.failure;
  }
}
