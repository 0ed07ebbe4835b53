// The EC2 instance metadata service (IMDSv2) as EC2 serves it, on 127.0.0.1: PUT a token (the TTL
// header is required), then GETs carrying it (401 without); the instance id; a spot notice once set.
import http from 'node:http';
import { listenOnLoopback } from './loopback.ts';

export async function startFakeImds(instanceId: string) {
  const state = { notice: undefined as string | undefined, seen: [] as string[], tokens: 0 };
  const server = http.createServer((req, res) => {
    state.seen.push(`${req.method} ${req.url}`);
    if (req.method === 'PUT' && req.url === '/latest/api/token') {
      if (!req.headers['x-aws-ec2-metadata-token-ttl-seconds']) { res.writeHead(400).end(); return; }
      state.tokens++;
      res.end(`token-${state.tokens}`);
      return;
    }
    if (req.headers['x-aws-ec2-metadata-token'] !== `token-${state.tokens}`) { res.writeHead(401).end(); return; }
    if (req.url === '/latest/meta-data/spot/instance-action' && state.notice) { res.end(state.notice); return; }
    if (req.url === '/latest/meta-data/instance-id') { res.end(instanceId); return; }
    res.writeHead(404).end('Not Found');
  });
  return { state, ...(await listenOnLoopback(server)) };
}
