/**
 * A headless deep-learning trainer for Deno: TensorFlow.js on WebGPU (or a native CPU backend),
 * the ResNet-FCN family, a Keras-like `Model.fit` whose callbacks are the plugin interface, and
 * the data, checkpoint and log formats of the ResNet50-FCN recipe.
 *
 * @example Train a small ResNet-FCN on the embedded digits (as `deno task demo` does)
 * ```ts ignore
 * import {
 *   Callback, LRScheduler, loadDigits, Model, MomentumSGD, resnetFCN, selectBackend, warmupCosine,
 * } from "./mod.ts";
 *
 * await selectBackend("auto");
 * const { train, test } = await loadDigits();
 * const model = new Model(resnetFCN({ depth: 18, width: 8, blocks: [1, 1, 1, 1] }));
 * model.prepare({
 *   optimizer: new MomentumSGD({ schedule: warmupCosine({ lr: 0.05, warmupSteps: 50, epochs: 3 }) }),
 * });
 * await model.fit(train, test, { epochs: 3, batchSize: 64, callbacks: [new LRScheduler()] });
 * ```
 *
 * @example A callback of your own, on generated data and the plain JavaScript backend
 * ```ts
 * import { Callback, type Logs, Model, resnetFCN, selectBackend, syntheticDataset } from "./mod.ts";
 *
 * await selectBackend("cpu");
 * class PrintLoss extends Callback {
 *   override onEpochEnd(epoch: number, logs: Logs) {
 *     console.log(`epoch ${epoch}:`, this.metricValues(logs)); // { loss, acc_top1, acc_top5 }
 *   }
 * }
 * const data = syntheticDataset({ length: 8, numClasses: 2 });
 * const model = new Model(resnetFCN({ depth: 18, width: 2, blocks: [1, 1, 1, 1], numClasses: 2 }));
 * model.prepare();
 * await model.fit(data, undefined, { epochs: 2, batchSize: 4, verbose: 0, callbacks: [new PrintLoss()] });
 * model.dispose();
 * ```
 *
 * @module
 */

// TensorFlow.js types that appear in this API.
export type {
  NamedTensorMap,
  Scalar,
  Tensor,
  Tensor1D,
  Tensor2D,
  Tensor4D,
  Variable,
} from "./src/tensor_types.ts";

// Backends: start-up, adapter report and the choice between them.
export {
  BACKEND_CHOICES,
  type BackendChoice,
  type BackendReport,
  selectBackend,
  type SelectOptions,
} from "./src/backend/select.ts";
export {
  activeWebGPUKernels,
  useWebGPUKernels,
  WEBGPU_KERNEL_CHOICES,
  type WebGPUKernels,
} from "./src/backend/webgpu_kernels.ts";
export {
  NATIVE_BACKEND,
  type NativeBackendResult,
  registerNativeBackend,
} from "./src/backend/native.ts";
export {
  type AdapterReport,
  describeAdapter,
  findAdapter,
  NO_ADAPTER_HELP,
  startWebGPU,
} from "./src/backend/webgpu.ts";

// Networks.
export type { LayerInfo, NamedVariable, Network } from "./src/nn/network.ts";
export {
  MIN_INPUT_SIZE,
  RESNET_BLOCKS,
  type ResNetDepth,
  resnetFCN,
  type ResNetFCNOptions,
} from "./src/nn/resnet_fcn.ts";
export { type BatchMoments, BatchNorm, BN_EPSILON, BN_MOMENTUM } from "./src/nn/layers.ts";
export { countParams, formatSummary, type ParamCounts } from "./src/nn/summary.ts";
export { inferResNetFCN } from "./src/nn/infer.ts";

