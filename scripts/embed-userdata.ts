#!/usr/bin/env -S npx tsx
// Copies userdata/prepare-instance.sh into the UserData block of cloudformation/proton-beam.yaml,
// so that the template stays a plain, self-contained file. Run after editing the script
// (make userdata); make plan/deploy and the tests refuse a template whose copy is stale.
import fs from 'node:fs';
import { runScript } from '../lib/cli/run.ts';
import { TEMPLATE_PATH, USERDATA_PATH, embeddedUserData, withUserData } from '../lib/deploy/template.ts';

await runScript({
  command: 'npx tsx scripts/embed-userdata.ts',
  synopsis: '',
  about: 'Copies userdata/prepare-instance.sh into the UserData of cloudformation/proton-beam.yaml (make userdata).',
  flags: {},
}, async () => {
  const template = fs.readFileSync(TEMPLATE_PATH, 'utf8');
  const script = fs.readFileSync(USERDATA_PATH, 'utf8');
  if (embeddedUserData(template) === script) {
    console.log('the template already embeds the current userdata/prepare-instance.sh');
  } else {
    fs.writeFileSync(TEMPLATE_PATH, withUserData(template, script));
    console.log(`embedded userdata/prepare-instance.sh into ${TEMPLATE_PATH}`);
  }
});
