// Entry of every worker thread: Node 20 does not hand tsx's loader hooks to workers, so this
// plain-JS file registers them and then loads the TypeScript worker module.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.script);
