/**
 * Faults for tests that are not crashes (lib/failpoints.ts kills the process instead): with
 * PROTON_BEAM_FAULT=NAME:N (several separated by commas) in the environment,
 *   index-insert-error:N  the Nth insert transaction of the converter's index thread throws;
 *   index-insert-delay:N  each insert transaction of the converter's index thread waits N ms first;
 *   index-thread-exit:N   the converter's index thread exits (process.exit in a worker) at its Nth insert transaction.
 * Without the variable, nothing happens (the environment is read once, when this module loads).
 */
export const FAULTS = ['index-insert-error', 'index-insert-delay', 'index-thread-exit'] as const;

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

/** True at the Nth pass when `name` is armed (passes counted per thread). */
export function faultDue(name: FaultName): boolean {
  const at = armed.get(name);
  if (at === undefined) return false;
  const n = (passes.get(name) ?? 0) + 1;
  passes.set(name, n);
  return n === at;
}

/** Throws at the Nth pass when `name` is armed. */
export function fault(name: FaultName): void {
  if (faultDue(name)) throw new Error(`fault ${name}:${armed.get(name)} (PROTON_BEAM_FAULT)`);
}

/** The milliseconds to wait when `name` is armed as a delay, else 0. */
export const faultDelayMs = (name: FaultName): number => armed.get(name) ?? 0;
