import { describe, expect, it } from 'vitest';
import { expandHostlist } from './hostlist.ts';

describe('expandHostlist', () => {
  it('expands ranges and keeps zero padding', () => {
    expect(expandHostlist('cn[1-2]')).toEqual(['cn1', 'cn2']);
    expect(expandHostlist('d13n[03,05,07-08,16]')).toEqual(['d13n03', 'd13n05', 'd13n07', 'd13n08', 'd13n16']);
    expect(expandHostlist('n[08-11]')).toEqual(['n08', 'n09', 'n10', 'n11']);
  });

  it('splits top-level commas only and handles several bracket groups', () => {
    expect(expandHostlist('d09n04s[01-02],d09n05s02')).toEqual(['d09n04s01', 'd09n04s02', 'd09n05s02']);
    expect(expandHostlist('r[1-2]n[1,3]')).toEqual(['r1n1', 'r1n3', 'r2n1', 'r2n3']);
    expect(expandHostlist('ng[30103,30203,30706-30707]')).toHaveLength(4);
  });

  it('gives no nodes for empty and unassigned lists', () => {
    expect(expandHostlist('')).toEqual([]);
    expect(expandHostlist('None assigned')).toEqual([]);
    expect(expandHostlist(null)).toEqual([]);
  });

  it('refuses malformed expressions with the reason', () => {
    expect(() => expandHostlist('cn[1-')).toThrow(/unclosed/);
    expect(() => expandHostlist('cn[5-2]')).toThrow(/descending/);
    expect(() => expandHostlist('cn[a]')).toThrow(/bad range/);
  });
});
