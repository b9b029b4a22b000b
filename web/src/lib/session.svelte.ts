/** Who is signed in, and signing in and out. */
import { api, unwrap } from './api.ts';
import { availableRoutes } from './features.ts';

export interface Me {
  username: string | null;
  role: string;
  projects: string[];
}

/** The single sign-on provider the server offers, if any. */
export interface SingleSignOn {
  name: string;
  loginUrl: string;
}

export interface DemoAccount {
  username: string;
  role: string;
  password: string;
}

export class Session {
  me = $state<Me | null>(null);
  checked = $state(false);
  error = $state<string | null>(null);
  demoAccounts = $state<DemoAccount[]>([]);
  sso = $state<SingleSignOn | null>(null);

  /** Asks the server who we are (a session cookie may already exist). */
  async load(): Promise<void> {
    try {
      const answer = await unwrap(api.api.v1.auth.me.$get());
      this.me = answer.me;
      this.sso = answer.oidc;
      if (!this.me) this.demoAccounts = (await unwrap(api.api.v1['demo-accounts'].$get())).accounts;
    } catch (error) {
      this.error = (error as Error).message;
    } finally {
      this.checked = true;
    }
  }

  async login(username: string, password: string): Promise<void> {
    this.error = null;
    try {
      this.me = await unwrap(api.api.v1.auth.login.$post({ json: { username, password } }));
    } catch (error) {
      this.error = (error as Error).message;
    }
  }

  /** Whether the signed-in person may open `project`'s review page. */
  canReview(project: string): boolean {
    const me = this.me;
    if (!me || !availableRoutes.has('project') || project === '(unattributed)') return false;
    return me.role === 'committee' || me.role === 'admin' || me.role === 'read' || me.projects.includes(project);
  }

  /** Signs out here, then at the single sign-on provider when the server names its logout address. */
  async logout(): Promise<void> {
    const res = await api.api.v1.auth.logout.$post();
    const redirect = res.ok ? (await res.json()).redirect : undefined;
    this.me = null;
    if (redirect) {
      location.assign(redirect);
      return;
    }
    await this.load();
  }
}
