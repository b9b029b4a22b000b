/**
 * `heatledger collect facility` (CONTRACTS.md §1, §2.3): reads cooling units, PDUs and
 * heat meters over Redfish, BMS exports (`--from-file`) and grid carbon intensity
 * (`--co2-file`, `--co2-api`); prints one facility batch (`--stdout`) or sends batches to
 * the server every `--interval` seconds, spooling while it is away, until SIGTERM/SIGINT.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { httpUrlFlag, positiveFlag, tokenFlag } from '../shared/cli-flags.ts';
import { UsageError } from '../shared/usage-error.ts';
import { createSender, sendOnceRetry } from '../shared/sender.ts';
import { facilityBatchSchema, type Co2ForecastBatch, type FacilityBatch, type FacilityReading } from '../shared/wire.ts';
import { ENERGI_DATA_SERVICE_URL, fetchCo2Emis, fetchCo2EmisProg, parseCo2Emis, parseCo2EmisProg } from './co2.ts';
import { describeDisagreement, findHeatDisagreements } from './heat-check.ts';
import { InputError, parseFacilityExport } from './import-file.ts';
import { runFacilityLoop } from './loop.ts';
import { ConfigError, defaultMapping, loadConfig, readMapped, type FacilityConfig, type MeterMap } from './mapping.ts';
import { discover, RedfishClient, RedfishError, type RedfishAuth } from './redfish.ts';

const help = `usage: heatledger collect facility --redfish URL [--user U --password-file F [--session]]
                                   [--config FILE] [--site S] [--ca FILE | --insecure] --once --stdout
       heatledger collect facility --from-file PATH [--site S] --stdout
       heatledger collect facility --co2-file PATH | --co2-api [--start ISO --end ISO] [--price-area DK1] --stdout
       heatledger collect facility --co2-forecast-file PATH | --co2-forecast-api [--price-area DK1] (--stdout | --server URL --token T)
       heatledger collect facility <sources> --server URL (--token T | --token-file F) [--interval 60]
                                   [--spool-dir DIR] [--once]
  --redfish URL         Redfish service of a CDU, PDU, power shelf or DCIM gateway
  --user U, --password-file F  credentials (HTTP basic auth unless --session)
  --session             log in through SessionService (X-Auth-Token), log out on exit
  --ca FILE             PEM certificate(s) to trust for https (default: the system store)
  --insecure            skip certificate checks (never by default)
  --timeout S           Redfish request timeout in seconds (default: 10)
  --config FILE         JSON mapping of Redfish resources to meters (collectors/facility/README.md);
                        without it: CDU primary loops, CDU power as cooling, rack PDUs/power shelves as IT
  --site S              site name in the batch (default: the config's, else 'default')
  --from-file PATH      BMS / heat-meter export: CSV timestamp,meter,quantity,value (',' or ';' with
                        decimal commas) or JSON (array of readings or a facility batch)
  --co2-file PATH       Energi Data Service CO2Emis export (JSON or CSV) -> gridCo2GPerKWh
  --co2-api             fetch CO2Emis from ${ENERGI_DATA_SERVICE_URL} (--start/--end, default the last 24 h;
                        while polling, the last 3 h every 15 min)
  --co2-api-url URL     another address for that API (a mirror or proxy)
  --co2-forecast-file PATH  Energi Data Service CO2EmisProg export (JSON or CSV): the grid's CO2 forecast,
                        kept apart from measured intensity, for start-time advice; sent once (run from cron)
  --co2-forecast-api    fetch CO2EmisProg (from now, the next 48 h) once
  --price-area A        Energinet price area (default: DK1, where Sønderborg is)
  --spool-dir DIR       batches wait here while the server is away
  --max-spool-mb N      oldest spooled batches are dropped beyond N MiB (default: 512)
  --max-backoff S       longest pause between delivery attempts (default: 600)
`;

const options = {
  redfish: { type: 'string' },
  user: { type: 'string' },
  'password-file': { type: 'string' },
  session: { type: 'boolean' },
  ca: { type: 'string' },
  insecure: { type: 'boolean' },
  timeout: { type: 'string' },
  config: { type: 'string' },
  site: { type: 'string' },
  'from-file': { type: 'string' },
  'co2-file': { type: 'string' },
  'co2-api': { type: 'boolean' },
  'co2-api-url': { type: 'string' },
  'co2-forecast-file': { type: 'string' },
  'co2-forecast-api': { type: 'boolean' },
  'price-area': { type: 'string' },
  start: { type: 'string' },
  end: { type: 'string' },
  once: { type: 'boolean' },
  stdout: { type: 'boolean' },
  server: { type: 'string' },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  interval: { type: 'string' },
  'spool-dir': { type: 'string' },
  'max-spool-mb': { type: 'string' },
  'max-backoff': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof options }>>['values'];

/** Largest batch sent at once; the wire allows 100 000 readings. */
const MAX_READINGS_PER_BATCH = 50_000;
const CO2_REFRESH_MS = 15 * 60_000;

