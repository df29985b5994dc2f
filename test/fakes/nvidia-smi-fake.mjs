#!/usr/bin/env node
// FAKE nvidia-smi, for tests only: answers `--query-gpu=name --format=csv,noheader`
// with the names in FAKE_NVIDIA_SMI_GPUS (comma-separated; default one H100), or fails
// like nvidia-smi without a driver when FAKE_NVIDIA_SMI_FAIL=1.
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
process.stdout.write('FAKE nvidia-smi: only --query-gpu=name --format=csv,noheader is answered\n');
process.exit(2);
