/**
 * Conformance over every recorded `nvidia-smi -q -x` document in ../shared: each row
 * states, as literals read from the XML, what the collector must report. A document
 * added to the corpus without a row fails the test.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { gpuBatchSchema } from '../shared/wire.ts';
import { parseNvidiaSmi } from './parse.ts';
import { parseXmlAsNodeNvidiaSmi } from './xml-as-node-nvidia-smi.ts';
import { missing } from '../../test/support/requirements.ts';

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const sharedDir = resolve(repoRoot, '../shared');
const xmlDir = join(sharedDir, 'fixtures/nvidia-smi/xml');

interface ExpectedGpu {
  uuid: string;
  index: number;
  util: number | null;
  memUsed: number | null;
  memTotal: number | null;
  powerW: number | null;
  powerLimitW: number | null;
  tempC: number | null;
  pids: number[];
  /** used_memory per process where some are N/A (Windows/WDDM). */
  procMem?: (number | null)[];
  /** MIG slices: GPU instance id, memory used/total MiB, pids on the slice. */
  mig?: { gi: number; used: number; total: number; pids: number[] }[];
}

// Values read from each document: minor_number (position where N/A), the board power
// section's power_draw → average_power_draw → instant_power_draw, and
// enforced_power_limit → power_limit → current_power_limit.
const rows: { file: string; gpus: ExpectedGpu[] }[] = [
  {
    file: 'ceems_a100-pcie-40gb_x8_MIG_535.129.03_v12dtd_EDITED.xml',
    gpus: [
      { uuid: 'GPU-f124aa59-d406-d45b-9481-8fcd694e6c9e', index: 0, util: null, memUsed: null, memTotal: null, powerW: null, powerLimitW: null, tempC: null, pids: [239709] },
      { uuid: 'GPU-61a65011-6571-a6d2-5ab8-66cbb6f7f9c3', index: 1, util: null, memUsed: null, memTotal: null, powerW: null, powerLimitW: null, tempC: null, pids: [] },
      { uuid: 'GPU-956348bc-d43d-23ed-53d4-857749fa2b67', index: 2, util: null, memUsed: null, memTotal: null, powerW: null, powerLimitW: null, tempC: null, pids: [239709], mig: [{ gi: 1, used: 37, total: 19968, pids: [] }, { gi: 5, used: 12, total: 9856, pids: [239709] }, { gi: 13, used: 12, total: 4864, pids: [] }] },
      { uuid: 'GPU-feba7e40-d724-01ff-b00f-3a439a28a6c7', index: 3, util: null, memUsed: null, memTotal: null, powerW: null, powerLimitW: null, tempC: null, pids: [], mig: [{ gi: 1, used: 49, total: 19968, pids: [] }, { gi: 5, used: 25, total: 9856, pids: [] }, { gi: 6, used: 12, total: 9856, pids: [] }] },
      { uuid: 'GPU-61a65011-6571-a6d2-5th8-66cbb6f7f9c3', index: 4, util: null, memUsed: null, memTotal: null, powerW: null, powerLimitW: null, tempC: null, pids: [] },
      { uuid: 'GPU-61a65011-6571-a64n-5ab8-66cbb6f7f9c3', index: 5, util: null, memUsed: null, memTotal: null, powerW: null, powerLimitW: null, tempC: null, pids: [] },
      { uuid: 'GPU-1d4d0f3e-b51a-4040-96e3-bf380f7c5728', index: 6, util: null, memUsed: null, memTotal: null, powerW: null, powerLimitW: null, tempC: null, pids: [] },
      { uuid: 'GPU-6cc98505-fdde-461e-a93c-6935fba45a27', index: 7, util: null, memUsed: null, memTotal: null, powerW: null, powerLimitW: null, tempC: null, pids: [] },
    ],
  },
  {
    file: 'datakit_gtx-1050_515.65.01_nodtd.xml',
    gpus: [
      { uuid: 'GPU-06e04616-0ed5-4069-5ebc-345349a0d4f3', index: 0, util: 7, memUsed: 65, memTotal: 4096, powerW: null, powerLimitW: null, tempC: 44, pids: [1200, 30091] },
    ],
  },
  {
    file: 'datakit_tesla-v100-pcie-32gb_460.39_v11dtd.xml',
    gpus: [
      { uuid: 'GPU-e77ce5d8-8b63-c936-3c1b-839d45bcd0f2', index: 0, util: 91, memUsed: 12311, memTotal: 32510, powerW: 170.16, powerLimitW: 250, tempC: 66, pids: [4027538, 4027590, 4157880, 4165319] },
    ],
  },
  {
    file: 'llamaland_rtx-a5000-laptop_575.57.08_v12dtd.xml',
    gpus: [
      { uuid: 'GPU-0946ec38-a612-7b0e-8df3-0e64fe5b111e', index: 0, util: 0, memUsed: 51, memTotal: 16384, powerW: 30.63, powerLimitW: 90, tempC: 61, pids: [] },
    ],
  },
  {
    file: 'netdata_rtx-2080_516.59_v11dtd_windows.xml',
    gpus: [
      { uuid: 'GPU-fbd55ed4-1eec-4423-0a47-ad594b4333e3', index: 0, util: 2, memUsed: 862, memTotal: 8192, powerW: 14.5, powerLimitW: 275, tempC: 29, pids: [7724, 10808, 11556, 12452, 12636, 13120, 14296, 16508, 16592, 20920, 21004, 21036, 21048, 21104, 21292, 21472, 21852, 22600, 23652, 25436, 25520, 25696, 26972, 27148, 27628, 30212], procMem: [null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null] },
    ],
  },
  {
    file: 'netdata_rtx-3060-laptop_515.65.01_v11dtd.xml',
    gpus: [
      { uuid: 'GPU-473d8d0f-d462-185c-6b36-6fc23e23e571', index: 0, util: 0, memUsed: 5, memTotal: 6144, powerW: 8.7, powerLimitW: null, tempC: 45, pids: [28543] },
    ],
  },
  {
    file: 'netdata_rtx-pro-6000-blackwell_580_EXCERPT.xml',
    gpus: [
      { uuid: 'GPU-11111111-2222-3333-4444-555555555555', index: 0, util: null, memUsed: null, memTotal: null, powerW: 66.84, powerLimitW: null, tempC: 37, pids: [] },
    ],
  },
  {
    file: 'netdata_tesla-p100-pcie-16gb_510.47.03_v11dtd.xml',
    gpus: [
      { uuid: 'GPU-d3da8716-eaab-75db-efc1-60e88e1cd55e', index: 0, util: 0, memUsed: 0, memTotal: 16384, powerW: 26.16, powerLimitW: 250, tempC: 38, pids: [] },
    ],
  },
  {
    file: 'pai_gtx-1070_384.66_v9dtd_TRIMMED.xml',
    gpus: [
      { uuid: 'GPU-e511a7b2-f9d5-ba47-9b98-853732ca6c1b', index: 0, util: 100, memUsed: 2028, memTotal: 8112, powerW: 119.47, powerLimitW: 180, tempC: 60, pids: [1357, 2384, 3093] },
      { uuid: 'GPU-28daffaf-8abe-aaf8-c298-4bd13aecb5e6', index: 1, util: 98, memUsed: 4057, memTotal: 8114, powerW: 139.3, powerLimitW: 180, tempC: 59, pids: [3093] },
    ],
  },
  {
    file: 'pai_rtx-2080ti_x2_410.73_v10dtd.xml',
    gpus: [
      { uuid: 'GPU-57567e11-0be2-381b-5132-2ad95c262e58', index: 0, util: 0, memUsed: 0, memTotal: 10989, powerW: 2.12, powerLimitW: 250, tempC: 24, pids: [] },
      { uuid: 'GPU-ef1d0068-5bfd-f1e4-7e79-ff35d71d44b8', index: 1, util: 0, memUsed: 0, memTotal: 10989, powerW: 19.11, powerLimitW: 250, tempC: 24, pids: [] },
    ],
  },
  {
    file: 'pai_tesla-v100-sxm3-32gb_410.104_TRIMMED.xml',
    gpus: [
      { uuid: 'GPU-ef23ffa6-c9fd-93d5-aeb8-612c087255ff', index: 0, util: 0, memUsed: 0, memTotal: 32480, powerW: 50.6, powerLimitW: 350, tempC: 33, pids: [] },
    ],
  },
  {
    file: 'rai_grid-k520_352.99_v7dtd.xml',
    gpus: [
      { uuid: 'GPU-cc96d6f4-7f66-e1fc-8179-a45dbd47664c', index: 0, util: 0, memUsed: 11, memTotal: 4095, powerW: 17.97, powerLimitW: 125, tempC: 31, pids: [] },
    ],
  },
  {
    file: 'telegraf_a100-sxm4-80gb_x4_535.54.03_v12dtd.xml',
    gpus: [
      { uuid: 'GPU-513536b6-7d19-9063-b049-1e69664bb298', index: 1, util: null, memUsed: 50, memTotal: 81920, powerW: 67.03, powerLimitW: 500, tempC: 27, pids: [], mig: [{ gi: 3, used: 12, total: 19968, pids: [] }, { gi: 4, used: 12, total: 19968, pids: [] }, { gi: 5, used: 12, total: 19968, pids: [] }, { gi: 6, used: 12, total: 19968, pids: [] }] },
    ],
  },
  {
    file: 'telegraf_a10g_515.105.01_v11dtd.xml',
    gpus: [
      { uuid: 'GPU-9a9a6c50-2a47-2f51-a902-b82c3b127e94', index: 0, util: 0, memUsed: 22, memTotal: 23028, powerW: 25.58, powerLimitW: 300, tempC: 17, pids: [725] },
    ],
  },
  {
    file: 'telegraf_gt-1030_470.74_v11dtd.xml',
    gpus: [
      { uuid: 'GPU-857c6374-f681-cf3a-f99f-9063a87b8ac0', index: 0, util: 0, memUsed: 875, memTotal: 1998, powerW: null, powerLimitW: 30, tempC: 36, pids: [607, 746, 750, 816, 992, 1000, 1005, 1006, 1264, 2028] },
    ],
  },
  {
    file: 'telegraf_gtx-1070-ti_fragment_v10dtd.xml',
    gpus: [
      { uuid: 'GPU-f9ba66fc-a7f5-94c5-da19-019ef2f9c665', index: 0, util: 0, memUsed: 42, memTotal: 4096, powerW: null, powerLimitW: null, tempC: 39, pids: [] },
    ],
  },
  {
    file: 'telegraf_gtx-1660-ti_418.43_nodtd.xml',
    gpus: [
      { uuid: 'GPU-304a277d-3545-63b8-3a36-dfde3c992989', index: 0, util: 0, memUsed: 0, memTotal: 5912, powerW: 8.93, powerLimitW: 130, tempC: 40, pids: [] },
    ],
  },
  {
    file: 'telegraf_quadro-p2000_525.125.06_v12dtd.xml',
    gpus: [
      { uuid: 'GPU-396caaed-39ca-3199-2e68-717cdb786ec6', index: 0, util: 0, memUsed: 1, memTotal: 5120, powerW: 4.61, powerLimitW: 75, tempC: 34, pids: [] },
    ],
  },
  {
    file: 'telegraf_quadro-p400_418.43_nodtd.xml',
    gpus: [
      { uuid: 'GPU-8f750be4-dfbc-23b9-b33f-da729a536494', index: 0, util: 0, memUsed: 0, memTotal: 1998, powerW: null, powerLimitW: null, tempC: 33, pids: [] },
    ],
  },
  {
    file: 'telegraf_rtx-2070_x2_590.44.01_v13dtd.xml',
    gpus: [
      { uuid: 'GPU-12345678-aaaa-bbbb-cccc-0123456789ab', index: 0, util: 0, memUsed: 1, memTotal: 8192, powerW: 9.23, powerLimitW: 175, tempC: 14, pids: [] },
      { uuid: 'GPU-12345678-aaaa-bbbb-cccc-0123456789cd', index: 1, util: 0, memUsed: 1, memTotal: 8192, powerW: 11.82, powerLimitW: 175, tempC: 13, pids: [] },
    ],
  },
  {
    file: 'telegraf_rtx-2080_x2_590.44.01_v13dtd.xml',
    gpus: [
      { uuid: 'GPU-12345678-aaaa-bbbb-cccc-0123456789ab', index: 0, util: 0, memUsed: 1, memTotal: 8192, powerW: 1, powerLimitW: 215, tempC: 15, pids: [] },
      { uuid: 'GPU-12345678-aaaa-bbbb-cccc-0123456789ab', index: 1, util: 0, memUsed: 1, memTotal: 8192, powerW: 1.62, powerLimitW: 215, tempC: 15, pids: [] },
    ],
  },
  {
    file: 'telegraf_rtx-3060_570.124.04_v12dtd.xml',
    gpus: [
      { uuid: 'GPU-d6889ff6-2523-9142-ca3c-1ca3f396a625', index: 0, util: 0, memUsed: 116, memTotal: 12288, powerW: 11.6, powerLimitW: 170, tempC: 42, pids: [] },
    ],
  },
  {
    file: 'telegraf_rtx-3080_536.40_v12dtd_windows.xml',
    gpus: [
      { uuid: 'GPU-19d6d965-2acc-f646-00f8-4c76979aabb4', index: 0, util: 0, memUsed: 1128, memTotal: 10240, powerW: 22.78, powerLimitW: 336, tempC: 31, pids: [835, 1481, 2214, 4044, 42416] },
    ],
  },
  {
    file: 'telegraf_rtx-3080_595.58.03_v13dtd.xml',
    gpus: [
      { uuid: 'GPU-19d6d965-2acc-f646-00f8-4c76979aabb4', index: 0, util: 65, memUsed: 9184, memTotal: 10240, powerW: 139.62, powerLimitW: 320, tempC: 27, pids: [] },
    ],
  },
  {
    file: 'telegraf_rtx-3090_525.147.05_v12dtd.xml',
    gpus: [
      { uuid: 'GPU-12345678-aaaa-bbbb-cccc-0123456789ab', index: 0, util: 0, memUsed: 1, memTotal: 24576, powerW: 27.23, powerLimitW: 200, tempC: 37, pids: [] },
    ],
  },
  {
    file: 'telegraf_rtx-3090_590.44.01_v13dtd.xml',
    gpus: [
      { uuid: 'GPU-12345678-aaaa-bbbb-cccc-0123456789ab', index: 0, util: 0, memUsed: 7, memTotal: 24576, powerW: 35.06, powerLimitW: 350, tempC: 32, pids: [] },
    ],
  },
  {
    file: 'telegraf_rtx-pro-6000-blackwell-maxq_590.44.01_v13dtd.xml',
    gpus: [
      { uuid: 'GPU-12345678-aaaa-bbbb-cccc-0123456789ab', index: 0, util: 0, memUsed: 65720, memTotal: 97887, powerW: 3.97, powerLimitW: 300, tempC: 24, pids: [116860] },
    ],
  },
  {
    file: 'telegraf_tesla-t4_515.105.01_v11dtd.xml',
    gpus: [
      { uuid: 'GPU-d37e67a5-91dd-3774-a5cb-99096249601a', index: 0, util: 0, memUsed: 1032, memTotal: 15360, powerW: 26.78, powerLimitW: 70, tempC: 40, pids: [675, 5762] },
    ],
  },
];

