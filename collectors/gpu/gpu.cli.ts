/**
 * `heatledger collect gpu` (CONTRACTS.md §1): `--once --stdout` prints one GPU batch;
 * `--server URL --token T` samples every `--interval` seconds and sends, spooling while
 * the server is away, until SIGTERM/SIGINT.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { httpUrlFlag, positiveFlag, tokenFlag } from '../shared/cli-flags.ts';
import { UsageError } from '../shared/usage-error.ts';
import { createSender, sendOnceRetry } from '../shared/sender.ts';
import { ISO_UTC, gpuBatchSchema, type GpuBatch } from '../shared/wire.ts';
import { runCollectorLoop } from './loop.ts';
import { dcgmBatches, prometheusBackfill } from './dcgm.ts';
import { gpuBatch, sampleGpus } from './sample.ts';

const help = `usage: heatledger collect gpu --once --stdout [--cluster C] [--node N] [--proc-root DIR]
       heatledger collect gpu --server URL (--token T | --token-file FILE) [--interval 10]
                              [--spool-dir DIR] [--max-spool-mb 512] [--once]
       heatledger collect gpu --dcgm-exporter URL [URL...] (--once --stdout | --server URL --token T)
                              [--job-label hpc_job|pod] [--scrape-timeout 10]
  --dcgm-exporter URL   read GPUs from dcgm-exporters' /metrics instead of nvidia-smi (one
                        batch per node, named by the Hostname label, else --node, else the
                        exporter's host); an exporter that fails is named, the others still send
  --job-label L         the label naming a GPU's work: hpc_job (Slurm, default) or pod
                        (Kubernetes, as namespace/pod)
  --scrape-timeout S    give up on an exporter (or Prometheus) after S seconds (default: 10)
       heatledger collect gpu --prometheus URL --since ISO [--query-range-step 10s]
                              (--once --stdout | --server URL --token T [--once])
  --prometheus URL      read the same dcgm-exporter series from a Prometheus server
                        (query_range): a backfill from --since, then incremental from the
                        watermark kept in the spool directory (prometheus-watermark.state)
  --since ISO           where a backfill starts when no watermark is kept
  --query-range-step S  seconds between samples read (default: 10)
  --cluster C           cluster name in the batch (default: default)
  --node N              node name in the batch (default: this host's short name, as Slurm uses)
  --proc-root DIR       where to read /proc/<pid>/cgroup and environ (default: /proc)
  --nvidia-smi-timeout S  stop a hung nvidia-smi after S seconds (default: 30)
  --spool-dir DIR       batches wait here while the server is away
                        (default: /var/spool/heatledger/gpu as root, else ~/.local/state/heatledger/gpu-spool)
  --max-spool-mb N      oldest spooled batches are dropped beyond N MiB (default: 512)
  --max-backoff S       longest pause between delivery attempts (default: 300)
`;

const options = {
  once: { type: 'boolean' },
  stdout: { type: 'boolean' },
  server: { type: 'string' },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  interval: { type: 'string' },
  cluster: { type: 'string' },
  node: { type: 'string' },
  'spool-dir': { type: 'string' },
  'max-spool-mb': { type: 'string' },
  'max-backoff': { type: 'string' },
  'proc-root': { type: 'string' },
  'nvidia-smi-timeout': { type: 'string' },
  'dcgm-exporter': { type: 'string', multiple: true },
  prometheus: { type: 'string' },
  since: { type: 'string' },
  'query-range-step': { type: 'string' },
  'job-label': { type: 'string' },
  'scrape-timeout': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function defaultSpoolDir(): string {
  // A system service owns /var/spool; a person trying it out does not.
  return process.getuid?.() === 0 ? '/var/spool/heatledger/gpu' : join(homedir(), '.local/state/heatledger/gpu-spool');
}

function checked(batch: GpuBatch): GpuBatch {
  // The server refuses a whole batch for one bad field; catching it here names the field.
  const result = gpuBatchSchema.safeParse(batch);
  if (result.success) return batch;
  const issue = result.error.issues[0];
  throw new Error(`collect gpu: built an invalid batch at ${issue?.path.join('.') ?? '?'}: ${issue?.message ?? 'unknown'}`);
}

/** Runs `heatledger collect gpu …` and returns the exit code. */
export async function gpuCli(argv: string[]): Promise<number> {
  let parsed;
  try {
    // URLs after --dcgm-exporter are positionals (`--dcgm-exporter URL URL`).
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: true });
  } catch (error) {
    throw new UsageError(`collect gpu: ${(error as Error).message}\n${help}`);
  }
  const values = parsed.values;
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  const cluster = values.cluster ?? 'default';
  // Slurm names nodes by short hostname; the jobs batch must meet the GPU batch there.
  const node = values.node ?? hostname().split('.')[0];
  const procRoot = values['proc-root'] ?? '/proc';
  const timeoutMs = positiveFlag('collect gpu', 'nvidia-smi-timeout', values['nvidia-smi-timeout'], 30) * 1000;
  const exporters = [...(values['dcgm-exporter'] ?? []), ...parsed.positionals];
  if (parsed.positionals.length > 0 && !values['dcgm-exporter']) throw new UsageError(`collect gpu: unexpected argument '${parsed.positionals[0]}'\n${help}`);
  for (const url of exporters) httpUrlFlag('collect gpu', 'dcgm-exporter', url);
  const jobLabel = values['job-label'] ?? 'hpc_job';
  if (jobLabel !== 'hpc_job' && jobLabel !== 'pod') throw new UsageError(`collect gpu: --job-label must be hpc_job or pod, not '${jobLabel}'`);
  const scrapeTimeoutMs = positiveFlag('collect gpu', 'scrape-timeout', values['scrape-timeout'], 10) * 1000;
  const sampleBatch = async (): Promise<GpuBatch | GpuBatch[]> => {
    if (exporters.length === 0) return checked(gpuBatch(cluster, node, await sampleGpus({ procRoot, timeoutMs })));
    const { batches, errors } = await dcgmBatches(exporters, { cluster, node: values.node ?? null, jobLabel, timeoutMs: scrapeTimeoutMs });
    for (const e of errors) process.stderr.write(`heatledger collect gpu: ${e}\n`);
    // Every exporter failed: the round failed (the loop says so and retries).
    if (batches.length === 0) throw new Error(errors.join('; '));
    return batches.map(checked);
  };

  if (values.prometheus) return prometheusMode(values, { cluster, jobLabel, scrapeTimeoutMs, defaultSpoolDir: defaultSpoolDir() });

  if (values.stdout) {
    if (!values.once) throw new UsageError(`collect gpu: --stdout needs --once\n${help}`);
    if (values.server) throw new UsageError('collect gpu: --stdout prints the batch; leave out --server');
    const out = await sampleBatch();
    // One batch per line (several with dcgm-exporters: one per node).
    for (const b of Array.isArray(out) ? out : [out]) process.stdout.write(`${JSON.stringify(b)}\n`);
    return 0;
  }
  if (!values.server) throw new UsageError(`collect gpu: give --once --stdout, or --server URL --token T\n${help}`);
  const server = httpUrlFlag('collect gpu', 'server', values.server);
  const intervalMs = positiveFlag('collect gpu', 'interval', values.interval, 10) * 1000;
  const maxBackoffMs = positiveFlag('collect gpu', 'max-backoff', values['max-backoff'], 300) * 1000;
  const sender = createSender({
    server: server.href,
    token: tokenFlag('collect gpu', values),
    spoolDir: values['spool-dir'] ?? defaultSpoolDir(),
    maxSpoolBytes: positiveFlag('collect gpu', 'max-spool-mb', values['max-spool-mb'], 512) * 1024 * 1024,
    // Short enough that a last flush on SIGTERM ends inside systemd's stop timeout.
    timeoutMs: Math.min(15_000, Math.max(2_000, intervalMs)),
    // Once: a few quick tries before the batch counts as not delivered; the loop backs off itself.
    retry: values.once ? sendOnceRetry : undefined,
  });

  if (values.once) {
    const out = await sampleBatch();
    let code = 0;
    for (const batch of Array.isArray(out) ? out : [out]) {
      const outcome = await sender.send('gpu', batch);
      if (outcome.status === 'sent') continue;
      if (outcome.status === 'refused') {
        process.stderr.write(`heatledger collect gpu: server refused the batch (HTTP ${outcome.httpStatus}): ${outcome.message} (node ${batch.node})\n`);
        code = 1;
      } else {
        process.stderr.write(`heatledger collect gpu: batch spooled, not delivered: ${outcome.reason} (node ${batch.node})\n`);
        code ||= 75; // EX_TEMPFAIL: try again later
      }
    }
    return code;
  }

  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  try {
    await runCollectorLoop({
      sample: sampleBatch,
      sender,
      intervalMs,
      maxBackoffMs,
      signal: controller.signal,
      log: (line) => process.stderr.write(`heatledger collect gpu: ${line}\n`),
    });
  } finally {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
  }
  return 0;
}

