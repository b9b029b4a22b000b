/**
 * What the demo facility needs inside the database: one-click accounts for each role, and
 * grants that give the committee something to see (a national grant split among the
 * projects; some under-use theirs, some run out before the period ends).
 */
import type { Database } from 'better-sqlite3';
import { demoProjects } from '../collectors/demo/simulator.ts';
import type { Db } from '../db/client.ts';
import { DAY_MS } from '../db/rules/time.ts';
import { createAllocation } from './services/allocation.service.ts';
import { addUser, type Role } from './services/auth.service.ts';

/** The demo's one-click accounts (a public demo password, shown on the login page); the PI and the researcher are people who run jobs in the simulation. */
export const demoAccounts: Array<{ username: string; role: Role; password: string; projects: string[] }> = [
  { username: 'demo-admin', role: 'admin', password: 'heatledger-demo', projects: [] },
  { username: 'demo-committee', role: 'committee', password: 'heatledger-demo', projects: [] },
  { username: 'demo-facility', role: 'facility', password: 'heatledger-demo', projects: [] },
  { username: 'ahansen', role: 'pi', password: 'heatledger-demo', projects: ['dtu-llm'] },
  { username: 'eandersen', role: 'researcher', password: 'heatledger-demo', projects: ['au-genomics'] },
];

/** Grant size as a multiple of what the project's demand will burn over the period. */
const grantFactor: Record<string, number> = {
  'dtu-llm': 0.7,
  'ku-climate': 1.1,
  'au-genomics': 1.3,
  'sdu-robotics': 2.5,
  'aau-vision': 1.0,
  'itu-recsys': 1.2,
  'dtu-materials': 0.8,
  'ku-astro': 3.5,
  'sdu-energy': 4.0,
  'cbs-finance': 0.6,
  'ruc-nlp': 1.2,
  'au-teaching': 2.0,
};

/** Creates the demo accounts and grants where they do not exist yet. */
export function setUpDemo(db: Db, startTs: number): void {
  for (const account of demoAccounts) {
    try {
      addUser(db, { username: account.username, role: account.role, password: account.password, projects: account.projects });
    } catch {
      // Already there from an earlier start.
    }
  }
  const sqlite: Database = db.$client;
  if ((sqlite.prepare('SELECT COUNT(*) AS n FROM allocations').get() as { n: number }).n > 0) return;
  // A 55-day period that started with the demo's 30-day history: more than half of it is
  // gone, so grants burnt slowly show as under-used and fast ones forecast to run out.
  const periodDays = 55;
  const periodStart = new Date(Math.floor(startTs / DAY_MS) * DAY_MS).toISOString();
  const periodEnd = new Date(Math.floor(startTs / DAY_MS) * DAY_MS + periodDays * DAY_MS).toISOString();
  // Expected GPU-hours over the period: the project's share of its partition's load.
  const capacity = { gpu: 96 * 0.95, interactive: 32 * 0.6 };
  const grants = demoProjects.map((p) => {
    const partitionShare = demoProjects.filter((q) => q.partition === p.partition).reduce((s, q) => s + q.share, 0);
    const expected = (p.share / partitionShare) * capacity[p.partition] * 24 * periodDays;
    return { project: p.name, hours: Math.round((expected * (grantFactor[p.name] ?? 1)) / 100) * 100 };
  });
  const total = grants.reduce((s, g) => s + g.hours, 0);
  const root = createAllocation(sqlite, { project: 'deic-national', parentId: null, grantedGpuHours: total, periodStart, periodEnd }, 'demo-setup', Date.now());
  for (const g of grants) createAllocation(sqlite, { project: g.project, parentId: root, grantedGpuHours: g.hours, periodStart, periodEnd }, 'demo-setup', Date.now());
}
