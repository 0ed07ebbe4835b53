/**
 * How every script starts and ends: its flags parsed from its table, `--help` and `--version`
 * answered, and every way out turned into an exit status with at most one line on stderr
 * (a usage error: the line and where the help is, 2; an expected problem: the line, 1 or its
 * own code; an AWS SDK error: one line, 1). Only a bug prints a stack.
 */
import fs from 'node:fs';
import { FatalError, UsageError, describeAwsError, isAwsError } from './errors.ts';
import { COMMON_FLAGS, flagsUsage, parseFlags, type FlagTable, type FlagValues } from './flags.ts';
import { PACKAGE_JSON } from '../paths.ts';

export interface ScriptSpec<F extends FlagTable> {
  /** How the script is run, e.g. `npx tsx scripts/convert.ts`. */
  command: string;
  /** What follows the command in the usage line(s), e.g. `INPUT [options]`. */
  synopsis: string | string[];
  /** What the script does: a paragraph or two for --help. */
  about: string;
  flags: F;
  /** Text after the options: exit statuses, files, more. */
  notes?: string;
  /** How many positional arguments, and their name for error messages. */
  positionals?: { name: string; min: number; max: number };
  /** Where a user finds the help, named after a usage error (default: COMMAND --help). */
  helpHint?: string;
  /** Ask process.exit once done (scripts whose AWS clients would keep the process alive). */
  exitWhenDone?: boolean;
  /** Runs last, whatever the outcome, with the exit status and the error line if any. */
  finally?: (exitCode: number, error?: string) => Promise<void>;
}

export interface ScriptArgs<F extends FlagTable> {
  flags: FlagValues<F>;
  positionals: string[];
}

export function usageOf(spec: ScriptSpec<FlagTable>): string {
  const synopsis = [spec.synopsis].flat().map((s, i) => `${i === 0 ? 'Usage:' : '      '} ${spec.command} ${s}`).join('\n');
  return [
    synopsis, '', spec.about.trim(), '', 'Options:', flagsUsage({ ...spec.flags, ...COMMON_FLAGS }),
    ...(spec.notes ? ['', spec.notes.trim()] : []),
  ].join('\n') + '\n';
}

export function packageVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(PACKAGE_JSON, 'utf8')) as { name: string; version: string };
  return `${pkg.name} ${pkg.version}`;
}

/** Runs a script's main function under the rules above. */
export async function runScript<const F extends FlagTable>(spec: ScriptSpec<F>, main: (args: ScriptArgs<F>) => Promise<number | void>): Promise<void> {
  exitQuietlyOnClosedPipe();
  // Run as a subcommand of the installed command (scripts/proton-beam.mjs): usage and hints name it.
  const invokedAs = process.env.PROTON_BEAM_INVOKED_AS;
  delete process.env.PROTON_BEAM_INVOKED_AS;
  if (invokedAs) spec = { ...spec, command: invokedAs, helpHint: spec.helpHint && !spec.helpHint.startsWith('make ') ? spec.helpHint : `${invokedAs} --help` };
  let code: number;
  let error: string | undefined;
  try {
    const { values, positionals } = parseFlags(process.argv.slice(2), { ...spec.flags, ...COMMON_FLAGS });
    if (values.help) {
      process.stdout.write(usageOf(spec as ScriptSpec<FlagTable>));
      code = 0;
    } else if (values.version) {
      process.stdout.write(`${packageVersion()}\n`);
      code = 0;
    } else {
      checkPositionals(positionals, spec.positionals);
      code = (await main({ flags: values as FlagValues<F>, positionals })) ?? 0;
    }
  } catch (err) {
    [code, error] = describeFailure(err);
    if (err instanceof UsageError) {
      process.stderr.write(`error: ${error}\nsee: ${spec.helpHint ?? `${spec.command} --help`}\n`);
    } else {
      const bug = !(err instanceof FatalError) && !isAwsError(err); // only a bug keeps its stack
      process.stderr.write(`${bug ? 'internal error' : 'error'}: ${error}\n`);
    }
  }
  if (spec.finally) await spec.finally(code, error).catch(() => undefined);
  process.exitCode = code;
  if (spec.exitWhenDone) process.stdout.write('', () => process.exit(code));
}

function describeFailure(err: unknown): [number, string] {
  if (err instanceof UsageError || err instanceof FatalError) return [err.exitCode, err.message];
  if (isAwsError(err)) return [1, describeAwsError(err)];
  return [1, String((err as Error)?.stack ?? err)];
}

function checkPositionals(given: string[], expected: ScriptSpec<FlagTable>['positionals'] = { name: 'argument', min: 0, max: 0 }): void {
  const { name, min, max } = expected;
  if (given.length < min) throw new UsageError(`${name} is missing`);
  if (given.length > max) {
    throw new UsageError(max === 0 ? `unexpected argument: ${given.join(' ')}` : `${max === 1 ? `one ${name}` : `at most ${max} ${name}`} expected, got ${given.length}: ${given.join(' ')}`);
  }
}

/** `... | head` closes the pipe early: stop quietly instead of failing with EPIPE. */
function exitQuietlyOnClosedPipe(out: NodeJS.WriteStream = process.stdout): void {
  out.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}
