/**
 * Faults for tests that are not crashes (lib/failpoints.ts kills the process instead): with
 * PROTON_BEAM_FAULT=NAME:N in the environment,
 *   index-insert-error:N  the Nth insert transaction of the converter's index thread throws;
 *   index-insert-delay:N  each insert transaction of the converter's index thread waits N ms first.
 * Without the variable, nothing happens (the environment is read once, when this module loads).
 */
export const FAULTS = ['index-insert-error', 'index-insert-delay'] as const;

export type FaultName = (typeof FAULTS)[number];

function parse(spec: string | undefined): { name: FaultName; n: number } | undefined {
  if (!spec) return undefined;
  const m = /^([a-z-]+):(\d+)$/.exec(spec);
  if (!m || !(FAULTS as readonly string[]).includes(m[1])) {
    throw new Error(`PROTON_BEAM_FAULT=${spec}: expected NAME:N with NAME one of ${FAULTS.join(', ')}`);
  }
  return { name: m[1] as FaultName, n: Number(m[2]) };
}

const armed = parse(process.env.PROTON_BEAM_FAULT);
let passes = 0;

/** Throws at the Nth pass when `name` is armed (passes counted per thread). */
export function fault(name: FaultName): void {
  if (armed?.name === name && ++passes === armed.n) throw new Error(`fault ${name}:${armed.n} (PROTON_BEAM_FAULT)`);
}

/** The milliseconds to wait when `name` is armed as a delay, else 0. */
export const faultDelayMs = (name: FaultName): number => (armed?.name === name ? armed.n : 0);
