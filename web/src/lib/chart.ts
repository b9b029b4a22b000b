/**
 * chart.js with only the pieces the dashboard draws (tree-shaken), the date-fns time
 * adapter, and the theme's colours. Imported by chart components only, so it lands in the
 * views' lazily loaded chunk rather than the login page's.
 */
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  TimeScale,
  Tooltip,
} from 'chart.js';
import 'chartjs-adapter-date-fns';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, TimeScale, LineController, LineElement, PointElement, Legend, Tooltip, Filler);

export { Chart };

/** Series colours, readable on both themes. */
export const palette = ['#d2552b', '#3b82c4', '#e3a33b', '#3f9e6e', '#9b59b6', '#c0392b'];

/** Fonts and grid colours from the current theme (read when a chart is made). */
export function themeDefaults(color: (v: string) => string): void {
  Chart.defaults.color = color('--muted');
  Chart.defaults.borderColor = color('--grid');
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
}
