import { describe, expect, it } from 'vitest';
import { NvidiaSmiFormatError, parseNvidiaSmi, parseQuantity } from './parse.ts';
import { parseXmlAsNodeNvidiaSmi } from './xml-as-node-nvidia-smi.ts';

const ts = '2026-11-28T10:00:00.000Z';

function gpuXml(inner: string, id = '00000000:01:00.0'): string {
  return `<gpu id="${id}">${inner}</gpu>`;
}

async function parse(xml: string) {
  return parseNvidiaSmi(await parseXmlAsNodeNvidiaSmi(xml), ts);
}

describe('parseQuantity', () => {
  it.each([
    ['66 C', 'C', 66],
    [' 37 C ', 'C', 37],
    ['-5 C', 'C', -5],
    ['91 %', '%', 91],
    ['12311 MiB', 'MiB', 12311],
    ['2 GiB', 'MiB', 2048],
    ['170.16 W', 'W', 170.16],
    ['631950 mW', 'W', 631.95],
    ['N/A', 'W', null],
    ['[N/A]', 'W', null],
    [' N/A ', 'W', null],
    ['Requested functionality has been deprecated', 'W', null],
    ['[Requested functionality has been deprecated]', 'W', null],
    ['Not Found', 'C', null],
    ['12 MHz', 'W', null],
    ['garbage', 'W', null],
    ['', 'W', null],
  ] as const)('%j as %s → %j', (raw, unit, want) => {
    expect(parseQuantity(raw, unit)).toBe(want);
  });
});

