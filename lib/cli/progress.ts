/**
 * A one-line progress display on a terminal, redrawn in place 4 times a second: the phase, the
 * time elapsed, and when known a bar of bytes done, the rate of events and the ETA. It fits the
 * terminal's width (narrow ones drop the bar first), so it never wraps into a second line.
 */
import { formatBytes, formatDuration } from './format.ts';

export interface ProgressSnapshot {
  bytesRead?: number;
  totalBytes?: number;
  events: number;
}

const MAX_BAR = 24;
const MIN_BAR = 8;

export class ProgressBar {
  private timer: NodeJS.Timeout | undefined;
  private readonly started = Date.now();
  private phaseStarted = Date.now();
  private eventsAtPhase = 0;
  /** What is happening now, e.g. 'converting', 'finishing day files', 'index'. */
  private phaseName: string;
  /** The phase that reads the input: the only one with a bar and an ETA. */
  private readonly readingPhase: string;

  constructor(private read: () => ProgressSnapshot, phase = 'converting', private out: NodeJS.WriteStream = process.stderr) {
    this.phaseName = phase;
    this.readingPhase = phase;
    this.timer = setInterval(() => this.draw(), 250);
    this.timer.unref();
  }

  /** Moves on to the next phase; the rate and ETA belong to the phase that reads input. */
  set phase(name: string) {
    this.phaseName = name;
    this.phaseStarted = Date.now();
    this.eventsAtPhase = this.read().events;
    this.draw();
  }

  private draw(): void {
    const { bytesRead = 0, totalBytes, events } = this.read();
    const elapsed = formatDuration((Date.now() - this.started) / 1000);
    const seconds = (Date.now() - this.phaseStarted) / 1000;
    const rate = seconds > 0 ? (events - this.eventsAtPhase) / seconds : 0;
    const head = `${this.phaseName} ${elapsed}`;
    const counts = `${events.toLocaleString('en-US')} events${rate > 0 ? `, ${Math.round(rate).toLocaleString('en-US')}/s` : ''}`;
    let line: string;
    if (totalBytes && this.phaseName === this.readingPhase) {
      const fraction = Math.min(1, bytesRead / totalBytes);
      const eta = fraction > 0 ? seconds / fraction - seconds : undefined;
      const tail = `${(fraction * 100).toFixed(1)}% ${formatBytes(bytesRead)}/${formatBytes(totalBytes)} ${counts} ETA ${eta === undefined ? '?' : formatDuration(eta)}`;
      const room = this.columns() - head.length - tail.length - 4;
      const width = Math.min(MAX_BAR, room);
      const filled = Math.round(fraction * Math.max(width, 0));
      line = width >= MIN_BAR ? `${head} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${tail}` : `${head} ${tail}`;
    } else {
      line = `${head} ${bytesRead > 0 ? `${formatBytes(bytesRead)} read, ` : ''}${counts}`;
    }
    this.out.write(`\r\x1b[2K${line.slice(0, this.columns() - 1)}`);
  }

  private columns(): number {
    return this.out.columns || 80;
  }

  stop(): void {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.draw();
    this.out.write('\n');
  }
}
