// Test helpers for authorization: the instance role's policies as CloudFormation would resolve
// them from cloudformation/proton-beam.yaml for given parameters, what IAM action(s) S3 authorizes
// each recorded request with, and @cloud-copilot/iam-simulate to evaluate them.
import fs from 'node:fs';
import path from 'node:path';
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { ROOT } from '../../lib/paths.ts';
import { parseCfnYaml } from './cfn.ts';
import type { SeenRequest } from './s3.ts';

export const ACCOUNT = '123456789012';
export const REGION = 'us-east-1';
export const STACK = 'pb-test';
const NO_VALUE = Symbol('AWS::NoValue');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;
export type Policy = { name: string; policy: Json };

/** The template's parameters with their defaults, overridden by `given`. */
function parameterValues(template: Json, given: Record<string, string>): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [name, p] of Object.entries<Json>(template.Parameters)) {
    if (name in given) values[name] = given[name];
    else if ('Default' in p) values[name] = String(p.Default);
    else throw new Error(`parameter ${name} has no default: the test must give it`);
  }
  return values;
}

/** A small CloudFormation intrinsic-function evaluator: Ref, Fn::Sub, Fn::If, Fn::Equals, Fn::Not, Fn::GetAtt (placeholder). */
export function resolver(template: Json, given: Record<string, string>): (node: Json) => Json {
  const params = parameterValues(template, given);
  const pseudo: Record<string, string> = {
    'AWS::Partition': 'aws', 'AWS::Region': REGION, 'AWS::AccountId': ACCOUNT, 'AWS::StackName': STACK, 'AWS::URLSuffix': 'amazonaws.com',
  };
  // Physical names of the resources that the policies reference.
  const physical = (id: string): string => {
    const r = template.Resources[id];
    if (!r) throw new Error(`Ref to unknown ${id}`);
    if (r.Properties?.LogGroupName) return resolve(r.Properties.LogGroupName);
    return `${STACK}-${id}-PHYSICAL`;
  };
  const ref = (name: string): Json => {
    if (name === 'AWS::NoValue') return NO_VALUE;
    if (name in pseudo) return pseudo[name];
    if (name in params) return params[name];
    return physical(name);
  };
  const conditions = new Map<string, boolean>();
  const condition = (name: string): boolean => {
    if (!conditions.has(name)) conditions.set(name, Boolean(resolve(template.Conditions[name])));
    return conditions.get(name)!;
  };
  const sub = (text: string, vars: Record<string, Json> = {}): string => text.replace(/\$\{([^}]+)\}/g, (_, name: string) => {
    if (name in vars) return String(resolve(vars[name]));
    if (name.includes('.')) throw new Error(`Fn::Sub of ${name}: GetAtt not modelled`);
    return String(ref(name));
  });
  function resolve(node: Json): Json {
    if (Array.isArray(node)) return node.map(resolve).filter((x) => x !== NO_VALUE);
    if (!node || typeof node !== 'object') return node;
    const keys = Object.keys(node);
    if (keys.length === 1) {
      const [k] = keys;
      const v = node[k];
      if (k === 'Ref') return ref(v);
      if (k === 'Fn::Sub') return Array.isArray(v) ? sub(v[0], v[1]) : sub(v);
      if (k === 'Fn::If') return resolve(condition(v[0]) ? v[1] : v[2]);
      if (k === 'Fn::Equals') return String(resolve(v[0])) === String(resolve(v[1]));
      if (k === 'Fn::Not') return !resolve(v[0]);
      if (k === 'Fn::And') return v.every((x: Json) => resolve(x));
      if (k === 'Fn::Or') return v.some((x: Json) => resolve(x));
      if (k === 'Condition') return condition(v);
      if (k === 'Fn::GetAtt') return `${physical(v[0])}.${v[1]}`;
      if (k.startsWith('Fn::')) throw new Error(`${k} not modelled by the test's resolver`);
    }
    const out: Record<string, Json> = {};
    for (const [key, value] of Object.entries(node)) {
      const r = resolve(value);
      if (r !== NO_VALUE) out[key] = r;
    }
    return out;
  }
  return resolve;
}

