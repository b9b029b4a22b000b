/**
 * Hostile input (issue 9 §2): property-based fuzzing with fast-check of every ingest and
 * query endpoint through the app in-process. Whatever arrives, the answer is 2xx or a 4xx
 * with `{error:{code,message}}`, never a 5xx, and a refused request changes no row.
 * About 11,000 cases in all (the counts are in NUM_RUNS); override with FUZZ_SCALE.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { H, T0, iso, job, makeApp, series } from '../support/factories.ts';

const scale = Number(process.env.FUZZ_SCALE ?? 1);
const NUM_RUNS = {
  gpuMutated: 2000,
  jobsMutated: 1500,
  facilityMutated: 1500,
  anyJson: 1500,
  rawBodies: 1000,
  queries: 3000,
  adminWrites: 600,
};
const runs = (n: number) => Math.max(1, Math.round(n * scale));
const NOW = T0 + 48 * H;

const knownCodes = ['VALIDATION', 'UNAUTHORIZED', 'FORBIDDEN', 'NOT_FOUND', 'CONFLICT', 'TOO_LARGE', 'RATE_LIMITED', 'UNAVAILABLE'];
const writeTables = [
  'gpu_samples', 'gpu_cursor', 'gpu_hour', 'job_hour', 'jobs', 'usage_day', 'usage_month', 'facility_readings', 'facility_cursor',
  'facility_interval', 'nodes', 'gpus', 'projects', 'users', 'project_members', 'ingest_batches', 'allocations', 'audit_log', 'sessions',
  'job_gpu', 'slurm_associations', 'slurm_coordinators', 'alert_mails',
];

type App = ReturnType<typeof makeApp>;

/** Asserts the answer is not a server fault; a 4xx must explain itself. Returns the status. */
async function expectNoFault(res: Response, what: string): Promise<number> {
  const text = await res.text();
  if (res.status >= 500) throw new Error(`${what}: ${res.status} ${text.slice(0, 300)}`);
  if (res.status >= 400) {
    let body: { error?: { code?: unknown; message?: unknown } };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new Error(`${what}: ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`);
    }
    if (!knownCodes.includes(String(body.error?.code))) throw new Error(`${what}: unknown error code in ${text.slice(0, 200)}`);
    if (typeof body.error?.message !== 'string' || body.error.message.length < 3) throw new Error(`${what}: no message in ${text.slice(0, 200)}`);
  }
  return res.status;
}

const counts = (t: App) => writeTables.map((table) => t.count(table));

/** Every path to a value inside a JSON document. */
function pathsOf(value: unknown, prefix: Array<string | number> = []): Array<Array<string | number>> {
  const out: Array<Array<string | number>> = [prefix];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...pathsOf(v, [...prefix, i])));
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) out.push(...pathsOf(v, [...prefix, k]));
  return out;
}

/** A copy of `doc` with the value at `path` replaced (or removed, for `undefined`). */
function mutate(doc: unknown, path: Array<string | number>, replacement: unknown): unknown {
  if (path.length === 0) return replacement;
  const copy = structuredClone(doc) as Record<string | number, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  const last = path.at(-1)!;
  if (replacement === undefined) {
    if (Array.isArray(node)) node.splice(last as number, 1);
    else delete node[last];
  } else node[last] = replacement;
  return copy;
}

/** Values that probe the edges of the wire format: wrong types, bounds, odd times and strings. */
const nasty = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constant(undefined),
  fc.constantFrom(
    null, '', ' ', 0, -1, -0.5, 1e308, -1e308, 2 ** 53, 100.0001, 1024, 100_001, true, [], {}, 'N/A', '0x10',
    '2026-11-20T10:00:00Z', '2026-11-20T10:00:00.000+01:00', '2026-02-30T10:00:00.000Z', '9999-12-31T23:59:59.999Z',
    '1970-01-01T00:00:00.000Z', iso(NOW + 11 * 60_000), iso(NOW - 401 * 24 * H), '<script>alert(1)</script>', "'; DROP TABLE jobs; --",
    '\u0000', '\ud800', 'a'.repeat(201), 'x'.repeat(70), '__proto__', 'constructor',
  ),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.double(),
  fc.integer(),
);

