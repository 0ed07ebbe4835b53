/**
 * The gp3 data volume's throughput and IOPS, sized from the instance type: the converter writes
 * its day files and index.db there at about output_ratio x its input rate, and the upload reads
 * them back. gp3: 125 MiB/s and 3,000 IOPS included; up to 1,000 MiB/s and 16,000 IOPS, with at
 * least 4 IOPS per MiB/s of throughput.
 */
export const GP3 = { baseThroughput: 125, maxThroughput: 1000, baseIops: 3000, maxIops: 16000, iopsPerMibs: 4 };

/** 16 MiB/s per vCPU (two converter workers' worth of writes, with room for the index), within gp3's range. */
export function volumePerformanceFor(vcpu: number): { throughput: number; iops: number } {
  const throughput = Math.min(GP3.maxThroughput, Math.max(GP3.baseThroughput, vcpu * 16));
  const iops = Math.min(GP3.maxIops, Math.max(GP3.baseIops, throughput * GP3.iopsPerMibs));
  return { throughput, iops };
}

/** What is wrong with a throughput/IOPS pair, or ''. */
export function volumePerformanceProblem(throughput: number, iops: number): string {
  if (throughput * GP3.iopsPerMibs > iops) return `gp3 needs at least ${GP3.iopsPerMibs} IOPS per MiB/s: ${throughput} MiB/s needs ${throughput * GP3.iopsPerMibs} IOPS`;
  return '';
}
