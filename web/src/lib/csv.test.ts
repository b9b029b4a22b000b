import { describe, expect, it } from 'vitest';
import { toCsv } from './csv.ts';

describe('toCsv (the dashboard CSV buttons)', () => {
  it('writes names that look like formulas as text and keeps numbers numeric', () => {
    const csv = toCsv(['user', 'project', 'gpuHours', 'remainingGpuHours'], [
      ['=HYPERLINK("http://x","y")', "=cmd|' /C calc'!A0", 1.5, -3.5],
      ['@bob', '+proj', 0, null],
      ['-carol', '\tproj', 2, undefined],
      ['alice', 'proj-a', 3, -0.25],
    ]);
    expect(csv).toBe(
      [
        'user,project,gpuHours,remainingGpuHours',
        `"'=HYPERLINK(""http://x"",""y"")",'=cmd|' /C calc'!A0,1.5,-3.5`,
        "'@bob,'+proj,0,",
        "'-carol,'\tproj,2,",
        'alice,proj-a,3,-0.25',
        '',
      ].join('\r\n'),
    );
  });

  it('quotes a carriage return after the prefix', () => {
    expect(toCsv(['a'], [['\rx']])).toBe(`a\r\n"'\rx"\r\n`);
  });
});
