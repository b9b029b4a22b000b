/**
 * The federation hub's schema (PostgreSQL; DESIGN.md, "Beyond one machine"). The hub holds
 * no raw samples: only what sites push, per site and complete hour, and the hub's own people,
 * tokens and national grants. Times are epoch milliseconds (bigint) like the sites' ledgers,
 * so a site's figures arrive and leave unconverted. Every site-owned table is keyed by
 * `site`, and a push replaces a site's rows of one UTC day at a time (server/hub/push.ts).
 */
import { sql } from 'drizzle-orm';
import { bigint, customType, doublePrecision, index, integer, pgTable, primaryKey, serial, text } from 'drizzle-orm/pg-core';

const ms = (name: string) => bigint(name, { mode: 'number' });
const bytea = customType<{ data: Buffer }>({ dataType: () => 'bytea' });

/** A site that pushes; made when its first push token is created. */
export const hubSites = pgTable('hub_sites', {
  name: text('name').primaryKey(),
  createdTs: ms('created_ts').notNull(),
  /** The hash of the grants the site last pushed (the site's own), so that it sends them again only when they change. */
  grantsHash: text('grants_hash'),
});

/**
 * API tokens, stored as SHA-256 hashes: `push` tokens belong to one site and may write only
 * its rows; `read` and `admin` tokens read the hub (admin also manages it).
 */
export const hubTokens = pgTable('hub_tokens', {
  id: serial('id').primaryKey(),
  name: text('name').notNull().unique(),
  tokenHash: text('token_hash').notNull().unique(),
  prefix: text('prefix').notNull(),
  scope: text('scope', { enum: ['push', 'read', 'admin'] }).notNull(),
  site: text('site').references(() => hubSites.name),
  createdTs: ms('created_ts').notNull(),
  expiresTs: ms('expires_ts'),
  revokedTs: ms('revoked_ts'),
});

/** The hub's people (the site's roles) and the projects a researcher or PI sees at every site. */
export const hubUsers = pgTable('hub_users', {
  username: text('username').primaryKey(),
  role: text('role', { enum: ['researcher', 'pi', 'committee', 'facility', 'admin'] }).notNull(),
  passwordHash: text('password_hash'),
  createdTs: ms('created_ts').notNull(),
});

export const hubMembers = pgTable(
  'hub_members',
  {
    username: text('username')
      .notNull()
      .references(() => hubUsers.username, { onDelete: 'cascade' }),
    project: text('project').notNull(),
  },
  (t) => [primaryKey({ columns: [t.username, t.project] })],
);

/** Browser sessions at the hub (hashed ids, like a site's). */
export const hubSessions = pgTable('hub_sessions', {
  idHash: text('id_hash').primaryKey(),
  username: text('username')
    .notNull()
    .references(() => hubUsers.username, { onDelete: 'cascade' }),
  expiresTs: ms('expires_ts').notNull(),
});

/** The figures every usage row carries (a site's usage and energy-attribution rules). */
const usageFigures = () => ({
  /** Allocated GPU-seconds of jobs in the bucket (GPU-hours × 3600). */
  gpuS: doublePrecision('gpu_s').notNull().default(0),
  /** GPU-seconds the GPU samples covered. */
  measuredGpuS: doublePrecision('measured_gpu_s').notNull().default(0),
  /** GPU energy, measured plus inferred (kWh); `inferredKWh` is the inferred part. */
  energyKWh: doublePrecision('energy_kwh').notNull().default(0),
  inferredKWh: doublePrecision('inferred_kwh').notNull().default(0),
  /** Shares of the facility overhead, reused heat and CO2 (the remainder row carries what no project does). */
  overheadKWh: doublePrecision('overhead_kwh').notNull().default(0),
  reusedKWh: doublePrecision('reused_kwh').notNull().default(0),
  co2Kg: doublePrecision('co2_kg').notNull().default(0),
});

/**
 * Per site, complete hour, project, user (as the site's committee sees them) and partition.
 * The project `(unattributed)` with user and partition '' holds each hour's remainder of
 * overhead, reused heat and CO2, so a site's rows sum to its meters.
 */
