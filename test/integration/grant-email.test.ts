/**
 * Issue 16 point 4: grant alerts by email, through a real SMTP server (the smtp-server
 * package) that offers STARTTLS with a certificate from a CA made here and asks for a
 * password. The delivered messages are read back and their figures checked against values
 * worked out by hand: 5.5 GPU-hours used of a 10 GPU-hour grant is 55 %.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAllocation } from '../../server/services/allocation.service.ts';
import { addUser } from '../../server/services/auth.service.ts';
import { checkAlerts } from '../../server/services/alert.service.ts';
import { createSendMail } from '../../server/services/mail.service.ts';
import { H, T0, iso, job, makeApp } from '../support/factories.ts';

interface Received {
  to: string[];
  raw: string;
  secure: boolean;
  user: string | undefined;
}

const dir = mkdtempSync(join(tmpdir(), 'hl-smtp-'));
const keyFile = join(dir, 'key.pem');
const certFile = join(dir, 'cert.pem');
// A self-signed certificate for localhost: its own CA, given to HeatLedger as HEATLEDGER_SMTP_CA_FILE.
execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });

let server: SMTPServer;
let port = 0;
const received: Received[] = [];
let refuseNext = 0;

beforeAll(async () => {
  server = new SMTPServer({
    key: readFileSync(keyFile),
    cert: readFileSync(certFile),
    authOptional: false,
    onAuth(auth, _session, callback) {
      if (auth.username === 'heatledger' && auth.password === 's3cret') return callback(null, { user: auth.username });
      return callback(new Error('Invalid username or password'));
    },
    onRcptTo(_address, _session, callback) {
      if (refuseNext > 0) {
        refuseNext--;
        const e = new Error('Mailbox busy, try later') as Error & { responseCode: number };
        e.responseCode = 450;
        return callback(e);
      }
      return callback();
    },
    onData(stream, session: SMTPServerSession, callback) {
      let raw = '';
      stream.on('data', (b: Buffer) => (raw += b.toString('utf8')));
      stream.on('end', () => {
        received.push({ to: session.envelope.rcptTo.map((r) => r.address), raw, secure: session.secure, user: session.user as string | undefined });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  port = (server.server.address() as { port: number }).port;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** The message body as text: quoted-printable soft breaks joined, =XX decoded as UTF-8. */
