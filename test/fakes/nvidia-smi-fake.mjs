#!/usr/bin/env node
// FAKE nvidia-smi, for tests only: answers `--query-gpu=name --format=csv,noheader`
// with the names in FAKE_NVIDIA_SMI_GPUS (comma-separated; default one H100), or fails
// like nvidia-smi without a driver when FAKE_NVIDIA_SMI_FAIL=1. The embedded server's GPU
// monitor query (`--query-gpu=uuid,utilization.gpu,... --format=csv,noheader,nounits -lms N`)
// prints FAKE_NVIDIA_SMI_SAMPLE (lines separated by ';') every N ms until killed, and
// appends its argv to FAKE_NVIDIA_SMI_RECORD when set.
const env = process.env;
if (env.FAKE_NVIDIA_SMI_FAIL === '1') {
  process.stdout.write("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\n");
  process.exit(9);
}
const args = process.argv.slice(2);
const gpus = (env.FAKE_NVIDIA_SMI_GPUS || 'NVIDIA H100 80GB HBM3').split(',');
if (args.includes('--query-gpu=name') && args.includes('--format=csv,noheader')) {
  process.stdout.write(gpus.join('\n') + '\n');
  process.exit(0);
}
const query = args.find((a) => a.startsWith('--query-gpu=uuid,'));
if (query && args.includes('--format=csv,noheader,nounits')) {
  if (env.FAKE_NVIDIA_SMI_RECORD) {
    const { appendFileSync } = await import('node:fs');
    appendFileSync(env.FAKE_NVIDIA_SMI_RECORD, JSON.stringify({ argv: args, pid: process.pid }) + '\n');
  }
  const lines = (env.FAKE_NVIDIA_SMI_SAMPLE || 'GPU-fake-0000, 37, 2048, 81559, 120.50').split(';').join('\n') + '\n';
  const i = args.indexOf('-lms');
  const every = i >= 0 ? Number(args[i + 1]) : 0;
  process.stdout.write(lines);
  if (every > 0) setInterval(() => process.stdout.write(lines), every);
  else process.exit(0);
} else {
  process.stdout.write('FAKE nvidia-smi: only --query-gpu=name --format=csv,noheader is answered\n');
process.exit(2);
}
