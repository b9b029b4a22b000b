/**
 * Server configuration, parsed once from the environment with zod. A bad value stops
 * start-up with a message naming the variable. Nothing else reads process.env.
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { roles, type Role } from './services/auth.service.ts';

const flag = z.enum(['0', '1', 'true', 'false', '']).transform((v) => v === '1' || v === 'true');

const envSchema = z.object({
  HEATLEDGER_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HEATLEDGER_HOST: z.string().default('0.0.0.0'),
  HEATLEDGER_DB: z.string().min(1).default('./data/heatledger.db'),
  HEATLEDGER_DEMO: flag.default(false),
  /** Days of history the demo facility sends before it goes live. */
  HEATLEDGER_DEMO_DAYS: z.coerce.number().positive().max(365).default(30),
  /** Largest accepted request body. */
  HEATLEDGER_MAX_BODY_BYTES: z.coerce.number().int().positive().default(16 * 1024 * 1024),
  /** A GPU below this utilisation counts as idle (DESIGN.md: default 5 %). */
  HEATLEDGER_IDLE_UTIL_PCT: z.coerce.number().min(0).max(100).default(5),
  /** Power samples further apart than this are not bridged when integrating energy. */
  HEATLEDGER_MAX_GAP_S: z.coerce.number().positive().default(300),
  HEATLEDGER_RETENTION_DAYS: z.coerce.number().positive().default(14),
  /** Most GPUs one job record may hold; a larger one is refused as impossible (a machine bigger than this raises it). */
  HEATLEDGER_MAX_GPUS_PER_JOB: z.coerce.number().int().positive().max(100_000).default(10_000),
  /** Earliest date (YYYY-MM-DD, UTC) a job record may carry: a 1970 time is an unset clock, not history. */
  HEATLEDGER_EARLIEST_DATE: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date YYYY-MM-DD')
    .refine((d) => Number.isFinite(Date.parse(d)) && new Date(Date.parse(d)).toISOString().startsWith(d), 'is not a date on the calendar')
    .default('2000-01-01'),
  HEATLEDGER_WEB_DIR: z.string().default(resolve(dirname(fileURLToPath(import.meta.url)), '../web/dist')),
  HEATLEDGER_SESSION_HOURS: z.coerce.number().positive().default(12),
  HEATLEDGER_DEBUG: flag.default(false),
  /** CO2 intensity of the heat that reused heat displaces (g/kWh), for avoided emissions. */
  HEATLEDGER_DISPLACED_HEAT_G_PER_KWH: z.coerce.number().nonnegative().default(100),
  /** Renewable share of the site's electricity (0-1) for REF, when no meter says it. */
  HEATLEDGER_RENEWABLE_SHARE: z.coerce.number().min(0).max(1).optional(),
  /** Where grant-use alerts are POSTed as JSON (none: alerts are only stored and shown). */
  HEATLEDGER_ALERT_WEBHOOK: z.url().optional(),
  HEATLEDGER_ALERT_CHECK_S: z.coerce.number().positive().default(60),
  /** The period of grants made from Slurm's GrpTRESMins limits: `YYYY-MM-DD/YYYY-MM-DD` (start inclusive, end exclusive). */
  HEATLEDGER_GRANT_PERIOD: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}\/\d{4}-\d{2}-\d{2}$/, 'must be START/END as YYYY-MM-DD/YYYY-MM-DD')
    .refine((v) => v.split('/').every((d) => new Date(Date.parse(`${d}T00:00:00Z`) || 0).toISOString().startsWith(d)), 'is not two dates on the calendar')
    .refine((v) => {
      const [a, b] = v.split('/');
      return a! < b!;
    }, 'START must be before END')
    .optional(),
  /** Where notices are sent from: smtp://user:password@host:port (STARTTLS when offered) or smtps:// (TLS). */
  HEATLEDGER_SMTP_URL: z.url({ protocol: /^smtps?$/ }).optional(),
  HEATLEDGER_MAIL_FROM: z.email().optional(),
  /** A PEM file of the CA that signed the SMTP server's certificate, when it is not a public one. */
  HEATLEDGER_SMTP_CA_FILE: z.string().min(1).optional(),
  /** Whether the heat pump that lifts reused heat to district-heating temperature is inside the site boundary (its electricity is then in E_DC). */
  HEATLEDGER_HEAT_PUMP_ON_SITE: flag.default(true),
  /** Set point of the coolant supplied to the IT equipment (°C), for the EED report. */
  HEATLEDGER_SUPPLY_SETPOINT_C: z.coerce.number().min(0).max(100).optional(),
  /** Set point of the IT equipment's inlet air (°C), for the EED report; unset where nothing is air-cooled. */
  HEATLEDGER_INLET_AIR_SETPOINT_C: z.coerce.number().min(0).max(60).optional(),
  /** How long one answer to a read serves identical requests (0: never reused). */
  HEATLEDGER_READ_CACHE_MS: z.coerce.number().int().min(0).max(60_000).default(1000),
  /** The address people reach the server at; https makes the session cookie `Secure`. */
  HEATLEDGER_PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),
  /** A reverse proxy in front sets X-Forwarded-For/-Proto; without it those headers are the client's word and ignored. */
  HEATLEDGER_TRUST_PROXY: flag.default(false),
  // Federation (issue 18): where this site pushes its ledger, as which site, how often.
  HEATLEDGER_HUB_URL: z.url({ protocol: /^https?$/ }).optional(),
  HEATLEDGER_HUB_TOKEN: z.string().min(1).optional(),
  HEATLEDGER_SITE: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'a short lower-case name (a-z, 0-9, -), e.g. bitten').optional(),
  HEATLEDGER_HUB_PUSH_S: z.coerce.number().positive().default(60),
  HEATLEDGER_HUB_REAL_NAMES: flag.default(false),
  /** Single sign-on by OpenID Connect: on when the issuer and the client id are both set. */
  HEATLEDGER_OIDC_ISSUER: z.url({ protocol: /^https?$/ }).optional(),
  HEATLEDGER_OIDC_CLIENT_ID: z.string().min(1).optional(),
  /** Unset: a public client (PKCE alone); set: a confidential one, authenticated as the provider's discovery offers. */
  HEATLEDGER_OIDC_CLIENT_SECRET: z.string().min(1).optional(),
  /** The provider's name on the sign-in button (default: the issuer's host). */
  HEATLEDGER_OIDC_NAME: z.string().trim().min(1).max(80).optional(),
  HEATLEDGER_OIDC_SCOPES: z
    .string()
    .default('openid profile email')
    .transform((v) => v.split(/\s+/).filter((s) => s !== ''))
    .refine((list) => list.includes('openid'), 'must include openid'),
  /** The claim that holds the person's Slurm user name. */
  HEATLEDGER_OIDC_USERNAME_CLAIM: z.string().min(1).default('preferred_username'),
  /** The claim whose values (groups) HEATLEDGER_OIDC_ROLE_MAP turns into roles. */
  HEATLEDGER_OIDC_ROLE_CLAIM: z.string().min(1).default('groups'),
  /** `group=role,…`: a person in none of these groups is a researcher. */
  HEATLEDGER_OIDC_ROLE_MAP: z
    .string()
    .default('')
    .transform((v, ctx) => {
      const map: Record<string, Role> = {};
      for (const entry of v.split(',').map((x) => x.trim()).filter((x) => x !== '')) {
        const at = entry.lastIndexOf('=');
        const group = entry.slice(0, at).trim();
        const role = entry.slice(at + 1).trim();
        if (at <= 0 || group === '' || !roles.includes(role as Role)) {
          ctx.addIssue({ code: 'custom', message: `'${entry}' is not GROUP=ROLE with ROLE one of ${roles.join(', ')}` });
          return z.NEVER;
        }
        map[group] = role as Role;
      }
      return map;
    }),
  // Addresses that may scrape /metrics without a token (comma-separated IPs; IPv4 CIDRs too).
  HEATLEDGER_METRICS_ALLOW: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((x) => x.trim()).filter((x) => x !== ''))
    .refine((list) => list.every((x) => /^[0-9a-fA-F:.]+(\/\d{1,2})?$/.test(x)), 'a comma-separated list of IP addresses or IPv4 CIDRs'),
});

