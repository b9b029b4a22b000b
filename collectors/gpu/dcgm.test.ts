/**
 * dcgm-exporter scrapes (../shared/fixtures/dcgm-exporter, real captures): every field the
 * collector builds, checked against values read from the file independently (a line
 * search by metric and GPU, not the parser under test).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { missing } from '../../test/support/requirements.ts';
import { ExpositionError, dcgmNodes, parseExposition } from './dcgm.ts';

const dir = resolve(import.meta.dirname, '../../../shared/fixtures/dcgm-exporter');
const read = (file: string) => readFileSync(join(dir, file), 'utf8');
const TS = '2026-12-04T10:00:00.000Z';

/** The value on the first line of `metric` whose labels contain every `must` fragment (and no GPU_I_ID unless asked). */
function valueOf(text: string, metric: string, must: string[], instance = false): number | null {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}{`)) continue;
    if (!must.every((m) => line.includes(m))) continue;
    if (!instance && line.includes('GPU_I_ID=')) continue;
    return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return null;
}

describe.skipIf(missing('../shared/fixtures/dcgm-exporter', existsSync(dir)))('GPU samples from dcgm-exporter scrapes', () => {
  it('builds one sample per GPU with power, utilisation, memory, temperature, model and node (L4, kops)', () => {
    const file = 'cncf-k8s-ai-conformance_kops_l4_580.105.08.prom';
    const text = read(file);
    const [node] = dcgmNodes(parseExposition(text), TS);
    const uuid = /UUID="([^"]+)"/.exec(text)![1]!;
    expect(node!.node).toBe(/Hostname="([^"]+)"/.exec(text)![1]);
    expect(node!.samples).toHaveLength(1);
    const s = node!.samples[0]!;
    const u = [`UUID="${uuid}"`];
    expect(s).toMatchObject({
      ts: TS,
      gpuUuid: uuid,
      gpuIndex: 0,
      model: 'NVIDIA L4',
      powerW: valueOf(text, 'DCGM_FI_DEV_POWER_USAGE', u),
      utilPct: valueOf(text, 'DCGM_FI_DEV_GPU_UTIL', u),
      memUsedMiB: valueOf(text, 'DCGM_FI_DEV_FB_USED', u),
      memTotalMiB: valueOf(text, 'DCGM_FI_DEV_FB_USED', u)! + valueOf(text, 'DCGM_FI_DEV_FB_FREE', u)! + (valueOf(text, 'DCGM_FI_DEV_FB_RESERVED', u) ?? 0),
      tempC: valueOf(text, 'DCGM_FI_DEV_GPU_TEMP', u),
      jobIds: [],
    });
    // Stated in SOURCES.md: an idle L4 at 16.365 W.
    expect(s.powerW).toBe(16.365);
  });

  it('takes a MIG GPU’s power once, from its whole-GPU series, and counts each GPU once (A100 MIG docs sample)', () => {
    const text = read('nvidia-cloud-native-docs_a100_mig-1g.5gb_dcp_docs-sample.prom');
    const [node] = dcgmNodes(parseExposition(text), TS);
    expect(node!.samples).toHaveLength(1);
    expect(node!.samples[0]!.powerW).toBe(409.692);
    expect(node!.samples[0]!.model).toBeNull();
    expect(node!.samples[0]!.memUsedMiB).toBe(4845);
    expect(node!.samples[0]!.memTotalMiB).toBe(4845 + 35690);
  });

  it('never sums power repeated per GPU instance (A30 MIG, copies sampled apart; A800 with GPU 0 in MIG mode)', () => {
    const a30 = read('dcgm-exporter-issue317_a30_mig-1g.6gb_3.3.5-3.4.1_power-per-gi_EXCERPT.prom');
    const samples = dcgmNodes(parseExposition(a30), TS).flatMap((n) => n.samples);
    const powerLines = a30.split('\n').filter((l) => l.startsWith('DCGM_FI_DEV_POWER_USAGE{'));
    const uuids = [...new Set(powerLines.map((l) => /UUID="([^"]+)"/.exec(l)![1]!))];
    expect(samples.map((s) => s.gpuUuid).sort()).toEqual([...uuids].sort());
    for (const s of samples) {
      // The first copy of that GPU's power in the file.
      const first = powerLines.find((l) => l.includes(`UUID="${s.gpuUuid}"`))!;
      expect(s.powerW).toBe(Number(first.slice(first.lastIndexOf(' ') + 1)));
      expect(s.powerW).toBeLessThan(100);
    }
    const a800 = read('johns-blog_a800-sxm4-80gb_x8_mig-2g.20gb_power-energy_EXCERPT.prom');
    const gpus = dcgmNodes(parseExposition(a800), TS).flatMap((n) => n.samples);
    expect(gpus).toHaveLength(8);
    const gpu0 = gpus.find((s) => s.gpuIndex === 0)!;
    expect(gpu0.powerW).toBe(78.174);
    // No GPU_UTIL series for the MIG GPU: absent, not zero.
    expect(gpu0.utilPct).toBeNull();
    expect(gpus.filter((s) => s.gpuIndex > 0).every((s) => s.utilPct !== null && s.powerW! > 50 && s.powerW! < 60)).toBe(true);
  });

  it('names the Slurm jobs of MIG slices from hpc_job, once per job', () => {
    const text = read('dcgm-exporter-issue369_a100-sxm4-80gb_mig_hpc-job_EXCERPT.prom');
    const [node] = dcgmNodes(parseExposition(text), TS);
    expect(node!.node).toBe('<HOSTNAME>');
    expect(node!.samples).toHaveLength(1);
    expect([...(node!.samples[0]!.jobIds ?? [])].sort()).toEqual(['2115078', '2115107', '2115116']);
    expect(node!.samples[0]!.powerW).toBeNull();
  });

  it('maps Kubernetes pods as namespace/pod when asked, and an idle slice to nothing (H100 MIG)', () => {
    const text = read('dcgm-exporter-issue512_h100_mig_k8s-pod-labels_EXCERPT.prom');
    const pods = [...text.matchAll(/namespace="([^"]+)",pod="([^"]+)"/g)].map((m) => `${m[1]}/${m[2]}`);
    expect(pods.length).toBe(2);
    const [node] = dcgmNodes(parseExposition(text), TS, { jobLabel: 'pod' });
    expect([...(node!.samples[0]!.jobIds ?? [])].sort()).toEqual([...pods].sort());
    expect(dcgmNodes(parseExposition(text), TS)[0]!.samples[0]!.jobIds).toEqual([]);
  });

  it('reads scrapes without HELP/TYPE, with only gpu/UUID/device labels, and a vGPU guest without power', () => {
    const t4 = read('cncf-k8s-ai-conformance_ericsson-ccd_tesla-t4_590.48.01_no-help-type.prom');
    const s = dcgmNodes(parseExposition(t4), TS)[0]!.samples[0]!;
    expect(s.utilPct).toBe(91);
    expect(s.powerW).toBe(68.244);
    const old = dcgmNodes(parseExposition(read('gpu-monitoring-tools-issue189_2021_gpu-uuid-device-only_EXCERPT.prom')), TS);
    expect(old[0]!.node).toBeNull();
    expect(old[0]!.samples.find((x) => x.gpuIndex === 1)!.powerW).toBe(167.362);
    const vgpu = dcgmNodes(parseExposition(read('cncf-k8s-ai-conformance_vks_grid-a100-10c-vgpu_580.126.09.prom')), TS)[0]!.samples[0]!;
    expect(vgpu.powerW).toBeNull();
    expect(vgpu.model).toBe('GRID A100-10C');
  });

  it('sends the energy counter in J and the profiling activities of a whole GPU (T4 under load, L4 idle)', () => {
    const t4 = read('cncf-k8s-ai-conformance_ericsson-ccd_tesla-t4_590.48.01_no-help-type.prom');
    const s = dcgmNodes(parseExposition(t4), TS)[0]!.samples[0]!;
    // Stated in SOURCES.md: TOTAL_ENERGY 15152422938 mJ, GR_ENGINE 0.156205, PIPE_TENSOR 0.005822.
    expect(s.energyJ).toBe(15152422938 / 1000);
    expect(s.grEngineActive).toBe(0.156205);
    expect(s.tensorActive).toBe(0.005822);
    expect(s.dramActive).toBe(valueOf(t4, 'DCGM_FI_PROF_DRAM_ACTIVE', []));
    // The T4 scrape has no SM_ACTIVE: absent, not zero.
    expect(valueOf(t4, 'DCGM_FI_PROF_SM_ACTIVE', [], true)).toBeNull();
    expect(s.smActive).toBeUndefined();
    const l4 = read('cncf-k8s-ai-conformance_kops_l4_580.105.08.prom');
    const idle = dcgmNodes(parseExposition(l4), TS)[0]!.samples[0]!;
    expect(idle.energyJ).toBe(valueOf(l4, 'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION', [])! / 1000);
    expect(idle.grEngineActive).toBe(0);
  });

  it('takes a MIG GPU’s activity from its whole-GPU series, else the mean of its instances, and its energy once (A100 docs, A30, A800)', () => {
    const a100 = read('nvidia-cloud-native-docs_a100_mig-1g.5gb_dcp_docs-sample.prom');
    const s = dcgmNodes(parseExposition(a100), TS)[0]!.samples[0]!;
    // SOURCES.md: whole-GPU GR_ENGINE 0.995630 (the GPU-instance series says 0.995687), TOTAL_ENERGY 319159391 mJ.
    expect(s.grEngineActive).toBe(0.99563);
    expect(s.energyJ).toBe(319159.391);
    // PIPE_TENSOR is given for the whole GPU (0.92926) and for its instance (0.930433): the whole GPU's.
    expect(s.tensorActive).toBe(valueOf(a100, 'DCGM_FI_PROF_PIPE_TENSOR_ACTIVE', []));
    expect(s.tensorActive).not.toBe(valueOf(a100, 'DCGM_FI_PROF_PIPE_TENSOR_ACTIVE', ['GPU_I_ID="13"'], true));
    const a30 = read('dcgm-exporter-issue317_a30_mig-1g.6gb_3.3.5-3.4.1_power-per-gi_EXCERPT.prom');
    for (const g of dcgmNodes(parseExposition(a30), TS).flatMap((n) => n.samples)) {
      const lines = a30.split('\n').filter((l) => l.startsWith('DCGM_FI_PROF_SM_ACTIVE{') && l.includes(`UUID="${g.gpuUuid}"`));
      expect(lines.length).toBeGreaterThan(0);
      expect(g.smActive).toBe(lines.reduce((a, l) => a + Number(l.slice(l.lastIndexOf(' ') + 1)), 0) / lines.length);
    }
    const a800 = read('johns-blog_a800-sxm4-80gb_x8_mig-2g.20gb_power-energy_EXCERPT.prom');
    const gpu0 = dcgmNodes(parseExposition(a800), TS).flatMap((n) => n.samples).find((x) => x.gpuIndex === 0)!;
    // SOURCES.md: 257858316 mJ repeated on three GPU instances; one GPU's counter, not three.
    expect(gpu0.energyJ).toBe(257858.316);
  });

  it('refuses what is not a dcgm-exporter scrape, naming why', () => {
    expect(() => dcgmNodes(parseExposition(read('jobstats-issue32_nvidia-gpu-prometheus-exporter_a100-80gb-pcie_duty-cycle_EXCERPT.prom')), TS)).toThrow(/not a dcgm-exporter scrape/);
  });
});

describe('the text exposition parser', () => {
  it('refuses a line that is not the format, NaN and +Inf values and duplicate series, naming the line', () => {
    expect(() => parseExposition('<html>hello</html>\n')).toThrow(ExpositionError);
    expect(() => parseExposition('a{x="1"} 1\nb{x="1"} NaN\n')).toThrow(/line 2: b is NaN/);
    expect(() => parseExposition('a +Inf\n')).toThrow(/line 1: a is \+Inf/);
    expect(() => parseExposition('a{x="1",y="2"} 1\na{y="2",x="1"} 2\n')).toThrow(/line 2: duplicate series/);
    expect(() => parseExposition('a{x="1} 1\n')).toThrow(/unterminated/);
  });

  it('reads escapes, timestamps and comments', () => {
    expect(parseExposition('# HELP a x\na{l="q\\"\\\\\\n",m="2"} 1.5e3 1700000000000\n')).toEqual([{ name: 'a', labels: { l: 'q"\\\n', m: '2' }, value: 1500, line: 2 }]);
  });
});
