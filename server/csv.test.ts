import { describe, expect, it } from 'vitest';
import { csvCell, csvDownloadHeaders, csvLine } from './csv.ts';

describe('csvCell', () => {
  it('puts a quote before text a spreadsheet would run as a formula', () => {
    expect(csvCell('=1+2')).toBe("'=1+2");
    expect(csvCell('+1')).toBe("'+1");
    expect(csvCell('-1')).toBe("'-1");
    expect(csvCell('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvCell('\tx')).toBe("'\tx");
    // CR also needs RFC 4180 quotes, after the prefix.
    expect(csvCell('\rx')).toBe(`"'\rx"`);
    // The quote goes in front, then the cell is quoted as usual: `"` doubled, the whole in quotes.
    expect(csvCell('=HYPERLINK("http://x","y")')).toBe(`"'=HYPERLINK(""http://x"",""y"")"`);
    expect(csvCell("=cmd|' /C calc'!A0")).toBe("'=cmd|' /C calc'!A0");
  });

  it('leaves numbers, including negative ones, as numbers', () => {
    expect(csvCell(-3.5)).toBe('-3.5');
    expect(csvCell(0)).toBe('0');
    expect(csvCell(12.25)).toBe('12.25');
  });

  it('leaves ordinary text, ISO times and empties as they are', () => {
    expect(csvCell('proj-a')).toBe('proj-a');
    expect(csvCell('a=b')).toBe('a=b');
    expect(csvCell('2026-11-20T10:00:00.000Z')).toBe('2026-11-20T10:00:00.000Z');
    expect(csvCell(null)).toBe('');
    expect(csvCell(undefined)).toBe('');
    expect(csvCell(true)).toBe('true');
    expect(csvCell('a,b')).toBe('"a,b"');
  });

  it('joins a line', () => {
    expect(csvLine(['user', '=x', -2, null])).toBe("user,'=x,-2,");
  });
});

describe('csvDownloadHeaders', () => {
  const disposition = (name: string) => csvDownloadHeaders(name)['content-disposition']!;

  it('names the file in filename* (UTF-8, percent-encoded) with an ASCII fallback', () => {
    // 中 is E4 B8 AD and 文 is E6 96 87 in UTF-8.
    expect(disposition('review-proj-中文.csv')).toBe(`attachment; filename="review-proj-__.csv"; filename*=UTF-8''review-proj-%E4%B8%AD%E6%96%87.csv`);
    // 🔥 (U+1F525) is one character in the fallback, F0 9F 94 A5 in UTF-8; U+200F (RLM) is E2 80 8F.
    expect(disposition('🔥\u200f.csv')).toBe(`attachment; filename="__.csv"; filename*=UTF-8''%F0%9F%94%A5%E2%80%8F.csv`);
  });

  it('keeps quotes and backslashes out of the quoted fallback', () => {
    expect(disposition('a"b\\c\'d.csv')).toBe(`attachment; filename="a_b_c'd.csv"; filename*=UTF-8''a%22b%5Cc%27d.csv`);
  });

  it('gives values the Headers API accepts, even for a lone surrogate', () => {
    for (const name of ['proj-中文', '\ud800x', 'a\r\nb', '\u202eevil']) expect(() => new Headers(csvDownloadHeaders(name))).not.toThrow();
  });
});
