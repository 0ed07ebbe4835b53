/**
 * Faults for tests that are not crashes (lib/failpoints.ts kills the process instead): with
 * PROTON_BEAM_FAULT=NAME:N (several separated by commas) in the environment,
 *   index-insert-error:N  the Nth insert transaction of the converter's index thread throws;
 *   index-insert-delay:N  each insert transaction of the converter's index thread waits N ms first.
 * Without the variable, nothing happens (the environment is read once, when this module loads).
 */
export const FAULTS = ['index-insert-error', 'index-insert-delay'] as const;

export type FaultName = (typeof FAULTS)[number];

function parse(spec: string | undefined): Map<FaultName, number> {
  const armed = new Map<FaultName, number>();
  for (const one of spec ? spec.split(',') : []) {
    const m = /^([a-z-]+):(\d+)$/.exec(one);
    if (!m || !(FAULTS as readonly string[]).includes(m[1])) {
      throw new Error(`PROTON_BEAM_FAULT=${spec}: expected NAME:N[,NAME:N] with NAME one of ${FAULTS.join(', ')}`);
    }
    armed.set(m[1] as FaultName, Number(m[2]));
  }
  return armed;
}

const armed = parse(process.env.PROTON_BEAM_FAULT);
const passes = new Map<FaultName, number>();

/** Throws at the Nth pass when `name` is armed (passes counted per thread). */
export function fault(name: FaultName): void {
  const at = armed.get(name);
  if (at === undefined) return;
  const n = (passes.get(name) ?? 0) + 1;
  passes.set(name, n);
  if (n === at) throw new Error(`fault ${name}:${at} (PROTON_BEAM_FAULT)`);
}

/** The milliseconds to wait when `name` is armed as a delay, else 0. */
export const faultDelayMs = (name: FaultName): number => armed.get(name) ?? 0;
