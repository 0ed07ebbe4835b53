/**
 * What the deploy scripts share: the settings flags (each one also an environment variable and a
 * deploy.env line, lib/deploy/settings.ts), validated before any AWS call, on the common runner.
 */
import { makeClients, type AwsClients } from './aws.ts';
import { runScript, type ScriptArgs } from '../cli/run.ts';
import type { FlagTable } from '../cli/flags.ts';
import { SETTINGS, collectSettings, validateSettings, type DeploySettings, type RawSettings } from './settings.ts';

/** The settings as flags: all strings, since a flag beats the environment, which beats deploy.env. */
function settingsFlags(): FlagTable {
  const flags: FlagTable = { 'env-file': { kind: 'string', value: 'PATH', help: 'DEPLOY_ENV_FILE: settings file (default ./deploy.env)' } };
  for (const s of Object.values(SETTINGS)) {
    flags[s.flag] = { kind: 'string', help: `${s.env}: ${s.help}${s.default !== undefined ? ` (default ${s.default})` : ''}` };
  }
  return flags;
}

export interface DeployScriptArgs<F extends FlagTable> extends ScriptArgs<F> {
  settings: DeploySettings;
  raw: RawSettings;
}

/** Runs `make NAME`'s script: settings flags plus `extra`, settings checked against `require`. */
export async function runDeployScript<const F extends FlagTable>(
  spec: { name: string; about: string; extra: F; require: Parameters<typeof validateSettings>[1] },
  main: (args: DeployScriptArgs<F>) => Promise<number>,
): Promise<void> {
  await runScript({
    command: `npx tsx scripts/${spec.name}.ts`,
    synopsis: `[settings] (or: make ${spec.name} ARGS='...')`,
    about: `${spec.about.trim()}\n\nSettings come from flags, then the environment, then deploy.env. See docs/DEPLOY.md.`,
    flags: { ...spec.extra, ...settingsFlags() } as F,
    helpHint: `make ${spec.name} ARGS=--help`,
    exitWhenDone: true,
  }, async (args) => {
    const raw = collectSettings(args.flags as Record<string, string | boolean | undefined>);
    return main({ ...args, settings: validateSettings(raw, spec.require), raw });
  });
}

export function clientsFor(settings: DeploySettings): AwsClients {
  return makeClients(settings.region!);
}
