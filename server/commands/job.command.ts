/** `heatledger job report JOBID [--cluster NAME] [--json] [--db PATH]`: one job's efficiency report. */
import { openDatabase } from '../../db/client.ts';
import { UsageError } from '../../collectors/shared/usage-error.ts';
import { loadConfig } from '../config.ts';
import { DomainError } from '../errors.ts';
import { jobReport, jobReportText } from '../services/job-report.service.ts';
import { parseFlags } from './args.ts';

const usage = 'usage: heatledger job report JOBID [--cluster NAME] [--json] [--db PATH]';

/** Runs `job report`; the administrator's view (names, every project). */
export async function jobCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, { cluster: { type: 'string' }, json: { type: 'boolean' }, db: { type: 'string' } });
  if (positionals[0] !== 'report' || !positionals[1] || positionals.length > 2) throw new UsageError(usage);
  const jobId = positionals[1];
  const config = loadConfig(process.env, values.db ? { dbPath: values.db } : {});
  const db = openDatabase(config.dbPath, { refreshRollups: false });
  try {
    let cluster = values.cluster;
    if (cluster === undefined) {
      const clusters = (db.$client.prepare('SELECT cluster FROM jobs WHERE job_id = ? ORDER BY cluster').all(jobId) as Array<{ cluster: string }>).map((r) => r.cluster);
      if (clusters.length === 0) throw new DomainError('NOT_FOUND', `no job ${jobId}`);
      if (clusters.length > 1) throw new UsageError(`job report: job ${jobId} exists on ${clusters.join(', ')}: give --cluster`);
      cluster = clusters[0]!;
    }
    const report = jobReport({ sqlite: db.$client, config, now: Date.now }, cluster, jobId, { accounts: null, users: null, perUser: true, role: 'admin' });
    process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : jobReportText(report));
  } finally {
    db.$client.close();
  }
  return 0;
}
