/**
 * One compute dispatch with several outputs, or outputs written in place, recorded into
 * TensorFlow.js's own command stream for the `webgpu` backend. TensorFlow.js's programs have one
 * fresh output each, so a kernel with three results costs three dispatches and three buffers;
 * here a kernel declares each binding `read` or `read_write`, so the BatchNorm statistics come
 * out of one reduction and the optimiser updates weights and momentum in place in one pass.
 *
 * It uses the backend's internals as TensorFlow.js 4.22 has them (command encoder, pass, queue
 * batching, timestamp queries for `tf.profile`), typed by {@linkcode BackendInternals} below.
 * A buffer written in place loses the backend's cached CPU copy of its values.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
 * import { startWebGPU } from "../webgpu.ts";
 * import { dispatchRaw } from "./raw_dispatch.ts";
 * await startWebGPU();
 * const backend = tf.backend() as WebGPUBackend;
 * const x = tf.tensor1d([1, 2, 3]);
 * const [twice] = dispatchRaw(backend, {
 *   name: "twice",
 *   key: "twice",
 *   bindings: [{ name: "x", tensor: x }, { name: "y", shape: [3] }],
 *   count: 3,
 *   body: "if (index < 3) { y[index] = 2.0 * x[index]; }",
 * });
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { linearGroup } from "./limits.ts";

/** The parts of TensorFlow.js 4.22's `WebGPUBackend` a raw dispatch records through. */
interface BackendInternals {
  device: GPUDevice;
  tensorMap: {
    get(dataId: object): { resource?: unknown; values?: unknown; refCount: number };
  };
  uploadToGPU(dataId: object): void;
  makeUniforms(u: { type: string; data: number[] }[]): GPUBufferBinding;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  getQueryTime(): Promise<number>;
  commandEncoder: GPUCommandEncoder;
  computePassEncoder: GPUComputePassEncoder | null;
  dispatchCountInPass: number;
  commandQueueOwnedIds: WeakSet<object>;
  activeTimers: { name: string; query: Promise<number> }[] | null;
  supportTimestampQuery: boolean;
  querySet: GPUQuerySet | null;
  querySetCount: number;
}

/**
 * One storage binding: an existing tensor (read, or written in place) or a new output; with
 * `vec4`, seen as `array<vec4<f32>>` (its size a multiple of 4), so an invocation moves four
 * floats in one access.
 */
export type RawBinding =
  | { name: string; tensor: tf.TensorInfo; write?: boolean; vec4?: boolean }
  | { name: string; shape: number[]; vec4?: boolean };

/** What {@linkcode dispatchRaw} runs. */
export interface RawKernel {
  /** Name for `tf.profile`'s per-program list. */
  name: string;
  /** Pipeline-cache key: equal keys must mean equal shader code. */
  key: string;
  /** Storage bindings, in binding order; each must be used by `body`. */
  bindings: RawBinding[];
  /** Float32 scalars, readable in `body` as `params.<name>`. */
  params?: Record<string, number>;
  /** Int32 scalars (sizes), readable in `body` as `params.<name>`. */
  ints?: Record<string, number>;
  /** Module-scope WGSL (constants, workgroup variables, functions). */
  declarations?: string;
  /** Invocations wanted; `body` sees its flat invocation number as `index`. */
  count: number;
  /** Invocations per workgroup (default: the element-wise group the device allows). */
  group?: number;
  /**
   * WGSL of `main`'s body, given `index: i32` (flat invocation), `localIndex: i32` (within the
   * workgroup) and `groupIndex: i32` (flat workgroup).
   */
  body: string;
}

const pipelines = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

function shader(k: RawKernel, group: number): string {
  const params = [
    ...Object.keys(k.params ?? {}).map((p) => `${p}: f32,`),
    ...Object.keys(k.ints ?? {}).map((p) => `${p}: i32,`),
  ];
  const storage = k.bindings.map((b, i) =>
    `@group(0) @binding(${i}) var<storage, ${
      "shape" in b || b.write ? "read_write" : "read"
    }> ${b.name}: array<${b.vec4 ? "vec4<f32>" : "f32"}>;`
  );
  const uniform = params.length === 0 ? "" : `
struct Params { ${params.join(" ")} }
@group(0) @binding(${k.bindings.length}) var<uniform> params: Params;`;
  return `${storage.join("\n")}
${uniform}
${k.declarations ?? ""}
@compute @workgroup_size(${group}, 1, 1)
fn main(@builtin(local_invocation_id) localId: vec3<u32>,
        @builtin(workgroup_id) workgroupId: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
  let localIndex = i32(localId.x);
  let groupIndex = i32(workgroupId.y * groups.x + workgroupId.x);
  let index = groupIndex * ${group} + localIndex;
  ${k.body}
}`;
}

