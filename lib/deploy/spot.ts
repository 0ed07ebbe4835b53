/**
 * The spot interruption notice: EC2 announces a reclaim two minutes ahead at the instance metadata
 * service (IMDSv2: a session token first, then spot/instance-action, 404 until there is a notice).
 * The job polls it and, on a notice, stops the conversion and keeps what is complete.
 */

export const IMDS_ENDPOINT = 'http://169.254.169.254';
const TOKEN_TTL_SECONDS = 21600;

export interface SpotNotice {
  /** terminate, stop or hibernate */
  action: string;
  /** When EC2 acts (ISO 8601). */
  time: string;
}

/** Whether the job should poll: on EC2, or when tests point PB_IMDS_ENDPOINT at their own server. */
export function imdsEndpoint(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.PB_IMDS_ENDPOINT) return env.PB_IMDS_ENDPOINT;
  return env.AWS_EC2_METADATA_DISABLED === 'true' ? undefined : IMDS_ENDPOINT;
}

/** One IMDSv2 client: a token, renewed before it expires or when refused, then GETs with it. */
export class Imds {
  private token?: { value: string; until: number };

  constructor(private endpoint: string, private timeoutMs = 2000) {}

  private async fetchToken(): Promise<string> {
    const res = await fetch(`${this.endpoint}/latest/api/token`, {
      method: 'PUT',
      headers: { 'X-aws-ec2-metadata-token-ttl-seconds': String(TOKEN_TTL_SECONDS) },
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (!res.ok) throw new Error(`IMDS token: HTTP ${res.status}`);
    const value = await res.text();
    this.token = { value, until: Date.now() + (TOKEN_TTL_SECONDS - 60) * 1000 };
    return value;
  }

  /** The body at `path`, or undefined on 404. */
  async get(path: string): Promise<string | undefined> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const token = this.token && this.token.until > Date.now() ? this.token.value : await this.fetchToken();
      const res = await fetch(`${this.endpoint}/latest/meta-data/${path}`, {
        headers: { 'X-aws-ec2-metadata-token': token },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      if (res.status === 401) {
        this.token = undefined; // expired or revoked: one new token, once
        await res.body?.cancel();
        continue;
      }
      if (res.status === 404) {
        await res.body?.cancel();
        return undefined;
      }
      if (!res.ok) throw new Error(`IMDS ${path}: HTTP ${res.status}`);
      return await res.text();
    }
    throw new Error(`IMDS ${path}: the token was refused twice`);
  }
}

/**
 * Polls spot/instance-action every `intervalMs` until a notice comes (then calls onNotice once and
 * stops) or stop() is called. An unreachable IMDS is retried quietly: polling must never end the job.
 */
export function watchSpotNotice(endpoint: string, intervalMs: number, onNotice: (n: SpotNotice) => void): { stop(): void } {
  const imds = new Imds(endpoint);
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const poll = async () => {
    try {
      const body = await imds.get('spot/instance-action');
      if (body !== undefined && !stopped) {
        let notice: SpotNotice;
        try {
          const parsed = JSON.parse(body) as Partial<SpotNotice>;
          notice = { action: String(parsed.action ?? 'terminate'), time: String(parsed.time ?? '') };
        } catch {
          notice = { action: 'terminate', time: '' };
        }
        stopped = true;
        onNotice(notice);
        return;
      }
    } catch {
      // not on EC2, or IMDS busy: try again next time
    }
    if (!stopped) timer = setTimeout(poll, intervalMs);
  };
  timer = setTimeout(poll, 0);
  return { stop: () => { stopped = true; clearTimeout(timer); } };
}
