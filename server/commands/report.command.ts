/**
 * `heatledger report monthly --month YYYY-MM [--send] [--out DIR] [--db PATH]`: the monthly
 * digest per researcher and per PI (server/services/digest.service.ts). With `--send` and
 * HEATLEDGER_SMTP_URL set, each person with an address gets theirs by email; every other
 * digest is written to DIR (default ./digests/YYYY-MM) as `<kind>-<user>.txt`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase } from '../../db/client.ts';
import { UsageError } from '../../collectors/shared/usage-error.ts';
import { loadConfig } from '../config.ts';
import { monthlyDigests } from '../services/digest.service.ts';
import { createSendMail } from '../services/mail.service.ts';
import { parseFlags } from './args.ts';

const usage = 'usage: heatledger report monthly --month YYYY-MM [--send] [--out DIR] [--db PATH]';

export async function reportCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, { month: { type: 'string' }, send: { type: 'boolean' }, out: { type: 'string' }, db: { type: 'string' } });
  if (positionals[0] !== 'monthly' || positionals.length > 1 || !values.month) throw new UsageError(usage);
  const config = loadConfig(process.env, values.db ? { dbPath: values.db } : {});
  const sendMail = values.send ? createSendMail(config) : null;
  if (values.send && !sendMail) throw new UsageError('report monthly: --send needs HEATLEDGER_SMTP_URL and HEATLEDGER_MAIL_FROM');
  const db = openDatabase(config.dbPath, { refreshRollups: false });
  let digests;
  try {
    digests = monthlyDigests(db.$client, config, values.month, Date.now());
  } finally {
    db.$client.close();
  }
  const dir = values.out ?? join('digests', values.month);
  let mailed = 0;
  let written = 0;
  let failed = 0;
  for (const d of digests) {
    if (sendMail && d.email) {
      try {
        await sendMail({ to: d.email, subject: d.subject, text: d.text });
        mailed++;
        continue;
      } catch (error) {
        failed++;
        process.stderr.write(`report monthly: mail to ${d.user} not accepted (${(error as Error).message}); written to a file instead\n`);
      }
    }
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${d.kind}-${d.user.replace(/[^\w.-]/g, '_')}.txt`), `Subject: ${d.subject}\n\n${d.text}`);
    written++;
  }
  const researchers = digests.filter((d) => d.kind === 'researcher').length;
  process.stderr.write(`report monthly ${values.month}: ${researchers} researchers, ${digests.length - researchers} PIs; ${mailed} mailed, ${written} written to ${dir}\n`);
  return failed > 0 ? 75 : 0;
}
