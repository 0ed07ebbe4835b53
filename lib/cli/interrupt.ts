/** Ctrl-C and SIGTERM: stop reading, finish the files being written. */
/** An AbortSignal that fires on the first SIGINT or SIGTERM; a second one ends the process. */
export function interruptSignal(): AbortSignal {
  const controller = new AbortController();
  const onSignal = (name: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write(`\n${name}: finishing the files being written (again to quit at once)\n`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return controller.signal;
}