export const hubUsageHour = pgTable(
  'hub_usage_hour',
  {
    site: text('site').notNull(),
    hourTs: ms('hour_ts').notNull(),
    project: text('project').notNull(),
    userName: text('user_name').notNull(),
    partition: text('partition').notNull(),
    ...usageFigures(),
  },
  (t) => [primaryKey({ columns: [t.site, t.hourTs, t.project, t.userName, t.partition] }), index('hub_usage_hour_project').on(t.project, t.hourTs)],
);

/**
 * hub_usage_hour summed over users, keyed by hour first: what the reads sum for the hours at
 * a window's edges (a year's window reads at most two days of these; nothing reads per user
 * across sites yet, so the per-user rows stay out of every read).
 */
export const hubUsageProjectHour = pgTable(
  'hub_usage_project_hour',
  {
    hourTs: ms('hour_ts').notNull(),
    site: text('site').notNull(),
    project: text('project').notNull(),
    partition: text('partition').notNull(),
    ...usageFigures(),
  },
  (t) => [primaryKey({ columns: [t.hourTs, t.site, t.project, t.partition] })],
);

/** hub_usage_hour summed over users per UTC day (rebuilt for the day by each push). */
export const hubUsageDay = pgTable(
  'hub_usage_day',
  {
    site: text('site').notNull(),
    dayTs: ms('day_ts').notNull(),
    project: text('project').notNull(),
    partition: text('partition').notNull(),
    ...usageFigures(),
  },
  (t) => [primaryKey({ columns: [t.site, t.dayTs, t.project, t.partition] }), index('hub_usage_day_day').on(t.dayTs), index('hub_usage_day_project').on(t.project, t.dayTs)],
);

/**
 * hub_usage_day summed per dekad (days 1-10, 11-20, 21 to the month's end): a window's days
 * outside whole months are at most two dekads and nine days on each side, not up to thirty
 * days of rows.
 */
export const hubUsageDekad = pgTable(
  'hub_usage_dekad',
  {
    site: text('site').notNull(),
    dekadTs: ms('dekad_ts').notNull(),
    project: text('project').notNull(),
    partition: text('partition').notNull(),
    ...usageFigures(),
  },
  (t) => [primaryKey({ columns: [t.site, t.dekadTs, t.project, t.partition] }), index('hub_usage_dekad_dekad').on(t.dekadTs), index('hub_usage_dekad_project').on(t.project, t.dekadTs)],
);

/** hub_usage_day summed per UTC calendar month. */
export const hubUsageMonth = pgTable(
  'hub_usage_month',
  {
    site: text('site').notNull(),
    monthTs: ms('month_ts').notNull(),
    project: text('project').notNull(),
    partition: text('partition').notNull(),
    ...usageFigures(),
  },
  (t) => [primaryKey({ columns: [t.site, t.monthTs, t.project, t.partition] }), index('hub_usage_month_month').on(t.monthTs), index('hub_usage_month_project').on(t.project, t.monthTs)],
);

/**
 * Job summaries of started jobs, pushed with the UTC day they started in (`startDayTs`):
 * what waits (exact percentiles over every site's jobs) and the review pack read.
 */
export const hubJobs = pgTable(
  'hub_jobs',
  {
    site: text('site').notNull(),
    cluster: text('cluster').notNull(),
    jobId: text('job_id').notNull(),
    project: text('project').notNull(),
    userName: text('user_name').notNull(),
    partition: text('partition').notNull(),
    gpus: integer('gpus').notNull(),
    submitTs: ms('submit_ts').notNull(),
    startTs: ms('start_ts').notNull(),
    endTs: ms('end_ts'),
    state: text('state').notNull(),
    energyKWh: doublePrecision('energy_kwh').notNull().default(0),
    startDayTs: ms('start_day_ts').notNull(),
    /** start − submit: the wait every percentile reads. */
    waitMs: ms('wait_ms').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.site, t.cluster, t.jobId] }),
    index('hub_jobs_day').on(t.site, t.startDayTs),
    index('hub_jobs_start').on(t.startTs),
    // INCLUDE (site, partition, wait_ms): migration 0003 (drizzle's builder has none).
    index('hub_jobs_project').on(t.project, t.startTs),
  ],
);

