/**
 * The checkpoint record: what a stopped conversion needs to go on where it was, kept as
 * `_checkpoint.json` beside the day files (local runs) and as `OUTPUT/_checkpoint.json` (S3
 * output), where it is written last and is the commit point: parts uploaded after the last
 * record are ignored on resume. Types only here; reading and writing live beside it.
 */
import type { ConversionCounts } from '../convert/summary.ts';

export const CHECKPOINT_NAME = '_checkpoint.json';
/** 2: the id lists hold id records (id and day, 36 bytes each) since dedup is per day partition; 1 had bare 32-byte ids. */
export const CHECKPOINT_VERSION = 2;

/** What tells one input from another, and one version of it from the next. */
export interface InputIdentity {
  /** The input as given (path made absolute, URL as typed). */
  spec: string;
  kind: 'file' | 'http' | 's3-object' | 's3-prefix' | 'stdin';
  /** Raw size in bytes when known. */
  size?: number;
  /** Local file: modification time in ms. */
  mtimeMs?: number;
  /** http(s) and S3: strong ETag, else Last-Modified. */
  validator?: string;
  /** s3://bucket/prefix/: every object read, in order, each with its size and ETag. */
  objects?: { key: string; size: number; etag: string }[];
  /** How the raw input was compressed (added by the local checkpoints, optional): a resume of a
   *  compressed input decompresses from the start and skips to the offset; of a plain one, seeks. */
  compression?: 'none' | 'gzip' | 'zstd';
}

/** Where the next line starts. Offsets count decompressed (JSONL) bytes. */
export interface InputPosition {
  /** Number of the next line (lines are numbered from 1 across the whole input). */
  line: number;
  /** JSONL bytes of the lines before it, from the start of the input. */
  offset: number;
  /** For a prefix input: the object the next line is in, and the JSONL bytes of it before that line. */
  object?: { index: number; key: string; offset: number };
}

/** A run of whole gzip members of one day file, uploaded as one object (S3 output only). */
export interface CheckpointPart {
  /** e.g. `_parts/2024_01_31/000003.gz`, relative to OUTPUT. */
  key: string;
  /** The day file it belongs to, e.g. `2024_01_31.pb.gz`. */
  fileName: string;
  /** Byte offset of the part in the assembled day file. */
  offsetInFile: number;
  bytes: number;
  sha256: string;
  /** Hex MD5 of the part (optional, added by the S3 side): the assembly checks S3's multipart ETag with it. */
  md5?: string;
  events: number;
}

export interface CheckpointHistoryEntry {
  event: 'start' | 'checkpoint' | 'interrupted' | 'resume' | 'done';
  /** ISO time. */
  at: string;
  line: number;
  offset: number;
  /** On EC2: the instance that wrote the entry (from the instance metadata). */
  instanceId?: string;
  /** e.g. 'spot interruption notice', 'SIGTERM', 'every 5 min'. */
  reason?: string;
}

export interface CheckpointRecord {
  version: typeof CHECKPOINT_VERSION;
  input: InputIdentity;
  next: InputPosition;
  counts: ConversionCounts;
  /** S3 output: every part so far, in order of upload (per day file: in file order). */
  parts: CheckpointPart[];
  /** S3 output: the reject-log segments uploaded so far (keys relative to OUTPUT), in order. */
  logParts: string[];
  /**
   * S3 output (optional, added by the S3 side): the ids of the events in the parts, each with its
   * day (id records, 36 bytes each, lib/checkpoint/id-records.ts),
   * one object per checkpoint, in order: what a resume on an empty machine deduplicates against.
   */
  idParts?: { key: string; bytes: number; sha256: string; events: number }[];
  history: CheckpointHistoryEntry[];
  /** ISO time of this record. */
  writtenAt: string;
  /**
   * Local folder (optional, added by the local checkpoints): every day file of the folder and its
   * size at this checkpoint, which is what the record covers. A resume cuts longer files back to it
   * (members written after the checkpoint are read again) and removes day files not listed.
   */
  dayFiles?: { fileName: string; bytes: number }[];
  /** Local folder (optional): size of DIR/proton-beam.log at this checkpoint (cut back to it on resume). */
  rejectLogBytes?: number;
  /** Day files this conversion has written to so far, across resumes (optional; the summary's count). */
  filesWritten?: string[];
  /**
   * Local folder (optional): bytes of DIR/_checkpoint.ids (the id records, id and day, of the
   * events this conversion stored) that the record covers. Set only for a run that began in an
   * empty folder: a resume then loads the folder's ids from it instead of reading the day files.
   */
  storedIds?: number;
}