// Training.
export {
  type FitOptions,
  Model,
  type PrepareOptions,
  type ResumeState,
  type RunOptions,
  type StopReason,
} from "./src/train/model.ts";
export {
  Callback,
  CallbackList,
  type CallbackListOptions,
  type DefaultCallback,
  type HookResult,
  type Logs,
  metricValues,
  type TrainingModel,
  type TrainParams,
} from "./src/train/callback.ts";
export {
  CHECKPOINT_FILES,
  readTrainingCheckpoint,
  type StateFile,
  type TrainingParts,
  type TrainingPosition,
  writeTrainingCheckpoint,
} from "./src/train/checkpoint_format.ts";
export { LRScheduler, type LRSchedulerOptions } from "./src/train/lr_scheduler.ts";
export { formatValue, ProgressBar, type ProgressBarOptions } from "./src/train/progress_bar.ts";
export { type GradientHook, MomentumSGD, type MomentumSGDOptions } from "./src/train/optimizer.ts";
export {
  ConstantSchedule,
  CosineAnnealing,
  LinearWarmup,
  type LRSchedule,
  MultiStepDecay,
  type ScheduleState,
  warmupCosine,
  type WarmupCosineOptions,
} from "./src/train/schedules.ts";
export { LOSSES, type LossFn, resolveLoss, softmaxCrossEntropy } from "./src/train/losses.ts";
export { type Metric, METRICS, resolveMetric, topKAccuracy } from "./src/train/metrics.ts";
export { type Batch, DataLoader, type DataLoaderOptions, epochOrder } from "./src/train/loader.ts";
export { REGISTERED_GRADIENTS } from "./src/train/gradients.ts";

// Plugins: callbacks shipped with the trainer (LRScheduler and ProgressBar are above: fit adds
// them by default).
export { ModelCheckpoint, type ModelCheckpointOptions } from "./plugins/model_checkpoint.ts";
export {
  LOG_FORMATS,
  type LogFormat,
  ScalarLog,
  type ScalarLogOptions,
  type ScalarRecord,
} from "./plugins/scalar_log.ts";
export { TrainingReport, type TrainingReportOptions } from "./plugins/training_report.ts";
export { TerminateOnNaN, type TerminateOnNaNOptions } from "./plugins/terminate_on_nan.ts";
export { StopAtAccuracy, type StopAtAccuracyOptions } from "./plugins/example_plugin.ts";
export {
  GracefulStop,
  type GracefulStopOptions,
  type StopSignal,
} from "./plugins/graceful_stop.ts";
export { DeviceGuard } from "./plugins/device_guard.ts";

// Failures, exit codes and resuming.
export {
  classifyError,
  describeFailure,
  type DescribeOptions,
  ExitCode,
  type Failure,
  type FailureKind,
} from "./src/train/errors.ts";
export {
  DeviceError,
  type DeviceProblem,
  deviceProblem,
  watchDevice,
} from "./src/backend/device_watch.ts";
export { ensureFreeSpace } from "./src/io/space.ts";

// Data.
export type { BatchContext, BatchTransform, Dataset, RawBatch } from "./src/data/dataset.ts";
export { ImageDataset, type ImageDatasetInit } from "./src/data/image_dataset.ts";
export {
  type Cifar10,
  CIFAR10_CLASS_NAMES,
  CIFAR10_MEAN,
  CIFAR10_STD,
  DatasetNotFoundError,
  downloadCifar10,
  type DownloadOptions,
  loadCifar10,
  type LoadCifar10Options,
  type ReadArchiveOptions,
  readCifar10Archive,
  readCifar10Folder,
} from "./src/data/cifar10.ts";
export {
  type Digits,
  DIGITS_CLASS_NAMES,
  DIGITS_MEAN,
  DIGITS_STD,
  type DigitsOptions,
  loadDigits,
} from "./src/data/digits.ts";
export {
  loadSynthetic,
  type LoadSyntheticOptions,
  syntheticDataset,
  type SyntheticOptions,
} from "./src/data/synthetic.ts";
export {
  arrayDataset,
  type ArrayDatasetOptions,
  loadNpyDataset,
} from "./src/data/array_dataset.ts";
export {
  augmentBatch,
  type AugmentConfig,
  type AugmentDraws,
  cifarEvalTransform,
  cifarTrainTransform,
  type CifarTransformOptions,
  drawAugmentation,
  normalize,
  type NormalizeOptions,
  RECIPE_AUGMENTATION,
} from "./src/data/augment.ts";
export { type RandomSource, seededRandom } from "./src/data/random.ts";

// Files: tensors, weights and checkpoints.
export { FormatError } from "./src/io/errors.ts";
export type { HostTensor, TensorDType } from "./src/io/host_tensor.ts";
export {
  decodeSafetensors,
  encodeSafetensors,
  readSafetensors,
  type SafetensorsContents,
  writeSafetensors,
} from "./src/io/safetensors.ts";
export { decodeNpy, encodeNpy, readNpy, writeNpy } from "./src/io/npy.ts";

