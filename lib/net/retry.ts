/**
 * Retry policy shared by the network readers and the S3 upload: exponential backoff with full
 * jitter and a bounded number of tries. Tests and operators tune it through the options or the
 * environment (PROTON_BEAM_RETRIES, PROTON_BEAM_RETRY_BASE_MS, PROTON_BEAM_RETRY_MAX_MS,
 * PROTON_BEAM_IDLE_TIMEOUT_MS).
 */

export interface RetryOptions {
  /** Attempts in a row that may fail without progress before giving up (>= 1). */
  maxTries: number;
  /** First backoff ceiling in ms; doubles with each failed try. */
  baseDelayMs: number;
  /** Upper bound of one backoff in ms. */
  maxDelayMs: number;
}

export interface NetworkOptions extends RetryOptions {
  /** A response whose headers or next body bytes take longer than this is a stall (ms). */
  idleTimeoutMs: number;
  /** Told about every retry, e.g. to print a line on stderr. */
  onRetry?: (info: RetryInfo) => void;
}

export interface RetryInfo {
  label: string;
  /** 1-based number of the failed try in the current run of failures. */
  attempt: number;
  maxTries: number;
  delayMs: number;
  /** Byte offset the next request resumes from (input readers only). */
  offset?: number;
  error: unknown;
}

export const DEFAULT_NETWORK_OPTIONS: Readonly<NetworkOptions> = {
  maxTries: 6,
  baseDelayMs: 500,
  maxDelayMs: 20_000,
  idleTimeoutMs: 60_000,
};

function envNumber(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

/** Defaults, overridden by the environment, overridden by `opts`. */
export function networkOptions(opts: Partial<NetworkOptions> = {}): NetworkOptions {
  const fromEnv: Partial<NetworkOptions> = {};
  const tries = envNumber('PROTON_BEAM_RETRIES');
  if (tries !== undefined) fromEnv.maxTries = Math.max(1, Math.floor(tries));
  const base = envNumber('PROTON_BEAM_RETRY_BASE_MS');
  if (base !== undefined) fromEnv.baseDelayMs = base;
  const max = envNumber('PROTON_BEAM_RETRY_MAX_MS');
  if (max !== undefined) fromEnv.maxDelayMs = max;
  const idle = envNumber('PROTON_BEAM_IDLE_TIMEOUT_MS');
  if (idle !== undefined && idle > 0) fromEnv.idleTimeoutMs = idle;
  const defined = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
  return { ...DEFAULT_NETWORK_OPTIONS, onRetry: printRetry, ...fromEnv, ...defined };
}

/** The default onRetry: one line on stderr per retry. */
export function printRetry(i: RetryInfo): void {
  const at = i.offset !== undefined && i.offset > 0 ? ` from byte ${i.offset}` : '';
  process.stderr.write(`warning: ${i.label}: ${errorPhrase(i.error)}; try ${i.attempt + 1} of ${i.maxTries}${at} in ${(i.delayMs / 1000).toFixed(1)} s\n`);
}

/** Full jitter: a uniform delay in [0, min(max, base * 2^(attempt-1))]. `attempt` is 1-based. */
export function backoffDelay(attempt: number, opts: Pick<RetryOptions, 'baseDelayMs' | 'maxDelayMs'>, random = Math.random): number {
  const ceiling = Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}

/** Milliseconds to wait; tests of polling code pass a function that does not wait. */
export type Sleep = (ms: number) => Promise<void>;

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Network-level failures worth another try (connection reset, refused, timeouts, cut bodies). */
const RETRYABLE_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'EHOSTUNREACH',
  'ENETUNREACH', 'ENETDOWN', 'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED', 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
]);

/** An error that a later try may not meet: 5xx, throttling, a stall, a dropped connection. */
export class TransientError extends Error {
  constructor(message: string, readonly cause?: unknown) {
    super(message);
  }
}

export function isTransient(err: unknown): boolean {
  if (err instanceof TransientError) return true;
  const e = err as { code?: string; name?: string; cause?: unknown; $retryable?: unknown; $metadata?: { httpStatusCode?: number } } | undefined;
  if (!e || typeof e !== 'object') return false;
  if (e.code && RETRYABLE_CODES.has(e.code)) return true;
  if (e.name === 'TimeoutError') return true;
  if (e.$retryable) return true;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && (status >= 500 || status === 429 || status === 408)) return true;
  if (e.name === 'SlowDown' || e.name === 'ThrottlingException' || e.name === 'RequestTimeout') return true;
  if (e.cause && e.cause !== err) return isTransient(e.cause);
  return false;
}

/**
 * Runs `fn` until it succeeds, a non-transient error occurs, or `maxTries` tries failed.
 * The last error is rethrown as is.
 */
export async function withRetries<T>(label: string, fn: (attempt: number) => Promise<T>, opts: RetryOptions & { onRetry?: (info: RetryInfo) => void }): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (!isTransient(err) || attempt >= opts.maxTries) throw err;
      const delayMs = backoffDelay(attempt, opts);
      opts.onRetry?.({ label, attempt, maxTries: opts.maxTries, delayMs, error: err });
      await sleep(delayMs);
    }
  }
}

/** One short phrase for an error, for one-line messages. */
export function errorPhrase(err: unknown): string {
  const e = err as { code?: string; name?: string; message?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  if (!e || typeof e !== 'object') return String(err);
  const status = e.$metadata?.httpStatusCode;
  const parts = [e.message || e.name || 'error'];
  if (e.code && !parts[0].includes(e.code)) parts.push(`(${e.code})`);
  if (status && !parts[0].includes(String(status))) parts.push(`(HTTP ${status})`);
  return parts.join(' ');
}
