/** A one-line progress bar on a terminal: bytes, events/s and, when the size is known, ETA. */
import { formatBytes, formatDuration } from './format.ts';

export interface ProgressSnapshot {
  bytesRead: number;
  totalBytes?: number;
  events: number;
}

const WIDTH = 24;

export class ProgressBar {
  private timer: NodeJS.Timeout | undefined;
  private readonly started = Date.now();

  constructor(private read: () => ProgressSnapshot, private out: NodeJS.WriteStream = process.stderr) {
    this.timer = setInterval(() => this.draw(), 250);
    this.timer.unref();
  }

  private draw(): void {
    const { bytesRead, totalBytes, events } = this.read();
    const seconds = (Date.now() - this.started) / 1000;
    const rate = seconds > 0 ? events / seconds : 0;
    let line: string;
    if (totalBytes) {
      const fraction = Math.min(1, bytesRead / totalBytes);
      const filled = Math.round(fraction * WIDTH);
      const eta = fraction > 0 ? seconds / fraction - seconds : undefined;
      line = `[${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ${(fraction * 100).toFixed(1)}% ` +
        `${formatBytes(bytesRead)}/${formatBytes(totalBytes)} ${eventRate(rate)} ETA ${eta === undefined ? '?' : formatDuration(eta)}`;
    } else {
      line = `${formatBytes(bytesRead)} read, ${events.toLocaleString('en-US')} events, ${eventRate(rate)}`;
    }
    this.out.write(`\r\x1b[2K${line}`);
  }

  stop(): void {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.draw();
    this.out.write('\n');
  }
}

const eventRate = (perSecond: number): string => `${Math.round(perSecond).toLocaleString('en-US')} ev/s`;
