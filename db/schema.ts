/**
 * HeatLedger's data model. Times are epoch milliseconds (`…Ts`), energies watt-hours
 * (`…Wh`) or seconds of coverage (`…S`); units live in column names.
 *
 * Raw tables (gpu_samples, facility_readings) are kept for the retention window; the
 * rollups (job_hour, gpu_hour, project_day, facility_interval) are folded on ingest and
 * are what dashboards read.
 */
import { sql } from 'drizzle-orm';
import { blob, index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

/** A site: one building with its meters, cooling loops and heat delivery. */
export const sites = sqliteTable('sites', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  /** Whether the heat pump that boosts delivered heat is on the site (its electricity is then in E_DC). */
  heatPumpOnSite: integer('heat_pump_on_site', { mode: 'boolean' }).notNull().default(true),
});

/** A scheduler's cluster (Slurm ClusterName); job ids are unique within one. */
export const clusters = sqliteTable('clusters', {
  id: text('id').primaryKey(),
  siteId: text('site_id').references(() => sites.id),
});

export const nodes = sqliteTable(
  'nodes',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    cluster: text('cluster').notNull(),
    name: text('name').notNull(),
    firstSeenTs: integer('first_seen_ts').notNull(),
  },
  (t) => [uniqueIndex('nodes_cluster_name').on(t.cluster, t.name)],
);

export const gpus = sqliteTable(
  'gpus',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    uuid: text('uuid').notNull(),
    nodeId: integer('node_id').notNull().references(() => nodes.id),
    gpuIndex: integer('gpu_index').notNull(),
    model: text('model'),
    memTotalMiB: real('mem_total_mib'),
    powerLimitW: real('power_limit_w'),
    firstSeenTs: integer('first_seen_ts').notNull(),
  },
  // By node: energy inference sums the GPUs of a node-hour.
  (t) => [uniqueIndex('gpus_uuid').on(t.uuid), index('gpus_node').on(t.nodeId)],
);

/** A project is a Slurm account; `parent` builds allocation trees (issue 6). */
export const projects = sqliteTable('projects', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  name: text('name').notNull().unique(),
  title: text('title'),
  parentId: integer('parent_id'),
  createdTs: integer('created_ts').notNull(),
});

export const users = sqliteTable('users', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  username: text('username').notNull().unique(),
  role: text('role', { enum: ['researcher', 'pi', 'committee', 'facility', 'admin'] }).notNull(),
  /** scrypt$N$r$p$salt$hash (base64); null for scheduler users who never log in. */
  passwordHash: text('password_hash'),
  createdTs: integer('created_ts').notNull(),
  /** Where notices go: the OIDC `email` claim or `user add --email`; null: none sent. */
  email: text('email'),
  /** The language notices are written in; null: English. */
  lang: text('lang', { enum: ['en', 'da'] }),
});

export const projectMembers = sqliteTable(
  'project_members',
  {
    projectId: integer('project_id').notNull().references(() => projects.id),
    userId: integer('user_id').notNull().references(() => users.id),
    isPi: integer('is_pi', { mode: 'boolean' }).notNull().default(false),
    /**
     * Where the membership comes from: an administrator (`admin`) or the scheduler's
     * associations (`slurm`). Only these grant access; job records never make a member.
     */
    source: text('source', { enum: ['admin', 'slurm'] }).notNull().default('admin'),
  },
  (t) => [primaryKey({ columns: [t.projectId, t.userId] })],
);

export const allocations = sqliteTable(
  'allocations',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    projectId: integer('project_id').notNull().references(() => projects.id),
    parentId: integer('parent_id'),
    resource: text('resource', { enum: ['gpu_hours', 'energy_kwh'] }).notNull().default('gpu_hours'),
    amount: real('amount').notNull(),
    periodStartTs: integer('period_start_ts').notNull(),
    periodEndTs: integer('period_end_ts').notNull(),
    createdTs: integer('created_ts').notNull(),
    /** Who keeps the grant: an administrator (`admin`) or a Slurm account limit (`slurm`, GrpTRESMins gres/gpu). */
    source: text('source', { enum: ['admin', 'slurm'] }).notNull().default('admin'),
  },
  (t) => [index('allocations_project').on(t.projectId)],
);

