/**
 * Views whose server endpoints exist today. A view is listed here only once its endpoint is
 * in server/app.ts (the typed client would not compile otherwise); nothing is stubbed.
 */
import type { RouteName } from './router.svelte.ts';

export const availableRoutes: ReadonlySet<RouteName> = new Set<RouteName>(['overview', 'allocations', 'energy', 'usage', 'waits', 'jobs', 'project', 'job']);