/** `collect gpu --prometheus URL`: backfill, then incremental from the watermark. */
async function prometheusMode(
  values: { prometheus?: string; since?: string; 'query-range-step'?: string; once?: boolean; stdout?: boolean; server?: string; token?: string; 'token-file'?: string; 'spool-dir'?: string; 'max-spool-mb'?: string; interval?: string },
  { cluster, jobLabel, scrapeTimeoutMs, defaultSpoolDir }: { cluster: string; jobLabel: 'hpc_job' | 'pod'; scrapeTimeoutMs: number; defaultSpoolDir: string },
): Promise<number> {
  const promUrl = values.prometheus!;
  httpUrlFlag('collect gpu', 'prometheus', promUrl);
  const stepMs = positiveFlag('collect gpu', 'query-range-step', values['query-range-step']?.replace(/s$/, ''), 10) * 1000;
  const spoolDir = values['spool-dir'] ?? defaultSpoolDir;
  // Beside the spooled batches, not among them (the sender replays every *.json there).
  const watermarkPath = join(spoolDir, 'prometheus-watermark.state');
  const stored = !values.stdout && existsSync(watermarkPath) ? (JSON.parse(readFileSync(watermarkPath, 'utf8')) as { prometheus: string; untilMs: number }) : null;
  const sinceMs = values.since === undefined ? null : Date.parse(values.since);
  if (values.since !== undefined && (!ISO_UTC.test(values.since) || !Number.isFinite(sinceMs))) throw new UsageError(`collect gpu: --since '${values.since}' is not an ISO time in UTC (2026-11-01T00:00:00Z)`);
  const resumeMs = stored?.prometheus === promUrl ? stored.untilMs : null;
  if (resumeMs === null && sinceMs === null) throw new UsageError('collect gpu: --prometheus needs --since ISO (where the backfill starts) until a watermark is kept');
  let fromMs = Math.max(resumeMs ?? -Infinity, sinceMs ?? -Infinity);
  // Up to two steps ago: an instant is read once its scrape is surely in.
  const until = () => Date.now() - 2 * stepMs;
  const log = (line: string) => process.stderr.write(`heatledger collect gpu: ${line}\n`);

  if (values.stdout) {
    if (!values.once) throw new UsageError('collect gpu: --stdout needs --once');
    await prometheusBackfill(promUrl, {
      fromMs, toMs: until(), stepMs, cluster, jobLabel, timeoutMs: scrapeTimeoutMs,
      onChunk: async (batches) => {
        for (const b of batches) process.stdout.write(`${JSON.stringify(b)}\n`);
      },
    });
    return 0;
  }
  if (!values.server) throw new UsageError('collect gpu: give --once --stdout, or --server URL --token T');
  const sender = createSender({
    server: httpUrlFlag('collect gpu', 'server', values.server).href,
    token: tokenFlag('collect gpu', values),
    spoolDir,
    maxSpoolBytes: positiveFlag('collect gpu', 'max-spool-mb', values['max-spool-mb'], 512) * 1024 * 1024,
    timeoutMs: 15_000,
    retry: values.once ? sendOnceRetry : undefined,
  });
  let code = 0;
  const round = async () => {
    await prometheusBackfill(promUrl, {
      fromMs, toMs: until(), stepMs, cluster, jobLabel, timeoutMs: scrapeTimeoutMs,
      onChunk: async (batches, untilMs) => {
        for (const b of batches) {
          const outcome = await sender.send('gpu', b);
          // A refused batch stops the backfill where it is: the watermark stays before it.
          if (outcome.status === 'refused') throw new Error(`server refused a batch of ${b.node} (HTTP ${outcome.httpStatus}): ${outcome.message}`);
          if (outcome.status === 'spooled') code = 75;
        }
        // Sent or spooled (spooled batches are replayed): resume after this chunk.
        fromMs = untilMs;
        mkdirSync(spoolDir, { recursive: true });
        writeFileSync(watermarkPath, JSON.stringify({ prometheus: promUrl, untilMs }));
      },
    });
  };
  if (values.once) {
    try {
      await round();
    } catch (error) {
      log((error as Error).message);
      return 1;
    }
    return code;
  }
  const intervalMs = positiveFlag('collect gpu', 'interval', values.interval, 60) * 1000;
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  try {
    while (!controller.signal.aborted) {
      try {
        await round();
      } catch (error) {
        log(`${(error as Error).message}; will retry`);
      }
      await new Promise<void>((r) => {
        const timer = setTimeout(r, intervalMs);
        controller.signal.addEventListener('abort', () => (clearTimeout(timer), r()), { once: true });
      });
    }
  } finally {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
  }
  return 0;
}