/**
 * Every site's waits (start − submit) of the jobs that started in a UTC day, per
 * partition, ascending, as big-endian float64 milliseconds (a project's as int32 seconds
 * when every wait is whole seconds; db/hub/store.ts RUN_OF_WAITS): the runs exact percentiles over long
 * windows are taken from without a scan of the jobs (db/rules/sorted-runs.ts). Rebuilt
 * from hub_jobs for each pushed day; `hub_wait_month` holds a month's days merged.
 */
const waitRunColumns = () => ({
  site: text('site').notNull(),
  partition: text('partition').notNull(),
  n: integer('n').notNull(),
  sumMs: doublePrecision('sum_ms').notNull(),
  waits: bytea('waits').notNull(),
});
export const hubWaitDay = pgTable('hub_wait_day', { dayTs: ms('day_ts').notNull(), ...waitRunColumns() }, (t) => [primaryKey({ columns: [t.dayTs, t.site, t.partition] })]);
export const hubWaitMonth = pgTable('hub_wait_month', { monthTs: ms('month_ts').notNull(), ...waitRunColumns() }, (t) => [primaryKey({ columns: [t.monthTs, t.site, t.partition] })]);
/**
 * The same runs per project: a project's waits over a year (a researcher's, the review
 * pack's) are its few hundred day runs, not a sort of its jobs. Keyed by project first.
 */
export const hubWaitProjectDay = pgTable(
  'hub_wait_project_day',
  { project: text('project').notNull(), dayTs: ms('day_ts').notNull(), ...waitRunColumns() },
  // By day and site too: a pushed day replaces its runs.
  (t) => [primaryKey({ columns: [t.project, t.dayTs, t.site, t.partition] }), index('hub_wait_project_day_site').on(t.dayTs, t.site)],
);

/** A site's facility energy per complete hour (its meters), for PUE, ERF and ERE side by side. */
export const hubFacilityHour = pgTable(
  'hub_facility_hour',
  {
    site: text('site').notNull(),
    hourTs: ms('hour_ts').notNull(),
    itKWh: doublePrecision('it_kwh'),
    facilityKWh: doublePrecision('facility_kwh'),
    reusedKWh: doublePrecision('reused_kwh'),
    coolingKWh: doublePrecision('cooling_kwh'),
    co2Kg: doublePrecision('co2_kg'),
  },
  (t) => [primaryKey({ columns: [t.site, t.hourTs] })],
);

/**
 * Grants: a site's own (pushed, replaced whole with each push) and national ones (`site`
 * '*', entered at the hub) whose use is the sum over sites.
 */
export const hubGrants = pgTable(
  'hub_grants',
  {
    site: text('site').notNull(),
    project: text('project').notNull(),
    fromTs: ms('from_ts').notNull(),
    toTs: ms('to_ts').notNull(),
    gpuHours: doublePrecision('gpu_hours').notNull(),
  },
  (t) => [primaryKey({ columns: [t.site, t.project, t.fromTs] })],
);

/**
 * What the hub holds of each site-day: the hash of the last push of it and the hours it
 * covered. A site resuming after either side was down compares its own record with this.
 */
export const hubSiteDays = pgTable(
  'hub_site_days',
  {
    site: text('site').notNull(),
    dayTs: ms('day_ts').notNull(),
    hash: text('hash').notNull(),
    completeToTs: ms('complete_to_ts').notNull(),
    receivedTs: ms('received_ts').notNull(),
  },
  (t) => [primaryKey({ columns: [t.site, t.dayTs] })],
);

/** The hub's audit trail (national grants, tokens). */
export const hubAudit = pgTable('hub_audit', {
  id: serial('id').primaryKey(),
  ts: ms('ts').notNull(),
  actor: text('actor').notNull(),
  action: text('action').notNull(),
  target: text('target').notNull(),
  details: text('details').default(sql`'{}'`),
});