function readSmallFile(flag: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new InputError(`cannot read --${flag} ${path}: ${(error as Error).message}`);
  }
}

function redfishAuth(values: Values): RedfishAuth {
  if (!values.user && !values['password-file']) {
    if (values.session) throw new UsageError('collect facility: --session needs --user and --password-file');
    return { kind: 'none' };
  }
  if (!values.user || !values['password-file']) throw new UsageError('collect facility: give --user and --password-file together');
  // Only the line ending goes: a password may well end in a space.
  const password = readSmallFile('password-file', values['password-file']).replace(/\r?\n$/, '');
  return { kind: values.session ? 'session' : 'basic', user: values.user, password };
}

function parseTime(flag: string, raw: string): Date {
  const ms = Date.parse(raw);
  if (!Number.isFinite(ms) || !/(Z|[+-]\d{2}:?\d{2})$|^\d{4}-\d{2}-\d{2}$/.test(raw)) {
    throw new UsageError(`collect facility: --${flag} '${raw}' is not an ISO time with Z or an offset (or a date)`);
  }
  return new Date(ms);
}

function chunk(site: string, readings: FacilityReading[]): FacilityBatch[] {
  const batches: FacilityBatch[] = [];
  for (let i = 0; i < readings.length; i += MAX_READINGS_PER_BATCH) {
    batches.push(checked({ schema: 1, site, readings: readings.slice(i, i + MAX_READINGS_PER_BATCH) }));
  }
  return batches;
}

function checked(batch: FacilityBatch): FacilityBatch {
  // The server refuses a whole batch for one bad field; catching it here names the field.
  const result = facilityBatchSchema.safeParse(batch);
  if (result.success) return batch;
  const issue = result.error.issues[0];
  throw new InputError(`built an invalid batch at ${issue?.path.join('.') ?? '?'}: ${issue?.message ?? 'unknown'}`);
}

/** Warns about suspect heat when a meter turns suspect and when it agrees again, not every round. */
function createHeatWarner(log: (line: string) => void) {
  const suspect = new Set<string>();
  return (readings: FacilityReading[]) => {
    const byMeter = new Map<string, ReturnType<typeof findHeatDisagreements>>();
    for (const d of findHeatDisagreements(readings)) byMeter.set(d.meter, [...(byMeter.get(d.meter) ?? []), d]);
    for (const [meter, found] of byMeter) {
      if (suspect.has(meter)) continue;
      // A long export can disagree at every instant; one line per meter says enough.
      log(describeDisagreement(found[0]) + (found.length > 1 ? `; and at ${found.length - 1} more instant(s)` : ''));
    }
    const compared = new Set(readings.filter((r) => r.quantity === 'flowLpm').map((r) => r.meter));
    for (const meter of suspect) {
      if (!byMeter.has(meter) && compared.has(meter)) log(`meter ${meter}: reported heat agrees with flow × ΔT again`);
    }
    suspect.clear();
    for (const meter of byMeter.keys()) suspect.add(meter);
  };
}