export function loadTemplate(file = path.join(ROOT, 'cloudformation', 'proton-beam.yaml')): Json {
  return parseCfnYaml(fs.readFileSync(file, 'utf8'));
}

/** The inline policies of `roleId` for these parameters. The managed AmazonSSMManagedInstanceCore grants no s3: or kms: action. */
export function rolePolicies(template: Json, given: Record<string, string>, roleId = 'InstanceRole'): Policy[] {
  const role = resolver(template, given)(template.Resources[roleId]);
  return (role.Properties.Policies as Json[]).map((p) => ({ name: p.PolicyName, policy: p.PolicyDocument }));
}

export type Decision = 'Allowed' | 'ImplicitlyDenied' | 'ExplicitlyDenied';

export interface Authorization {
  action: string;
  resource: string;
  context?: Record<string, string>;
  /** Why S3 asks for it, for failure messages. */
  why: string;
}

/**
 * A KMS key is only usable when its key policy allows it too: the default key policy, which
 * delegates to IAM (the account root as principal), so the role's policies decide.
 */
const DEFAULT_KEY_POLICY = {
  Version: '2012-10-17',
  Statement: [{ Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'kms:*', Resource: '*' }],
};

/** Evaluates one authorization against identity policies (no SCP, no bucket policy; a KMS key has the default key policy). */
export async function decide(policies: Policy[], a: Authorization): Promise<Decision> {
  const result = await runSimulation({
    request: {
      principal: `arn:aws:iam::${ACCOUNT}:role/${STACK}-InstanceRole`,
      action: a.action,
      resource: { resource: a.resource, accountId: ACCOUNT },
      contextVariables: a.context ?? {},
    },
    ...(a.action.startsWith('kms:') ? { resourcePolicy: DEFAULT_KEY_POLICY } : {}),
    identityPolicies: policies,
    serviceControlPolicies: [],
    resourceControlPolicies: [],
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  } as any, {}) as any;
  if (result.resultType === 'error' || !result.overallResult) throw new Error(`simulator error for ${a.action} ${a.resource}: ${JSON.stringify(result.errors ?? result).slice(0, 400)}`);
  return result.overallResult as Decision;
}

/**
 * What S3 authorizes each request with (S3 API reference, "Permissions" of each operation):
 * - ListObjects(V2): s3:ListBucket on the bucket, with s3:prefix the Prefix sent (none: absent);
 *   HeadBucket: s3:ListBucket with no prefix;
 * - GetObject/HeadObject: s3:GetObject; a 404 is only answered to a caller with s3:ListBucket on
 *   the bucket (no prefix in that check), else S3 answers 403: so a 404 needs that too;
 *   GetObject of an SSE-KMS object: kms:Decrypt on its key;
 * - PutObject, CreateMultipartUpload, UploadPart, CompleteMultipartUpload: s3:PutObject; with
 *   SSE-KMS kms:GenerateDataKey, and for the parts and the completion of a KMS multipart upload
 *   kms:Decrypt too; a copy (x-amz-copy-source) also s3:GetObject on the source; x-amz-tagging:
 *   s3:PutObjectTagging; x-amz-acl: s3:PutObjectAcl;
 * - DeleteObject: s3:DeleteObject; AbortMultipartUpload: s3:AbortMultipartUpload;
 *   ListParts: s3:ListMultipartUploadParts; ListMultipartUploads: s3:ListBucketMultipartUploads.
 * Throws on a request it does not know, so a new kind of call cannot slip through unjudged.
 */
export class S3Authorizer {
  private kmsObjects = new Map<string, string>();
  private kmsUploads = new Map<string, string>();

