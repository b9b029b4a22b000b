/** The review pack per project, and job lists (CONTRACTS §3). */
import type { Database } from 'better-sqlite3';
import { Hono } from 'hono';
import { z } from 'zod';
import { requireReader, visibility, type AppEnv } from '../auth/middleware.ts';
import type { Config } from '../config.ts';
import { csvDownloadHeaders } from '../csv.ts';
import { jobReport } from '../services/job-report.service.ts';
import { getReview, listJobs, projectMembers, reviewCsv } from '../services/review.service.ts';
import { validate } from '../validation.ts';
import { pageShape } from './page.schemas.ts';
import { toWindow, windowShape } from './read.schemas.ts';

// Without a window the pack covers the project's grant period (or the last 30 days).
const reviewQuery = z
  .object({ ...windowShape, format: z.enum(['json', 'csv']).optional() })
  .transform((q, ctx) => ({ window: q.from || q.to ? toWindow(q, ctx) : null, format: q.format }));
const jobsQuery = z.object({ ...windowShape, ...pageShape(500, 5000), project: z.string().min(1).max(200).optional() }).transform(toWindow);

/** Routes under /api/v1 for projects and jobs. */
export function projectRoutes({ sqlite, config, now = Date.now }: { sqlite: Database; config: Config; now?: () => number }) {
  const deps = { sqlite, config, now };
  return new Hono<AppEnv>()
    .get('/projects/:project/review', requireReader, validate('query', reviewQuery), (c) => {
      const q = c.req.valid('query');
      const review = getReview(deps, c.req.param('project'), q.window && { fromTs: q.window.fromTs, toTs: q.window.toTs }, visibility(c));
      const wantsCsv = q.format === 'csv' || (q.format === undefined && (c.req.header('accept') ?? '').includes('text/csv'));
      if (wantsCsv) {
        return c.body(reviewCsv(review), 200, csvDownloadHeaders(`review-${review.project}.csv`));
      }
      return c.json(review, 200);
    })
    // Who belongs to the project and where that comes from: Slurm's associations or an administrator.
    .get('/projects/:project/members', requireReader, (c) => c.json(projectMembers(sqlite, c.req.param('project'), visibility(c)), 200))
    // One job's efficiency report: per-GPU use, cost and plain-language flags.
    .get('/jobs/:cluster/:jobId/report', requireReader, (c) => c.json(jobReport(deps, c.req.param('cluster'), c.req.param('jobId'), visibility(c)), 200))
    .get('/jobs', requireReader, validate('query', jobsQuery), (c) => {
      const { fromTs, toTs, project, limit, cursor } = c.req.valid('query');
      return c.json(listJobs(deps, { fromTs, toTs }, visibility(c), { project, limit, cursor }), 200);
    });
}
