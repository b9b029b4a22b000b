/** Starts HeatLedger: opens and migrates the database, listens, and optionally runs the demo facility. */
import { existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { startDemo, type DemoHandle } from '../collectors/demo/demo.ts';
import { openDatabase } from '../db/client.ts';
import { createStore } from '../db/store.ts';
import { createCompactor } from './compactor.ts';
import { createApp } from './app.ts';
import { createMetrics } from './metrics.ts';
import { warmUp } from './warm-up.ts';
import type { Config } from './config.ts';
import { demoAccounts, setUpDemo } from './demo-setup.ts';
import { checkAlerts } from './services/alert.service.ts';
import { createSendMail } from './services/mail.service.ts';
import { createToken, revokeTokensNamed } from './services/auth.service.ts';
import { purgeRawSamples } from './services/retention.service.ts';
import { pushToHub } from './services/hub-push.service.ts';

export interface RunningServer {
  url: string;
  port: number;
  demo: DemoHandle | null;
  close(): Promise<void>;
}

/** Opens the database, serves the app and (with `config.demo`) starts the simulated facility. */
export async function startServer(config: Config, log: (line: string) => void = console.log): Promise<RunningServer> {
  if (config.demo && config.retentionDays <= config.demoDays) {
    // The demo's history is sent as raw samples, which ingest refuses beyond the retention window.
    log(`demo: raw-sample retention raised from ${config.retentionDays} to ${config.demoDays + 1} days to hold the demo's history`);
    config = { ...config, retentionDays: config.demoDays + 1 };
  }
  const fresh = config.dbPath === ':memory:' || !existsSync(config.dbPath);
  const db = openDatabase(config.dbPath);
  const store = createStore(db.$client, config);
  // Rollup upkeep: once now (hours completed while the server was down), after ingest commits, every minute.
  const compactor = createCompactor(store, { log });
  compactor.run();
  // The demo starts once the server listens; until then there is no history to report.
  let demo: DemoHandle | null = null;
  const metrics = createMetrics(db.$client);
  const app = createApp({
    db,
    config,
    store,
    metrics,
    onIngestCommit: compactor.soon,
    demoAccounts: config.demo ? demoAccounts : [],
    demoProgress: () => demo?.progress() ?? null,
  });
  // Stored pieces of long windows loaded and the read paths compiled before the first request.
  const warmed = await warmUp(app, store, Date.now());
  log(`warm-up: ${warmed.waitSpans} stored wait spans loaded, ${warmed.reads} reads answered, in ${Math.round(warmed.ms)} ms${warmed.failed.length ? ` (failed: ${warmed.failed.join(', ')})` : ''}`);
  const server = serve({ fetch: app.fetch, port: config.port, hostname: config.host });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  log(`HeatLedger listening on http://localhost:${port} (database ${config.dbPath})`);

  if (config.demo) {
    revokeTokensNamed(db, 'demo-facility');
    const token = createToken(db, 'demo-facility', 'ingest');
    const statePath = config.dbPath === ':memory:' ? join(tmpdir(), `heatledger-demo-${process.pid}.json`) : `${config.dbPath}.demo.json`;
    if (fresh) rmSync(statePath, { force: true });
    demo = startDemo({ server: url, token, statePath, log, historyDays: config.demoDays });
    setUpDemo(db, demo.startTs);
    demo.history.catch((error: Error) => log(`demo: history failed: ${error.message}`));
    log('demo: simulated facility started (32 nodes x 4 H200); sign in at the dashboard as demo-admin / heatledger-demo');
  }

  // Grant-use alerts: raised once per threshold, delivered (and retried) to the webhook and by email.
  const sendMail = createSendMail(config);
  let checking = false;
  const alertTimer = setInterval(() => {
    if (checking) return;
    checking = true;
    checkAlerts({ sqlite: db.$client, webhookUrl: config.alertWebhook, sendMail, publicUrl: config.publicUrl })
      .then((r) => (r.raised > 0 || r.mailFailed > 0) && log(`alerts: ${r.raised} raised, ${r.delivered} delivered, ${r.failed} failed; ${r.mailed} emailed, ${r.mailFailed} emails not accepted (retried)`))
      .catch((error: Error) => log(`alerts: check failed: ${error.message}`))
      .finally(() => (checking = false));
  }, config.alertCheckS * 1000);
  alertTimer.unref();

  // Raw samples expire after the retention window (DESIGN.md); rollups stay. Hourly is
  // plenty: the window is days long. Once at start too, for a server that was down.
  const purge = () => {
    try {
      const r = purgeRawSamples(db.$client, { nowMs: Date.now(), retentionDays: config.retentionDays });
      if (r.gpuSamples + r.facilityReadings > 0) log(`retention: removed ${r.gpuSamples} GPU samples and ${r.facilityReadings} facility readings older than ${new Date(r.cutoffTs).toISOString()}`);
    } catch (error) {
      log(`retention: purge failed: ${(error as Error).message}`);
    }
  };
  purge();
  const retentionTimer = setInterval(purge, 3_600_000);
  retentionTimer.unref();
  // /metrics counters' restarts (after corrections) outlive the process; a scrape never writes them.
  const metricsTimer = setInterval(() => {
    try {
      metrics.persist();
    } catch (error) {
      log(`metrics: could not store counter restarts: ${(error as Error).message}`);
    }
  }, 60_000);
  metricsTimer.unref();

  // The federation hub: every HEATLEDGER_HUB_PUSH_S, the complete hours that changed (server/services/hub-push.service.ts).
  let pushing: Promise<void> | null = null;
  const hub = config.hub;
  const pushOnce = () => {
    if (!hub || pushing) return;
    pushing = (async () => {
      compactor.run();
      // A month of days per round at most: a year of history goes over a dozen rounds, the API answering meanwhile.
      const r = await pushToHub(db.$client, { hubUrl: hub.url, token: hub.token, site: hub.site, realNames: hub.realNames, maxDays: 31 });
      if (!r.ok) log(`hub push: ${r.error} (${r.sent} days stored before it; the rest go next time)`);
      else if (r.sent > 0) log(`hub push: ${r.sent} days stored at ${hub.url} (${r.rows} rows), ${r.unchanged} unchanged${r.more ? '; more to come' : ''}`);
      // History left over: the next round soon, not in a minute.
      if (r.ok && r.more) setTimeout(pushOnce, 1000).unref();
    })()
      .catch((error: Error) => log(`hub push: ${error.message}`))
      .finally(() => (pushing = null));
  };
  const hubTimer = hub ? setInterval(pushOnce, hub.pushS * 1000) : null;
  hubTimer?.unref();
  if (hub) setTimeout(pushOnce, 1000).unref();

  return {
    url,
    port,
    demo,
    async close() {
      if (hubTimer) clearInterval(hubTimer);
      await pushing;
      clearInterval(alertTimer);
      clearInterval(retentionTimer);
      clearInterval(metricsTimer);
      try {
        metrics.persist(true);
      } catch {
        // a read-only or full disk: the restarts of this run are lost, the totals are not
      }
      compactor.stop();
      await demo?.stop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      db.$client.close();
    },
  };
}
