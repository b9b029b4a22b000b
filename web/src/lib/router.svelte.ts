/** Hash routes (`#/waits`, `#/project/dtu-llm`) and which of them each role may open. */
export type RouteName = 'overview' | 'energy' | 'usage' | 'waits' | 'jobs' | 'allocations' | 'project' | 'job';
export type RoleName = 'researcher' | 'pi' | 'committee' | 'facility' | 'admin' | 'read';

/** The views in navigation order with the roles that see them (DESIGN.md, "Who it is for"). */
export const routes: Array<{ name: RouteName; roles: RoleName[]; inNav: boolean }> = [
  { name: 'overview', roles: ['facility', 'admin', 'read'], inNav: true },
  { name: 'allocations', roles: ['committee', 'admin', 'read'], inNav: true },
  { name: 'energy', roles: ['facility', 'admin', 'read'], inNav: true },
  { name: 'usage', roles: ['researcher', 'pi', 'committee', 'facility', 'admin', 'read'], inNav: true },
  { name: 'waits', roles: ['researcher', 'pi', 'committee', 'facility', 'admin', 'read'], inNav: true },
  { name: 'jobs', roles: ['researcher', 'pi', 'admin'], inNav: true },
  { name: 'project', roles: ['researcher', 'pi', 'committee', 'admin', 'read'], inNav: false },
  // One job's efficiency report (`#/job/<cluster>/<job id>`), opened from a job list.
  { name: 'job', roles: ['researcher', 'pi', 'committee', 'admin', 'read'], inNav: false },
];

/** The views a role may open whose endpoints the server has (`available`). */
export function visibleRoutes(role: string, available: ReadonlySet<RouteName>): RouteName[] {
  return routes.filter((r) => r.roles.includes(role as RoleName) && available.has(r.name)).map((r) => r.name);
}

function parse(hash: string): { name: string; param: string | null } {
  const [, name = '', param] = /^#\/([^/]*)(?:\/(.*))?$/.exec(hash) ?? [];
  return { name, param: param ? decodeURIComponent(param) : null };
}

/** The current route, following `location.hash`. */
export class Router {
  name = $state('');
  param = $state<string | null>(null);

  constructor() {
    this.read();
    addEventListener('hashchange', () => this.read());
  }

  private read(): void {
    const { name, param } = parse(location.hash);
    this.name = name;
    this.param = param;
  }

  /** The link to a route. */
  href(name: RouteName, param?: string): string {
    return param ? `#/${name}/${encodeURIComponent(param)}` : `#/${name}`;
  }

  /** Goes to a route without adding a history entry (redirects). */
  replace(name: RouteName, param?: string): void {
    history.replaceState(null, '', this.href(name, param));
    this.read();
  }
}