/**
 * Slurm's associations as the last associations batch of each cluster gave them (a batch
 * replaces its cluster's rows). `user` is '' on an account's own association, which carries
 * its parent and its GrpTRESMins gres/gpu limit in GPU-minutes.
 */
export const slurmAssociations = sqliteTable(
  'slurm_associations',
  {
    cluster: text('cluster').notNull(),
    account: text('account').notNull(),
    user: text('user').notNull(),
    parent: text('parent'),
    gpuMinutes: real('gpu_minutes'),
  },
  (t) => [primaryKey({ columns: [t.cluster, t.account, t.user] })],
);

/** Each account's coordinators (its PIs), per cluster, from the same batch. */
export const slurmCoordinators = sqliteTable(
  'slurm_coordinators',
  {
    cluster: text('cluster').notNull(),
    account: text('account').notNull(),
    user: text('user').notNull(),
  },
  (t) => [primaryKey({ columns: [t.cluster, t.account, t.user] })],
);

export const apiTokens = sqliteTable('api_tokens', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  name: text('name').notNull(),
  scope: text('scope', { enum: ['ingest', 'read', 'admin'] }).notNull(),
  /** sha256 of the token (tokens are 32 random bytes, so a fast hash is enough). */
  tokenHash: text('token_hash').notNull().unique(),
  createdTs: integer('created_ts').notNull(),
  revokedTs: integer('revoked_ts'),
  /** Past this instant the token is refused (null: never expires). */
  expiresTs: integer('expires_ts'),
});

export const sessions = sqliteTable('sessions', {
  /** sha256 of the cookie value. */
  idHash: text('id_hash').primaryKey(),
  userId: integer('user_id').notNull().references(() => users.id),
  createdTs: integer('created_ts').notNull(),
  expiresTs: integer('expires_ts').notNull(),
});

/**
 * Scheduler jobs, one row per job id; a newer record replaces the older one.
 * `recordHash` lets a re-sent identical record count as a duplicate.
 */
export const jobs = sqliteTable(
  'jobs',
  {
    cluster: text('cluster').notNull(),
    jobId: text('job_id').notNull(),
    arrayJobId: text('array_job_id'),
    name: text('name'),
    user: text('user').notNull(),
    account: text('account').notNull(),
    partition: text('partition'),
    qos: text('qos'),
    state: text('state').notNull(),
    submitTs: integer('submit_ts').notNull(),
    eligibleTs: integer('eligible_ts'),
    startTs: integer('start_ts'),
    endTs: integer('end_ts'),
    gpus: integer('gpus').notNull(),
    gpuType: text('gpu_type'),
    cpus: integer('cpus'),
    /** JSON array of node names. */
    nodes: text('nodes').notNull().default('[]'),
    exitCode: integer('exit_code'),
    recordHash: text('record_hash').notNull(),
    updatedTs: integer('updated_ts').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.cluster, t.jobId] }),
    index('jobs_start').on(t.startTs),
    // Usage's partial days and running jobs search jobs by end time and read these columns from the index alone.
    index('jobs_end').on(t.endTs, t.startTs, t.gpus, t.account, t.user, t.partition),
    // A few projects' jobs by end time (their partial days, their grants' use), from the index alone.
    index('jobs_account').on(t.account, t.endTs, t.startTs, t.gpus, t.user, t.partition),
    index('jobs_state').on(t.state),
    // The wait estimate's searches by partition and submission (similar jobs, the queue then), read from the index alone.
    index('jobs_partition_submit').on(t.partition, t.submitTs, t.gpus, t.startTs),
  ],
);

/**
 * Raw GPU samples. The migration declares this table WITHOUT ROWID (drizzle cannot):
 * the (ts, gpu_id) key is then the table itself, which keeps inserts at about 500k rows/s
 * and makes a re-sent sample a no-op under INSERT OR IGNORE. test/integration/schema.test.ts
 * checks that the migration still says so.
 */
/** What a sample may carry beyond nvidia-smi's figures (a DCGM source): its energy counter and profiling activities. */
const gpuSampleExtras = () => ({
  /** The GPU's energy counter in J (DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION); differences of it are the segment's energy. */
  energyJ: real('energy_j'),
  smActive: real('sm_active'),
  tensorActive: real('tensor_active'),
  grActive: real('gr_active'),
  dramActive: real('dram_active'),
});

