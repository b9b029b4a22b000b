/**
 * CSV as HeatLedger writes it, on the server and in the dashboard's CSV buttons
 * (web/src/lib/csv.ts bundles this file, so it imports nothing).
 */

// A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection").
const formulaStart = /^[=+\-@\t\r]/;

/**
 * One RFC 4180 cell. Text that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab or
 * CR first) gets a leading `'`, which spreadsheets show as text. Only strings are neutralised:
 * a number stays a number, so `-3.5` (a JS number) is written as `-3.5`, while a user named
 * `-3.5` (a string, from outside) is written `'-3.5`.
 */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  const s = typeof value === 'string' && formulaStart.test(value) ? `'${value}` : String(value);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One CSV line of `cells`, without its line end. */
export function csvLine(cells: readonly unknown[]): string {
  return cells.map(csvCell).join(',');
}

/**
 * Response headers for a CSV download named `filename`. The name goes in RFC 6266's
 * `filename*=UTF-8''…` (RFC 5987 percent-encoding, any Unicode) and, for clients that only
 * read `filename="…"`, an ASCII fallback without quotes, backslashes or other characters a
 * header value cannot carry (a non-Latin-1 character there makes the Headers API throw).
 */
export function csvDownloadHeaders(filename: string): Record<string, string> {
  // A lone surrogate (valid in a JSON string) would make encodeURIComponent throw.
  const wellFormed = filename.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
  const fallback = wellFormed.replace(/[^\x20-\x7e]|["\\]/gu, '_');
  const encoded = encodeURIComponent(wellFormed).replace(/['()*]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`);
  return {
    'content-type': 'text/csv; charset=utf-8',
    'content-disposition': `attachment; filename="${fallback}"; filename*=UTF-8''${encoded}`,
  };
}
