// Command lines of the bench's grpc and http modes and their sweeps (bench/lib/sweep.ts): which option is swept,
// what each run gets, and that a bad value fails once, before any run.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseGrpcArgs, tunnelMuxEnv } from '../bench/grpc.ts';
import { parseHttpArgs } from '../bench/http.ts';
import { floorRow } from '../bench/lib/report.ts';
import { parseSweepArgs, runSweep } from '../bench/lib/sweep.ts';

describe('bench grpc --tunnel-mux', () => {
  test('should leave the services their own default without the option', () => {
    const config = parseGrpcArgs([]);
    assert.equal(config?.tunnelMux, 'inherit');
    assert.deepEqual(tunnelMuxEnv('inherit'), {});
  });

  test('should set SWITCHYARD_TUNNEL_MUX to true for on and false for off', () => {
    assert.equal(parseGrpcArgs(['--tunnel-mux', 'on'])?.tunnelMux, 'on');
    assert.deepEqual(tunnelMuxEnv('on'), { SWITCHYARD_TUNNEL_MUX: 'true' });
    assert.equal(parseGrpcArgs(['--tunnel-mux', 'off'])?.tunnelMux, 'off');
    assert.deepEqual(tunnelMuxEnv('off'), { SWITCHYARD_TUNNEL_MUX: 'false' });
  });

  test('should reject a value other than off or on', () => {
    assert.throws(() => parseGrpcArgs(['--tunnel-mux', 'yes']), /--tunnel-mux must be one of off, on, got yes/);
  });
});

describe('bench http --tunnel-mux', () => {
  test('should take off or on as the grpc mode does, and leave the default without the option', () => {
    assert.equal(parseHttpArgs([])?.tunnelMux, 'inherit');
    assert.equal(parseHttpArgs(['--tunnel-mux', 'on'])?.tunnelMux, 'on');
    assert.equal(parseHttpArgs(['--tunnel-mux', 'off'])?.tunnelMux, 'off');
    assert.throws(() => parseHttpArgs(['--tunnel-mux', 'yes']), /--tunnel-mux must be one of off, on, got yes/);
  });
});

describe('bench http --sse-warmup', () => {
  test('should run three unmeasured SSE rounds by default, take 0 for none, and refuse a negative count', () => {
    assert.equal(parseHttpArgs([])?.sseWarmupRounds, 3);
    assert.equal(parseHttpArgs(['--sse-warmup', '0'])?.sseWarmupRounds, 0);
    assert.equal(parseHttpArgs(['--sse-warmup', '5'])?.sseWarmupRounds, 5);
    assert.throws(() => parseHttpArgs(['--sse-warmup', '-1']), /--sse-warmup/);
  });
});

describe('bench sweeps', () => {
  test('should sweep a --tunnel-mux list with --repeats, the rest of the line going to each run', () => {
    const sweep = parseSweepArgs(['--paths', 'switchyard', '--tunnel-mux', 'off,on', '--repeats', '3']);
    assert.deepEqual(sweep, {
      option: '--tunnel-mux',
      values: ['off', 'on'],
      repeats: 3,
      rest: ['--paths', 'switchyard'],
    });
  });

  test('should run once as asked when no option has a list', () => {
    assert.equal(parseSweepArgs(['--tunnel-mux', 'on', '--telemetry', 'traces']), undefined);
  });

  test('should keep a single value of another sweep option in the rest', () => {
    const sweep = parseSweepArgs(['--telemetry', 'traces', '--tunnel-mux', 'off,on']);
    assert.deepEqual(sweep?.rest, ['--telemetry', 'traces']);
    assert.equal(sweep?.repeats, 1);
  });

  test('should refuse two lists at once and --repeats without a list', () => {
    assert.throws(
      () => parseSweepArgs(['--telemetry', 'off,traces', '--tunnel-mux', 'off,on']),
      /sweep one of --telemetry and --tunnel-mux at a time/,
    );
    assert.throws(() => parseSweepArgs(['--repeats', '3']), /--repeats needs a list/);
    assert.throws(() => parseSweepArgs(['--processes', '1,x']), /not a list of counts/);
  });

  test('should fail a bad list value up front, before any run', async () => {
    let runs = 0;
    const code = await runSweep(
      'grpc',
      async () => {
        runs++;
        return 0;
      },
      ['--tunnel-mux', 'off,maybe'],
      parseGrpcArgs,
    );
    assert.equal(code, 2);
    assert.equal(runs, 0);
  });
});

describe('bench --paths node-proxy and the floor table (issue 12)', () => {
  test('should take node-proxy as a path of both modes, in the run order', () => {
    assert.deepEqual(parseHttpArgs(['--paths', 'switchyard,node-proxy'])?.paths, ['node-proxy', 'switchyard']);
    assert.deepEqual(parseGrpcArgs(['--paths', 'node-proxy'])?.paths, ['node-proxy']);
  });

  test('should put two bare hops and Switchyard’s pair against nginx, and the pair against two hops', () => {
    assert.deepEqual(floorRow(64, 20, 60, 150), ['64', '20.0', '60.0', '6.00x', '150.0', '7.50x', '1.25x']);
    assert.deepEqual(floorRow(64, undefined, 60, 150), ['64', '-', '60.0', '-', '150.0', '-', '1.25x']);
    assert.deepEqual(floorRow(1, 20, undefined, undefined), ['1', '20.0', '-', '-', '-', '-', '-']);
  });
});
