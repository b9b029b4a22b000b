/** The app-wide state every view shares: one of each, made on first import. */
import { I18n } from './i18n.svelte.ts';
import { Range } from './range.svelte.ts';
import { Router } from './router.svelte.ts';
import { Theme } from './theme.svelte.ts';

export const i18n = new I18n();
export const theme = new Theme();
export const range = new Range();
export const router = new Router();
