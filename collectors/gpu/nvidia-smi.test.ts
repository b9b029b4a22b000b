/**
 * The real node-nvidia-smi path against fake `nvidia-smi` executables on PATH: each way
 * nvidia-smi can misbehave must end in one NvidiaSmiError that names it and the cause.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { NvidiaSmiError, runNvidiaSmi } from './nvidia-smi.ts';
import { sampleGpus } from './sample.ts';

const root = mkdtempSync(join(tmpdir(), 'heatledger-fake-smi-'));
const originalPath = process.env.PATH;
let counter = 0;

afterEach(() => {
  process.env.PATH = originalPath;
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Puts an executable `nvidia-smi` with this shell body first on PATH. */
function fakeNvidiaSmi(body: string): void {
  const dir = join(root, String(counter++));
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'nvidia-smi');
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
  process.env.PATH = `${dir}:${originalPath}`;
}

function gpu(i: number, padding: string): string {
  return `<gpu id="0000000${i}:00:00.0"><uuid>GPU-${i}</uuid><minor_number>${i}</minor_number>
    <gpu_power_readings><power_draw>${100 + i}.50 W</power_draw></gpu_power_readings>
    <clocks><supported_clocks>${padding}</supported_clocks></clocks></gpu>`;
}

describe('runNvidiaSmi through node-nvidia-smi', () => {
  it('passes `-q -x` and returns the parsed document', async () => {
    // The fake answers only when called exactly as node-nvidia-smi promises to call it.
    fakeNvidiaSmi(`[ "$*" = "-q -x" ] || { echo "bad args: $*" >&2; exit 2; }
cat <<'XML'
<?xml version="1.0" ?>
<nvidia_smi_log><gpu id="00000000:01:00.0"><uuid>GPU-x</uuid></gpu></nvidia_smi_log>
XML`);
    const doc = (await runNvidiaSmi()) as { nvidia_smi_log: { gpu: { uuid: string } } };
    expect(doc.nvidia_smi_log.gpu.uuid).toBe('GPU-x');
  });

  it('reads documents beyond exec’s default 1 MiB cap (an 8-GPU Blackwell node)', async () => {
    const padding = '<supported_graphics_clock>2100 MHz</supported_graphics_clock>'.repeat(2200); // ~130 KB per GPU
    const xml = `<nvidia_smi_log>${Array.from({ length: 9 }, (_, i) => gpu(i, padding)).join('')}</nvidia_smi_log>`;
    expect(xml.length).toBeGreaterThan(1024 * 1024);
    const file = join(root, 'big.xml');
    writeFileSync(file, xml);
    fakeNvidiaSmi(`cat '${file}'`);
    const samples = await sampleGpus({ procRoot: join(root, 'no-proc'), now: () => new Date('2026-11-28T10:00:00Z') });
    expect(samples.map((s) => s.powerW)).toEqual([100.5, 101.5, 102.5, 103.5, 104.5, 105.5, 106.5, 107.5, 108.5]);
  });

  it.each([
    ['is missing', null, /nvidia-smi was not found on PATH/],
    ['cannot reach the driver', `echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."; exit 9`, /nvidia-smi failed with exit code 9: NVIDIA-SMI has failed because it couldn't communicate/],
    ['prints garbage', 'echo "No devices were found"', /nvidia-smi printed something that is not XML/],
    ['prints nothing', 'exit 0', /nvidia-smi printed no XML document/],
    ['writes a warning to stderr', 'echo "<nvidia_smi_log/>"; echo "WARNING: infoROM is corrupted at gpu 0000:01:00.0" >&2', /nvidia-smi wrote to stderr.*infoROM is corrupted/],
    ['prints an entity bomb', `printf '<?xml version="1.0"?><!DOCTYPE n [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><nvidia_smi_log><gpu><uuid>&b;</uuid></gpu></nvidia_smi_log>'`, /not XML.*Invalid character entity/],
  ])('fails clearly when nvidia-smi %s', async (_what, body, message) => {
    if (body === null) process.env.PATH = join(root, 'empty-dir');
    else fakeNvidiaSmi(body);
    const error = await runNvidiaSmi({ timeoutMs: 5_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NvidiaSmiError);
    expect((error as Error).message).toMatch(message);
  });

  it('stops a hung nvidia-smi after the timeout, and runs again afterwards', async () => {
    // No exec: the shell waits on a child of its own, which must not keep us waiting.
    fakeNvidiaSmi('sleep 3; echo late');
    const started = Date.now();
    const error = await runNvidiaSmi({ timeoutMs: 500 }).catch((e: unknown) => e);
    expect((error as Error).message).toBe('nvidia-smi did not answer within 0.5 s and was stopped');
    expect(Date.now() - started).toBeLessThan(5_000);
    fakeNvidiaSmi(`echo '<nvidia_smi_log><gpu><uuid>GPU-y</uuid></gpu></nvidia_smi_log>'`);
    expect(await runNvidiaSmi()).toEqual({ nvidia_smi_log: { gpu: { uuid: 'GPU-y' } } });
  });

  it('reports a document without <nvidia_smi_log> as nvidia-smi output it cannot use', async () => {
    fakeNvidiaSmi(`echo '<html><body>hello</body></html>'`);
    await expect(sampleGpus({ procRoot: join(root, 'no-proc') })).rejects.toThrow(/nvidia-smi printed XML that is not its log/);
  });
});