export const gpuSamples = sqliteTable(
  'gpu_samples',
  {
    ts: integer('ts').notNull(),
    gpuId: integer('gpu_id').notNull(),
    utilPct: real('util_pct'),
    memUsedMiB: real('mem_used_mib'),
    powerW: real('power_w'),
    tempC: real('temp_c'),
    /** JSON array of job ids, null when no job runs on the GPU. */
    jobIds: text('job_ids'),
    ...gpuSampleExtras(),
  },
  (t) => [primaryKey({ columns: [t.ts, t.gpuId] })],
);

/** The newest sample per GPU: the left end of the next power segment to integrate. */
export const gpuCursor = sqliteTable('gpu_cursor', {
  gpuId: integer('gpu_id').primaryKey(),
  ts: integer('ts').notNull(),
  utilPct: real('util_pct'),
  powerW: real('power_w'),
  jobIds: text('job_ids'),
  ...gpuSampleExtras(),
});

/** Energy and utilisation per GPU and hour (machine-wide GPU energy, busy and idle). */
export const gpuHour = sqliteTable(
  'gpu_hour',
  {
    hourTs: integer('hour_ts').notNull(),
    gpuId: integer('gpu_id').notNull(),
    energyWh: real('energy_wh').notNull().default(0),
    coveredS: real('covered_s').notNull().default(0),
    utilPctS: real('util_pct_s').notNull().default(0),
    jobS: real('job_s').notNull().default(0),
    /** Energy of the time the GPU's samples named no job (idle, or processes hidden from the collector). */
    noJobWh: real('no_job_wh').notNull().default(0),
    /**
     * Seconds the GPU named no job yet was not idle (or its utilisation was unknown): the
     * sign of processes hidden from the collector, which gates energy inference.
     */
    noJobBusyS: real('no_job_busy_s').notNull().default(0),
    /** Of energyWh, what the GPU's energy counter measured (the rest is integrated power): the energy's provenance. */
    counterWh: real('counter_wh').notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.hourTs, t.gpuId] }), index('gpu_hour_busy_unnamed').on(t.hourTs).where(sql`${t.noJobBusyS} > 0`)],
);

/**
 * Measured GPU energy per job and hour: each GPU's integrated power shared equally
 * among the jobs on that GPU. `idleGpuS` counts GPU-seconds below the idle threshold.
 */
export const jobHour = sqliteTable(
  'job_hour',
  {
    hourTs: integer('hour_ts').notNull(),
    cluster: text('cluster').notNull(),
    jobId: text('job_id').notNull(),
    energyWh: real('energy_wh').notNull().default(0),
    gpuS: real('gpu_s').notNull().default(0),
    utilPctS: real('util_pct_s').notNull().default(0),
    idleGpuS: real('idle_gpu_s').notNull().default(0),
    /** Of energyWh, what GPU energy counters measured (the rest is integrated power). */
    counterWh: real('counter_wh').notNull().default(0),
    /**
     * DCGM profiling activity: `*ActiveS` = ∫ activity dt over the job's GPU share (ratio·s),
     * `*S` = the GPU-seconds it was known; their ratio is the mean activity.
     */
    smActiveS: real('sm_active_s').notNull().default(0),
    smS: real('sm_s').notNull().default(0),
    tensorActiveS: real('tensor_active_s').notNull().default(0),
    tensorS: real('tensor_s').notNull().default(0),
    grActiveS: real('gr_active_s').notNull().default(0),
    grS: real('gr_s').notNull().default(0),
    dramActiveS: real('dram_active_s').notNull().default(0),
    dramS: real('dram_s').notNull().default(0),
  },
  (t) => [
    primaryKey({ columns: [t.hourTs, t.cluster, t.jobId] }),
    index('job_hour_job').on(t.cluster, t.jobId),
    // Only the hours a DCGM source covered (an energy counter or activities): empty, and free, at a site without one.
    index('job_hour_dcgm_job').on(t.cluster, t.jobId, t.hourTs).where(sql`${t.counterWh} + ${t.smS} + ${t.tensorS} + ${t.grS} + ${t.dramS} > 0`),
    index('job_hour_dcgm_hour').on(t.hourTs).where(sql`${t.counterWh} + ${t.smS} + ${t.tensorS} + ${t.grS} + ${t.dramS} > 0`),
  ],
);

