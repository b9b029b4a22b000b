/** Reports for authorities: the yearly EU data-centre report (EED, Reg. 2024/1364). */
import type { Database } from 'better-sqlite3';
import { Hono } from 'hono';
import { z } from 'zod';
import { requireReader, visibility, type AppEnv } from '../auth/middleware.ts';
import type { Config } from '../config.ts';
import { csvDownloadHeaders } from '../csv.ts';
import { eedReportCsv, getEedReport } from '../services/eed-report.service.ts';
import { validate } from '../validation.ts';

const eedQuery = z.object({ year: z.coerce.number().int().min(2000).max(2100), format: z.enum(['json', 'csv']).optional() });

/** Routes under /api/v1/reports. */
export function reportsRoutes(deps: { sqlite: Database; config: Config }) {
  return new Hono<AppEnv>().get('/eed', requireReader, validate('query', eedQuery), (c) => {
    const { year, format } = c.req.valid('query');
    const report = getEedReport(deps, year, visibility(c));
    const wantsCsv = format === 'csv' || (format === undefined && (c.req.header('accept') ?? '').includes('text/csv'));
    if (wantsCsv) {
      return c.body(eedReportCsv(report), 200, csvDownloadHeaders(`eed-${year}.csv`));
    }
    return c.json(report, 200);
  });
}
