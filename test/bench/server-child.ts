/**
 * The HeatLedger server in its own process for the ingest bench: collectors post from other
 * machines, so the load generator must not share the server's event loop. Prints the URL as
 * one JSON line and serves until killed.
 */
import { loadConfig } from '../../server/config.ts';
import { startServer } from '../../server/main.ts';

const dbPath = process.argv[2];
if (!dbPath) throw new Error('usage: server-child.ts <database path>');
// The environment counts (the bench sets HEATLEDGER_READ_CACHE_MS for the national queries).
const config = loadConfig(process.env, { dbPath, port: 0, host: '127.0.0.1', alertCheckS: 86_400 });
const server = await startServer(config, () => {});
console.log(JSON.stringify({ url: server.url, readCacheMs: config.readCacheMs }));
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