/**
 * Per job and GPU, over the whole job: the job's share of the GPU's time, its idle and busy
 * time and the peaks of its samples. The efficiency report reads it ("3 of 4 GPUs were idle
 * for 80 % of the job") after the raw samples are purged. Folded on ingest like job_hour;
 * peaks are maxima over the samples that named the job.
 */
export const jobGpu = sqliteTable(
  'job_gpu',
  {
    cluster: text('cluster').notNull(),
    jobId: text('job_id').notNull(),
    gpuId: integer('gpu_id').notNull(),
    gpuS: real('gpu_s').notNull().default(0),
    idleS: real('idle_s').notNull().default(0),
    utilPctS: real('util_pct_s').notNull().default(0),
    /** Seconds with utilisation known (util_pct_s / util_s is the mean). */
    utilS: real('util_s').notNull().default(0),
    utilPeakPct: real('util_peak_pct'),
    memPeakMiB: real('mem_peak_mib'),
  },
  (t) => [primaryKey({ columns: [t.cluster, t.jobId, t.gpuId] })],
);

/** The figures every usage rollup keeps (see usage_day for their meaning). */
const usageFigures = () => ({
  allocGpuS: real('alloc_gpu_s').notNull().default(0),
  jobsActive: integer('jobs_active').notNull().default(0),
  jobsStarted: integer('jobs_started').notNull().default(0),
  energyWh: real('energy_wh').notNull().default(0),
  measuredGpuS: real('measured_gpu_s').notNull().default(0),
  idleGpuS: real('idle_gpu_s').notNull().default(0),
});

/**
 * Use per UTC day by project (account) and user: the rollup that per-user questions over
 * long windows read (usage_day_project and usage_day_account below hold the same figures
 * summed over users, for questions by partition, project or day).
 * - `allocGpuS`, `jobsActive`, `jobsStarted`: ended jobs only (allocated GPUs × running
 *   time inside the day; jobs that ran in the day; jobs that started in it). Job ingest
 *   subtracts a record's old contribution and adds the new one, so re-sent and corrected
 *   records keep it exact. Running jobs are counted live by the queries.
 * - `energyWh`, `measuredGpuS`, `idleGpuS`: the job-hour rollup of jobs whose record is
 *   known, by the day of the hour. Samples of a job not yet known wait in job_hour and
 *   move here when its record arrives (and move again if its account, user or partition changes).
 */
export const usageDay = sqliteTable(
  'usage_day',
  {
    dayTs: integer('day_ts').notNull(),
    account: text('account').notNull(),
    user: text('user').notNull(),
    ...usageFigures(),
  },
  (t) => [primaryKey({ columns: [t.dayTs, t.account, t.user] })],
);

/**
 * usage_day by partition and summed over users, per UTC day and project: what questions
 * by project or partition read. `partition` is '(none)' when the scheduler named none.
 */
export const usageDayProject = sqliteTable(
  'usage_day_project',
  {
    dayTs: integer('day_ts').notNull(),
    account: text('account').notNull(),
    partition: text('partition').notNull(),
    ...usageFigures(),
  },
  (t) => [primaryKey({ columns: [t.dayTs, t.account, t.partition] })],
);

/** usage_day summed over users and partitions: what questions by day read. */
export const usageDayAccount = sqliteTable(
  'usage_day_account',
  {
    dayTs: integer('day_ts').notNull(),
    account: text('account').notNull(),
    ...usageFigures(),
  },
  (t) => [primaryKey({ columns: [t.dayTs, t.account] })],
);

/** usage_day summed over everything: what questions by day over every project read. */
export const usageDayTotal = sqliteTable('usage_day_total', {
  dayTs: integer('day_ts').primaryKey(),
  ...usageFigures(),
});

/** usage_month summed over users, per UTC month, project and partition. */
export const usageMonthProject = sqliteTable(
  'usage_month_project',
  {
    monthTs: integer('month_ts').notNull(),
    account: text('account').notNull(),
    partition: text('partition').notNull(),
    ...usageFigures(),
  },
  (t) => [primaryKey({ columns: [t.monthTs, t.account, t.partition] })],
);

/** usage_day summed per UTC calendar month (`jobsActive`: ended jobs that ran in the month). */
export const usageMonth = sqliteTable(
  'usage_month',
  {
    monthTs: integer('month_ts').notNull(),
    account: text('account').notNull(),
    user: text('user').notNull(),
    ...usageFigures(),
  },
  (t) => [primaryKey({ columns: [t.monthTs, t.account, t.user] })],
);

