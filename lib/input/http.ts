/** An http(s):// input: streamed with undici, resumed by a Range request from the byte reached after a dropped connection or a 5xx. */
import type { Readable } from 'node:stream';
import { Agent, interceptors, request } from 'undici';
import { FatalError } from '../cli/errors.ts';
import { discard, openResumable, type ResumableSource, type Segment } from './resumable.ts';
import { TransientError, errorPhrase, isTransient, type NetworkOptions } from '../net/retry.ts';

const CONTENT_RANGE = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i;

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Strong ETag, else Last-Modified: what tells one version of the resource from another. */
function validatorOf(headers: Record<string, string | string[] | undefined>): string | undefined {
  const etag = header(headers, 'etag');
  if (etag && !etag.startsWith('W/')) return etag;
  return header(headers, 'last-modified');
}

/**
 * Reads an http:// or https:// URL as a resumable byte stream (see openResumable): redirects are
 * followed (5 at most), `Accept-Encoding: identity` is asked for, a dropped connection, a stall,
 * 5xx, 408 and 429 are retried with a Range request from the byte reached.
 */
export async function openHttp(url: string, opts: NetworkOptions, startAt = 0): Promise<ResumableSource> {
  const agent = new Agent({
    connect: { timeout: opts.idleTimeoutMs },
    headersTimeout: opts.idleTimeoutMs,
    // Stalls in the body are timed by openResumable, which does not count the time the
    // consumer keeps the stream paused.
    bodyTimeout: 0,
  });
  const dispatcher = agent.compose(interceptors.redirect({ maxRedirections: 5 }));

  const open = async (offset: number, signal: AbortSignal): Promise<Segment> => {
    const headers: Record<string, string> = { 'accept-encoding': 'identity' };
    if (offset > 0) headers.range = `bytes=${offset}-`;
    let res;
    try {
      res = await request(url, { method: 'GET', headers, dispatcher, signal });
    } catch (err) {
      if (isTransient(err) || signal.aborted) throw err;
      const code = (err as { code?: string }).code;
      if (code === 'ENOTFOUND') throw new FatalError(`cannot read input ${url}: host not found; check the URL`);
      if (code === 'UND_ERR_INVALID_ARG' || code === 'ERR_INVALID_URL') throw new FatalError(`cannot read input ${url}: malformed URL`);
      if (/redirect/i.test(String((err as Error).message))) throw new FatalError(`cannot read input ${url}: too many redirects`);
      throw new FatalError(`cannot read input ${url}: ${errorPhrase(err)}`);
    }
    const status = res.statusCode;
    const body = res.body as unknown as Readable;
    const length = header(res.headers, 'content-length');
    const encoded = (header(res.headers, 'content-encoding') ?? 'identity') !== 'identity';
    if (status === 200) {
      return { body, start: 0, total: length !== undefined && !encoded ? Number(length) : undefined, validator: validatorOf(res.headers) };
    }
    if (status === 206) {
      const m = CONTENT_RANGE.exec(header(res.headers, 'content-range') ?? '');
      if (!m) {
        discard(body);
        throw new FatalError(`cannot read input ${url}: the server answered a Range request with no valid Content-Range`);
      }
      return { body, start: Number(m[1]), total: m[3] === '*' ? undefined : Number(m[3]), validator: validatorOf(res.headers) };
    }
    discard(body);
    if (status >= 500 || status === 408 || status === 429) throw new TransientError(`HTTP ${status}`);
    if (status === 404 || status === 410) throw new FatalError(`cannot read input ${url}: not found (HTTP ${status}); check the URL`);
    if (status === 401 || status === 403) {
      throw new FatalError(`cannot read input ${url}: access denied (HTTP ${status}); check the URL, its credentials, and for a presigned URL that it has not expired`);
    }
    if (status === 416) throw new FatalError(`cannot read input ${url}: the server refused the range bytes=${offset}- (HTTP 416); the file may have changed`);
    if (status >= 300 && status < 400) throw new FatalError(`cannot read input ${url}: redirect (HTTP ${status}) without a usable Location`);
    throw new FatalError(`cannot read input ${url}: unexpected answer HTTP ${status}`);
  };

  return openResumable(url, open, opts, () => { void agent.destroy().catch(() => {}); }, startAt);
}