export interface Config {
  port: number;
  host: string;
  dbPath: string;
  demo: boolean;
  demoDays: number;
  maxBodyBytes: number;
  idleUtilPct: number;
  maxGapS: number;
  retentionDays: number;
  maxGpusPerJob: number;
  /** HEATLEDGER_EARLIEST_DATE as ms since the epoch. */
  earliestAcceptedTs: number;
  webDir: string;
  sessionHours: number;
  debug: boolean;
  displacedHeatGPerKWh: number;
  renewableShare: number | null;
  alertWebhook: string | null;
  alertCheckS: number;
  /** HEATLEDGER_GRANT_PERIOD as ISO times, null when unset. */
  grantPeriod: { start: string; end: string } | null;
  smtpUrl: string | null;
  mailFrom: string | null;
  smtpCaFile: string | null;
  heatPumpOnSite: boolean;
  supplySetpointC: number | null;
  inletAirSetpointC: number | null;
  readCacheMs: number;
  publicUrl: string | null;
  trustProxy: boolean;
  /** HEATLEDGER_METRICS_ALLOW: addresses that may scrape /metrics without a token. */
  metricsAllow: string[];
  /** Single sign-on by OpenID Connect; null when it is not configured. */
  oidc: OidcConfig | null;
  /** The federation hub this site pushes to; null when it pushes nowhere. */
  hub: HubPushConfig | null;
}

