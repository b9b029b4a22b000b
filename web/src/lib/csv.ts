/** CSV export of the figures a view shows (RFC 4180; dot decimals and ISO times, for spreadsheets and scripts alike). */
// The server's own rule, so a download from a view and one from the API neutralise the same cells.
import { csvLine } from '../../../server/csv.ts';

export type Cell = string | number | null | undefined;

/**
 * The rows as CSV text with a header line. Text that a spreadsheet would run as a formula
 * (a user or project named `=HYPERLINK(…)`) gets a leading `'`; numbers stay numbers.
 */
export function toCsv(headers: string[], rows: Cell[][]): string {
  return [headers, ...rows].map((r) => csvLine(r)).join('\r\n') + '\r\n';
}

/** Offers `csv` to the browser as a file download. */
export function downloadCsv(filename: string, csv: string): void {
  const url = URL.createObjectURL(new Blob([csv], { type: 'text/csv;charset=utf-8' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