interface Sources {
  /** Readings that are read once (files, a fixed CO2 window). */
  fixed: FacilityReading[];
  fixedSite: string | null;
  redfish: { client: RedfishClient; config: FacilityConfig | null; maps: MeterMap[] | null } | null;
  co2Api: { baseUrl: string; priceArea: string; start: Date | null; end: Date | null; lastMs: number } | null;
}

async function openSources(values: Values): Promise<Sources> {
  const priceArea = (values['price-area'] ?? 'DK1').toUpperCase();
  if (!/^[A-Z0-9]{2,8}$/.test(priceArea)) throw new UsageError(`collect facility: --price-area '${values['price-area']}' is not a price area`);
  const sources: Sources = { fixed: [], fixedSite: null, redfish: null, co2Api: null };
  if (values['from-file']) {
    const path = values['from-file'];
    const parsed = parseFacilityExport(readSmallFile('from-file', path), path);
    sources.fixed.push(...parsed.readings);
    sources.fixedSite = parsed.site;
  }
  if (values['co2-file']) {
    const path = values['co2-file'];
    sources.fixed.push(...parseCo2Emis(readSmallFile('co2-file', path), path, priceArea));
  }
  if (values['co2-api']) {
    sources.co2Api = {
      baseUrl: values['co2-api-url'] ?? ENERGI_DATA_SERVICE_URL,
      priceArea,
      start: values.start ? parseTime('start', values.start) : null,
      end: values.end ? parseTime('end', values.end) : null,
      lastMs: 0,
    };
  } else if (values.start || values.end || values['co2-api-url']) {
    throw new UsageError('collect facility: --start, --end and --co2-api-url go with --co2-api');
  }
  if (values.redfish) {
    const config = values.config ? loadConfig(values.config) : null;
    const ca = values.ca ? readSmallFile('ca', values.ca) : undefined;
    if (ca !== undefined && !ca.includes('-----BEGIN CERTIFICATE-----')) throw new InputError(`--ca ${values.ca} holds no PEM certificate`);
    const client = new RedfishClient({
      baseUrl: values.redfish,
      auth: redfishAuth(values),
      ca,
      insecure: values.insecure ?? false,
      timeoutMs: positiveFlag('collect facility', 'timeout', values.timeout, 10) * 1000,
    });
    sources.redfish = { client, config, maps: config?.meters ?? null };
  } else if (values.config || values.user || values.session || values.ca || values.insecure) {
    throw new UsageError('collect facility: --config, --user, --session, --ca and --insecure go with --redfish');
  }
  return sources;
}

async function readRedfish(redfish: NonNullable<Sources['redfish']>, log: (line: string) => void): Promise<FacilityReading[]> {
  // Discovery runs until it once succeeds; a BMS that is down at start is retried next round.
  if (!redfish.maps) {
    redfish.maps = defaultMapping(await discover(redfish.client));
    if (redfish.maps.length === 0) {
      log(`found no CDUs, rack PDUs or power shelves at ${redfish.client.origin}/redfish/v1/; map its resources with --config FILE`);
    }
  }
  return readMapped(redfish.client, redfish.maps, new Date().toISOString());
}

async function readCo2Api(co2: NonNullable<Sources['co2Api']>, polling: boolean): Promise<FacilityReading[]> {
  const nowMs = Date.now();
  if (polling && nowMs - co2.lastMs < CO2_REFRESH_MS) return [];
  const end = co2.end ?? new Date(nowMs);
  const start = co2.start ?? new Date(end.getTime() - (polling ? 3 : 24) * 3600_000);
  const readings = await fetchCo2Emis({ start, end, priceArea: co2.priceArea, baseUrl: co2.baseUrl });
  co2.lastMs = nowMs;
  return readings;
}

function isInputError(error: unknown): error is Error {
  return error instanceof InputError || error instanceof RedfishError || error instanceof ConfigError;
}

