/**
 * The geometry of one 2-D convolution, shared by the oneDNN runner and the unit-stride
 * rewriting (which must not import the runner that imports it).
 *
 * @module
 */

/** Geometry of one 2-D convolution, NHWC / HWIO, as TensorFlow.js's conv info gives it. */
export interface ConvGeometry {
  batch: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  outHeight: number;
  outWidth: number;
  outChannels: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  padTop: number;
  padBottom: number;
  padLeft: number;
  padRight: number;
}