function gpuBatch(tsBase: number) {
  return {
    schema: 1,
    cluster: 'c',
    node: 'n1',
    samples: [
      ...series(tsBase, tsBase + 120_000, 60, { gpuUuid: 'G-fuzz-1', jobIds: ['1'], processes: [{ pid: 7, usedMemMiB: 10, jobId: '1' }] }),
      ...series(tsBase, tsBase + 60_000, 60, { gpuUuid: 'G-fuzz-2', gpuIndex: 1, powerW: null }),
    ],
  };
}
function jobsBatch(n: number) {
  return { schema: 1, cluster: 'c', jobs: [job({ jobId: `f${n}`, user: 'u', account: 'proj-f' }), job({ jobId: `g${n}`, state: 'PENDING', startTime: null, endTime: null })] };
}
function facilityBatch(tsBase: number) {
  return {
    schema: 1,
    site: 's',
    readings: [
      { ts: iso(tsBase), meter: 'm1', quantity: 'itPowerW', value: 1000 },
      { ts: iso(tsBase + 60_000), meter: 'm1', quantity: 'itPowerW', value: 1100 },
      { ts: iso(tsBase + 60_000), meter: 'c1', quantity: 'facilityEnergyKWh', value: 5 },
    ],
  };
}

/** Posts `body` (a document, or raw text) to an ingest endpoint with the ingest token. */
function postIngest(t: App, kind: string, body: unknown, extra: Record<string, string> = {}) {
  return t.app.request(`/api/v1/ingest/${kind}`, {
    method: 'POST',
    body: typeof body === 'string' ? body : (JSON.stringify(body) ?? ''),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${t.tokens.ingest}`, ...extra },
  });
}

/**
 * Mutates one value somewhere in a fresh valid batch and posts it. Accepted: the answer
 * accounts for every item. Refused: a clear 4xx and not one row changed.
 */
function mutationProperty(t: App, kind: 'gpu' | 'jobs' | 'facility', make: (n: number) => unknown, items: (doc: unknown) => number) {
  let n = 0;
  return fc.asyncProperty(fc.nat(), nasty, fc.stringMatching(/^[\x21-\x7e]{0,80}$/), async (pick, replacement, key) => {
    n++;
    // Each case gets its own time or job ids, so an accepted batch adds new rows.
    const doc = make(n);
    const paths = pathsOf(doc);
    const mutated = mutate(doc, paths[pick % paths.length]!, replacement);
    const before = counts(t);
    const res = await postIngest(t, kind, mutated, key ? { 'idempotency-key': key } : {});
    const status = await expectNoFault(res.clone(), `${kind} ${String(JSON.stringify(mutated)).slice(0, 300)}`);
    if (status === 202) {
      const body = (await res.json()) as { accepted: number; duplicates: number };
      expect(body.accepted + body.duplicates).toBe(items(mutated));
    } else {
      expect(status).toBeGreaterThanOrEqual(400);
      expect(counts(t), `refused ${kind} batch changed rows`).toEqual(before);
    }
  });
}

describe('fuzzing the ingest endpoints', () => {
  const t = makeApp({ now: NOW });
  const gpuItems = (d: unknown) => (d as { samples: unknown[] }).samples.length;
  const jobItems = (d: unknown) => (d as { jobs: unknown[] }).jobs.length;
  const facilityItems = (d: unknown) => (d as { readings: unknown[] }).readings.length;

  it(`GPU batches with one value mutated (${runs(NUM_RUNS.gpuMutated)} cases)`, async () => {
    await fc.assert(mutationProperty(t, 'gpu', (n) => gpuBatch(T0 + n * 600_000), gpuItems), { numRuns: runs(NUM_RUNS.gpuMutated) });
  }, 240_000);

  it(`jobs batches with one value mutated (${runs(NUM_RUNS.jobsMutated)} cases)`, async () => {
    await fc.assert(mutationProperty(t, 'jobs', jobsBatch, jobItems), { numRuns: runs(NUM_RUNS.jobsMutated) });
  }, 240_000);

  it(`facility batches with one value mutated (${runs(NUM_RUNS.facilityMutated)} cases)`, async () => {
    await fc.assert(mutationProperty(t, 'facility', (n) => facilityBatch(T0 + n * 600_000), facilityItems), { numRuns: runs(NUM_RUNS.facilityMutated) });
  }, 240_000);

  it('refuses a meter value near the largest double (fuzz seed -524028772 found it answered 500), naming the field, storing nothing', async () => {
    const doc = facilityBatch(T0 + 9_999 * 600_000) as { readings: Array<{ value: number }> };
    doc.readings[0]!.value = -1.7976931348623127e308;
    const before = counts(t);
    const res = await postIngest(t, 'facility', doc);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/^readings\.0\.value: /);
    expect(counts(t)).toEqual(before);
  });

  it(`any JSON document to any ingest endpoint (${runs(NUM_RUNS.anyJson)} cases)`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('gpu', 'jobs', 'facility'), fc.jsonValue(), async (kind, doc) => {
        const before = counts(t);
        const status = await expectNoFault(await postIngest(t, kind, doc), `${kind} ${JSON.stringify(doc).slice(0, 200)}`);
        // A random document is never a valid batch (schema must be 1 and the arrays present).
        expect(status).toBe(400);
        expect(counts(t)).toEqual(before);
      }),
      { numRuns: runs(NUM_RUNS.anyJson) },
    );
  }, 240_000);

  it(`raw bodies, content types and credentials (${runs(NUM_RUNS.rawBodies)} cases)`, async () => {
    const body = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.constantFrom('', '{', '{"schema":1,', 'null', '[]', '{"schema":1,"cluster":"c","node":"n","samples":[', '\u0000\u0001', '{"__proto__":{"schema":1}}'),
      fc.jsonValue().map((v) => JSON.stringify(v).slice(0, -1)),
    );
    const auth = fc.oneof(
      fc.constant('ingest'),
      fc.constantFrom('', 'Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', 'bearer x y', `Bearer ${'a'.repeat(5000)}`),
      fc.stringMatching(/^[\x20-\x7e]{0,60}$/),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('gpu', 'jobs', 'facility', 'nothing'), body, fc.constantFrom('application/json', 'text/plain', '', 'application/json; charset=latin1', 'multipart/form-data'), auth, async (kind, raw, type, authorization) => {
        const before = counts(t);
        const headers: Record<string, string> = { authorization: authorization === 'ingest' ? `Bearer ${t.tokens.ingest}` : authorization };
        if (type) headers['content-type'] = type;
        if (!authorization) delete headers.authorization;
        const res = await t.app.request(`/api/v1/ingest/${kind}`, { method: 'POST', body: raw, headers });
        const status = await expectNoFault(res, `${kind} ${type} ${JSON.stringify(raw).slice(0, 100)}`);
        expect(status).toBeGreaterThanOrEqual(400);
        expect(counts(t)).toEqual(before);
      }),
      { numRuns: runs(NUM_RUNS.rawBodies) },
    );
  }, 240_000);
});

describe('fuzzing the query endpoints', () => {
  const t = makeApp({ now: NOW });
  const callers: Record<string, Record<string, string>> = {};

  beforeAll(async () => {
    expect((await postIngest(t, 'jobs', { schema: 1, cluster: 'c', jobs: [job({ jobId: '1', user: 'rita' }), job({ jobId: '2', account: 'proj-b', user: 'bob' })] })).status).toBe(202);
    expect((await postIngest(t, 'gpu', gpuBatch(T0))).status).toBe(202);
    expect((await postIngest(t, 'facility', facilityBatch(T0))).status).toBe(202);
    t.addPerson('rita', 'researcher', ['proj-a']);
    t.addPerson('cora', 'committee');
    const login = await t.app.request('/api/v1/auth/login', { method: 'POST', body: JSON.stringify({ username: 'rita', password: 'correct horse' }), headers: { 'content-type': 'application/json' } });
    callers.researcher = { cookie: (login.headers.get('set-cookie') ?? '').split(';')[0]! };
    const login2 = await t.app.request('/api/v1/auth/login', { method: 'POST', body: JSON.stringify({ username: 'cora', password: 'correct horse' }), headers: { 'content-type': 'application/json' } });
    callers.committee = { cookie: (login2.headers.get('set-cookie') ?? '').split(';')[0]! };
    callers.read = { authorization: `Bearer ${t.tokens.read}` };
    callers.admin = { authorization: `Bearer ${t.tokens.admin}` };
    callers.ingest = { authorization: `Bearer ${t.tokens.ingest}` };
    callers.anonymous = {};
  });

  const endpoints = [
    '/api/v1/usage', '/api/v1/waits', '/api/v1/waits/estimate', '/api/v1/queue', '/api/v1/energy/kpis', '/api/v1/energy/projects',
    '/api/v1/energy/jobs', '/api/v1/energy/cooling', '/api/v1/reports/eed', '/api/v1/allocations', '/api/v1/allocations/audit', '/api/v1/jobs',
    '/api/v1/auth/me', '/api/health',
  ];
  const paramNames = ['from', 'to', 'groupBy', 'partition', 'gpus', 'project', 'format', 'limit', 'bucket', 'year', '__proto__', 'from[]'];
  const paramValue = fc.oneof(
    fc.constantFrom(
      iso(T0), iso(T0 + 3 * H), iso(NOW), '2026-11-20', '2026-11-20T10:00:00+01:00', '0000-01-01T00:00:00.000Z', '275760-09-13T00:00:00.000Z',
      'project', 'user', 'partition', 'day', 'gpus', 'hourOfWeek', 'csv', 'json', '5m', 'hour', '1', '0', '-1', '1e400', 'NaN', '', 'proj-a', 'proj-b',
    ),
    fc.string({ unit: 'grapheme', maxLength: 40 }),
    fc.integer().map(String),
  );

  it(`random query strings on every read endpoint, as every kind of caller (${runs(NUM_RUNS.queries)} cases)`, async () => {
    const project = fc.oneof(fc.constantFrom('proj-a', 'proj-b', 'nope', '..', '%2e%2e', 'proj-a%00'), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }).map(encodeURIComponent));
    const path = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...endpoints) }, { weight: 1, arbitrary: project.map((p) => `/api/v1/projects/${p}/review`) });
    const before = counts(t);
    await fc.assert(
      fc.asyncProperty(path, fc.array(fc.tuple(fc.oneof(fc.constantFrom(...paramNames), fc.string({ maxLength: 10 })), paramValue), { maxLength: 5 }), fc.constantFrom(...Object.keys(callers)), fc.constantFrom('application/json', 'text/csv', '*/*'), async (p, params, who, accept) => {
        const query = new URLSearchParams(params).toString();
        const url = query ? `${p}?${query}` : p;
        const res = await t.app.request(url, { headers: { ...callers[who], accept } });
        await expectNoFault(res, `${who} GET ${url}`);
      }),
      { numRuns: runs(NUM_RUNS.queries) },
    );
    // Reads write nothing (settings, where the pseudonym key lives, is not in the list).
    expect(counts(t)).toEqual(before);
  }, 240_000);

  it(`login and admin writes with hostile bodies (${runs(NUM_RUNS.adminWrites)} cases)`, async () => {
    const target = fc.constantFrom(
      ['POST', '/api/v1/auth/login', {}],
      ['POST', '/api/v1/allocations', callers.admin],
      ['PATCH', '/api/v1/allocations/1', callers.admin],
      ['PATCH', '/api/v1/allocations/99999999999999999999', callers.admin],
      ['POST', '/api/v1/allocations', callers.researcher],
    ) as fc.Arbitrary<[string, string, Record<string, string>]>;
    const doc = fc.oneof(
      fc.jsonValue(),
      fc.record({ username: nasty, password: nasty }),
      fc.record({ project: nasty, grantedGpuHours: nasty, periodStart: nasty, periodEnd: nasty, parentId: nasty }, { requiredKeys: [] }),
    );
    await fc.assert(
      fc.asyncProperty(target, doc, async ([method, url, headers], body) => {
        const res = await t.app.request(url, { method, body: JSON.stringify(body), headers: { 'content-type': 'application/json', origin: 'http://localhost', ...headers } });
        await expectNoFault(res, `${method} ${url} ${JSON.stringify(body).slice(0, 200)}`);
      }),
      { numRuns: runs(NUM_RUNS.adminWrites) },
    );
  }, 240_000);
});

describe('body size limit', () => {
  const t = makeApp({ config: { maxBodyBytes: 10_000 } });

  it('answers 413 TOO_LARGE to a body over the limit, with or without Content-Length, and stores nothing', async () => {
    const batch = { schema: 1, cluster: 'c', node: 'n', samples: series(T0, T0 + 600_000, 10) };
    const body = JSON.stringify(batch);
    expect(body.length).toBeGreaterThan(10_000);
    // Declared (judged by the header), undeclared and chunked (counted as it arrives).
    for (const mode of ['declared', 'undeclared', 'chunked'] as const) {
      const chunked = mode === 'chunked';
      const stream = chunked
        ? new ReadableStream({
            start(controller) {
              for (let i = 0; i < body.length; i += 1000) controller.enqueue(new TextEncoder().encode(body.slice(i, i + 1000)));
              controller.close();
            },
          })
        : body;
      const res = await t.app.request('/api/v1/ingest/gpu', {
        method: 'POST',
        body: stream,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${t.tokens.ingest}`, ...(mode === 'declared' ? { 'content-length': String(body.length) } : {}) },
        ...(chunked ? { duplex: 'half' } : {}),
      } as RequestInit);
      expect(res.status, mode).toBe(413);
      expect(((await res.json()) as { error: { code: string; message: string } }).error).toEqual({ code: 'TOO_LARGE', message: 'request body larger than 10000 bytes' });
    }
    expect(t.count('gpu_samples')).toBe(0);
    // Just under the limit is taken.
    const small = JSON.stringify({ schema: 1, cluster: 'c', node: 'n', samples: series(T0, T0 + 60_000, 10) });
    expect(small.length).toBeLessThan(10_000);
    expect((await postIngest(t, 'gpu', small)).status).toBe(202);
    expect(t.count('gpu_samples')).toBe(7);
    const declared = await t.app.request('/api/v1/ingest/gpu', {
      method: 'POST',
      body: small.replace('"n"', '"n2"'),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${t.tokens.ingest}`, 'content-length': String(small.length) },
    });
    expect(declared.status).toBe(202);
  });
});