/** Raw facility readings (meters, cooling units, grid intensity); WITHOUT ROWID like gpu_samples. */
export const facilityReadings = sqliteTable(
  'facility_readings',
  {
    ts: integer('ts').notNull(),
    site: text('site').notNull(),
    meter: text('meter').notNull(),
    quantity: text('quantity').notNull(),
    value: real('value').notNull(),
  },
  (t) => [primaryKey({ columns: [t.site, t.meter, t.quantity, t.ts] })],
);

/** Newest reading per (site, meter, quantity): the left end of the next segment. */
export const facilityCursor = sqliteTable(
  'facility_cursor',
  {
    site: text('site').notNull(),
    meter: text('meter').notNull(),
    quantity: text('quantity').notNull(),
    ts: integer('ts').notNull(),
    value: real('value').notNull(),
  },
  (t) => [primaryKey({ columns: [t.site, t.meter, t.quantity] })],
);

/**
 * Facility quantities per 5-minute interval, site, quantity and meter:
 * - powers (`…W`): `integralWh`, the trapezoid integral (gaps over the bound not bridged);
 * - counters (`…KWh`, `waterL`): `increase`, the counter's rise spread evenly over the time
 *   between readings (a fall is a reset and adds nothing);
 * - levels (temperatures, flow, grid intensity): `valueS`, value × seconds, so the mean is
 *   `valueS / coveredS`.
 * `coveredS` is the time the interval had readings on both sides.
 */
export const facilityInterval = sqliteTable(
  'facility_interval',
  {
    intervalTs: integer('interval_ts').notNull(),
    site: text('site').notNull(),
    quantity: text('quantity').notNull(),
    meter: text('meter').notNull(),
    integralWh: real('integral_wh').notNull().default(0),
    increase: real('increase').notNull().default(0),
    valueS: real('value_s').notNull().default(0),
    coveredS: real('covered_s').notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.intervalTs, t.site, t.quantity, t.meter] })],
);

/** Batches seen by idempotency key, so a replayed spool file is recognised whole. */
export const ingestBatches = sqliteTable('ingest_batches', {
  key: text('key').primaryKey(),
  kind: text('kind').notNull(),
  /** sha256 of the batch body: the same key with a different body is a conflict, not a duplicate. */
  bodyHash: text('body_hash'),
  accepted: integer('accepted').notNull(),
  receivedTs: integer('received_ts').notNull().default(sql`(unixepoch() * 1000)`),
});

/** Every administrative change (allocations, users, tokens): who did what, when. */
export const auditLog = sqliteTable(
  'audit_log',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    ts: integer('ts').notNull(),
    actor: text('actor').notNull(),
    action: text('action').notNull(),
    target: text('target').notNull(),
    /** JSON: the values before and after. */
    details: text('details').notNull().default('{}'),
  },
  (t) => [index('audit_log_ts').on(t.ts)],
);

/** Use-of-grant alerts, raised once per allocation and threshold, delivered to a webhook. */
export const alerts = sqliteTable(
  'alerts',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    allocationId: integer('allocation_id').notNull().references(() => allocations.id),
    thresholdPct: integer('threshold_pct').notNull(),
    usedPct: real('used_pct').notNull(),
    raisedTs: integer('raised_ts').notNull(),
    deliveredTs: integer('delivered_ts'),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
  },
  (t) => [uniqueIndex('alerts_allocation_threshold').on(t.allocationId, t.thresholdPct)],
);

/** One email per alert and recipient (the project's PIs, the committee), sent once, retried until the mail server accepts it. */
export const alertMails = sqliteTable(
  'alert_mails',
  {
    alertId: integer('alert_id').notNull().references(() => alerts.id),
    userId: integer('user_id').notNull(),
    address: text('address').notNull(),
    sentTs: integer('sent_ts'),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
  },
  (t) => [primaryKey({ columns: [t.alertId, t.userId] })],
);

/** Server settings kept in the database (e.g. the pseudonymisation key). */
export const settings = sqliteTable('settings', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
});

/**
 * People who asked to be forgotten: a keyed hash of the username (never the name) and the
 * pseudonym their records carry, so a re-sent job record cannot bring the name back.
 */