/** HEATLEDGER_HUB_URL, _HUB_TOKEN, HEATLEDGER_SITE, _HUB_PUSH_S, _HUB_REAL_NAMES. */
export interface HubPushConfig {
  url: string;
  token: string;
  site: string;
  pushS: number;
  /** Real user names rather than the committee's pseudonyms (the site opts in). */
  realNames: boolean;
}

function hubConfigOf(e: z.infer<typeof envSchema>): HubPushConfig | null {
  const { HEATLEDGER_HUB_URL: url, HEATLEDGER_HUB_TOKEN: token, HEATLEDGER_SITE: site } = e;
  if (!url && !token) return null;
  if (!url) throw new ConfigError('invalid configuration: HEATLEDGER_HUB_URL: required when HEATLEDGER_HUB_TOKEN is set');
  if (!token) throw new ConfigError('invalid configuration: HEATLEDGER_HUB_TOKEN: required when HEATLEDGER_HUB_URL is set');
  if (!site) throw new ConfigError('invalid configuration: HEATLEDGER_SITE: required when HEATLEDGER_HUB_URL is set (the name the hub knows this site by)');
  return { url, token, site, pushS: e.HEATLEDGER_HUB_PUSH_S, realNames: e.HEATLEDGER_HUB_REAL_NAMES };
}

/** The OpenID Connect client: HEATLEDGER_OIDC_* and the redirect URIs under HEATLEDGER_PUBLIC_URL. */
export interface OidcConfig {
  issuer: string;
  clientId: string;
  clientSecret: string | null;
  /** The provider's display name. */
  name: string;
  scopes: string[];
  /** `$HEATLEDGER_PUBLIC_URL/api/v1/auth/oidc/callback`, as registered at the provider. */
  redirectUri: string;
  /** Where the provider sends the browser after its logout: `$HEATLEDGER_PUBLIC_URL/`. */
  postLogoutRedirectUri: string;
  usernameClaim: string;
  roleClaim: string;
  /** Group name to role. */
  roleMap: Record<string, Role>;
}

const grantPeriodOf = (v: string) => {
  const [start, end] = v.split('/').map((d) => new Date(`${d}T00:00:00Z`).toISOString());
  return { start: start!, end: end! };
};

/** Thrown when configuration is invalid; its message names the variable. */
export class ConfigError extends Error {}

/** The OpenID Connect client, null unless both the issuer and the client id are set. */
function oidcConfigOf(e: z.infer<typeof envSchema>): OidcConfig | null {
  const { HEATLEDGER_OIDC_ISSUER: issuer, HEATLEDGER_OIDC_CLIENT_ID: clientId } = e;
  if (!issuer && !clientId) return null;
  if (!clientId) throw new ConfigError('invalid configuration: HEATLEDGER_OIDC_CLIENT_ID: required when HEATLEDGER_OIDC_ISSUER is set');
  if (!issuer) throw new ConfigError('invalid configuration: HEATLEDGER_OIDC_ISSUER: required when HEATLEDGER_OIDC_CLIENT_ID is set');
  if (!e.HEATLEDGER_PUBLIC_URL) throw new ConfigError('invalid configuration: HEATLEDGER_PUBLIC_URL: required when HEATLEDGER_OIDC_ISSUER is set (the redirect URI is built from it)');
  const { protocol, hostname } = new URL(issuer);
  if (protocol === 'http:' && !['localhost', '127.0.0.1', '[::1]'].includes(hostname)) {
    throw new ConfigError('invalid configuration: HEATLEDGER_OIDC_ISSUER: must be https (plain http only on localhost)');
  }
  const base = e.HEATLEDGER_PUBLIC_URL.replace(/\/+$/, '');
  return {
    issuer,
    clientId,
    clientSecret: e.HEATLEDGER_OIDC_CLIENT_SECRET ?? null,
    name: e.HEATLEDGER_OIDC_NAME ?? new URL(issuer).host,
    scopes: e.HEATLEDGER_OIDC_SCOPES,
    redirectUri: `${base}/api/v1/auth/oidc/callback`,
    postLogoutRedirectUri: `${base}/`,
    usernameClaim: e.HEATLEDGER_OIDC_USERNAME_CLAIM,
    roleClaim: e.HEATLEDGER_OIDC_ROLE_CLAIM,
    roleMap: e.HEATLEDGER_OIDC_ROLE_MAP,
  };
}

