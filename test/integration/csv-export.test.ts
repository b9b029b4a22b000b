/**
 * The CSV the server writes, read the way a spreadsheet or a browser would: names sent through
 * ingest that look like formulas come out as text (issue 15, point 13), and project names
 * outside Latin-1 or with quotes still download, under their own name (point 14).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { H, T0, iso, job, makeApp, series } from '../support/factories.ts';

/** RFC 4180 records (written here, not the server's helper, so the test reads what a spreadsheet reads). */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      record.push(cell);
      cell = '';
    } else if (ch === '\n' || (ch === '\r' && text[i + 1] === '\n')) {
      if (ch === '\r') i++;
      record.push(cell);
      records.push(record);
      [record, cell] = [[], ''];
    } else cell += ch;
  }
  if (cell !== '' || record.length > 0) records.push([...record, cell]);
  return records;
}

/** The dangerous first characters a spreadsheet acts on. */
const live = /^[=+\-@\t\r]/;

const hyperlink = '=HYPERLINK("http://x","y")';
const dde = "=cmd|' /C calc'!A0";
const w = `from=${iso(T0 - H)}&to=${iso(T0 + 3 * H)}`;

describe('review CSV', () => {
  const t = makeApp();
  const csv = (project: string) => t.app.request(`/api/v1/projects/${encodeURIComponent(project)}/review?${w}&format=csv`, t.auth(t.tokens.admin));

  beforeAll(async () => {
    const jobs = [
      job({ jobId: '1', account: 'proj-a', user: hyperlink }),
      job({ jobId: '2', account: 'proj-a', user: dde }),
      job({ jobId: '3', account: dde, user: '@bob' }),
      job({ jobId: '4', account: 'proj-中文', user: 'li' }),
      job({ jobId: '5', account: 'proj-🔥', user: 'em' }),
      job({ jobId: '6', account: 'proj-\u200fשלום', user: 'dan' }),
      job({ jobId: '7', account: 'proj-"q"\\x', user: 'qa' }),
    ];
    const res = await t.client.api.v1.ingest.jobs.$post({ json: { schema: 1, cluster: 'c', jobs } }, t.auth(t.tokens.ingest));
    expect(res.status).toBe(202);
    for (const j of jobs) {
      const gpu = await t.client.api.v1.ingest.gpu.$post({ json: { schema: 1, cluster: 'c', node: `n${j.jobId}`, samples: series(T0, T0 + H, 60, { gpuUuid: `G${j.jobId}`, jobIds: [j.jobId] }) } }, t.auth(t.tokens.ingest));
      expect(gpu.status).toBe(202);
    }
  });

  it('writes users named like formulas as text, quote first', async () => {
    const res = await csv('proj-a');
    expect(res.status).toBe(200);
    const records = parseCsv(await res.text());
    const users = records.filter((r) => r[0] === 'user');
    // Each user has a line per figure; both names appear, each with a leading quote.
    expect(new Set(users.map((r) => r[1]))).toEqual(new Set([`'${hyperlink}`, `'${dde}`]));
    // Every cell of the file: none starts as a formula (the figures are non-negative here).
    for (const r of records) for (const cell of r) expect(cell).not.toMatch(live);
    // The wasteful-job lines, if any, carry the user too.
    const wasteful = records.filter((r) => r[0] === 'wasteful-job' && r[2] === 'user').map((r) => r[3]);
    for (const u of wasteful) expect([`'${hyperlink}`, `'${dde}`]).toContain(u);
  });

  it('writes a project named like a formula as text, and a user named @…', async () => {
    const res = await csv(dde);
    expect(res.status).toBe(200);
    const records = parseCsv(await res.text());
    expect(records.find((r) => r[0] === 'project')?.[1]).toBe(`'${dde}`);
    expect(records.filter((r) => r[0] === 'user').map((r) => r[1])).toContain("'@bob");
    for (const r of records) for (const cell of r) expect(cell).not.toMatch(live);
  });

  it('keeps negative figures as numbers', async () => {
    // A grant smaller than the use makes the burn-down's remaining GPU-hours negative.
    const admin = await t.app.request('/api/v1/allocations', {
      method: 'POST',
      headers: { ...t.auth(t.tokens.admin).headers, 'content-type': 'application/json' },
      body: JSON.stringify({ project: 'proj-a', grantedGpuHours: 0.5, periodStart: iso(T0 - 24 * H), periodEnd: iso(T0 + 24 * H) }),
    });
    expect(admin.status).toBeLessThan(300);
    const records = parseCsv(await (await csv('proj-a')).text());
    // Two 1-GPU jobs of one hour each: 2 GPU-hours used of 0.5 granted, so -1.5 remain.
    const remaining = records.filter((r) => r[0] === 'burn-down' && r[2] === 'remainingGpuHours').map((r) => r[3]);
    expect(remaining.map(Number)).toContain(-1.5);
    expect(remaining.every((v) => !v.startsWith("'"))).toBe(true);
  });

  it.each([
    ['proj-中文', 'review-proj-__.csv', "review-proj-%E4%B8%AD%E6%96%87.csv"],
    ['proj-🔥', 'review-proj-_.csv', 'review-proj-%F0%9F%94%A5.csv'],
    ['proj-\u200fשלום', 'review-proj-_____.csv', 'review-proj-%E2%80%8F%D7%A9%D7%9C%D7%95%D7%9D.csv'],
    ['proj-"q"\\x', 'review-proj-_q__x.csv', 'review-proj-%22q%22%5Cx.csv'],
  ])('downloads the review of %j under its own name', async (project, fallback, encoded) => {
    const res = await csv(project);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="${fallback}"; filename*=UTF-8''${encoded}`);
    // The filename* decodes back to the name.
    expect(decodeURIComponent(encoded)).toBe(`review-${project}.csv`);
    const records = parseCsv(await res.text());
    expect(records[0]).toEqual(['section', 'key', 'field', 'value']);
    expect(records.find((r) => r[0] === 'project')?.[1]).toBe(project);
  });
});

describe('EED report CSV', () => {
  const t = makeApp();
  it('downloads with the same header form', async () => {
    const res = await t.app.request('/api/v1/reports/eed?year=2026&format=csv', t.auth(t.tokens.admin));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="eed-2026.csv"; filename*=UTF-8''eed-2026.csv`);
    expect(parseCsv(await res.text())[0]).toEqual(['indicator', 'value', 'unit', 'note']);
  });
});
