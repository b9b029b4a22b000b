import { describe, expect, it } from 'vitest';
import { H, T0, iso, job, makeApp, series } from '../support/factories.ts';

/** Four GPUs of node n1 for an hour: GPUs 0-1 busy at 500 W, 2-3 idle at 80 W. */
function nodeSamples(labelBusy: boolean) {
  return [0, 1, 2, 3].flatMap((i) =>
    series(T0, T0 + H, 60, { gpuUuid: `GPU-${i}`, gpuIndex: i, powerW: i < 2 ? 500 : 80, jobIds: labelBusy && i < 2 ? ['7'] : [] }),
  );
}

describe('energy of jobs the samples do not name', () => {
  it('infers a job’s energy from the scheduler when its processes are hidden, and says so', async () => {
    const t = makeApp();
    await t.client.api.v1.ingest.jobs.$post({ json: { schema: 1, cluster: 'c', jobs: [job({ jobId: '7', gpus: 2, nodes: ['n1'], startTime: iso(T0), endTime: iso(T0 + H) })] } }, t.auth(t.tokens.ingest));
    await t.client.api.v1.ingest.gpu.$post({ json: { schema: 1, cluster: 'c', node: 'n1', samples: nodeSamples(false) } }, t.auth(t.tokens.ingest));
    const [row] = (await (await t.client.api.v1.usage.$get({ query: { from: iso(T0), to: iso(T0 + H) } }, t.auth(t.tokens.read))).json()).rows;
    // Unnamed: (2 × 500 + 2 × 80) W for an hour = 1.16 kWh over 4 GPU-hours; the job misses 2 of them → half.
    expect(row!.energyKWh).toBeCloseTo(0.58, 9);
    expect(row!.energyInferredKWh).toBeCloseTo(0.58, 9);
    expect(row!.energyProvenance).toBe('integrated+inferred');
    expect(row!.energyCoverage).toBe(0);
    const jobs = (await (await t.client.api.v1.jobs.$get({ query: { from: iso(T0), to: iso(T0 + H) } }, t.auth(t.tokens.read))).json()).rows;
    expect(jobs[0]!.energyInferredKWh).toBeCloseTo(0.58, 9);
  });

  it('infers nothing when the job’s own samples name it; idle GPUs stay unattributed', async () => {
    const t = makeApp();
    await t.client.api.v1.ingest.jobs.$post({ json: { schema: 1, cluster: 'c', jobs: [job({ jobId: '7', gpus: 2, nodes: ['n1'], startTime: iso(T0), endTime: iso(T0 + H) })] } }, t.auth(t.tokens.ingest));
    await t.client.api.v1.ingest.gpu.$post({ json: { schema: 1, cluster: 'c', node: 'n1', samples: nodeSamples(true) } }, t.auth(t.tokens.ingest));
    const [row] = (await (await t.client.api.v1.usage.$get({ query: { from: iso(T0), to: iso(T0 + H) } }, t.auth(t.tokens.read))).json()).rows;
    expect(row!.energyKWh).toBeCloseTo(1.0, 9);
    expect(row!.energyInferredKWh).toBe(0);
    expect(row!.energyProvenance).toBe('integrated');
    expect(row!.energyCoverage).toBeCloseTo(1, 9);
    const attribution = await (await t.client.api.v1.energy.projects.$get({ query: { from: iso(T0), to: iso(T0 + H) } }, t.auth(t.tokens.read))).json();
    expect(attribution.rows.find((r) => r.key === '(unattributed)')!.itEnergyKWh).toBeCloseTo(0.16, 9);
  });
});

describe('a job seen on its own GPU', () => {
  it('takes no energy from an idle neighbour for the moments before its first and after its last sample', async () => {
    const t = makeApp();
    await t.client.api.v1.ingest.jobs.$post({ json: { schema: 1, cluster: 'c', jobs: [job({ jobId: 'J1', gpus: 1, nodes: ['n1'], startTime: iso(T0), endTime: iso(T0 + H) })] } }, t.auth(t.tokens.ingest));
    const samples = [
      ...series(T0 + 10_000, T0 + H - 10_000, 10, { gpuUuid: 'GPU-A', powerW: 600, jobIds: ['J1'] }),
      ...series(T0 + 10_000, T0 + H - 10_000, 10, { gpuUuid: 'GPU-B', gpuIndex: 1, powerW: 70, jobIds: [] }),
    ];
    await t.client.api.v1.ingest.gpu.$post({ json: { schema: 1, cluster: 'c', node: 'n1', samples } }, t.auth(t.tokens.ingest));
    const [row] = (await (await t.client.api.v1.usage.$get({ query: { from: iso(T0), to: iso(T0 + H) } }, t.auth(t.tokens.read))).json()).rows;
    expect(row!.energyKWh).toBeCloseTo((600 * 3580) / 3.6e6, 9);
    expect(row!.energyInferredKWh).toBe(0);
  });
});

describe('when unnamed GPUs are all idle', () => {
  it('infers nothing: without a busy unnamed GPU there is no sign of hidden processes', async () => {
    const t = makeApp();
    await t.client.api.v1.ingest.jobs.$post({ json: { schema: 1, cluster: 'c', jobs: [job({ jobId: '7', gpus: 2, nodes: ['n1'], startTime: iso(T0), endTime: iso(T0 + H) })] } }, t.auth(t.tokens.ingest));
    const idleNode = [0, 1, 2, 3].flatMap((i) => series(T0, T0 + H, 60, { gpuUuid: `GPU-${i}`, gpuIndex: i, powerW: 80, utilPct: 0, jobIds: [] }));
    await t.client.api.v1.ingest.gpu.$post({ json: { schema: 1, cluster: 'c', node: 'n1', samples: idleNode } }, t.auth(t.tokens.ingest));
    const [row] = (await (await t.client.api.v1.usage.$get({ query: { from: iso(T0), to: iso(T0 + H) } }, t.auth(t.tokens.read))).json()).rows;
    expect(row!.energyKWh).toBe(0);
    expect(row!.energyInferredKWh).toBe(0);
    const attribution = await (await t.client.api.v1.energy.projects.$get({ query: { from: iso(T0), to: iso(T0 + H) } }, t.auth(t.tokens.read))).json();
    expect(attribution.rows.find((r) => r.key === '(unattributed)')!.itEnergyKWh).toBeCloseTo((4 * 80) / 1000, 9);
  });
});
