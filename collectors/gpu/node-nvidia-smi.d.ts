// node-nvidia-smi 1.0 ships no types. It runs `nvidia-smi -q -x` through
// child_process.exec and calls back with an Error (exec failed or the XML did not
// parse), with the stderr text as a string (anything on stderr), or with xml2js's object.
declare module 'node-nvidia-smi' {
  function nvidiaSmi(callback: (error: Error | string | null, data?: unknown) => void): void;
  export default nvidiaSmi;
}