  authorizations(r: SeenRequest): Authorization[] {
    const u = new URL(r.url, 'http://s3.local');
    const [, bucket, ...rest] = u.pathname.split('/');
    const key = decodeURIComponent(rest.join('/'));
    const q = u.searchParams;
    const bucketArn = `arn:aws:s3:::${bucket}`;
    const objectArn = `${bucketArn}/${key}`;
    const what = `${r.method} ${r.url} (${r.status})`;
    const out: Authorization[] = [];
    const kmsKey = r.headers['x-amz-server-side-encryption'] === 'aws:kms' ? r.headers['x-amz-server-side-encryption-aws-kms-key-id'] : undefined;
    const needListOn404 = () => {
      if (r.status === 404) out.push({ action: 's3:ListBucket', resource: bucketArn, why: `${what}: S3 answers 404 (not 403) only with s3:ListBucket on the bucket` });
    };
    if (key === '') {
      if (r.method === 'GET' && q.has('uploads')) out.push({ action: 's3:ListBucketMultipartUploads', resource: bucketArn, why: what });
      else if (r.method === 'GET' && [...q.keys()].every((k) => ['list-type', 'prefix', 'max-keys', 'continuation-token', 'delimiter', 'start-after', 'marker', 'encoding-type', 'fetch-owner'].includes(k))) {
        out.push({ action: 's3:ListBucket', resource: bucketArn, context: q.has('prefix') ? { 's3:prefix': q.get('prefix')! } : {}, why: what });
      } else if (r.method === 'HEAD') out.push({ action: 's3:ListBucket', resource: bucketArn, why: `${what}: HeadBucket` });
      else throw new Error(`unmapped bucket request ${what}`);
      return out;
    }
    const uploadKey = `${bucket}/${key}`;
    if (r.method === 'GET' && q.has('uploadId')) out.push({ action: 's3:ListMultipartUploadParts', resource: objectArn, why: what });
    else if (r.method === 'GET' || r.method === 'HEAD') {
      out.push({ action: 's3:GetObject', resource: objectArn, why: what });
      needListOn404();
      const k = this.kmsObjects.get(uploadKey);
      if (r.method === 'GET' && k && r.status !== 404) out.push({ action: 'kms:Decrypt', resource: k, why: `${what}: SSE-KMS object` });
    } else if (r.method === 'PUT' || r.method === 'POST') {
      if (r.method === 'POST' && !q.has('uploads') && !q.has('uploadId')) throw new Error(`unmapped object POST ${what}`);
      out.push({ action: 's3:PutObject', resource: objectArn, why: what });
      const copy = r.headers['x-amz-copy-source'];
      if (copy) out.push({ action: 's3:GetObject', resource: `arn:aws:s3:::${decodeURIComponent(copy.replace(/^\//, '').replace(/\?.*/, ''))}`, why: `${what}: copy source` });
      if (r.headers['x-amz-tagging']) out.push({ action: 's3:PutObjectTagging', resource: objectArn, why: what });
      if (r.headers['x-amz-acl']) out.push({ action: 's3:PutObjectAcl', resource: objectArn, why: what });
      if (q.has('uploads')) {
        if (kmsKey) this.kmsUploads.set(uploadKey, kmsKey); else this.kmsUploads.delete(uploadKey);
      }
      const multipartKey = q.has('uploadId') ? this.kmsUploads.get(uploadKey) : undefined;
      const k = kmsKey ?? multipartKey;
      if (k) {
        out.push({ action: 'kms:GenerateDataKey', resource: k, why: `${what}: SSE-KMS` });
        if (multipartKey) out.push({ action: 'kms:Decrypt', resource: k, why: `${what}: part or completion of an SSE-KMS multipart upload` });
      }
      if (!q.has('uploads') && !q.has('partNumber')) {
        if (k) this.kmsObjects.set(uploadKey, k); else this.kmsObjects.delete(uploadKey);
      }
    } else if (r.method === 'DELETE') {
      out.push(q.has('uploadId')
        ? { action: 's3:AbortMultipartUpload', resource: objectArn, why: what }
        : { action: 's3:DeleteObject', resource: objectArn, why: what });
    } else throw new Error(`unmapped object request ${what}`);
    return out;
  }
}

/** Every authorization of `requests` that `policies` do not allow, one line each. */
export async function denials(policies: Policy[], requests: SeenRequest[]): Promise<string[]> {
  const authorizer = new S3Authorizer();
  const denied: string[] = [];
  for (const r of requests) {
    for (const a of authorizer.authorizations(r)) {
      const d = await decide(policies, a);
      if (d !== 'Allowed') denied.push(`${d}: ${a.action} on ${a.resource}${a.context && Object.keys(a.context).length ? ` ${JSON.stringify(a.context)}` : ''} (for ${a.why})`);
    }
  }
  return [...new Set(denied)];
}