// Scalar logs the viewers read: TensorBoard event files, VisualDL logs; the board and report.
export { crc32c, maskedCrc32c } from "./src/io/crc32c.ts";
export { type RecordFormat, RecordLog, type RecordLogOpenOptions } from "./src/io/record_log.ts";
export {
  decodeScalarEvent,
  fileVersionEvent,
  frameTFRecord,
  scalarEvent,
  TFEVENTS,
  unframeTFRecords,
} from "./src/io/tfevents.ts";
export {
  decodeVdlScalar,
  frameVdlRecord,
  unframeVdlRecords,
  vdlMetaRecord,
  VDLRECORDS,
  vdlScalarRecord,
} from "./src/io/vdlrecords.ts";
export {
  boardHandler,
  type BoardHandlerOptions,
  type BoardRun,
  serveBoard,
  type ServeBoardOptions,
} from "./src/vis/board_server.ts";
export { type ClassAccuracy, type ReportData, reportHtml } from "./src/vis/report_html.ts";
export { type ChartSeries, type LineChartOptions, lineChartSvg } from "./src/vis/svg_chart.ts";
export {
  loadNetworkTensors,
  type LoadOptions,
  type LoadReport,
  loadWeights,
  networkTensors,
  saveWeights,
  type SaveWeightsOptions,
  type WeightMismatch,
  WeightsMismatchError,
} from "./src/io/weights.ts";
export {
  CHECKPOINT_WEIGHTS_FILE,
  type DecodedWeights,
  decodeWeights,
  detectWeightsFormat,
  readWeights,
  WEIGHT_FORMATS,
  type WeightsFile,
  type WeightsFormat,
} from "./src/io/read_weights.ts";
export {
  CheckpointError,
  type CheckpointInfo,
  ensureWritableDir,
  findResumePoint,
  latestCheckpoint,
  listCheckpoints,
  type ListOptions,
  type Manifest,
  type ManifestFile,
  readCheckpoint,
  type ResumePoint,
  type SkippedCheckpoint,
  writeCheckpoint,
} from "./src/io/checkpoint.ts";

// Weights from PyTorch and Paddle (read through `readWeights` above): the restricted unpickler,
// starting from a backbone, and the published ImageNet weights.
export { decodePth, TORCH_GLOBALS } from "./src/io/pth.ts";
export {
  decodePdparams,
  encodePdparams,
  fromPaddleName,
  NUMPY_GLOBALS,
  toPaddleName,
  writePdparams,
} from "./src/io/pdparams.ts";
export {
  dictEntries,
  type ParsedPickle,
  parsePickle,
  type ParsePickleOptions,
  PickleCall,
  PickleGlobal,
  PicklePersistent,
  PickleRefusedError,
  type PickleValue,
} from "./src/io/pickle.ts";
export {
  CLASSIFIER_PREFIX,
  describeInit,
  HEAD_PREFIXES,
  initFromTensors,
  type InitOptions,
  type InitReport,
} from "./src/io/init_weights.ts";
export {
  PRETRAINED,
  PRETRAINED_BASE_URL,
  PRETRAINED_URL_ENV,
  type PretrainedFile,
  PretrainedNotFoundError,
  type PretrainedOptions,
  pretrainedWeights,
} from "./src/io/pretrained.ts";
export {
  defaultCacheDir,
  downloadFile,
  type DownloadFileOptions,
  md5File,
} from "./src/io/download.ts";

// Data-parallel training over MPI.
export {
  type Communicator,
  type FloatBuffer,
  type MPI,
  MPI_LIBRARY_CANDIDATES,
  type MPIFlavour,
  MPIUnavailableError,
  openMPI,
} from "./src/dist/mpi.ts";
export { detectLaunch, type Launch } from "./src/dist/environment.ts";
export {
  ShardedLoader,
  type ShardedLoaderOptions,
  shardRange,
  ShardState,
} from "./src/dist/shard.ts";
export { averageVariables, averagingHook, broadcastVariables } from "./src/dist/reduce.ts";
export { allReduceSum, syncedMoments } from "./src/dist/sync_bn.ts";
export { DataParallel, type DataParallelOptions, StopTogether } from "./src/dist/callbacks.ts";
export { DataParallelSession, type SessionOptions } from "./src/dist/session.ts";