/** Parses the configuration from `env` (process.env by default), applying `overrides` last. */
export function loadConfig(env: Record<string, string | undefined> = process.env, overrides: Partial<Config> = {}): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`invalid configuration: ${issue.path.join('.')}: ${issue.message}`);
  }
  const e = parsed.data;
  if (e.HEATLEDGER_SMTP_URL && !e.HEATLEDGER_MAIL_FROM) throw new ConfigError('invalid configuration: HEATLEDGER_MAIL_FROM: required when HEATLEDGER_SMTP_URL is set');
  const oidc = oidcConfigOf(e);
  return {
    port: e.HEATLEDGER_PORT,
    host: e.HEATLEDGER_HOST,
    dbPath: e.HEATLEDGER_DB,
    demo: e.HEATLEDGER_DEMO,
    demoDays: e.HEATLEDGER_DEMO_DAYS,
    maxBodyBytes: e.HEATLEDGER_MAX_BODY_BYTES,
    idleUtilPct: e.HEATLEDGER_IDLE_UTIL_PCT,
    maxGapS: e.HEATLEDGER_MAX_GAP_S,
    retentionDays: e.HEATLEDGER_RETENTION_DAYS,
    maxGpusPerJob: e.HEATLEDGER_MAX_GPUS_PER_JOB,
    earliestAcceptedTs: Date.parse(e.HEATLEDGER_EARLIEST_DATE),
    webDir: resolve(e.HEATLEDGER_WEB_DIR),
    sessionHours: e.HEATLEDGER_SESSION_HOURS,
    debug: e.HEATLEDGER_DEBUG,
    displacedHeatGPerKWh: e.HEATLEDGER_DISPLACED_HEAT_G_PER_KWH,
    renewableShare: e.HEATLEDGER_RENEWABLE_SHARE ?? null,
    alertWebhook: e.HEATLEDGER_ALERT_WEBHOOK ?? null,
    alertCheckS: e.HEATLEDGER_ALERT_CHECK_S,
    grantPeriod: e.HEATLEDGER_GRANT_PERIOD ? grantPeriodOf(e.HEATLEDGER_GRANT_PERIOD) : null,
    smtpUrl: e.HEATLEDGER_SMTP_URL ?? null,
    mailFrom: e.HEATLEDGER_MAIL_FROM ?? null,
    smtpCaFile: e.HEATLEDGER_SMTP_CA_FILE ?? null,
    heatPumpOnSite: e.HEATLEDGER_HEAT_PUMP_ON_SITE,
    supplySetpointC: e.HEATLEDGER_SUPPLY_SETPOINT_C ?? null,
    inletAirSetpointC: e.HEATLEDGER_INLET_AIR_SETPOINT_C ?? null,
    readCacheMs: e.HEATLEDGER_READ_CACHE_MS,
    publicUrl: e.HEATLEDGER_PUBLIC_URL ?? null,
    trustProxy: e.HEATLEDGER_TRUST_PROXY,
    metricsAllow: e.HEATLEDGER_METRICS_ALLOW,
    oidc,
    hub: hubConfigOf(e),
    ...overrides,
  };
}

/**
 * Defaults for tests and embedding: the environment is not consulted, and reads are not
 * reused (tests write and read at once; test/integration/read-cache.test.ts covers reuse).
 */
export function testConfig(overrides: Partial<Config> = {}): Config {
  return loadConfig({}, { dbPath: ':memory:', readCacheMs: 0, ...overrides });
}
