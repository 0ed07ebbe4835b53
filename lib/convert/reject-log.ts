/** proton-beam.log in the output folder: one line per rejected input line, appended per run. */
import fs from 'node:fs';
import { once } from 'node:events';
import type { LineRejection } from './batch.ts';
import { FatalError, describeFsError } from '../cli/errors.ts';

export const LOG_NAME = 'proton-beam.log';

export class RejectLog {
  private stream: fs.WriteStream;
  private failure: Error | undefined;
  /** Size of the file with everything written so far (what a checkpoint records). */
  bytes: number;

  constructor(readonly filePath: string) {
    try {
      this.bytes = fs.statSync(filePath).size;
    } catch {
      this.bytes = 0;
    }
    this.stream = fs.createWriteStream(filePath, { flags: 'a' });
    // Its own failure (a full disk), named as such rather than blamed on the input.
    this.stream.on('error', (err) => { this.failure ??= new FatalError(`cannot write ${describeFsError(err, filePath)}`); });
  }

  info(text: string): void {
    this.write(`${new Date().toISOString()} INFO ${text}\n`);
  }

  private write(text: string): boolean {
    this.bytes += Buffer.byteLength(text);
    return this.stream.write(text);
  }

  /** Waits until every line written so far is in the file and synced (a checkpoint covers them). */
  async sync(): Promise<void> {
    if (this.failure) throw this.failure;
    await new Promise<void>((resolve, reject) => this.stream.write('', (err) => (err ? reject(err) : resolve())));
    const fd = (this.stream as unknown as { fd: number | null }).fd;
    if (fd !== null && fd !== undefined) await new Promise<void>((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve())));
    if (this.failure) throw this.failure;
  }

  /** Writes the rejections; waits when the disk is slower than the input. */
  async rejected(rejects: LineRejection[]): Promise<void> {
    if (this.failure) throw this.failure;
    let text = '';
    for (const r of rejects) text += `line ${r.line}: ${r.reason}: ${r.detail}\n`;
    if (text && !this.write(text)) await once(this.stream, 'drain');
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve, reject) => this.stream.end((err?: Error | null) => (err ? reject(err) : resolve())));
    if (this.failure) throw this.failure;
  }
}
