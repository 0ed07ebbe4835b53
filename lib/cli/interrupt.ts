/**
 * Ctrl-C and SIGTERM: stop reading, finish the files being written.
 *
 * One keypress can arrive more than once: a terminal sends SIGINT to every process of the
 * group, and `tsx` (the documented `npx tsx scripts/...`) sends it to its child again when the
 * child's acknowledgement takes over ~30 ms (node_modules/tsx/dist/cli.mjs, relaySignals), as
 * does npm for SIGTERM (lib/cli/tsx-relay.ts makes sure tsx hears that the child got it, so it does not SIGKILL it). So the same signal again within REPEAT_WINDOW_MS counts as the first;
 * a second one later (a second, deliberate Ctrl-C) quits at once.
 */
import os from 'node:os';
import { tsxSignalReporter } from './tsx-relay.ts';

export const REPEAT_WINDOW_MS = 500;

/** 128 + the signal's number: 130 for SIGINT, 143 for SIGTERM. */
export const exitCodeOf = (signal: unknown): number => 128 + (os.constants.signals[signal as NodeJS.Signals] ?? os.constants.signals.SIGINT);

/** An AbortSignal that fires on the first SIGINT or SIGTERM (its reason: the signal's name). */
export function interruptSignal(windowMs = REPEAT_WINDOW_MS): AbortSignal {
  const controller = new AbortController();
  const reportToTsx = tsxSignalReporter();
  let firstAt = 0;
  const onSignal = (name: NodeJS.Signals) => {
    reportToTsx?.(name);
    if (controller.signal.aborted) {
      if (Date.now() - firstAt < windowMs) return; // the same keypress, relayed again
      process.stderr.write(`${name} again: quitting at once (the files are consistent; run again to resume)\n`);
      process.exit(exitCodeOf(name));
    }
    firstAt = Date.now();
    process.stderr.write(`\n${name}: finishing the files being written (again to quit at once)\n`);
    controller.abort(name);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return controller.signal;
}
