/**
 * Cooperation with the `tsx` CLI's signal relay (node_modules/tsx/dist/cli.mjs, relaySignals,
 * tsx 4.x). tsx runs the script in a child; on SIGINT or SIGTERM it waits 30 ms for the child to
 * report the signal over a Unix socket (tsx's preflight.cjs does so as the child's signal
 * handler runs); without a report it sends the signal to the child again, waits 30 ms more, and
 * then SIGKILLs it. A report that reaches tsx just before tsx's own handler has run is dropped,
 * which happens when the child is quick (a terminal signals both at once), and the child then
 * has only the second 30 ms. So the child reports each signal again, a few and fifteen ms later:
 * one report always lands while tsx waits. Only signals the child did receive are reported.
 */
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const REPORT_AGAIN_MS = [5, 15];

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
  return (signal) => {
    for (const ms of REPORT_AGAIN_MS) setTimeout(() => send({ type: 'signal', signal }), ms).unref();
  };
}