export const forgottenUsers = sqliteTable('forgotten_users', {
  nameHash: text('name_hash').primaryKey(),
  pseudonym: text('pseudonym').notNull(),
  forgottenTs: integer('forgotten_ts').notNull(),
});

/**
 * The facility's energy per UTC hour, over all sites (the KPIs' whole facility), from the
 * 5-minute intervals of the hour: each family's energy with the counter-wins rule already
 * applied per interval (null where no meter of it reported), CO2 as each interval's E_DC ×
 * its own grid intensity, the sum and count of the intervals' grid intensities (a bucket's
 * mean intensity), and per family the coverage × 300 s summed over intervals. Recomputed
 * from facility_interval whenever ingest touches the hour.
 */
export const facilityEnergyHour = sqliteTable('facility_energy_hour', { hourTs: integer('hour_ts').primaryKey(), ...facilityEnergyColumns() });

/** facility_energy_hour summed per UTC day. */
export const facilityEnergyDay = sqliteTable('facility_energy_day', { dayTs: integer('day_ts').primaryKey(), ...facilityEnergyColumns() });

function facilityEnergyColumns() {
  return {
    itEnergyKWh: real('it_energy_kwh'),
    facilityEnergyKWh: real('facility_energy_kwh'),
    reusedHeatKWh: real('reused_heat_kwh'),
    coolingEnergyKWh: real('cooling_energy_kwh'),
    heatRemovedKWh: real('heat_removed_kwh'),
    waterL: real('water_l'),
    co2G: real('co2_g'),
    gridCo2GPerKWhSum: real('grid_co2_g_per_kwh_sum').notNull().default(0),
    gridIntervals: integer('grid_intervals').notNull().default(0),
    itCoveredS: real('it_covered_s').notNull().default(0),
    facilityCoveredS: real('facility_covered_s').notNull().default(0),
    reuseCoveredS: real('reuse_covered_s').notNull().default(0),
    gridCoveredS: real('grid_covered_s').notNull().default(0),
  };
}

/** facility_interval summed per UTC hour, site, quantity and meter (same columns). */
export const facilityQuantityHour = sqliteTable(
  'facility_quantity_hour',
  { hourTs: integer('hour_ts').notNull(), ...facilityQuantityColumns() },
  (t) => [primaryKey({ columns: [t.hourTs, t.site, t.quantity, t.meter] })],
);

/** facility_quantity_hour summed per UTC day. */
export const facilityQuantityDay = sqliteTable(
  'facility_quantity_day',
  { dayTs: integer('day_ts').notNull(), ...facilityQuantityColumns() },
  (t) => [primaryKey({ columns: [t.dayTs, t.site, t.quantity, t.meter] })],
);

function facilityQuantityColumns() {
  return {
    site: text('site').notNull(),
    quantity: text('quantity').notNull(),
    meter: text('meter').notNull(),
    integralWh: real('integral_wh').notNull().default(0),
    increase: real('increase').notNull().default(0),
    valueS: real('value_s').notNull().default(0),
    coveredS: real('covered_s').notNull().default(0),
  };
}

/**
 * Hours whose energy attribution must be recomputed. Triggers (migration 0009) add an hour
 * when job_hour, gpu_hour or facility_interval rows of it change, when a job record that
 * maps or infers energy into it changes, and when a GPU moves to another node; reads
 * recompute the complete ones (server/services/attribution-rollup.service.ts).
 */
export const energyDirtyHour = sqliteTable('energy_dirty_hour', {
  hourTs: integer('hour_ts').primaryKey(),
});

/**
 * Per complete hour, what attribution shares out: the IT energy shared by (the meters'
 * E_IT, never less than the GPUs' own energy), the overhead E_DC − E_IT, the reused heat
 * and the CO2 of the facility energy.
 */
export const energyHour = sqliteTable('energy_hour', {
  hourTs: integer('hour_ts').primaryKey(),
  itKWh: real('it_kwh').notNull(),
  overheadKWh: real('overhead_kwh').notNull(),
  reusedKWh: real('reused_kwh').notNull(),
  co2Kg: real('co2_kg').notNull(),
});

