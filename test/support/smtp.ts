/** A real SMTP server (the smtp-server package) that keeps what it receives: plain, no password. */
import { SMTPServer } from 'smtp-server';

export interface SmtpSink {
  port: number;
  /** One entry per recipient of each message. */
  mails: Array<{ to: string; raw: string }>;
  close(): Promise<void>;
}

/** Listens on a free port of 127.0.0.1. */
export async function startSmtpSink(): Promise<SmtpSink> {
  const mails: SmtpSink['mails'] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onData(stream, session, callback) {
      let raw = '';
      stream.on('data', (b: Buffer) => (raw += b.toString('utf8')));
      stream.on('end', () => {
        for (const r of session.envelope.rcptTo) mails.push({ to: r.address, raw });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { port: (server.server.address() as { port: number }).port, mails, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
