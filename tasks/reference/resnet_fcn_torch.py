"""PyTorch reference of the recipe's ResNet-FCN, for parity checks and speed comparisons.

Not part of the trainer: it answers "do we compute what the reference framework computes, and how
fast is it on this machine?". Needs only torch and numpy.

  predict: python3 resnet_fcn_torch.py predict WEIGHTS.safetensors INPUT.npy OUTPUT.npy [--train]
  train:   python3 resnet_fcn_torch.py train WEIGHTS.safetensors X.npy Y.npy OUT.safetensors --lrs 0,0.025,...
           full-batch momentum-SGD steps as the recipe defines them (g += wd*w; v = m*v + g; w -= lr*v),
           one per learning rate; prints the losses and the smallest |ReLU input| seen as JSON and
           writes the final weights
  bench:   python3 resnet_fcn_torch.py bench --depth 50 --width 64 --batch 512 --steps 20 [--device cuda]
"""
import argparse
import json
import resource
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

BLOCKS = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3], 101: [3, 4, 23, 3], 152: [3, 8, 36, 3]}


def bn(ch):
    # The recipe's momentum 0.9 (Paddle's convention) is PyTorch's 0.1. Outputs agree; only the
    # running variance differs, since PyTorch folds in the unbiased batch variance.
    return nn.BatchNorm2d(ch, eps=1e-5, momentum=0.1)


class Block(nn.Module):
    def __init__(self, cin, planes, stride, bottleneck):
        super().__init__()
        self.bottleneck = bottleneck
        out = planes * 4 if bottleneck else planes
        if bottleneck:
            self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
            self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
            self.bn1, self.bn2, self.bn3 = bn(planes), bn(planes), bn(out)
        else:
            self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn1, self.bn2 = bn(planes), bn(planes)
        self.downsample = None
        if stride != 1 or cin != out:
            self.downsample = nn.Sequential(nn.Conv2d(cin, out, 1, stride, bias=False), bn(out))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        if self.bottleneck:
            y = F.relu(self.bn2(self.conv2(y)))
            y = self.bn3(self.conv3(y))
        else:
            y = self.bn2(self.conv2(y))
        return F.relu(y + (self.downsample(x) if self.downsample is not None else x))


class ResNetFCN(nn.Module):
    def __init__(self, depth=50, classes=10, width=64, in_ch=3, blocks=None):
        super().__init__()
        bottleneck = depth >= 50
        self.conv1 = nn.Conv2d(in_ch, width, 7, 2, 3, bias=False)
        self.bn1 = bn(width)
        ch = width
        for s, n in enumerate(blocks or BLOCKS[depth]):
            layer = []
            for i in range(n):
                layer.append(Block(ch, width * 2**s, 2 if s > 0 and i == 0 else 1, bottleneck))
                ch = width * 2**s * (4 if bottleneck else 1)
            setattr(self, f"layer{s + 1}", nn.Sequential(*layer))
        self.final_conv = nn.Conv2d(ch, 16 * width, 2)
        self.final_conv2 = nn.Conv2d(16 * width, classes, 1)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        for s in range(1, 5):
            x = getattr(self, f"layer{s}")(x)
        x = self.final_conv2(self.final_conv(x))
        return x.flatten(1) if x.shape[2] == 1 and x.shape[3] == 1 else x


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    types = {"F32": np.float32, "I32": np.int32, "U8": np.uint8, "I64": np.int64, "F64": np.float64}
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        a, b = h["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + a : 8 + n + b], dtype=types[h["dtype"]]).reshape(h["shape"])
    return out


def from_weights(tensors):
    blocks = [0, 0, 0, 0]
    for k in tensors:
        if k.startswith("layer"):
            s, i = int(k[5]) - 1, int(k.split(".")[1])
            blocks[s] = max(blocks[s], i + 1)
    bottleneck = "layer1.0.conv3.weight" in tensors
    w = tensors["conv1.weight"]
    net = ResNetFCN(50 if bottleneck else 18, tensors["final_conv2.bias"].shape[0], w.shape[0], w.shape[1], blocks)
    net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in tensors.items()}, strict=False)
    return net


