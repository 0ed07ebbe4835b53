/**
 * Nostr events <-> protobuf `nostr.ProtoEvent` (proto/nostr.proto), length-delimited as in
 * Proton Beam's day files.
 *
 * Tag elements that are not JSON strings (relays serve validly signed events with tags like
 * ["R","pow",0]) are stored as their JSON text in `values`, and their positions in
 * `json_value_indexes`, so that Proton Beam's readers still see strings and ours restore the
 * event exactly (its id verifies again).
 */
import fs from 'node:fs';
import protobuf from 'protobufjs';
import { PROTO_PATH } from '../paths.ts';

// Decode int64 as a JS number (created_at fits easily), not as a Long object.
protobuf.util.Long = undefined as unknown as typeof protobuf.util.Long;
protobuf.configure();

export { PROTO_PATH };

// parse, not loadSync: protobufjs finds `fs` through a require() that an ES module bundle lacks.
const root = protobuf.parse(fs.readFileSync(PROTO_PATH, 'utf8'), { keepCase: false }).root;
export const ProtoEventType = root.lookupType('nostr.ProtoEvent');

/** A tag element as it may appear in a signed event: a string, or another JSON scalar. */
export type TagValue = string | number | boolean | null;

export interface NostrEvent {
  id: string;
  pubkey: string;
  created_at: number;
  kind: number;
  tags: TagValue[][];
  content: string;
  sig: string;
}

interface ProtoTag {
  values: string[];
  jsonValueIndexes?: number[];
}

interface ProtoEvent {
  id: string;
  pubkey: string;
  createdAt: number;
  kind: number;
  tags: ProtoTag[];
  content: string;
  sig: string;
}

function tagToProto(tag: TagValue[]): ProtoTag {
  let values: string[] | undefined;
  let jsonValueIndexes: number[] | undefined;
  for (let i = 0; i < tag.length; i++) {
    const v = tag[i];
    if (typeof v === 'string') continue;
    values ??= tag.slice() as string[];
    values[i] = JSON.stringify(v);
    (jsonValueIndexes ??= []).push(i);
  }
  return jsonValueIndexes ? { values: values!, jsonValueIndexes } : { values: tag as string[] };
}

function tagFromProto(tag: ProtoTag): TagValue[] {
  const values: TagValue[] = tag.values ? tag.values.slice() : [];
  for (const i of tag.jsonValueIndexes ?? []) values[i] = JSON.parse(values[i] as string);
  return values;
}

export function toProto(event: NostrEvent): ProtoEvent {
  return {
    id: event.id,
    pubkey: event.pubkey,
    createdAt: event.created_at,
    kind: event.kind,
    tags: event.tags.map(tagToProto),
    content: event.content,
    sig: event.sig,
  };
}

export function fromProto(message: ProtoEvent): NostrEvent {
  return {
    id: message.id,
    pubkey: message.pubkey,
    created_at: Number(message.createdAt),
    kind: message.kind,
    tags: (message.tags ?? []).map(tagFromProto),
    content: message.content,
    sig: message.sig,
  };
}

/** Appends varint(length) + ProtoEvent bytes for `event` to `writer`. */
export function writeDelimited(event: NostrEvent, writer: protobuf.Writer): void {
  ProtoEventType.encodeDelimited(toProto(event) as unknown as protobuf.Message, writer);
}

export function encodeDelimited(event: NostrEvent): Uint8Array {
  const writer = protobuf.Writer.create();
  writeDelimited(event, writer);
  return writer.finish();
}

/** Decodes one ProtoEvent message (without its length prefix). */
export function decodeEvent(bytes: Uint8Array): NostrEvent {
  return fromProto(ProtoEventType.decode(bytes) as unknown as ProtoEvent);
}

export const newWriter = (): protobuf.Writer => protobuf.Writer.create();
