/** commander wiring from the option table: each command receives the flags the table gives it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildProgram, type Actions, type Flags } from '../../src/cli/program.js';

function recorder() {
  const calls: { action: string; args: unknown[] }[] = [];
  const rec = (action: string) => async (...args: unknown[]) => {
    calls.push({ action, args });
    return 0;
  };
  const actions: Actions = {
    run: rec('run'), plan: rec('plan'), report: rec('report'), compare: rec('compare'),
    exportBaseline: rec('exportBaseline'), regress: rec('regress'), exportLandscape: rec('exportLandscape'),
  };
  return { calls, program: buildProgram(actions, () => {}) };
}

test('regress takes the launch flags of a run: a replayed landscape, a local Triton at a custom path', async () => {
  const { calls, program } = recorder();
  await program.parseAsync(['node', 'tanalyze', 'regress', '--baseline', 'b.json', '--launch', 'local', '--triton-path', '/opt/tritonserver/bin/tritonserver', '--landscape', 'l.csv',
    '--triton-image', 'img', '--gpus', '0', '--docker-socket', '/s', '--metrics-url', 'http://h:8002/metrics', '--engine-target', 'tensorrt_plan', '--engine-cache', '/c']);
  assert.equal(calls[0]!.action, 'regress');
  assert.deepEqual(calls[0]!.args[0] as Flags, {
    baseline: 'b.json', launch: 'local', tritonPath: '/opt/tritonserver/bin/tritonserver', landscape: 'l.csv', tritonImage: 'img', gpus: '0',
    dockerSocket: '/s', metricsUrl: 'http://h:8002/metrics', engineTarget: 'tensorrt_plan', engineCache: '/c',
  });
});

test('plan takes the flags of a run and hands them to its own action, not the run', async () => {
  const { calls, program } = recorder();
  await program.parseAsync(['node', 'tanalyze', 'plan', '--model', 'm', '--p99', '20ms', '--budget', '6', '--json']);
  assert.equal(calls.length, 1);
  assert.equal(calls[0]!.action, 'plan');
  assert.deepEqual(calls[0]!.args[0], { model: 'm', p99: '20ms', budget: '6', json: true });
});

test('--resume alone reaches the run with no other flag (no defaults filled in by commander)', async () => {
  const { calls, program } = recorder();
  await program.parseAsync(['node', 'tanalyze', '--resume', 'latest']);
  assert.equal(calls[0]!.action, 'run');
  assert.deepEqual(calls[0]!.args[0], { resume: 'latest' });
});

test('a flag a command does not take is refused by that command', async () => {
  const { program } = recorder();
  program.configureOutput({ writeErr: () => {}, writeOut: () => {} });
  await assert.rejects(program.parseAsync(['node', 'tanalyze', 'report', 'latest', '--landscape', 'x.csv']), /unknown option '--landscape'/);
});
