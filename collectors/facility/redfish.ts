/**
 * A small Redfish client for DCIM equipment: cooling units under
 * `/redfish/v1/ThermalEquipment` and power distribution under `/redfish/v1/PowerEquipment`.
 * It speaks node:http(s) directly so that a site CA file and `--insecure` apply per client
 * (fetch in Node 20 takes neither without undici, which is not a dependency).
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';

export type RedfishAuth =
  | { kind: 'none' }
  | { kind: 'basic'; user: string; password: string }
  | { kind: 'session'; user: string; password: string };

export interface RedfishOptions {
  /** The service's address, e.g. `https://cdu1.bmc`; a trailing `/redfish/v1` is allowed. */
  baseUrl: string;
  auth?: RedfishAuth;
  /** PEM certificate(s) to trust for https, in place of the system store. */
  ca?: string | Buffer;
  /** Skip certificate checks; off unless asked for, because it gives away the password. */
  insecure?: boolean;
  timeoutMs?: number;
}

/** A Redfish request that failed; the message names the method and URL. */
export class RedfishError extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
  }
}

type Json = Record<string, unknown>;

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

const SESSIONS_PATH = '/redfish/v1/SessionService/Sessions';

/** Client for one Redfish service; call `close()` to end a session login. */
export class RedfishClient {
  readonly origin: string;
  private readonly auth: RedfishAuth;
  private readonly timeoutMs: number;
  private session: { token: string; location: string | null } | null = null;

