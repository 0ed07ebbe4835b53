/**
 * What the deploy scripts share: their settings flags, and how they end (one line and an exit
 * code for expected problems, the stack trace only for bugs).
 */
import { parseArgs } from 'node:util';
import { FatalError, UsageError } from '../cli/errors.ts';
import { describeAwsError, makeClients, type AwsClients } from './aws.ts';
import { collectSettings, settingsParseArgsOptions, settingsUsage, validateSettings, type DeploySettings, type RawSettings } from './settings.ts';

type Extra = Record<string, { type: 'string' | 'boolean'; short?: string; default?: string | boolean }>;

export interface ScriptArgs {
  settings: DeploySettings;
  raw: RawSettings;
  flags: Record<string, string | boolean | undefined>;
}

/** Parses flags (settings flags plus `extra`), collects and validates settings. */
export function parseScriptArgs(name: string, argv: string[], extra: Extra, require: Parameters<typeof validateSettings>[1]): ScriptArgs | undefined {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...settingsParseArgsOptions(), ...extra, help: { type: 'boolean', short: 'h' } } });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\nsee make ${name} ARGS=--help`);
  }
  if (parsed.values.help) {
    const extras = Object.keys(extra).map((k) => `--${k}`).join(' ');
    console.log(`usage: ${name}.ts [settings]${extras ? ` [${extras}]` : ''}\n\n${settingsUsage()}\n\nSee docs/DEPLOY.md.`);
    return undefined;
  }
  const flags = parsed.values as Record<string, string | boolean | undefined>;
  const raw = collectSettings(flags);
  return { settings: validateSettings(raw, require), raw, flags };
}

export function clientsFor(settings: DeploySettings): AwsClients {
  return makeClients(settings.region!);
}

/** Runs a script's main and exits with its code; AWS errors become one line. */
export function runScript(name: string, main: () => Promise<number>): void {
  main().then((code) => process.exit(code), (err) => {
    if (err instanceof UsageError || err instanceof FatalError) {
      console.error(`${name}: ${err.message}`);
      process.exit(err.exitCode);
    }
    const e = err as { name?: string; $metadata?: unknown };
    if (e?.$metadata !== undefined || e?.name === 'CredentialsProviderError') {
      console.error(`${name}: ${describeAwsError(err)}`);
      process.exit(1);
    }
    console.error(err);
    process.exit(1);
  });
}
