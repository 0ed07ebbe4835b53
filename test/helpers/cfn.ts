// Test helpers: CloudFormation YAML (with its short-form tags) and the CloudFormation resource
// specification from @aws-cdk/aws-service-spec (the CloudFormation registry schemas as the AWS
// CDK ships them, refreshed with every CDK release).
import { parse, type CollectionTag, type ScalarTag } from 'yaml';
import { loadAwsServiceSpec } from '@aws-cdk/aws-service-spec';

const FUNCTIONS = ['Base64', 'Cidr', 'FindInMap', 'GetAZs', 'ImportValue', 'Join', 'Select', 'Split', 'Sub',
  'Transform', 'And', 'Equals', 'If', 'Not', 'Or', 'GetAtt', 'ToJsonString', 'Length'];

function tagsFor(name: string, key: string, splitDots = false): (ScalarTag | CollectionTag)[] {
  const fromNode = (node: { toJSON(): unknown }) => ({ [key]: node.toJSON() });
  return [
    { tag: `!${name}`, resolve: (value: string) => ({ [key]: splitDots ? value.split(/\.(.*)/s, 2) : value }) },
    { tag: `!${name}`, collection: 'seq', resolve: fromNode } as unknown as CollectionTag,
    { tag: `!${name}`, collection: 'map', resolve: fromNode } as unknown as CollectionTag,
  ];
}

const CFN_TAGS = [
  ...tagsFor('Ref', 'Ref'),
  ...tagsFor('Condition', 'Condition'),
  ...FUNCTIONS.flatMap((f) => tagsFor(f, `Fn::${f}`, f === 'GetAtt')),
];

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function parseCfnYaml(text: string): Record<string, any> {
  return parse(text, { customTags: CFN_TAGS, maxAliasCount: -1 });
}

/** Every node of a JSON tree, with its path. */
export function* walk(node: unknown, path: string[] = []): Generator<{ node: unknown; path: string[] }> {
  yield { node, path };
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) yield* walk(node[i], [...path, String(i)]);
  } else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) yield* walk(v, [...path, k]);
  }
}

let specPromise: ReturnType<typeof loadAwsServiceSpec> | undefined;
export function loadSpec(): ReturnType<typeof loadAwsServiceSpec> {
  specPromise ??= loadAwsServiceSpec();
  return specPromise;
}