function readLikeNodeNvidiaSmi(file: string): Promise<unknown> {
  return parseXmlAsNodeNvidiaSmi(readFileSync(join(xmlDir, file), 'utf8'));
}

describe.skipIf(missing('../shared/fixtures/nvidia-smi', existsSync(xmlDir)))('nvidia-smi corpus conformance', () => {
  it('has a row for every document and a document for every row', () => {
    const files = readdirSync(xmlDir).filter((f) => f.endsWith('.xml')).sort();
    expect(rows.map((r) => r.file).sort()).toEqual(files);
  });

  it.each(rows)('$file', async ({ file, gpus }) => {
    const ts = '2026-11-28T10:00:00.000Z';
    const samples = parseNvidiaSmi(await readLikeNodeNvidiaSmi(file), ts);
    expect(samples).toHaveLength(gpus.length);
    gpus.forEach((want, i) => {
      const got = samples[i];
      expect(got.ts).toBe(ts);
      expect(got.gpuUuid).toBe(want.uuid);
      expect(got.gpuIndex).toBe(want.index);
      expect(got.utilPct).toBe(want.util);
      expect(got.memUsedMiB).toBe(want.memUsed);
      expect(got.memTotalMiB).toBe(want.memTotal);
      expect(got.powerW).toBe(want.powerW);
      expect(got.powerLimitW).toBe(want.powerLimitW);
      expect(got.tempC).toBe(want.tempC);
      expect((got.processes ?? []).map((p) => p.pid)).toEqual(want.pids);
      if (want.procMem) expect((got.processes ?? []).map((p) => p.usedMemMiB)).toEqual(want.procMem);
      if (want.mig) {
        expect(got.migDevices?.map((m) => ({ gi: m.gpuInstanceId, used: m.memUsedMiB, total: m.memTotalMiB, pids: (m.processes ?? []).map((p) => p.pid) }))).toEqual(want.mig);
      } else {
        expect(got.migDevices).toBeUndefined();
      }
    });
    // Whatever the document, the batch is one the server accepts.
    const batch = gpuBatchSchema.safeParse({ schema: 1, cluster: 'c', node: 'n', samples });
    expect(batch.success, JSON.stringify(batch.error?.issues[0])).toBe(true);
  });
});