/** Runs `heatledger collect facility …` and returns the exit code. */
export async function facilityCli(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: false });
  } catch (error) {
    throw new UsageError(`collect facility: ${(error as Error).message}\n${help}`);
  }
  const values = parsed.values;
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  if (values['co2-forecast-file'] || values['co2-forecast-api']) return forecastOnce(values);
  if (!values.redfish && !values['from-file'] && !values['co2-file'] && !values['co2-api']) {
    throw new UsageError(`collect facility: give --redfish URL, --from-file PATH, --co2-file PATH or --co2-api\n${help}`);
  }
  if (values.stdout && values.server) throw new UsageError('collect facility: --stdout prints the batch; leave out --server');
  if (!values.stdout && !values.server) throw new UsageError(`collect facility: give --stdout, or --server URL --token T\n${help}`);
  if (values.insecure && values.ca) throw new UsageError('collect facility: give --ca or --insecure, not both');

  const log = (line: string) => process.stderr.write(`heatledger collect facility: ${line}\n`);
  let sources: Sources | null = null;
  try {
    sources = await openSources(values);
    const site = values.site ?? sources.redfish?.config?.site ?? sources.fixedSite ?? 'default';
    const warnHeat = createHeatWarner(log);

    if (values.stdout) {
      const readings = [...sources.fixed];
      if (sources.co2Api) readings.push(...(await readCo2Api(sources.co2Api, false)));
      if (sources.redfish) readings.push(...(await readRedfish(sources.redfish, log)));
      warnHeat(readings);
      const batches = readings.length > 0 ? chunk(site, readings) : [checked({ schema: 1, site, readings: [] })];
      for (const batch of batches) process.stdout.write(`${JSON.stringify(batch)}\n`);
      return 0;
    }
    return await sendToServer(values, sources, site, warnHeat, log);
  } catch (error) {
    if (!isInputError(error)) throw error;
    log(error.message);
    return 1;
  } finally {
    const problem = await sources?.redfish?.client.close();
    if (problem) log(`could not end the Redfish session: ${problem}`);
  }
}

/** The CO2 forecast of one price area, printed or sent once (`--co2-forecast-file`, `--co2-forecast-api`). */
async function forecastOnce(values: Values): Promise<number> {
  if (values.stdout === Boolean(values.server)) throw new UsageError('collect facility: a CO2 forecast goes to --stdout or to --server URL, one of them');
  const priceArea = (values['price-area'] ?? 'DK1').toUpperCase();
  const log = (line: string) => process.stderr.write(`heatledger collect facility: ${line}\n`);
  let batch: Co2ForecastBatch;
  try {
    const forecast = values['co2-forecast-file']
      ? parseCo2EmisProg(readSmallFile('co2-forecast-file', values['co2-forecast-file']), values['co2-forecast-file'], priceArea)
      : await fetchCo2EmisProg({ start: new Date(), end: new Date(Date.now() + 48 * 3600_000), priceArea, baseUrl: values['co2-api-url'] ?? ENERGI_DATA_SERVICE_URL });
    batch = { schema: 1, priceArea, values: forecast };
  } catch (error) {
    if (!isInputError(error)) throw error;
    log(error.message);
    return 1;
  }
  if (values.stdout) {
    process.stdout.write(`${JSON.stringify(batch)}\n`);
    return 0;
  }
  const sender = createSender({ server: httpUrlFlag('collect facility', 'server', values.server!).href, token: tokenFlag('collect facility', values), retry: sendOnceRetry });
  let outcome;
  try {
    outcome = await sender.send('co2Forecast', batch);
  } catch (error) {
    log(`not delivered: ${(error as Error).message}`);
    return 75;
  }
  if (outcome.status === 'sent') {
    log(`sent ${batch.values.length} forecast values of ${priceArea} (${batch.values[0]!.ts} to ${batch.values.at(-1)!.ts})`);
    return 0;
  }
  log(outcome.status === 'refused' ? `server refused the forecast (HTTP ${outcome.httpStatus}): ${outcome.message}` : `not delivered: ${outcome.reason}`);
  return outcome.status === 'refused' ? 1 : 75;
}

