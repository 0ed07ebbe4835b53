/**
 * Messages of recently inflated gzip members, kept up to a byte budget (least recently used
 * leave first), so that reading events in time order rather than storage order (query.ts,
 * newest first) does not inflate the same member again for each page of results.
 */
import { readLocatedMessages } from './members.ts';

interface CachedMember {
  /** Every message from the member's start through `readTo`, by offset in the member's data. */
  messages: Map<number, Buffer>;
  readTo: number;
  /** True when the member was read to its end. */
  complete: boolean;
  bytes: number;
}

export class MemberCache {
  private members = new Map<string, CachedMember>();
  private bytes = 0;

  constructor(readonly budget: number) {}

  /**
   * The messages at `offsets` of the member at `memberOffset` (those found: an offset where no
   * message starts is left out). Inflates the member only when the messages are not kept here.
   */
  async messagesAt(filePath: string, memberOffset: number, offsets: number[]): Promise<Map<number, Buffer>> {
    const key = `${filePath}\0${memberOffset}`;
    const last = Math.max(...offsets);
    let member = this.members.get(key);
    if (member) this.members.delete(key); // re-inserted below: most recently used last
    if (!member || (!member.complete && member.readTo < last)) {
      // The first read stops at the last message wanted (a query of one page needs no more);
      // a second one reads the member to its end, so that it is inflated at most twice.
      if (member) this.bytes -= member.bytes;
      member = await readMember(filePath, memberOffset, member ? Infinity : last);
      this.bytes += member.bytes;
    }
    this.members.set(key, member);
    for (const [k, m] of this.members) {
      if (this.bytes <= this.budget || k === key) break;
      this.members.delete(k);
      this.bytes -= m.bytes;
    }
    const found = new Map<number, Buffer>();
    for (const at of offsets) {
      const bytes = member.messages.get(at);
      if (bytes) found.set(at, bytes);
    }
    return found;
  }
}

/** The messages of one member from its start through offset `last` (throws DayFileError at damage). */
async function readMember(filePath: string, memberOffset: number, last: number): Promise<CachedMember> {
  const member: CachedMember = { messages: new Map(), readTo: -1, complete: false, bytes: 0 };
  outer: for await (const batch of readLocatedMessages(filePath, memberOffset)) {
    for (let i = 0; i < batch.count; i++) {
      const at = batch.offsetsInMember[i];
      if (batch.memberOffsets[i] !== memberOffset) {
        member.complete = true;
        break outer;
      }
      const bytes = Buffer.from(batch.buf.subarray(batch.starts[i], batch.ends[i]));
      member.messages.set(at, bytes);
      member.bytes += bytes.length;
      member.readTo = at;
      if (at >= last) break outer;
    }
    if (batch.memberEnd !== undefined) {
      member.complete = true;
      break;
    }
  }
  return member;
}
