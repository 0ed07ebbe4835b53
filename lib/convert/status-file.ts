/**
 * A JSON status file rewritten every few seconds (write to a temporary name, then rename, so a
 * reader never sees half a file). The instance job publishes it to S3 for `make status`.
 */
import fs from 'node:fs';

export type Phase = 'converting' | 'indexing' | 'uploading' | 'done' | 'failed';

export interface Status {
  phase: Phase;
  bytesRead: number;
  totalBytes: number | null;
  lines: number;
  valid: number;
  rejected: number;
  duplicates: number;
  eventsPerSecond: number;
  /** The signature verifier of the run (lib/convert/summary.ts), or "off". */
  verifier: string;
  /** The gzip of the members (lib/convert/summary.ts). */
  gzip: string;
  etaSeconds: number | null;
  /** For an s3://bucket/prefix/ input: the object being read. */
  object?: string;
  /** Bytes of the (decompressed) input up to the end of the last line converted: where a stopped run stopped. */
  processedBytes?: number;
  updatedAt: string;
}

export class StatusFile {
  private timer: NodeJS.Timeout;

  constructor(private filePath: string, private read: () => Omit<Status, 'updatedAt'>, intervalMs = 2000) {
    this.timer = setInterval(() => this.write(), intervalMs);
    this.timer.unref();
    this.write();
  }

  write(phase?: Phase): void {
    const status: Status = { ...this.read(), ...(phase ? { phase } : {}), updatedAt: new Date().toISOString() };
    const tmp = `${this.filePath}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(status) + '\n');
    fs.renameSync(tmp, this.filePath);
  }

  stop(phase: Phase): void {
    clearInterval(this.timer);
    this.write(phase);
  }
}
