/**
 * Which Schnorr verifier a run uses: `native` (system libsecp256k1 through koffi), `wasm`
 * (tiny-secp256k1), or `auto`: native when it loads and passes a self-test, else WASM with one
 * line saying why and how to get native. The choice is made once, on the main thread; workers
 * then make the chosen kind (lib/convert/worker.ts), once each.
 */
import { chooseNative, type Chosen } from '../native/choice.ts';
import { nativeVerifier } from './verify-native.ts';
import { wasmVerifier } from './verify-wasm.ts';
import type { Verifier, VerifierKind } from './verifier-types.ts';

export type { Verifier, VerifierKind } from './verifier-types.ts';
export type VerifierChoice = VerifierKind | 'auto';
export const VERIFIER_CHOICES: readonly VerifierChoice[] = ['auto', 'native', 'wasm'];

export const NATIVE_HINT = 'install the system libsecp256k1 for native verification, 4 to 6 x faster: '
  + 'apt-get install libsecp256k1-1 (Debian 12, Ubuntu 24.04; libsecp256k1-2 on later releases; libsecp256k1-dev pulls the current one)';

// BIP-340 test vectors 0, 1 (valid), 5 (pubkey off the curve), 6 (R with odd y), 13 (s = n):
// a library that loads but answers wrongly (a broken build, a wrong ABI) is not used.
const SELF_TEST: [pubkey: string, message: string, sig: string, valid: boolean][] = [
  ['F9308A019258C31049344F85F89D5229B531C845836F99B08601F113BCE036F9', '0000000000000000000000000000000000000000000000000000000000000000', 'E907831F80848D1069A5371B402410364BDF1C5F8307B0084C55F1CE2DCA821525F66A4A85EA8B71E482A74F382D2CE5EBEEE8FDB2172F477DF4900D310536C0', true],
  ['DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659', '243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89', '6896BD60EEAE296DB48A229FF71DFE071BDE413E6D43F917DC8DCF8C78DE33418906D11AC976ABCCB20B091292BFF4EA897EFCB639EA871CFA95F6DE339E4B0A', true],
  ['EEFDEA4CDB677750A420FEE807EACF21EB9898AE79B9768766E4FAA04A2D4A34', '243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89', '6CFF5C3BA86C69EA4B7376F31A9BCB4F74C1976089B2D9963DA2E5543E17776969E89B4C5564D00349106B8497785DD7D1D713A8AE82B32FA79D5F7FC407D39B', false],
  ['DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659', '243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89', 'FFF97BD5755EEEA420453A14355235D382F6472F8568A18B2F057A14602975563CC27944640AC607CD107AE10923D9EF7A73C643E166BE5EBEAFA34B1AC553E2', false],
  ['DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659', '243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89', '6CFF5C3BA86C69EA4B7376F31A9BCB4F74C1976089B2D9963DA2E5543E177769FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141', false],
];

/** Undefined when `v` gives the expected verdict on every self-test vector, else what went wrong. */
export function selfTestFailure(v: Verifier): string | undefined {
  for (const [i, [pubkey, message, sig, valid]] of SELF_TEST.entries()) {
    const got = v.verify(Buffer.from(message, 'hex'), Buffer.from(pubkey, 'hex'), Buffer.from(sig, 'hex'));
    if (got !== valid) return `self-test vector ${i} gave ${got}, expected ${valid}`;
  }
  return undefined;
}

/** A verifier of `kind`, self-tested; throws an Error saying why it cannot be had. */
export function makeVerifier(kind: VerifierKind): Verifier {
  const v = kind === 'native' ? nativeVerifier() : wasmVerifier();
  const failure = selfTestFailure(v);
  if (failure) throw new Error(`the ${kind} verifier failed its ${failure}`);
  return v;
}

export type Resolved = Chosen<VerifierKind>;

/** Resolves a --verifier choice on this machine. `native` that cannot be had is a FatalError. */
export function resolveVerifier(choice: VerifierChoice): Resolved {
  return chooseNative<VerifierKind>(choice, {
    flag: '--verifier', native: 'native', fallback: { kind: 'wasm', label: 'wasm (tiny-secp256k1)' },
    load: () => `native (${(makeVerifier('native') as { library?: string }).library ?? 'libsecp256k1'})`,
    hint: NATIVE_HINT, fallingBack: 'signatures: WASM verifier, native unavailable',
  });
}
