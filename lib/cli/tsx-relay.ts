/**
 * Cooperation with the `tsx` CLI's signal relay (node_modules/tsx/dist/cli.mjs, relaySignals,
 * tsx 4.x). tsx runs the script in a child; on SIGINT or SIGTERM it waits 30 ms for the child to
 * report the signal over a Unix socket (tsx's preflight.cjs does so as the child's signal
 * handler runs); without a report it sends the signal to the child again, waits 30 ms more, and
 * then SIGKILLs it. A report that reaches tsx before tsx's own handler has run is dropped
 * (a terminal signals both at once; npm forwards SIGTERM to tsx a moment later), and on a busy
 * machine tsx's 30 ms timer can fire before it reads a report that is already there; and tsx
 * keeps one resolver for all its waits, so with several signals at once (npm forwards them to
 * tsx besides the group's own) a wait can only be answered while it is the latest. So after
 * each signal the child keeps reporting it, every millisecond for 300 ms: whenever tsx waits, a
 * report is on its way or already queued. Only a signal the child did receive is reported.
 */
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const REPORT_EVERY_MS = 1;
const REPORT_FOR_MS = 300;

/** A function that reports a received signal to the tsx CLI again; undefined when tsx is not the parent. */
export function tsxSignalReporter(): ((signal: NodeJS.Signals) => void) | undefined {
  if (!process.execArgv.some((a) => /tsx[\\/]dist[\\/]preflight\.cjs$/.test(a))) return undefined;
  const user = process.geteuid ? process.geteuid() : os.userInfo().username;
  const pipe = path.join(os.tmpdir(), `tsx-${user}`, `${process.ppid}.pipe`);
  let socket: net.Socket | undefined;
  try {
    socket = net.createConnection(pipe);
  } catch {
    return undefined;
  }
  socket.on('error', () => {}); // no tsx listening there: nothing to tell
  socket.unref();
  const send = (message: object) => {
    const body = Buffer.from(JSON.stringify(message));
    const head = Buffer.alloc(4);
    head.writeInt32BE(body.length, 0);
    if (!socket!.destroyed) socket!.write(Buffer.concat([head, body]));
  };
  let latest: NodeJS.Signals = 'SIGINT';
  let timer: NodeJS.Timeout | undefined;
  let until = 0;
  return (signal) => {
    latest = signal;
    until = Date.now() + REPORT_FOR_MS;
    timer ??= setInterval(() => {
      send({ type: 'signal', signal: latest });
      if (Date.now() > until) {
        clearInterval(timer);
        timer = undefined;
      }
    }, REPORT_EVERY_MS).unref();
  };
}