async function sendToServer(
  values: Values,
  sources: Sources,
  site: string,
  warnHeat: (readings: FacilityReading[]) => void,
  log: (line: string) => void,
): Promise<number> {
  const server = httpUrlFlag('collect facility', 'server', values.server!);
  const intervalMs = positiveFlag('collect facility', 'interval', values.interval, 60) * 1000;
  const polling = !values.once && (sources.redfish !== null || sources.co2Api !== null);
  const sender = createSender({
    server: server.href,
    token: tokenFlag('collect facility', values),
    spoolDir: values['spool-dir'] ?? defaultSpoolDir(),
    maxSpoolBytes: positiveFlag('collect facility', 'max-spool-mb', values['max-spool-mb'], 512) * 1024 * 1024,
    // Short enough that a last flush on SIGTERM ends inside systemd's stop timeout.
    timeoutMs: Math.min(15_000, Math.max(2_000, intervalMs)),
    // Once: a few quick tries before a batch counts as not delivered; the loop backs off itself.
    retry: polling ? undefined : sendOnceRetry,
  });

  let pendingFixed = sources.fixed;
  let lastCo2Error = '';
  const round = async (): Promise<FacilityReading[]> => {
    const readings = pendingFixed;
    pendingFixed = [];
    if (sources.co2Api) {
      try {
        readings.push(...(await readCo2Api(sources.co2Api, polling)));
        lastCo2Error = '';
      } catch (error) {
        // Energinet being away must not cost the cooling readings of this round.
        if (!polling || !isInputError(error)) throw error;
        if (error.message !== lastCo2Error) log(`CO2Emis fetch failed, will retry: ${error.message}`);
        lastCo2Error = error.message;
      }
    }
    if (sources.redfish) readings.push(...(await readRedfish(sources.redfish, log)));
    warnHeat(readings);
    return readings;
  };

  if (!polling) {
    let status = 0;
    for (const batch of chunk(site, await round())) {
      const outcome = await sender.send('facility', batch);
      if (outcome.status === 'refused') {
        log(`server refused the batch (HTTP ${outcome.httpStatus}): ${outcome.message}`);
        return 1;
      }
      if (outcome.status === 'spooled') {
        log(`batch spooled, not delivered: ${outcome.reason}`);
        status = 75; // EX_TEMPFAIL: try again later
      }
    }
    // Batches an earlier run left in the spool count too: delivered means none is waiting.
    if (status === 0 && (await sender.flush()).remaining > 0) {
      log(`${sender.spooledCount()} batch(es) of an earlier run still spooled, not delivered`);
      status = 75;
    }
    return status;
  }

  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  try {
    const sendExtra = async (batch: FacilityBatch) => {
      const outcome = await sender.send('facility', batch);
      if (outcome.status === 'refused') log(`server refused a batch (HTTP ${outcome.httpStatus}): ${outcome.message}`);
      else if (outcome.status === 'spooled') log(`batch spooled: ${outcome.reason}`);
    };
    // File readings go once, up front, however many batches they fill.
    for (const batch of chunk(site, pendingFixed.splice(0))) await sendExtra(batch);
    await runFacilityLoop({
      round: async () => {
        const batches = chunk(site, await round());
        // A long CO2 window can overflow one batch: all but the last go straight away.
        for (const batch of batches.slice(0, -1)) await sendExtra(batch);
        return batches.at(-1) ?? null;
      },
      sender,
      intervalMs,
      maxBackoffMs: positiveFlag('collect facility', 'max-backoff', values['max-backoff'], 600) * 1000,
      signal: controller.signal,
      log,
    });
  } finally {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
  }
  return 0;
}

function defaultSpoolDir(): string {
  // A system service owns /var/spool; a person trying it out does not.
  return process.getuid?.() === 0 ? '/var/spool/heatledger/facility' : join(homedir(), '.local/state/heatledger/facility-spool');
}
