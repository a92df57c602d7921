import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import {
  INFERENCE_SERVER_NAME,
  type InferenceClient,
  loadInferenceClient,
  type ModelInferResponse,
  type SampleServerHandle,
  startInferenceServer,
} from '../src/index.ts';
import { callWithOne } from './grpc-calls.ts';

function fp32(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  for (const [i, v] of values.entries()) b.writeFloatLE(v, i * 4);
  return b;
}

function int32(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  for (const [i, v] of values.entries()) b.writeInt32LE(v, i * 4);
  return b;
}

describe('inference server', () => {
  let server: SampleServerHandle;
  let client: InferenceClient;

  before(async () => {
    server = await startInferenceServer({ instanceId: 'infer-test-1' });
    client = loadInferenceClient(server.address);
  });

  after(async () => {
    client.close();
    await server.stop();
  });

  async function infer(request: unknown, metadata?: Record<string, string>) {
    return callWithOne<ModelInferResponse>(client, 'ModelInfer', request, { metadata });
  }

  it('should say it is live and ready', async () => {
    assert.deepEqual((await callWithOne(client, 'ServerLive', {})).messages, [{ live: true }]);
    assert.deepEqual((await callWithOne(client, 'ServerReady', {})).messages, [{ ready: true }]);
  });

  it('should report both models ready at any version and NOT_FOUND for others', async () => {
    for (const name of ['echo', 'add_one']) {
      for (const version of ['', '1', '7']) {
        const r = await callWithOne(client, 'ModelReady', { name, version });
        assert.deepEqual(r.messages, [{ ready: true }], `${name}@${version}`);
      }
    }
    const missing = await callWithOne(client, 'ModelReady', { name: 'resnet' });
    assert.equal(missing.status.code, grpc.status.NOT_FOUND);
  });

  it('should describe the server and the models', async () => {
    const s = await callWithOne<{ name: string }>(client, 'ServerMetadata', {});
    assert.equal(s.messages[0].name, INFERENCE_SERVER_NAME);
    const m = await callWithOne<{ name: string; inputs: { datatype: string; shape: number[] }[] }>(
      client,
      'ModelMetadata',
      { name: 'add_one' },
    );
    assert.equal(m.messages[0].name, 'add_one');
    assert.deepEqual(m.messages[0].inputs[0].shape, [-1]);
    const missing = await callWithOne(client, 'ModelMetadata', { name: 'nope' });
    assert.equal(missing.status.code, grpc.status.NOT_FOUND);
  });

  it('should echo typed contents and raw contents with the request id and parameters', async () => {
    const typed = await infer({
      model_name: 'echo',
      id: 'req-1',
      inputs: [
        {
          name: 'INPUT0',
          datatype: 'BYTES',
          shape: [2],
          contents: { bytes_contents: [Buffer.from('a'), Buffer.from('bc')] },
        },
        { name: 'label', datatype: 'INT64', shape: [1], contents: { int64_contents: [42] } },
      ],
    });
    assert.equal(typed.status.code, grpc.status.OK, typed.status.details);
    const t = typed.messages[0];
    assert.equal(t.id, 'req-1');
    assert.equal(t.model_name, 'echo');
    assert.equal(t.model_version, '1');
    assert.deepEqual(
      t.outputs.map((o) => [o.name, o.datatype, o.shape]),
      [
        ['OUTPUT0', 'BYTES', [2]],
        ['label', 'INT64', [1]],
      ],
    );
    assert.deepEqual(t.outputs[0].contents?.bytes_contents?.map(String), ['a', 'bc']);
    assert.deepEqual(t.outputs[1].contents?.int64_contents, [42]);
    assert.equal(t.parameters['nvcf-reqid'].string_param, '');
    assert.equal(t.parameters.instance_id.string_param, 'infer-test-1');

    const raw = await infer({
      model_name: 'echo',
      model_version: '3',
      inputs: [{ name: 'INPUT0', datatype: 'UINT8', shape: [3] }],
      raw_input_contents: [Buffer.from([1, 2, 3])],
    });
    assert.equal(raw.messages[0].model_version, '3');
    assert.deepEqual([...raw.messages[0].raw_output_contents[0]], [1, 2, 3]);
    assert.equal(raw.messages[0].outputs[0].contents, null);
  });

  it('should add one to FP32 and INT32 tensors, typed or raw', async () => {
    const typed = await infer({
      model_name: 'add_one',
      inputs: [
        { name: 'INPUT0', datatype: 'FP32', shape: [3], contents: { fp32_contents: [1, 2.5, -1] } },
        { name: 'INPUT1', datatype: 'INT32', shape: [2], contents: { int_contents: [41, 2147483647] } },
      ],
    });
    assert.equal(typed.status.code, grpc.status.OK, typed.status.details);
    assert.deepEqual(typed.messages[0].outputs[0].contents?.fp32_contents, [2, 3.5, 0]);
    assert.deepEqual(typed.messages[0].outputs[1].contents?.int_contents, [42, -2147483648]);

    const raw = await infer({
      model_name: 'add_one',
      inputs: [
        { name: 'INPUT0', datatype: 'FP32', shape: [2] },
        { name: 'INPUT1', datatype: 'INT32', shape: [1] },
      ],
      raw_input_contents: [fp32([0.5, 10]), int32([-1])],
    });
    const [f, i] = raw.messages[0].raw_output_contents;
    assert.deepEqual([f.readFloatLE(0), f.readFloatLE(4)], [1.5, 11]);
    assert.equal(i.readInt32LE(0), 0);
  });

  it('should return only the requested outputs, in the requested order', async () => {
    const r = await infer({
      model_name: 'add_one',
      inputs: [
        { name: 'INPUT0', datatype: 'INT32', shape: [1] },
        { name: 'INPUT1', datatype: 'INT32', shape: [1] },
      ],
      outputs: [{ name: 'OUTPUT1' }],
      raw_input_contents: [int32([1]), int32([10])],
    });
    assert.deepEqual(
      r.messages[0].outputs.map((o) => o.name),
      ['OUTPUT1'],
    );
    assert.equal(r.messages[0].raw_output_contents[0].readInt32LE(0), 11);
  });

  it('should reject bad tensors with INVALID_ARGUMENT', async () => {
    const wrongType = await infer({
      model_name: 'add_one',
      inputs: [{ name: 'INPUT0', datatype: 'BYTES', shape: [1] }],
    });
    assert.equal(wrongType.status.code, grpc.status.INVALID_ARGUMENT);
    const wrongCount = await infer({
      model_name: 'echo',
      inputs: [{ name: 'INPUT0', datatype: 'UINT8', shape: [1] }],
      raw_input_contents: [Buffer.from([1]), Buffer.from([2])],
    });
    assert.equal(wrongCount.status.code, grpc.status.INVALID_ARGUMENT);
    const unknownOutput = await infer({ model_name: 'echo', inputs: [], outputs: [{ name: 'nope' }] });
    assert.equal(unknownOutput.status.code, grpc.status.INVALID_ARGUMENT);
  });

  it('should answer NOT_FOUND for an unknown model', async () => {
    const r = await infer({ model_name: 'resnet50', inputs: [] });
    assert.equal(r.status.code, grpc.status.NOT_FOUND);
  });

  it('should report the nvcf-reqid it received and count calls per session', async () => {
    const id = randomUUID();
    const counts: number[] = [];
    for (let n = 0; n < 3; n++) {
      const r = await infer({ model_name: 'echo', inputs: [] }, { 'nvcf-reqid': id, 'x-echo-k': 'v' });
      assert.equal(r.messages[0].parameters['nvcf-reqid'].string_param, id);
      assert.deepEqual(r.headers.get('x-echo-k'), ['v']);
      counts.push(r.messages[0].parameters.session_calls.int64_param ?? -1);
    }
    assert.deepEqual(counts, [1, 2, 3]);
  });
});