def predict(args):
    net = from_weights(read_safetensors(args.weights))
    x = torch.from_numpy(np.load(args.input)).permute(0, 3, 1, 2).contiguous()
    net.train(args.train)
    with torch.no_grad():
        y = net(x)
    if y.dim() == 4:
        y = y.permute(0, 2, 3, 1)
    np.save(args.output, y.contiguous().numpy().astype(np.float32))


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, a in tensors.items():
        b = np.ascontiguousarray(a, dtype=np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def train(args):
    torch.use_deterministic_algorithms(True)
    net = from_weights(read_safetensors(args.weights))
    x = torch.from_numpy(np.load(args.x)).permute(0, 3, 1, 2).contiguous()
    y = torch.from_numpy(np.load(args.y).astype(np.int64))
    # PyTorch's SGD is the recipe's: d = g + wd*w; buf = m*buf + d (buf = d at first); w -= lr*buf.
    opt = torch.optim.SGD(net.parameters(), lr=0.0, momentum=args.momentum, weight_decay=args.weight_decay)
    net.train()
    # The smallest |pre-activation| any ReLU saw: float32 implementations that differ by
    # rounding can put a value closer to zero than that on the other side of the kink.
    margin = [float("inf")]
    relu = F.relu

    def watched_relu(x, *a, **k):
        margin[0] = min(margin[0], x.detach().abs().min().item())
        return relu(x, *a, **k)

    F.relu = watched_relu
    losses = []
    for lr in (float(v) for v in args.lrs.split(",")):
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    state = {k: v.detach().numpy() for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    F.relu = relu
    write_safetensors(args.output, state)
    print(json.dumps({"losses": losses, "relu_margin": margin[0]}))


def bench(args):
    dev = torch.device(args.device)
    torch.backends.cudnn.benchmark = True
    blocks = args.blocks and [int(b) for b in args.blocks.split(",")]
    net = ResNetFCN(args.depth, args.classes, args.width, 3, blocks).to(dev)
    opt = torch.optim.SGD(net.parameters(), lr=0.001, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(args.batch, 3, args.input, args.input, device=dev)
    if args.channels_last:
        # NHWC in memory: PyTorch's fastest CPU layout for these convolutions.
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, args.classes, (args.batch,), device=dev)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    # The last output outlives each call, as it does between the steps of one loop: freeing its
    # graph at a return makes the allocator give memory back and fault it in again (about 50 ms
    # on the next step here), which a run taking turns would otherwise pay every round.
    last = [None]

    def train_steps(n):
        for _ in range(n):
            opt.zero_grad(set_to_none=True)
            out = last[0] = net(x)
            F.cross_entropy(out if out.dim() == 2 else out.mean((2, 3)), y).backward()
            opt.step()
        sync()

    net.train()
    train_steps(args.warmup)
    if args.serve:
        # bench --compare's turns (tasks/bench_interleave.ts): ready, then timed rounds on request.
        print(json.dumps({"ready": True}), flush=True)
        done, seconds = 0, 0.0
        for line in sys.stdin:
            command = json.loads(line)
            if "train" not in command:
                break
            t = time.perf_counter()
            train_steps(command["train"])
            took = time.perf_counter() - t
            done, seconds = done + command["train"], seconds + took
            print(json.dumps({"seconds": took}), flush=True)
        train = args.batch * done / seconds
    else:
        t = time.perf_counter()
        train_steps(args.steps)
        train = args.batch * args.steps / (time.perf_counter() - t)
    net.eval()
    with torch.no_grad():
        for _ in range(args.warmup):
            net(x)
        sync()
        t = time.perf_counter()
        for _ in range(args.steps):
            net(x)
        sync()
        evaluate = args.batch * args.steps / (time.perf_counter() - t)
    print(json.dumps({
        "backend": f"pytorch-{dev.type}", "torch": torch.__version__, "threads": torch.get_num_threads(),
        "model": f"resnet{args.depth}", "width": args.width, "batch_size": args.batch,
        "train_img_per_s": round(train, 1), "eval_img_per_s": round(evaluate, 1),
        "channels_last": args.channels_last,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    pr = sub.add_parser("predict")
    pr.add_argument("weights")
    pr.add_argument("input")
    pr.add_argument("output")
    pr.add_argument("--train", action="store_true", help="BatchNorm on batch statistics")
    t = sub.add_parser("train")
    t.add_argument("weights")
    t.add_argument("x")
    t.add_argument("y")
    t.add_argument("output")
    t.add_argument("--lrs", required=True, help="one learning rate per step, comma-separated")
    t.add_argument("--momentum", type=float, default=0.9)
    t.add_argument("--weight-decay", type=float, default=5e-4)
    b = sub.add_parser("bench")
    b.add_argument("--depth", type=int, default=50)
    b.add_argument("--width", type=int, default=64)
    b.add_argument("--blocks", default=None)
    b.add_argument("--input", type=int, default=32)
    b.add_argument("--classes", type=int, default=10)
    b.add_argument("--batch", type=int, default=64)
    b.add_argument("--steps", type=int, default=10)
    b.add_argument("--warmup", type=int, default=2)
    b.add_argument("--device", default="cpu")
    b.add_argument("--threads", type=int, default=0)
    b.add_argument("--channels-last", action="store_true", help="NHWC memory layout (fastest on CPU)")
    b.add_argument("--serve", action="store_true", help="take turns with other benchmarks (bench --compare)")
    args = p.parse_args()
    if getattr(args, "threads", 0):
        torch.set_num_threads(args.threads)
    {"predict": predict, "train": train, "bench": bench}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