const attributedColumns = () => ({
  account: text('account').notNull(),
  itKWh: real('it_kwh').notNull().default(0),
  overheadKWh: real('overhead_kwh').notNull().default(0),
  reusedKWh: real('reused_kwh').notNull().default(0),
  co2Kg: real('co2_kg').notNull().default(0),
});

/**
 * Each project's share of a complete hour: its GPU energy (measured plus inferred) and the
 * same share of the hour's overhead, reused heat and CO2. The account `(unattributed)`
 * holds the hour's remainder, so the rows of any set of hours sum to the meters.
 */
export const energyProjectHour = sqliteTable('energy_project_hour', { hourTs: integer('hour_ts').notNull(), ...attributedColumns() }, (t) => [
  primaryKey({ columns: [t.hourTs, t.account] }),
]);

/** energy_project_hour summed per UTC day. */
export const energyProjectDay = sqliteTable('energy_project_day', { dayTs: integer('day_ts').notNull(), ...attributedColumns() }, (t) => [
  primaryKey({ columns: [t.dayTs, t.account] }),
]);

/** energy_project_day summed per UTC calendar month. */
export const energyProjectMonth = sqliteTable('energy_project_month', { monthTs: integer('month_ts').notNull(), ...attributedColumns() }, (t) => [
  primaryKey({ columns: [t.monthTs, t.account] }),
]);

/** Energy inferred per complete hour and job (db/queries/inferred-energy.ts), as of the hour's last recomputation. */
export const energyJobInferred = sqliteTable(
  'energy_job_inferred',
  {
    hourTs: integer('hour_ts').notNull(),
    cluster: text('cluster').notNull(),
    jobId: text('job_id').notNull(),
    energyKWh: real('energy_kwh').notNull(),
  },
  (t) => [primaryKey({ columns: [t.hourTs, t.cluster, t.jobId] }), index('energy_job_inferred_job').on(t.cluster, t.jobId)],
);

/**
 * Per job whose record is known, its GPU energy (measured plus inferred) and idle
 * GPU-seconds over the complete hours, and the span of those hours (`hours` of them hold
 * energy; `gapped` when some hour between the first and the last holds none). A window
 * reads a job that lies inside it from here; only jobs crossing its edges are summed from
 * job_hour.
 */
export const energyJob = sqliteTable(
  'energy_job',
  {
    cluster: text('cluster').notNull(),
    jobId: text('job_id').notNull(),
    account: text('account').notNull(),
    firstHourTs: integer('first_hour_ts').notNull(),
    lastHourTs: integer('last_hour_ts').notNull(),
    hours: integer('hours').notNull(),
    energyKWh: real('energy_kwh').notNull(),
    idleGpuS: real('idle_gpu_s').notNull(),
    gapped: integer('gapped', { mode: 'boolean' }).notNull(),
    // The rest of a job's figures over the same hours (migration 0020): a page of energy by
    // job reads a job lying inside its window from this row rather than from its hours.
    inferredKWh: real('inferred_kwh').notNull().default(0),
    gpuS: real('gpu_s').notNull().default(0),
    utilPctS: real('util_pct_s').notNull().default(0),
    overheadKWh: real('overhead_kwh').notNull().default(0),
    reusedKWh: real('reused_kwh').notNull().default(0),
    co2Kg: real('co2_kg').notNull().default(0),
  },
  (t) => [
    primaryKey({ columns: [t.cluster, t.jobId] }),
    index('energy_job_energy').on(t.energyKWh, t.cluster, t.jobId, t.firstHourTs, t.lastHourTs),
    index('energy_job_first').on(t.firstHourTs),
    index('energy_job_account').on(t.account, t.firstHourTs),
    index('energy_job_gapped').on(t.firstHourTs).where(sql`${t.gapped} = 1`),
  ],
);

/**
 * How many energy_job rows have each first hour, kept by triggers on energy_job (migration
 * 0015): energy by job counts the jobs starting in a window from these few rows per hour
 * rather than from a month's 170,000 index entries.
 */
export const energyJobFirstHour = sqliteTable('energy_job_first_hour', {
  hourTs: integer('hour_ts').primaryKey(),
  jobs: integer('jobs').notNull(),
});

/**
 * Per UTC day of job starts, how many times a job record starting in it (or leaving it)
 * changed what a wait statistic reads: triggers on jobs (migration 0011) count inserts,
 * deletes and updates of start, submit, eligible, account, partition, GPUs or rejection,
 * whichever connection writes. The wait rollup's stamps are sums of these counts.
 */
