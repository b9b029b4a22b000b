/**
 * Parses XML exactly as node-nvidia-smi does (its xml2js, its options), for tests and
 * tools that hold a recorded document rather than a running nvidia-smi.
 */
import { createRequire } from 'node:module';

interface Xml2js {
  parseString(xml: string, options: object, callback: (error: Error | null, data: unknown) => void): void;
}

// The xml2js that node-nvidia-smi itself resolves (pinned by the package's overrides),
// not whichever copy happens to be hoisted.
const requireFromNvidiaSmi = createRequire(createRequire(import.meta.url).resolve('node-nvidia-smi'));
const xml2js = requireFromNvidiaSmi('xml2js') as Xml2js;

/** node-nvidia-smi's options (node_modules/node-nvidia-smi/index.js). */
export const NODE_NVIDIA_SMI_XML_OPTIONS = { explicitArray: false, trim: true } as const;

/** Parses one document into the object node-nvidia-smi would hand the collector. */
export function parseXmlAsNodeNvidiaSmi(xml: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    xml2js.parseString(xml, NODE_NVIDIA_SMI_XML_OPTIONS, (error, data) => (error ? reject(error) : resolve(data)));
  });
}