  constructor(private readonly options: RedfishOptions) {
    let url: URL;
    try {
      url = new URL(options.baseUrl);
    } catch {
      throw new RedfishError(`Redfish address '${options.baseUrl}' is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new RedfishError(`Redfish address must be http:// or https://, not ${url.protocol}`);
    }
    // Redfish links (@odata.id) are absolute paths from the service root, so only the
    // origin of the given address matters.
    this.origin = url.origin;
    this.auth = options.auth ?? { kind: 'none' };
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** GETs a resource by its `/redfish/v1/…` path and returns the JSON object. */
  async get(path: string): Promise<Json> {
    if (this.auth.kind === 'session' && !this.session) await this.login();
    let response = await this.send('GET', path);
    if (response.status === 401 && this.auth.kind === 'session') {
      // Sessions expire on the BMC's clock; one fresh login is worth a try.
      this.session = null;
      await this.login();
      response = await this.send('GET', path);
    }
    // Some services redirect `/redfish/v1` to `/redfish/v1/`; follow a few, on this origin
    // only, so credentials never go to another host.
    for (let hops = 0; hops < 3 && response.status >= 301 && response.status <= 308; hops++) {
      const location = header(response.headers, 'location');
      if (!location) break;
      const target = new URL(location, this.url(path));
      if (target.origin !== this.origin) {
        throw new RedfishError(`GET ${this.url(path)}: redirected to another host (${target.origin}); give that address with --redfish`);
      }
      path = target.pathname + target.search;
      response = await this.send('GET', path);
    }
    return this.json('GET', path, response);
  }

  /** Ends the session, if one was opened; failures are reported, not thrown. */
  async close(): Promise<string | null> {
    const session = this.session;
    this.session = null;
    if (!session?.location) return null;
    try {
      const response = await this.send('DELETE', session.location, undefined, session.token);
      if (response.status >= 400) return `DELETE ${this.url(session.location)}: HTTP ${response.status}`;
    } catch (error) {
      return (error as Error).message;
    }
    return null;
  }

  private async login(): Promise<void> {
    if (this.auth.kind !== 'session') return;
    const body = JSON.stringify({ UserName: this.auth.user, Password: this.auth.password });
    const response = await this.send('POST', SESSIONS_PATH, body, null);
    const where = `POST ${this.url(SESSIONS_PATH)}`;
    if (response.status === 401 || response.status === 403) {
      throw new RedfishError(`${where}: login refused for user '${this.auth.user}' (HTTP ${response.status})`, response.status);
    }
    if (response.status >= 400) throw new RedfishError(`${where}: HTTP ${response.status}${snippet(response.body)}`, response.status);
    const token = header(response.headers, 'x-auth-token');
    if (!token) throw new RedfishError(`${where}: the answer carries no X-Auth-Token header`);
    let location = header(response.headers, 'location');
    if (!location) {
      // Some services leave out Location; the session's own @odata.id says the same.
      try {
        const id = (JSON.parse(response.body) as Json)['@odata.id'];
        location = typeof id === 'string' ? id : null;
      } catch {
        location = null;
      }
    }
    if (location) location = new URL(location, this.origin).pathname;
    this.session = { token, location };
  }

  private url(path: string): string {
    return new URL(path, this.origin).href;
  }

  private json(method: string, path: string, response: RawResponse): Json {
    const where = `${method} ${this.url(path)}`;
    if (response.status === 401 || response.status === 403) {
      throw new RedfishError(`${where}: not authorised (HTTP ${response.status}); check --user/--password-file or --session`, response.status);
    }
    if (response.status >= 300) throw new RedfishError(`${where}: HTTP ${response.status}${snippet(response.body)}`, response.status);
    let parsed: unknown;
    try {
      parsed = JSON.parse(response.body);
    } catch {
      throw new RedfishError(`${where}: the answer is not JSON${snippet(response.body)}`);
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new RedfishError(`${where}: the answer is not a JSON object`);
    return parsed as Json;
  }

  private send(method: string, path: string, body?: string, token: string | null = this.session?.token ?? null): Promise<RawResponse> {
    const url = new URL(path, this.origin);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    if (this.auth.kind === 'basic') {
      headers.authorization = `Basic ${Buffer.from(`${this.auth.user}:${this.auth.password}`).toString('base64')}`;
    } else if (token) {
      headers['x-auth-token'] = token;
    }
    const where = `${method} ${url.href}`;
    const isHttps = url.protocol === 'https:';
    return new Promise<RawResponse>((resolve, reject) => {
      const req = (isHttps ? httpsRequest : httpRequest)(
        url,
        {
          method,
          headers,
          ...(isHttps ? { ca: this.options.ca, rejectUnauthorized: !this.options.insecure } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', (error) => reject(new RedfishError(`${where}: ${error.message}`)));
        },
      );
      req.setTimeout(this.timeoutMs, () => {
        req.destroy(new Error(`no answer within ${this.timeoutMs / 1000} s`));
      });
      req.on('error', (error: NodeJS.ErrnoException) => {
        const hint = /certificate|self.signed|CERT_/i.test(`${error.code ?? ''} ${error.message}`) ? ' (give the CA with --ca FILE)' : '';
        reject(new RedfishError(`${where}: ${error.message}${hint}`));
      });
      if (body !== undefined) req.write(body);
      req.end();
    });
  }
}

function header(headers: IncomingHttpHeaders, name: string): string | null {
  const value = headers[name];
  return (Array.isArray(value) ? value[0] : value) ?? null;
}

function snippet(body: string): string {
  const text = body.trim().replace(/\s+/g, ' ');
  return text ? `: ${text.slice(0, 160)}` : '';
}

/** The `@odata.id` a navigation property points to, or null. */
export function linkOf(resource: Json, property: string): string | null {
  const value = resource[property];
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const id = (value as Json)['@odata.id'];
    if (typeof id === 'string') return id;
  }
  return null;
}

/** The member links of a Redfish collection. */
export function membersOf(collection: Json): string[] {
  const members = collection.Members;
  if (!Array.isArray(members)) return [];
  return members
    .map((m: unknown) => (m && typeof m === 'object' ? (m as Json)['@odata.id'] : undefined))
    .filter((id): id is string => typeof id === 'string');
}

/**
 * The numeric value of a property: a plain number, or a sensor excerpt `{ "Reading": n }`.
 * null when absent or not a number (Redfish says null for "unknown"; so do we).
 */
export function readingOf(resource: Json, property: string): number | null {
  const value = resource[property];
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const reading = (value as Json).Reading;
    if (typeof reading === 'number' && Number.isFinite(reading)) return reading;
  }
  return null;
}

export interface CduInventory {
  id: string;
  path: string;
  name: string | null;
  primaryConnectors: string[];
  secondaryConnectors: string[];
  environmentMetrics: string | null;
}

export interface PowerInventory {
  /** The PowerEquipment collection it was found in, e.g. `RackPDUs`, `PowerShelves`. */
  collection: string;
  id: string;
  path: string;
  name: string | null;
  metrics: string | null;
}

export interface Inventory {
  cdus: CduInventory[];
  power: PowerInventory[];
}

/** PowerEquipment collections that hold power distribution equipment with Metrics. */
export const powerCollections = ['RackPDUs', 'FloorPDUs', 'PowerShelves', 'TransferSwitches', 'Switchgear', 'ElectricalBuses'] as const;

function idOf(resource: Json, path: string): string {
  const id = resource.Id;
  return typeof id === 'string' && id ? id : (path.split('/').filter(Boolean).at(-1) ?? path);
}

function nameOf(resource: Json): string | null {
  return typeof resource.Name === 'string' ? resource.Name : null;
}

async function collectionMembers(client: RedfishClient, path: string | null): Promise<string[]> {
  return path ? membersOf(await client.get(path)) : [];
}

/** Walks the service from `/redfish/v1` to its cooling units and power equipment. */
export async function discover(client: RedfishClient): Promise<Inventory> {
  const root = await client.get('/redfish/v1/');
  const inventory: Inventory = { cdus: [], power: [] };

  const thermalPath = linkOf(root, 'ThermalEquipment');
  if (thermalPath) {
    const thermal = await client.get(thermalPath);
    for (const cduPath of await collectionMembers(client, linkOf(thermal, 'CDUs'))) {
      const cdu = await client.get(cduPath);
      inventory.cdus.push({
        id: idOf(cdu, cduPath),
        path: cduPath,
        name: nameOf(cdu),
        primaryConnectors: await collectionMembers(client, linkOf(cdu, 'PrimaryCoolantConnectors')),
        secondaryConnectors: await collectionMembers(client, linkOf(cdu, 'SecondaryCoolantConnectors')),
        environmentMetrics: linkOf(cdu, 'EnvironmentMetrics'),
      });
    }
  }

  const powerPath = linkOf(root, 'PowerEquipment');
  if (powerPath) {
    const power = await client.get(powerPath);
    for (const collection of powerCollections) {
      for (const devicePath of await collectionMembers(client, linkOf(power, collection))) {
        const device = await client.get(devicePath);
        inventory.power.push({
          collection,
          id: idOf(device, devicePath),
          path: devicePath,
          name: nameOf(device),
          metrics: linkOf(device, 'Metrics'),
        });
      }
    }
  }
  return inventory;
}
