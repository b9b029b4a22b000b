/** Light or dark theme, remembered in localStorage; the system's preference until chosen. */
export type ThemeName = 'light' | 'dark';
const STORAGE_KEY = 'heatledger.theme';

function initialTheme(): ThemeName {
  try {
    const v = localStorage.getItem(STORAGE_KEY);
    if (v === 'light' || v === 'dark') return v;
  } catch {
    // Storage blocked: follow the system.
  }
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

/** The theme in force; sets `data-theme` on the root element, which app.css keys on. */
export class Theme {
  name = $state<ThemeName>(initialTheme());

  constructor() {
    document.documentElement.dataset.theme = this.name;
  }

  set(name: ThemeName): void {
    this.name = name;
    document.documentElement.dataset.theme = name;
    try {
      localStorage.setItem(STORAGE_KEY, name);
    } catch {
      // Not remembered, still switched.
    }
  }

  /** A CSS custom property's value in the current theme (charts draw on canvas, outside CSS). */
  color(variable: string): string {
    return getComputedStyle(document.documentElement).getPropertyValue(variable).trim();
  }
}
