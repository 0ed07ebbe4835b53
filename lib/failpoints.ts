/**
 * Named crash points for crash-consistency tests: with PROTON_BEAM_FAILPOINT=NAME:N in the
 * environment, the Nth time any thread of the process passes `failpoint(NAME)` (counted per
 * thread), the process kills itself with SIGKILL: no handler, no flush, as a power cut or
 * `kill -9` would stop it. Without the variable, `failpoint` is an empty function (the
 * environment is read once, when this module loads).
 *
 * Every name is listed in FAILPOINTS; test/day-files/failpoints.test.ts walks them all.
 */
export const FAILPOINTS = [
  'member-append-before', // a member compressed, nothing of it written
  'member-append-torn', // half of a member written (the write cut short)
  'member-append-after', // a member written and fsynced, its index rows not yet sent
  'repair-journal-written', // repair: salvaged events durable in the journal, the file not yet cut
  'repair-cut', // repair: the file cut back, the salvaged member not yet appended
  'repair-appended', // repair: member appended, journal not yet removed
  'index-commit-before', // index rows inserted, the transaction not committed (a hot journal)
  'index-commit-after', // a transaction of index rows committed
  'rebuild-part', // rebuild: a staged part copied into the new index
  'rebuild-rename-before', // rebuild: new index complete, not yet renamed over the old one
  'rebuild-rename-after', // rebuild: renamed
  'upload-object', // S3 output: an object uploaded, manifest.json not yet written
  'checkpoint-index-uncommitted', // checkpoint: day files flushed (members fsynced, their index rows sent), the index not yet committed
  'checkpoint-before-record', // checkpoint: members, index rows and log synced (and the hook run), _checkpoint.json not yet written
  'checkpoint-written', // checkpoint: _checkpoint.json written
  'checkpoint-part-uploaded', // S3 checkpoint: a part object uploaded and checked, the record not yet written
  'checkpoint-before-remote-record', // S3 checkpoint: every part, id list and log segment uploaded, OUTPUT/_checkpoint.json not yet
  'checkpoint-remote-written', // S3 checkpoint: OUTPUT/_checkpoint.json written (its upload runs while converting goes on)
  'assembly-part-copied', // S3 assembly: a part of a day file's multipart upload sent, the upload not completed
  'assembly-file-done', // S3 assembly: a day file assembled and checked, the next not yet
] as const;

export type FailpointName = (typeof FAILPOINTS)[number];

function parse(spec: string | undefined): { name: string; at: number } | undefined {
  if (!spec) return undefined;
  const m = /^([a-z-]+):(\d+)$/.exec(spec);
  if (!m || !(FAILPOINTS as readonly string[]).includes(m[1])) {
    throw new Error(`PROTON_BEAM_FAILPOINT=${spec}: expected NAME:N with NAME one of ${FAILPOINTS.join(', ')}`);
  }
  return { name: m[1], at: Number(m[2]) };
}

const armed = parse(process.env.PROTON_BEAM_FAILPOINT);
let hits = 0;

/** True when the named failpoint fires at this pass (for points that act before dying, as a torn write). */
export const failpointDue = armed
  ? (name: FailpointName): boolean => name === armed.name && hits + 1 === armed.at
  : (): boolean => false;

export const failpoint = armed
  ? (name: FailpointName): void => {
    if (name !== armed.name || ++hits !== armed.at) return;
    process.kill(process.pid, 'SIGKILL');
    // SIGKILL is delivered before kill() returns to a process signalling itself; never reached.
    for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
  }
  : (): void => {};