function bodyOf(raw: string): string {
  const body = raw.slice(raw.indexOf('\r\n\r\n') + 4).replace(/=\r\n/g, '');
  return Buffer.from(body.replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8');
}
const subjectOf = (raw: string) => {
  const m = /^Subject: (.*(?:\r\n .*)*)/m.exec(raw)![1]!.replace(/\r\n /g, ' ');
  // RFC 2047 encoded words (the Danish subject).
  return m.replace(/=\?UTF-8\?Q\?(.*?)\?=/gi, (_, q: string) => Buffer.from(q.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/gi, (__, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8')).replace(/\?=\s+=\?/g, '');
};

function setUp() {
  const t = makeApp({
    config: { smtpUrl: `smtp://heatledger:s3cret@localhost:${port}`, mailFrom: 'heatledger@bitten.example', smtpCaFile: certFile, publicUrl: 'https://heatledger.bitten.example' },
  });
  const sqlite = t.db.$client;
  addUser(t.db, { username: 'carol', role: 'pi', password: 'correct horse', projects: ['proj-a'], email: 'carol@sdu.example', lang: 'da' });
  addUser(t.db, { username: 'alice', role: 'researcher', password: 'correct horse', projects: ['proj-a'], email: 'alice@sdu.example' });
  addUser(t.db, { username: 'kim', role: 'committee', password: 'correct horse', email: 'kim@deic.example' });
  addUser(t.db, { username: 'nomail', role: 'committee', password: 'correct horse' });
  createAllocation(sqlite, { project: 'proj-a', parentId: null, grantedGpuHours: 10, periodStart: iso(T0 - 24 * H), periodEnd: iso(T0 + 30 * 24 * H) }, 'test', T0);
  const sendMail = createSendMail({ smtpUrl: `smtp://heatledger:s3cret@localhost:${port}`, mailFrom: 'heatledger@bitten.example', smtpCaFile: certFile });
  const check = () => checkAlerts({ sqlite, webhookUrl: null, sendMail, publicUrl: 'https://heatledger.bitten.example', now: () => T0 + 48 * H });
  return { t, check };
}

async function useGpuHours(t: ReturnType<typeof makeApp>, hours: number) {
  const res = await t.client.api.v1.ingest.jobs.$post({ json: { schema: 1, cluster: 'bitten', jobs: [job({ jobId: '1', account: 'proj-a', user: 'alice', gpus: 1, startTime: iso(T0), endTime: iso(T0 + hours * H) })] } }, t.auth(t.tokens.ingest));
  expect(res.status).toBe(202);
}

describe('grant alerts by email (real SMTP server, STARTTLS, password)', () => {
  it('crossing 50 % mails the PI (in Danish) and the committee member (in English) once each, with the figures', async () => {
    received.length = 0;
    const { t, check } = setUp();
    await useGpuHours(t, 5.5);
    const r = await check();
    expect(r).toMatchObject({ raised: 1, mailed: 2, mailFailed: 0 });
    expect(received.map((m) => m.to[0]).sort()).toEqual(['carol@sdu.example', 'kim@deic.example']);
    expect(received.every((m) => m.secure && m.user === 'heatledger')).toBe(true);
    const da = received.find((m) => m.to[0] === 'carol@sdu.example')!;
    expect(subjectOf(da.raw)).toBe('[HeatLedger] proj-a har brugt 55,0 % af sin GPU-timebevilling');
    expect(bodyOf(da.raw)).toContain('Projekt proj-a har brugt 55,0 % af sin bevilling: 5,5 af 10,0 GPU-timer (grænse 50 %).');
    expect(bodyOf(da.raw)).toContain('Tilbage: 4,5 GPU-timer.');
    const en = received.find((m) => m.to[0] === 'kim@deic.example')!;
    expect(subjectOf(en.raw)).toBe('[HeatLedger] proj-a has used 55.0 % of its GPU-hour grant');
    expect(bodyOf(en.raw)).toContain('Project proj-a has used 55.0 % of its grant: 5.5 of 10.0 GPU-hours (threshold 50 %).');
    expect(bodyOf(en.raw)).toContain('https://heatledger.bitten.example/#/project/proj-a');
    expect(en.raw).toMatch(/^From: heatledger@bitten\.example/m);
    // Once: the next check sends nothing.
    expect(await check()).toMatchObject({ raised: 0, mailed: 0 });
    expect(received).toHaveLength(2);
  });

  it('retries a mail the server did not accept at the next check, and sends it once', async () => {
    received.length = 0;
    const { t, check } = setUp();
    await useGpuHours(t, 5.5);
    refuseNext = 1;
    const first = await check();
    expect(first).toMatchObject({ mailed: 1, mailFailed: 1 });
    const waiting = t.db.$client.prepare('SELECT address, attempts, last_error AS e FROM alert_mails WHERE sent_ts IS NULL').all() as Array<{ address: string; attempts: number; e: string }>;
    expect(waiting).toHaveLength(1);
    expect(waiting[0]!.e).toMatch(/450/);
    const second = await check();
    expect(second).toMatchObject({ mailed: 1, mailFailed: 0 });
    expect(received.map((m) => m.to[0]).sort()).toEqual(['carol@sdu.example', 'kim@deic.example']);
    expect(await check()).toMatchObject({ mailed: 0 });
  });

  it('sends over smtps:// (TLS from the first byte) as well', async () => {
    const got: string[] = [];
    const tls = new SMTPServer({
      secure: true,
      key: readFileSync(keyFile),
      cert: readFileSync(certFile),
      onAuth(auth, _session, callback) {
        callback(auth.username === 'heatledger' && auth.password === 's3cret' ? null : new Error('Invalid username or password'), { user: auth.username });
      },
      onData(stream, session, callback) {
        stream.on('data', () => {});
        stream.on('end', () => {
          got.push(`${session.envelope.rcptTo[0]!.address} secure=${session.secure}`);
          callback();
        });
      },
    });
    // The untrusting client below hangs up mid-handshake: the server reports it as an error, expected here.
    const serverErrors: string[] = [];
    tls.on('error', (e: Error) => serverErrors.push(e.message));
    await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', () => resolve()));
    try {
      const tlsPort = (tls.server.address() as { port: number }).port;
      const send = createSendMail({ smtpUrl: `smtps://heatledger:s3cret@localhost:${tlsPort}`, mailFrom: 'heatledger@bitten.example', smtpCaFile: certFile });
      await send!({ to: 'kim@deic.example', subject: 'test', text: 'hello' });
      expect(got).toEqual(['kim@deic.example secure=true']);
      // Without the site's CA the certificate is not trusted: refused, not sent in the clear.
      const untrusted = createSendMail({ smtpUrl: `smtps://heatledger:s3cret@localhost:${tlsPort}`, mailFrom: 'heatledger@bitten.example', smtpCaFile: null });
      await expect(untrusted!({ to: 'kim@deic.example', subject: 'test', text: 'hello' })).rejects.toThrow(/self[- ]signed|certificate/i);
      expect(got).toHaveLength(1);
    } finally {
      await new Promise<void>((resolve) => tls.close(() => resolve()));
    }
  });

  it('says why when the password is wrong, and keeps the mails for later', async () => {
    received.length = 0;
    const { t } = setUp();
    await useGpuHours(t, 5.5);
    const wrong = createSendMail({ smtpUrl: `smtp://heatledger:wrong@localhost:${port}`, mailFrom: 'heatledger@bitten.example', smtpCaFile: certFile });
    const r = await checkAlerts({ sqlite: t.db.$client, webhookUrl: null, sendMail: wrong, now: () => T0 + 48 * H });
    expect(r).toMatchObject({ mailed: 0, mailFailed: 2 });
    const errors = t.db.$client.prepare('SELECT last_error AS e FROM alert_mails').all() as Array<{ e: string }>;
    expect(errors.every((x) => /Invalid username or password/.test(x.e))).toBe(true);
    expect(received).toHaveLength(0);
  });
});
