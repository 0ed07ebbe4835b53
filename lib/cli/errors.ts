/**
 * A problem that ends the run: printed as one line (no stack) and exit code 1.
 * Bad command-line usage is a UsageError: one line, the usage, exit code 2.
 */
export class FatalError extends Error {
  readonly exitCode: number = 1;
}

/** The input's bytes end or break off (truncated or corrupt compressed data): what came before is used. */
export class InputDamagedError extends FatalError {}

export class UsageError extends Error {
  readonly exitCode: number = 2;
}

/** The user stopped the run (SIGINT/SIGTERM); what was written is consistent. Exit code 130 (143 for SIGTERM). */
export class InterruptedError extends FatalError {
  constructor(message: string, override readonly exitCode = 130) {
    super(message);
  }
}

/** One line for a filesystem error, naming the path and what to check. */
export function describeFsError(err: unknown, path: string): string {
  const e = err as NodeJS.ErrnoException;
  switch (e?.code) {
    case 'ENOENT': return `${path}: no such file or directory`;
    case 'EACCES':
    case 'EPERM': return `${path}: permission denied`;
    case 'ENOSPC': return `${path}: no space left on device`;
    case 'EROFS': return `${path}: read-only file system`;
    case 'EISDIR': return `${path}: is a directory`;
    case 'ENOTDIR': return `${path}: a parent is not a directory`;
    case 'EDQUOT': return `${path}: disk quota exceeded`;
    default: return `${path}: ${e?.message ?? String(err)}`;
  }
}

/** An error thrown by the AWS SDK (it carries $metadata) or its credential chain. */
export function isAwsError(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: unknown };
  return e?.$metadata !== undefined || e?.name === 'CredentialsProviderError';
}

/** The error's name and message, for one-line reports. */
export function describeAwsError(err: unknown): string {
  const e = err as { name?: string; message?: string };
  if (e?.name === 'CredentialsProviderError') {
    return 'no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run aws sso login';
  }
  return e?.name && e.name !== 'Error' ? `${e.name}: ${e.message}` : String(e?.message ?? err);
}
