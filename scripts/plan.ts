#!/usr/bin/env -S npx tsx
// make plan: what make deploy would do and what it would cost. Changes nothing; needs no AWS
// credentials (with credentials it asks S3 for the input's size, read-only).
import { runDeployScript } from '../lib/deploy/cli.ts';
import { createS3Client } from '../lib/s3/client.ts';
import { hashFiles, listBundleFiles } from '../lib/deploy/bundle.ts';
import { loadPrices, loadThroughput } from '../lib/deploy/cost.ts';
import { credentialsConfigured, planLines, probeInputSize } from '../lib/deploy/plan.ts';
import { readTemplate } from '../lib/deploy/template.ts';
import { ROOT } from '../lib/paths.ts';

await runDeployScript({
  name: 'plan',
  about: `
What make deploy would do and what it would cost. Changes nothing; needs no AWS credentials.`,
  extra: {},
  require: { input: true, output: true },
}, async (args) => {
  readTemplate(); // refuses a template whose embedded user data is stale
  const files = await listBundleFiles(ROOT, (line) => console.log(line));
  const s3 = credentialsConfigured() ? createS3Client(args.settings.region ? { region: args.settings.region } : {}) : undefined;
  const lines = planLines({
    settings: args.settings,
    raw: args.raw,
    bundleHash: hashFiles(ROOT, files),
    inputSize: await probeInputSize(args.settings, s3),
    prices: loadPrices(),
    throughput: loadThroughput(),
  });
  for (const line of lines) console.log(line);
  // The memory rule refuses an instance type that would run out of memory hours in.
  return lines.some((l) => l.startsWith('  error: ')) ? 1 : 0;
});