describe('parseNvidiaSmi', () => {
  it('reads one <gpu> (an object in xml2js) and several (an array) alike', async () => {
    const one = await parse(`<nvidia_smi_log><attached_gpus>4</attached_gpus>${gpuXml('<uuid>GPU-a</uuid><minor_number>3</minor_number>')}</nvidia_smi_log>`);
    expect(one.map((s) => [s.gpuUuid, s.gpuIndex])).toEqual([['GPU-a', 3]]);
    const two = await parse(`<nvidia_smi_log><attached_gpus>1</attached_gpus>${gpuXml('<uuid>GPU-a</uuid><minor_number>N/A</minor_number>')}${gpuXml('<uuid>GPU-b</uuid>', '0000:02:00.0')}</nvidia_smi_log>`);
    // attached_gpus says 1, the document holds 2; minor_number N/A → position.
    expect(two.map((s) => [s.gpuUuid, s.gpuIndex])).toEqual([['GPU-a', 0], ['GPU-b', 1]]);
  });

  it('takes board power only: power_draw, else average, else instant; never module or memory power', async () => {
    const [sample] = await parse(`<nvidia_smi_log>${gpuXml(`<uuid>GPU-a</uuid>
      <module_power_readings><power_draw>900.00 W</power_draw><current_power_limit>1000.00 W</current_power_limit></module_power_readings>
      <gpu_memory_power_readings><average_power_draw>40.00 W</average_power_draw></gpu_memory_power_readings>
      <gpu_power_readings><power_draw>Requested functionality has been deprecated</power_draw>
        <average_power_draw>N/A</average_power_draw><instant_power_draw>612.40 W</instant_power_draw>
        <current_power_limit>700.00 W</current_power_limit></gpu_power_readings>`)}</nvidia_smi_log>`);
    expect(sample.powerW).toBe(612.4);
    expect(sample.powerLimitW).toBe(700);
  });

  it('prefers enforced_power_limit over power_limit over current_power_limit', async () => {
    const [a] = await parse(`<nvidia_smi_log>${gpuXml('<uuid>GPU-a</uuid><power_readings><power_draw>10.5 W</power_draw><power_limit>250.00 W</power_limit><enforced_power_limit>200.00 W</enforced_power_limit></power_readings>')}</nvidia_smi_log>`);
    expect([a.powerW, a.powerLimitW]).toEqual([10.5, 200]);
    const [b] = await parse(`<nvidia_smi_log>${gpuXml('<uuid>GPU-a</uuid><power_readings><power_limit>250.00 W</power_limit><enforced_power_limit>N/A</enforced_power_limit></power_readings>')}</nvidia_smi_log>`);
    expect([b.powerW, b.powerLimitW]).toEqual([null, 250]);
  });

  it('reads processes, with N/A memory as null, an empty <processes/> and a missing one as []', async () => {
    const samples = await parse(`<nvidia_smi_log>
      ${gpuXml('<uuid>GPU-a</uuid><processes><process_info><pid>42</pid><used_memory>N/A</used_memory></process_info></processes>')}
      ${gpuXml('<uuid>GPU-b</uuid><processes><process_info><pid>7</pid><used_memory>100 MiB</used_memory></process_info><process_info><pid>8</pid><used_memory>5 MiB</used_memory></process_info></processes>')}
      ${gpuXml('<uuid>GPU-c</uuid><processes/>')}
      ${gpuXml('<uuid>GPU-d</uuid>')}
    </nvidia_smi_log>`);
    expect(samples.map((s) => s.processes)).toEqual([
      [{ pid: 42, usedMemMiB: null }],
      [{ pid: 7, usedMemMiB: 100 }, { pid: 8, usedMemMiB: 5 }],
      [],
      [],
    ]);
    expect(samples.every((s) => Array.isArray(s.jobIds) && s.jobIds.length === 0)).toBe(true);
  });

  it('reports MIG slices with their processes, utilisation null where hidden', async () => {
    const [sample] = await parse(`<nvidia_smi_log>${gpuXml(`<uuid>GPU-a</uuid>
      <mig_mode><current_mig>Enabled</current_mig></mig_mode>
      <mig_devices>
        <mig_device><gpu_instance_id>1</gpu_instance_id><compute_instance_id>0</compute_instance_id>
          <fb_memory_usage><total>19968 MiB</total><used>37 MiB</used></fb_memory_usage></mig_device>
        <mig_device><gpu_instance_id>5</gpu_instance_id><compute_instance_id>0</compute_instance_id>
          <fb_memory_usage><total>9856 MiB</total><used>7300 MiB</used></fb_memory_usage></mig_device>
      </mig_devices>
      <utilization><gpu_util>N/A</gpu_util></utilization>
      <processes>
        <process_info><gpu_instance_id>5</gpu_instance_id><compute_instance_id>0</compute_instance_id><pid>100</pid><used_memory>7276 MiB</used_memory></process_info>
        <process_info><gpu_instance_id>1</gpu_instance_id><compute_instance_id>0</compute_instance_id><pid>200</pid><used_memory>20 MiB</used_memory></process_info>
      </processes>`)}</nvidia_smi_log>`);
    expect(sample.utilPct).toBeNull();
    expect(sample.processes?.map((p) => p.pid)).toEqual([100, 200]);
    expect(sample.migDevices).toEqual([
      { gpuInstanceId: 1, computeInstanceId: 0, memUsedMiB: 37, memTotalMiB: 19968, processes: [{ pid: 200, usedMemMiB: 20 }] },
      { gpuInstanceId: 5, computeInstanceId: 0, memUsedMiB: 7300, memTotalMiB: 9856, processes: [{ pid: 100, usedMemMiB: 7276 }] },
    ]);
  });

  it('gives MIG-enabled GPUs without slices an empty list and non-MIG GPUs none', async () => {
    const samples = await parse(`<nvidia_smi_log>
      ${gpuXml('<uuid>GPU-a</uuid><mig_mode><current_mig>Enabled</current_mig></mig_mode><mig_devices>None</mig_devices>')}
      ${gpuXml('<uuid>GPU-b</uuid><mig_mode><current_mig>Disabled</current_mig></mig_mode><mig_devices>None</mig_devices>')}
    </nvidia_smi_log>`);
    expect(samples.map((s) => s.migDevices)).toEqual([[], undefined]);
  });

  it('turns values outside the wire limits into null rather than a refused batch', async () => {
    const [sample] = await parse(`<nvidia_smi_log>${gpuXml(`<uuid>GPU-a</uuid><minor_number>5000</minor_number>
      <utilization><gpu_util>250 %</gpu_util></utilization><fb_memory_usage><used>-1 MiB</used><total>80 GiB</total></fb_memory_usage>
      <power_readings><power_draw>-3.00 W</power_draw></power_readings><temperature><gpu_temp>-5 C</gpu_temp></temperature>`)}</nvidia_smi_log>`);
    expect(sample).toMatchObject({ gpuIndex: 0, utilPct: null, memUsedMiB: null, memTotalMiB: 81920, powerW: null, tempC: -5 });
  });

  it('stands in the PCI bus id for a missing uuid', async () => {
    const [sample] = await parse(`<nvidia_smi_log>${gpuXml('<uuid>N/A</uuid><product_name>N/A</product_name>', '00000000:41:00.0')}</nvidia_smi_log>`);
    expect(sample.gpuUuid).toBe('PCI-00000000:41:00.0');
    expect(sample.model).toBeNull();
  });

  it('refuses a document that is not an nvidia-smi log', async () => {
    await expect(parse('<something_else><gpu/></something_else>')).rejects.toBeInstanceOf(NvidiaSmiFormatError);
    expect(() => parseNvidiaSmi(null, ts)).toThrow(NvidiaSmiFormatError);
  });

  it('treats a tag named __proto__ as data, polluting nothing', async () => {
    const samples = await parse(`<nvidia_smi_log>${gpuXml('<uuid>GPU-a</uuid><__proto__><polluted>yes</polluted></__proto__>')}</nvidia_smi_log>`);
    expect(samples).toHaveLength(1);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('XML safety (xml2js/sax as node-nvidia-smi configures them)', () => {
  it('accepts an inline DTD subset that only declares elements', async () => {
    const samples = await parse(`<?xml version="1.0" ?>
<!DOCTYPE nvidia_smi_log [
  <!ELEMENT nvidia_smi_log (gpu)*>
  <!ELEMENT gpu (uuid)>
]>
<nvidia_smi_log>${gpuXml('<uuid>GPU-dtd</uuid>')}</nvidia_smi_log>`);
    expect(samples.map((s) => s.gpuUuid)).toEqual(['GPU-dtd']);
  });

  it('refuses internal entity expansion (billion laughs) instead of expanding it', async () => {
    const bomb = `<?xml version="1.0"?>
<!DOCTYPE nvidia_smi_log [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
]>
<nvidia_smi_log>${gpuXml('<uuid>&lol2;</uuid>')}</nvidia_smi_log>`;
    await expect(parseXmlAsNodeNvidiaSmi(bomb)).rejects.toThrow(/Invalid character entity/);
  });

  it('neither reads nor fetches external entities', async () => {
    const xxe = `<?xml version="1.0"?>
<!DOCTYPE nvidia_smi_log [ <!ENTITY secret SYSTEM "file:///etc/hostname"> ]>
<nvidia_smi_log>${gpuXml('<uuid>GPU-a</uuid><product_name>&secret;</product_name>')}</nvidia_smi_log>`;
    await expect(parseXmlAsNodeNvidiaSmi(xxe)).rejects.toThrow(/Invalid character entity/);
  });

  it('leaves the declaration inert when no entity is referenced', async () => {
    const samples = await parse(`<?xml version="1.0"?>
<!DOCTYPE nvidia_smi_log SYSTEM "http://127.0.0.1:9/nvsmi_device_v12.dtd" [ <!ENTITY x "expanded"> ]>
<nvidia_smi_log>${gpuXml('<uuid>GPU-a</uuid><product_name>x</product_name>')}</nvidia_smi_log>`);
    expect(samples[0].model).toBe('x');
  });
});