/**
 * The one freshness mechanism (db/stamps.ts): per rollup family and time bucket, a count
 * that only grows, bumped in the same transaction as any change to what the family is
 * built from (by triggers, whichever connection or process writes). A kept answer over
 * [from, to) is current while the sum of its family's counts over that range is unchanged.
 */
export const changeStamp = sqliteTable(
  'change_stamp',
  {
    family: text('family').notNull(),
    bucketTs: integer('bucket_ts').notNull(),
    n: integer('n').notNull(),
  },
  (t) => [primaryKey({ columns: [t.family, t.bucketTs] })],
);

/**
 * The queue-wait rollup (server/services/wait-rollup.service.ts): per grouping
 * ('partition', 'project', 'gpus', 'hourOfWeek'), span ('day' or 'month', UTC) and span
 * start, each key's ascending waits (ms) and eligible-waits of the jobs that started in
 * it, valid while `stamp` equals the sum of the span's change_stamp counts (family 'waits'). Rows hold
 * blobs of up to megabytes, so the table keeps its rowid (WITHOUT ROWID suits small rows).
 */
export const waitRuns = sqliteTable(
  'wait_runs',
  {
    grouping: text('grouping').notNull(),
    span: text('span').notNull(),
    startTs: integer('start_ts').notNull(),
    stamp: integer('stamp').notNull(),
    /** JSON array of the keys, in the order of the counts. */
    keys: text('keys').notNull(),
    /** Uint32 per key: its number of waits. */
    waitCounts: blob('wait_counts').notNull(),
    /** Float64 waits in ms, ascending within each key, keys one after another. */
    waits: blob('waits').notNull(),
    eligibleCounts: blob('eligible_counts').notNull(),
    eligible: blob('eligible').notNull(),
  },
  (t) => [primaryKey({ columns: [t.grouping, t.span, t.startTs] })],
);

/**
 * Fair share per cluster from `sshare -a -l -P` (server/services/fairshare.service.ts): one
 * row per account (`user` '') and per user within an account, as Slurm last reported it at
 * `taken_ts`; each batch replaces its cluster's rows. Shares and usage are fractions of the
 * row's level in Slurm's tree (its sibling accounts, or the account's users).
 */
export const fairshare = sqliteTable(
  'fairshare',
  {
    cluster: text('cluster').notNull(),
    account: text('account').notNull(),
    user: text('user').notNull(),
    /** The account one level up; null for root and on user rows. */
    parent: text('parent'),
    rawShares: integer('raw_shares'),
    /** RawShares `parent`: the association uses its parent account's share. */
    sharesFromParent: integer('shares_from_parent', { mode: 'boolean' }).notNull().default(false),
    normShares: real('norm_shares'),
    rawUsage: real('raw_usage').notNull(),
    effectvUsage: real('effectv_usage'),
    fairShare: real('fair_share'),
    levelFs: real('level_fs'),
    grpTresMins: text('grp_tres_mins'),
    grpTresRaw: text('grp_tres_raw'),
    takenTs: integer('taken_ts').notNull(),
  },
  (t) => [primaryKey({ columns: [t.cluster, t.account, t.user] })],
);

/**
 * The grid's CO2 intensity forecast (Energinet CO2EmisProg) per price area and 5 minutes,
 * kept apart from the measured intensity (facility readings): start-time advice reads it.
 * A newer forecast for the same 5 minutes replaces the older one.
 */
export const co2Forecast = sqliteTable(
  'co2_forecast',
  {
    priceArea: text('price_area').notNull(),
    ts: integer('ts').notNull(),
    gPerKWh: real('g_per_kwh').notNull(),
    receivedTs: integer('received_ts').notNull(),
  },
  (t) => [primaryKey({ columns: [t.priceArea, t.ts] })],
);

/**
 * What this site last pushed of each UTC day to the federation hub (server/services/hub-push.service.ts):
 * the signature of the change stamps the day's content was extracted at, and the hash of
 * that content. A day whose signature is unchanged is not extracted again; one whose hash
 * the hub already holds is not sent again.
 */
export const hubPushDay = sqliteTable('hub_push_day', {
  dayTs: integer('day_ts').primaryKey(),
  sig: text('sig').notNull(),
  hash: text('hash').notNull(),
});
