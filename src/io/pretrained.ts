/**
 * The ImageNet weights published with the reference framework for ResNet18–152 (Paddle's
 * `paddle.vision.models.resnet*(pretrained=True)`): where they live, their MD5, and fetching
 * one into the cache folder (`$DENO_TRAINER_CACHE/pretrained`, else
 * `~/.cache/deno-trainer/pretrained`) with a progress bar, resumably, checked against the MD5.
 * The address can be changed with `DENO_TRAINER_PRETRAINED_URL` (a base the file name is
 * appended to), e.g. a mirror inside a network without internet access.
 *
 * @example
 * ```ts ignore
 * import { pretrainedWeights } from "./pretrained.ts";
 * const path = await pretrainedWeights(50); // …/pretrained/resnet50.pdparams, verified
 * ```
 *
 * @module
 */
import { defaultCacheDir, downloadFile, md5File } from "./download.ts";
import { FormatError } from "./errors.ts";

/** Where the published files live; the file name is appended. */
export const PRETRAINED_BASE_URL = "https://paddle-hapi.bj.bcebos.com/models/";
/** Environment variable that replaces {@link PRETRAINED_BASE_URL}. */
export const PRETRAINED_URL_ENV = "DENO_TRAINER_PRETRAINED_URL";

/** One published weights file. */
export interface PretrainedFile {
  /** File name, also its name in the cache folder. */
  fileName: string;
  /** MD5 of the published file. */
  md5: string;
}

/** The published ImageNet weights, by ResNet depth. */
export const PRETRAINED: Readonly<Record<number, PretrainedFile>> = Object.freeze({
  18: { fileName: "resnet18.pdparams", md5: "cf548f46534aa3560945be4b95cd11c4" },
  34: { fileName: "resnet34.pdparams", md5: "8d2275cf8706028345f78ac0e1d31969" },
  50: { fileName: "resnet50.pdparams", md5: "ca6f485ee1ab0492d38f323885b0ad80" },
  101: { fileName: "resnet101.pdparams", md5: "02f35f034ca3858e1e54d4036443c92d" },
  152: { fileName: "resnet152.pdparams", md5: "7ad16a2f1e7333859ff986138630fd7a" },
});

/** The pretrained file is neither in the cache nor downloadable; the message says what to do. */
export class PretrainedNotFoundError extends Error {
  /**
   * Creates the error.
   *
   * @param message Which file, where it is expected, and how to provide it.
   */
  constructor(message: string) {
    super(message);
    this.name = "PretrainedNotFoundError";
  }
}

/** Options of {@link pretrainedWeights}. */
export interface PretrainedOptions {
  /** Cache folder (default `defaultCacheDir("pretrained")`). */
  cacheDir?: string;
  /** Base address (default `$DENO_TRAINER_PRETRAINED_URL`, else {@link PRETRAINED_BASE_URL}). */
  baseUrl?: string;
  /** Expected MD5 (default the published file's); for tests with made files. */
  md5?: string;
  /** Progress bar on stderr while downloading (default true). */
  progress?: boolean;
}

/**
 * The path of the verified pretrained weights of a ResNet depth: the cached file when its MD5 is
 * right, else downloaded into the cache first.
 *
 * @throws {RangeError} for a depth without published weights.
 * @throws {FormatError} when the cached or downloaded file has the wrong MD5.
 * @throws {PretrainedNotFoundError} when the download fails (offline): the message names the
 *   file, its address and MD5, and where to put it.
 */
export async function pretrainedWeights(
  depth: number,
  opts: PretrainedOptions = {},
): Promise<string> {
  const file = PRETRAINED[depth];
  if (!file) {
    throw new RangeError(
      `no pretrained weights for depth ${depth} (published: ${Object.keys(PRETRAINED)})`,
    );
  }
  const dir = opts.cacheDir ?? defaultCacheDir("pretrained");
  const target = `${dir.replace(/\/+$/, "")}/${file.fileName}`;
  const md5 = (opts.md5 ?? file.md5).toLowerCase();
  let cached = false;
  try {
    cached = (await Deno.stat(target)).isFile;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  if (cached) {
    const actual = await md5File(target);
    if (actual !== md5) {
      throw new FormatError(
        target,
        `MD5 is ${actual}, expected ${md5}: not the published ${file.fileName}; delete it to ` +
          "download it again",
      );
    }
    return target;
  }
  const base = opts.baseUrl ?? Deno.env.get(PRETRAINED_URL_ENV) ?? PRETRAINED_BASE_URL;
  const url = `${base.replace(/\/+$/, "")}/${file.fileName}`;
  try {
    return await downloadFile({ url, target, md5, progress: opts.progress });
  } catch (e) {
    if (e instanceof FormatError) throw e;
    throw new PretrainedNotFoundError(
      `${file.fileName} is not in ${dir} and downloading it from ${url} failed ` +
        `(${(e as Error).message}). Download it where there is network (MD5 ${md5}) and put it ` +
        `at ${target}, or pass its path with --init-weights`,
    );
  }
}
