import assert from "node:assert/strict";
import type { HostTensor } from "../../src/io/host_tensor.ts";
import { PickleRefusedError } from "../../src/io/pickle.ts";
import { decodePth } from "../../src/io/pth.ts";
import { readWeights } from "../../src/io/read_weights.ts";
import { findPython, reportSkip, runPython } from "./python.ts";

const torch = await findPython(["torch", "numpy"]);
reportSkip(torch, ".pth tests against PyTorch", "torch (apt-get install python3-torch)");

function hex(t: HostTensor): string {
  const b = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/**
 * Saves, into the folder \`argv[1]\`: a state dict of every dtype and layout both ways, the same
 * two ways a dict whose unpickling runs os.system, and a checkpoint dict with an int in it; prints
 * the state dict's expected bytes.
 */
const SAVE_STATE_DICT = `import collections, json, sys, torch
g = torch.Generator().manual_seed(7)
base = torch.randn(5, 6, generator=g)
sd = collections.OrderedDict()
sd["conv1.weight"] = torch.randn(4, 3, 7, 7, generator=g)
sd["conv1.weight"].view(-1)[0] = -0.0
sd["transposed"] = base.t()
sd["offset_view"] = base[2:, 1:4]
sd["shares_storage"] = base
sd["double"] = torch.randn(3, 2, generator=g, dtype=torch.float64)
sd["half"] = torch.randn(7, generator=g).half()
sd["bfloat"] = torch.randn(7, generator=g).bfloat16()
sd["bn1.num_batches_tracked"] = torch.tensor(1234)
sd["long"] = torch.tensor([-5, 2**31 - 1])
sd["int"] = torch.tensor([3, -4], dtype=torch.int32)
sd["byte"] = torch.tensor([0, 255], dtype=torch.uint8)
sd["flag"] = torch.tensor([True, False])
sd["param"] = torch.nn.Parameter(torch.randn(2, 2, generator=g))
sd["scalar"] = torch.tensor(1.5)
d = sys.argv[1]
torch.save(sd, f"{d}/zip.pth")
torch.save(sd, f"{d}/legacy.pt", _use_new_zipfile_serialization=False)
class Evil:
    def __reduce__(self):
        import os
        return (os.system, ("touch " + d + "/ran",))
evil = {"conv1.weight": torch.ones(2), "x": Evil()}
torch.save(evil, f"{d}/evil.pth")
torch.save(evil, f"{d}/evil_legacy.pth", _use_new_zipfile_serialization=False)
torch.save({"w": torch.ones(1), "epoch": 3}, f"{d}/ck.pth")
want = {}
for k, v in sd.items():
    v = v.detach()
    t = v.float() if v.is_floating_point() else v.to(torch.uint8) if v.dtype in (torch.uint8, torch.bool) else v.int()
    want[k] = [str(t.dtype).replace("torch.", ""), list(t.shape), t.contiguous().numpy().tobytes().hex()]
print(json.dumps(want))`;

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** The files PyTorch made, made once for all tests (one interpreter start-up). */
const fixtures = torch === null ? null : (async () => {
  const dir = await Deno.makeTempDir();
  globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
  const want = JSON.parse(await runPython(torch, SAVE_STATE_DICT, [dir])) as Record<
    string,
    [string, number[], string]
  >;
  return { dir, want };
})();

Deno.test({
  name: "torch.save state dicts, zip and legacy, load bit-exactly (every dtype, views, strides)",
  ignore: torch === null,
  fn: async () => {
    const { dir, want } = await fixtures!;
    {
      const [zip, legacy] = [`${dir}/zip.pth`, `${dir}/legacy.pt`];
      for (const [path, format] of [[zip, "pytorch"], [legacy, "pytorch-legacy"]]) {
        const file = await readWeights(path);
        assert.equal(file.format, format);
        assert.deepEqual([...file.tensors.keys()], Object.keys(want), path);
        for (const [name, [dtype, shape, bytes]] of Object.entries(want)) {
          const t = file.tensors.get(name)!;
          assert.equal(t.dtype, dtype, `${path} ${name}`);
          assert.deepEqual(t.shape, shape, `${path} ${name}`);
          assert.equal(hex(t), bytes, `${path} ${name}`);
        }
      }
    }
  },
});

Deno.test({
  name: "a .pth whose pickle would run os.system under torch.load is refused, nothing run",
  ignore: torch === null,
  fn: async () => {
    const { dir } = await fixtures!;
    {
      // Real files: torch.load runs the command.
      await runPython(torch!, "import sys, torch; torch.load(sys.argv[1])", [`${dir}/evil.pth`]);
      assert.ok((await Deno.stat(`${dir}/ran`)).isFile);
      await Deno.remove(`${dir}/ran`);
      for (const name of ["evil.pth", "evil_legacy.pth"]) {
        await assert.rejects(readWeights(`${dir}/${name}`), (e: Error) => {
          assert.ok(e instanceof PickleRefusedError, String(e));
          assert.match(e.message, new RegExp(`${name}.*refused: the pickle names posix\\.system`));
          return true;
        });
      }
      assert.ok(!(await exists(`${dir}/ran`)));
    }
  },
});

Deno.test({
  name: "a .pth holding more than a state dict says what to save instead",
  ignore: torch === null,
  fn: async () => {
    const { dir } = await fixtures!;
    await assert.rejects(
      decodePth(await Deno.readFile(`${dir}/ck.pth`), "ck.pth"),
      /ck\.pth: 'epoch': is not a tensor; a \.pth must hold a state dict/,
    );
  },
});
