/**
 * What a spot interruption costs a run (make plan): the group launches a replacement, which goes
 * through the same preparation as the first instance, and the job resumes from the last
 * checkpoint, so the work since that checkpoint is done again. The spot saving is shown net of
 * the interruptions to expect.
 */
import type { Estimate, Prices, Throughput } from './cost.ts';

/** The converter's default checkpoint interval (--checkpoint-every). */
export const CHECKPOINT_MINUTES = 5;

/**
 * The replacement's way back to converting, step by step, from userdata/prepare-instance.sh and
 * the job document's steps. Estimates for a c7i in a region's default subnet, not measurements
 * (no AWS account here). All but the last add up to setup_minutes' default of 10, which a
 * measured setup_minutes (docs/BENCHMARKS.md plan line) replaces.
 */
export const REPLACEMENT_STEPS: [string, number][] = [
  ['EC2 launch and Ubuntu boot, cloud-init starts', 1.5],
  ['userdata: snap refresh of the SSM agent', 1],
  ['userdata: apt-get update, build tools, libsecp256k1', 3],
  ['userdata: Node.js tarball download, SHA-256 check, unpack', 0.5],
  ['SSM registration, the association runs the document: bundle download and check', 1],
  ['document install step: npm ci (better-sqlite3 built if its prebuilt binary is out of reach)', 3],
  ['job start: resume from OUTPUT/_checkpoint.json, the stored ids from the parts', 0.5],
];

/**
 * Interruptions per instance-hour: the Spot Instance Advisor puts c6i/c7i mostly in its lowest
 * band (under 5 % of instances interrupted per month); the estimate takes 20 % per month, its
 * fourth band, so as not to flatter spot: 0.2 / 730 h.
 */
export const INTERRUPTIONS_PER_HOUR = 0.2 / 730;

export interface SpotRisk {
  /** Minutes lost per interruption: the work since the last checkpoint (at most the interval), plus the replacement's way back. */
  checkpointMinutes: number;
  replacementMinutes: number;
  perInterruptionMinutes: number;
  /** Interruptions to expect over the run's hours. */
  expected: number;
  /** The spot total with the expected interruptions, and with exactly one. */
  spotExpected: number;
  spotWithOne: number;
  /** On-demand total minus those. */
  netSaving: number;
  netSavingWithOne: number;
}

export function spotRisk(e: Estimate, t: Throughput, prices: Prices, checkpointMinutes = CHECKPOINT_MINUTES): SpotRisk {
  // All steps but the last are the setup every instance has: setup_minutes (measured or its default, their sum).
  const replacementMinutes = t.setup_minutes + REPLACEMENT_STEPS[REPLACEMENT_STEPS.length - 1][1];
  const perInterruptionMinutes = checkpointMinutes + replacementMinutes;
  const hours = perInterruptionMinutes / 60;
  // An interruption's price: the spot instance, its EBS and IPv4 for the extra hours.
  const perHour = e.spot.hourly + (e.spot.ebs + e.spot.ipv4) / e.hours.total;
  const perInterruption = perHour * hours;
  const expected = e.hours.total * INTERRUPTIONS_PER_HOUR;
  const spotExpected = e.spot.total + expected * perInterruption;
  const spotWithOne = e.spot.total + perInterruption;
  return {
    checkpointMinutes, replacementMinutes, perInterruptionMinutes, expected,
    spotExpected, spotWithOne, netSaving: e.onDemand.total - spotExpected, netSavingWithOne: e.onDemand.total - spotWithOne,
  };
}

const money = (n: number) => `$${Math.abs(n) < 10 ? n.toFixed(2) : n.toFixed(0)}`;

export function spotRiskLines(r: SpotRisk, onDemandTotal: number): string[] {
  const pct = (n: number) => `${Math.round((n / onDemandTotal) * 100)} %`;
  return [
    `spot interruption: about ${Math.round(r.perInterruptionMinutes)} min more per interruption (up to ${r.checkpointMinutes} min of work since the last checkpoint, done again, + ${Math.round(r.replacementMinutes)} min for the replacement to boot, prepare and resume; docs/DEPLOY.md)`,
    `spot saving net of it: ${money(r.netSaving)} (${pct(r.netSaving)}) with the ${r.expected.toFixed(3)} interruptions to expect (20 % per month), ${money(r.netSavingWithOne)} (${pct(r.netSavingWithOne)}) even with one`,
  ];
}
