/**
 * Builds the national facility of `npm run bench` into a database file and keeps it, for
 * working on one query at a time: `node --import tsx test/bench/build-national.ts PATH`.
 * Writes PATH.json with the `nowTs` the year ends at, a read and an ingest token and the
 * build's figures, so a server started on the file (`heatledger serve` with HEATLEDGER_DB=PATH)
 * can be asked the bench's questions; `npm run bench` builds its national year this way.
 */
import { writeFileSync } from 'node:fs';
import { openDatabase } from '../../db/client.ts';
import { loadConfig } from '../../server/config.ts';
import { createToken } from '../../server/services/auth.service.ts';
import { buildNational } from './national.ts';

const dbPath = process.argv[2];
if (!dbPath) throw new Error('usage: build-national.ts <database path>');
const nowTs = Date.now();
const config = loadConfig({}, { dbPath, port: 0, host: '127.0.0.1', alertCheckS: 86_400 });
const db = openDatabase(dbPath);
const stats = buildNational(db.$client, config, nowTs, (line) => console.log(line));
const readToken = createToken(db, 'bench-read', 'read');
const ingestToken = createToken(db, 'bench-ingest', 'ingest');
db.$client.pragma('wal_checkpoint(TRUNCATE)');
db.$client.close();
writeFileSync(`${dbPath}.json`, JSON.stringify({ nowTs, readToken, ingestToken, jobs: stats.jobs, stats }, null, 2));
console.log(`built ${dbPath} (now = ${new Date(nowTs).toISOString()})`);
