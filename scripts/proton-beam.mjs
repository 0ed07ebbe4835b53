#!/usr/bin/env node
// The installed command (package.json "bin"): `proton-beam convert|index|cat|query|plan|...`, each
// subcommand the script of the same name with the same flags. Plain JavaScript, so that it starts
// without a TypeScript loader: each script runs from an esbuild bundle kept in
// node_modules/.cache/proton-beam/ and rebuilt only when one of its source files changed
// (checked by size and modification time, ~1 ms).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CACHE = path.join(ROOT, 'node_modules', '.cache', 'proton-beam');

// Pure-JS packages worth inlining: protobufjs loads ~30 CommonJS files (~9 ms of every start: docs/BENCHMARKS.md).
// Every other package stays an import (native addons, WASM, the AWS SDK loaded on demand).
const INLINED = /^(protobufjs|@protobufjs\/)/;

const COMMANDS = {
  convert: 'convert JSONL Nostr events into day files and index.db',
  index: 'index rebuild|stats: rebuild the index from the day files, or show what it holds',
  cat: 'print the events of day files as JSON lines',
  query: 'find events through the index',
  plan: 'what make deploy would do and cost (AWS)',
  deploy: 'run the conversion on an EC2 instance (AWS)',
  status: "the AWS job's progress",
  logs: "the AWS job's output",
  ssm: 'a shell on the job instance',
  destroy: 'delete the AWS stack',
};

const [command, ...args] = process.argv.slice(2);
if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length)) + 2;
  process.stdout.write(`Usage: proton-beam COMMAND [options]   (proton-beam COMMAND --help for its options)\n\nCommands:\n${
    Object.entries(COMMANDS).map(([c, text]) => `  ${c.padEnd(width)}${text}`).join('\n')}\n`);
  process.exitCode = command === undefined ? 2 : 0;
} else if (command === '--version') {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  process.stdout.write(`${pkg.name} ${pkg.version}\n`);
} else if (!Object.hasOwn(COMMANDS, command)) {
  process.stderr.write(`error: unknown command '${command}'\nsee: proton-beam --help\n`);
  process.exitCode = 2;
} else {
  const bundle = await bundleOf(path.join(ROOT, 'scripts', `${command}.ts`), command);
  // The script reads process.argv.slice(2), as when run by npx tsx scripts/NAME.ts.
  process.argv = [process.argv[0], path.join(ROOT, 'scripts', `${command}.ts`), ...args];
  process.env.PROTON_BEAM_INVOKED_AS = `proton-beam ${command}`;
  await import(pathToFileURL(bundle).href);
}

/** The bundle of `entry`, built again when a source file of it changed since it was built. */
async function bundleOf(entry, name) {
  const file = path.join(CACHE, `cli-${name}.mjs`);
  const stamps = `${file}.inputs.json`;
  try {
    const inputs = JSON.parse(fs.readFileSync(stamps, 'utf8'));
    if (fs.existsSync(file) && inputs.every(([input, size, mtime]) => {
      const st = fs.statSync(input, { throwIfNoEntry: false });
      return st !== undefined && st.size === size && st.mtimeMs === mtime;
    })) return file;
  } catch {
    // no stamps yet, or unreadable: build
  }
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [entry], bundle: true, platform: 'node', format: 'esm', target: 'node20',
    write: false, metafile: true, logLevel: 'error', absWorkingDir: ROOT, plugins: [inlineOnly(INLINED)],
    // lib/paths.ts: the bundle lives in node_modules/.cache, the repository's files do not.
    define: { PROTON_BEAM_ROOT: JSON.stringify(ROOT) },
  });
  const inputs = Object.keys(result.metafile.inputs).map((input) => {
    const full = path.resolve(ROOT, input);
    const st = fs.statSync(full);
    return [full, st.size, st.mtimeMs];
  });
  fs.mkdirSync(CACHE, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, result.outputFiles[0].text);
  fs.renameSync(tmp, file); // whole or not at all, if another process builds it too
  fs.writeFileSync(`${stamps}.${process.pid}.tmp`, JSON.stringify(inputs));
  fs.renameSync(`${stamps}.${process.pid}.tmp`, stamps);
  return file;
}

/** An esbuild plugin: bare imports stay imports, except those matching `pattern`. */
function inlineOnly(pattern) {
  return {
    name: 'inline-only',
    setup(build) {
      build.onResolve({ filter: /^[^./]/ }, (args) => (pattern.test(args.path) ? undefined : { path: args.path, external: true }));
    },
  };
}
