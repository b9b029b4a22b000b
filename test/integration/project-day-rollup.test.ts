import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../db/client.ts';
import { testConfig } from '../../server/config.ts';
import { createIngestService } from '../../server/services/ingest.service.ts';
import { rebuildProjectDay } from '../../server/services/project-day-rollup.service.ts';

const DAY = 86_400_000;
const day0 = Date.UTC(2026, 0, 10);
const iso = (ts: number) => new Date(ts).toISOString();
const job = (jobId: string, account: string, gpus: number, startTs: number, endTs: number | null) => ({
  jobId, arrayJobId: null, name: null, user: 'u1', account, partition: 'gpu', qos: null, state: endTs === null ? ('RUNNING' as const) : ('COMPLETED' as const),
  submitTime: iso(startTs - 60_000), eligibleTime: null, startTime: iso(startTs), endTime: endTs === null ? null : iso(endTs), gpus, gpuType: null, cpus: null, nodes: ['n1'], exitCode: null,
});

describe('rebuildProjectDay', () => {
  it('rebuilds allocated GPU-seconds per project and UTC day from the job records', () => {
    const db = openDatabase(':memory:');
    const ingest = createIngestService({ sqlite: db.$client, config: testConfig(), now: () => day0 + 5 * DAY });
    ingest.ingest({
      kind: 'jobs',
      batch: {
        schema: 1,
        cluster: 'c',
        jobs: [
          // 2 GPUs from 23:00 to 01:00: an hour on each side of midnight.
          job('1', 'a', 2, day0 + 23 * 3_600_000, day0 + DAY + 3_600_000),
          // 4 GPUs for 30 minutes on day 2; a running job adds nothing.
          job('2', 'b', 4, day0 + 2 * DAY, day0 + 2 * DAY + 1_800_000),
          job('3', 'b', 8, day0 + 2 * DAY, null),
        ],
      },
    });
    db.$client.prepare('UPDATE project_day SET gpu_s = gpu_s * 3').run();
    const result = rebuildProjectDay(db.$client, day0, day0 + 3 * DAY);
    const rows = db.$client.prepare('SELECT day_ts AS d, account AS a, gpu_s AS s, jobs_ended AS n FROM project_day ORDER BY d, a').all();
    expect(rows).toEqual([
      { d: day0, a: 'a', s: 7200, n: 0 },
      { d: day0 + DAY, a: 'a', s: 7200, n: 1 },
      { d: day0 + 2 * DAY, a: 'b', s: 7200, n: 1 },
    ]);
    expect(result).toEqual({ rows: 3, jobs: 2 });
  });
});