/** Whether `t`'s buffer belongs to `t` alone, so writing it in place changes no other tensor. */
export function ownsBuffer(backend: WebGPUBackend, t: tf.TensorInfo): boolean {
  return (backend as unknown as BackendInternals).tensorMap.get(t.dataId).refCount === 1;
}

/**
 * Records one dispatch of `k`; resolves nothing (it is queued like any TensorFlow.js program).
 * Returns the new outputs (bindings given by `shape`), in binding order.
 */
export function dispatchRaw(backend: WebGPUBackend, k: RawKernel): tf.TensorInfo[] {
  const b = backend as unknown as BackendInternals;
  const group = k.group ?? linearGroup(backend);
  const groups = Math.max(1, Math.ceil(k.count / group));
  const most = b.device.limits.maxComputeWorkgroupsPerDimension;
  const columns = Math.min(groups, most);
  const rows = Math.ceil(groups / columns);
  if (rows > most) throw new Error(`webgpu ${k.name}: ${k.count} invocations exceed the device`);
  // A pipeline over the limit fails validation, and with it, silently, the whole submission.
  const storage = b.device.limits.maxStorageBuffersPerShaderStage;
  if (k.bindings.length > storage) {
    throw new Error(
      `webgpu ${k.name}: ${k.bindings.length} storage buffers, the device allows ${storage}`,
    );
  }
  const tensors = k.bindings.map((binding) =>
    "shape" in binding ? backend.makeTensorInfo(binding.shape, "float32") : binding.tensor
  );
  for (const t of tensors) b.uploadToGPU(t.dataId);
  k.bindings.forEach((binding, i) => {
    // The CPU copy the backend may hold of an in-place output would be stale.
    if ("tensor" in binding && binding.write) b.tensorMap.get(tensors[i].dataId).values = null;
  });

  let cache = pipelines.get(b.device);
  if (!cache) pipelines.set(b.device, cache = new Map());
  const key = `${k.key}_${group}`;
  let pipeline = cache.get(key);
  if (!pipeline) {
    pipeline = b.device.createComputePipeline({
      layout: "auto",
      compute: { module: b.device.createShaderModule({ code: shader(k, group) }) },
    });
    cache.set(key, pipeline);
  }
  const entries: GPUBindGroupEntry[] = tensors.map((t, i) => ({
    binding: i,
    resource: { buffer: b.tensorMap.get(t.dataId).resource as GPUBuffer },
  }));
  const params = [
    ...Object.values(k.params ?? {}).map((p) => ({ type: "float32", data: [p] })),
    ...Object.values(k.ints ?? {}).map((p) => ({ type: "int32", data: [p] })),
  ];
  if (params.length > 0) {
    entries.push({ binding: tensors.length, resource: b.makeUniforms(params) });
  }
  const bindGroup = b.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
  for (const t of tensors) b.commandQueueOwnedIds.add(t.dataId);

  // As TensorFlow.js's recordAndSubmit: one pass per timed program, else batched submits.
  const timed = b.activeTimers != null;
  b.ensureCommandEncoderReady();
  if (timed && b.supportTimestampQuery) {
    b.endComputePassEncoder();
    if (b.querySet == null) {
      b.querySet = b.device.createQuerySet({ type: "timestamp", count: b.querySetCount });
    }
    b.computePassEncoder = b.commandEncoder.beginComputePass({
      timestampWrites: {
        querySet: b.querySet,
        beginningOfPassWriteIndex: 0,
        endOfPassWriteIndex: 1,
      },
    });
  } else if (!b.computePassEncoder) {
    b.computePassEncoder = b.commandEncoder.beginComputePass({});
  }
  b.computePassEncoder.setPipeline(pipeline);
  b.computePassEncoder.setBindGroup(0, bindGroup);
  b.computePassEncoder.dispatchWorkgroups(columns, rows, 1);
  b.dispatchCountInPass++;
  if (timed || tf.env().getNumber("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE") <= b.dispatchCountInPass) {
    b.endComputePassEncoder();
    if (timed) b.activeTimers!.push({ name: k.name, query: b.getQueryTime() });
    else b.submitQueue();
  }
  return tensors.filter((_, i) => "shape" in k.bindings[i]);
}
