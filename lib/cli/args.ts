/** What every script shares: argument parsing with clear errors, and exit codes. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { FatalError, UsageError } from './errors.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

/** parseArgs, with its errors turned into one-line UsageErrors. */
export function parseCommandLine<O extends Options>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(String((err as Error).message).split('\n')[0]);
  }
}

export function parseBool(name: string, value: string | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  const v = value.toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  throw new UsageError(`--${name} takes true or false, not '${value}'`);
}

export function parseIntInRange(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} takes a whole number from ${min} to ${max}, not '${value}'`);
  }
  return n;
}

/**
 * Runs a script's main function: a UsageError prints the message and the usage (exit 2), a
 * FatalError its one line (exit 1); anything else is a bug and keeps its stack.
 */
export async function runMain(usage: string, main: () => Promise<number | void>): Promise<void> {
  try {
    process.exitCode = (await main()) ?? 0;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`error: ${err.message}\n\n${usage}`);
      process.exitCode = 2;
    } else if (err instanceof FatalError) {
      process.stderr.write(`error: ${err.message}\n`);
      process.exitCode = err.exitCode;
    } else {
      process.stderr.write(`internal error: ${(err as Error)?.stack ?? err}\n`);
      process.exitCode = 1;
    }
  }
}
