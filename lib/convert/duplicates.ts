/**
 * The duplicate rule, in one place. The first copy of an event (by id) in input order is stored;
 * every later copy is a duplicate, whatever its spelling, and so is a copy with a bad signature
 * (it names an event that is stored). The rule runs on two kinds of threads:
 * 1. validating worker (lib/convert/batch.ts): with signatures checked, a line whose parsed (and,
 *    unless turned off, hash-checked) id is known to be stored skips the signature check and
 *    counts as a duplicate: an id in the folder before the run (lib/convert/shared-id-set.ts),
 *    stored recently by a writer (lib/convert/recent-ids.ts), or verified earlier in the same
 *    batch. A verify costs more than all the rest of an event's work, and dumps merged from
 *    several relays repeat most events. Only ids of events earlier in the input are ever found.
 * 2. writer thread (lib/convert/writer-thread.ts), which owns the event's day (every copy of an
 *    event falls on the same day: its id covers created_at) and takes its events in input order:
 *    an event is stored only if its id is new to its exact id set; a bad-signature line whose id
 *    that set holds counts as a duplicate, and the main thread drops it from the rejections.
 * So the files and every count are the same for any -j, batch size and number of writer threads;
 * only how many duplicates skipped their signature check depends on timing.
 */
export {};
