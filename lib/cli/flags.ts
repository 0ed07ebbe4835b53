/**
 * A script's flags stated once, in one table: from it come the parser's options, the usage text
 * and the parsed, typed values with their defaults. Kinds:
 * - `switch`: present or not (`--verbose`);
 * - `bool`: `--flag true|false` or `--flag=false` (also yes/no, 1/0, on/off);
 * - `int`: a whole number within `min`..`max`;
 * - `string`: any text; `list`: a string that may be repeated.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './errors.ts';

interface FlagBase {
  short?: string;
  /** One line of help (more lines are indented under it). */
  help: string;
  /** What the usage shows as the default, when the value itself says too little (e.g. "16 MiB"). */
  defaultText?: string;
}
export type FlagSpec =
  | (FlagBase & { kind: 'switch' })
  | (FlagBase & { kind: 'bool'; default?: boolean })
  | (FlagBase & { kind: 'int'; value?: string; default?: number; min: number; max: number })
  | (FlagBase & { kind: 'string'; value?: string; default?: string })
  | (FlagBase & { kind: 'list'; value?: string });
export type FlagTable = Record<string, FlagSpec>;

/** The parsed value of one flag: defaults applied, so only flags without one may be undefined. */
export type FlagValue<S> =
  S extends { kind: 'switch' } ? boolean
  : S extends { kind: 'list' } ? string[]
  : S extends { kind: 'bool'; default: boolean } ? boolean
  : S extends { kind: 'bool' } ? boolean | undefined
  : S extends { kind: 'int'; default: number } ? number
  : S extends { kind: 'int' } ? number | undefined
  : S extends { kind: 'string'; default: string } ? string
  : string | undefined;
export type FlagValues<F extends FlagTable> = { -readonly [K in keyof F]: FlagValue<F[K]> };

/** Flags every script has; the runner answers them. */
export const COMMON_FLAGS = {
  help: { kind: 'switch', short: 'h', help: 'this help' },
  version: { kind: 'switch', help: 'the version' },
} as const satisfies FlagTable;

export function parseBool(name: string, value: string): boolean {
  const v = value.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  throw new UsageError(`--${name} takes true or false, not '${value}'`);
}

export function parseIntInRange(name: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} takes a whole number from ${min} to ${max}, not '${value}'`);
  }
  return n;
}

/** Parses `argv` against `flags`; errors are one-line UsageErrors, with a suggestion for a misspelt flag. */
export function parseFlags<F extends FlagTable>(argv: string[], flags: F): { values: FlagValues<F>; positionals: string[] } {
  const options: NonNullable<ParseArgsConfig['options']> = {};
  for (const [name, spec] of Object.entries(flags)) {
    options[name] = { type: spec.kind === 'switch' ? 'boolean' : 'string', ...(spec.short ? { short: spec.short } : {}), ...(spec.kind === 'list' ? { multiple: true } : {}) };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(parserProblem(err as Error & { code?: string }, flags));
  }
  const raw = parsed.values as Record<string, string | string[] | boolean | undefined>;
  const values: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(flags)) {
    const given = raw[name];
    switch (spec.kind) {
      case 'switch': values[name] = given === true; break;
      case 'list': values[name] = (given as string[] | undefined) ?? []; break;
      case 'bool': values[name] = given === undefined ? spec.default : parseBool(name, given as string); break;
      case 'int': values[name] = given === undefined ? spec.default : parseIntInRange(name, given as string, spec.min, spec.max); break;
      case 'string': values[name] = given ?? spec.default; break;
    }
  }
  return { values: values as FlagValues<F>, positionals: parsed.positionals };
}

function parserProblem(err: Error & { code?: string }, flags: FlagTable): string {
  const option = /'(-[^' ]*)/.exec(err.message)?.[1];
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && option) {
    const guess = closestFlag(option.replace(/^-+/, '').replace(/=.*/, ''), Object.keys(flags));
    return `unknown option ${option}${guess ? ` (did you mean --${guess}?)` : ''}`;
  }
  if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const long = /--([a-z0-9-]+)/.exec(err.message)?.[1];
    const spec = long ? flags[long] : undefined;
    if (long && spec?.kind === 'switch') return `--${long} takes no value`;
    if (long) return `--${long} needs a value`;
  }
  return err.message.split('\n')[0];
}

/** The known flag nearest to `typed` (edit distance at most a third of its length), if any. */
export function closestFlag(typed: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(typed.length / 3)) + 1;
  for (const name of known) {
    const d = Math.min(
      editDistance(typed, name),
      name.startsWith(typed) && typed.length >= 3 ? 1 : Infinity,
      isSubsequence(typed.replaceAll('-', ''), name) && typed.length >= 4 ? 2 : Infinity,
    );
    if (d < bestDistance) [best, bestDistance] = [name, d];
  }
  return best;
}

/** `outdir` in `output-dir`: every character, in order. */
function isSubsequence(short: string, long: string): boolean {
  let at = 0;
  for (const c of long) if (c === short[at]) at++;
  return at === short.length;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}

/** The options block of the usage: one line per flag (more for long help), defaults shown. */
export function flagsUsage(flags: FlagTable): string {
  const rows = Object.entries(flags).map(([name, spec]) => {
    const left = `${spec.short ? `-${spec.short}, ` : '    '}--${name}${placeholder(spec)}`;
    const fallback = spec.defaultText ?? ('default' in spec && spec.default !== undefined ? String(spec.default) : undefined);
    const [first, ...more] = spec.help.split('\n');
    return { left, lines: [`${first}${fallback !== undefined ? ` (default ${fallback})` : ''}`, ...more] };
  });
  const width = Math.min(34, Math.max(...rows.map((r) => r.left.length)) + 2);
  return rows.map(({ left, lines }) => {
    const head = left.length + 2 > width ? `  ${left}\n${' '.repeat(width + 2)}` : `  ${left.padEnd(width)}`;
    return head + lines.join(`\n${' '.repeat(width + 2)}`);
  }).join('\n');
}

function placeholder(spec: FlagSpec): string {
  switch (spec.kind) {
    case 'switch': return '';
    case 'bool': return ' BOOL';
    case 'int': return ` ${spec.value ?? 'N'}`;
    default: return ` ${spec.value ?? 'VALUE'}`;
  }
}
