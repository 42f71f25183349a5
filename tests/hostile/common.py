"""Shared helpers of the hostile-input suite and the kill test (standard library only).

Fixture makers (tiny CIFAR-10 / MNIST directories), the checkpoint file format (to read a run's
epoch and to write crafted checkpoints by hand), run-directory consistency checks, and a runner
that never lets a child outlive its time limit.
"""
import dataclasses
import json
import os
import signal
import struct
import subprocess
import time

CIFAR_RECORD = 3073  # 1 label byte + 3 * 32 * 32 pixel bytes
CKPT_MAGIC = b"CONVLABK"


# ---- fixtures ------------------------------------------------------------------------------

def copy_prefix(src, dst, nbytes):
    """Copies the first nbytes of src to dst (a record-aligned subset of a data file)."""
    with open(src, "rb") as f:
        data = f.read(nbytes)
    with open(dst, "wb") as f:
        f.write(data)


def make_tiny_cifar(src_dir, dst_dir, ntrain=128, ntest=64):
    """A CIFAR-10 directory with the first records of data_batch_1 and test_batch: fast training."""
    os.makedirs(dst_dir, exist_ok=True)
    copy_prefix(os.path.join(src_dir, "data_batch_1.bin"),
                os.path.join(dst_dir, "data_batch_1.bin"), ntrain * CIFAR_RECORD)
    copy_prefix(os.path.join(src_dir, "test_batch.bin"),
                os.path.join(dst_dir, "test_batch.bin"), ntest * CIFAR_RECORD)
    meta = os.path.join(src_dir, "batches.meta.txt")
    if os.path.exists(meta):
        with open(meta, "rb") as f, open(os.path.join(dst_dir, "batches.meta.txt"), "wb") as g:
            g.write(f.read())
    return dst_dir


def idx_header(magic, dims):
    """Big-endian idx header: magic, then one u32 per dimension."""
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims)


def make_tiny_mnist(src_dir, dst_dir, ntrain=128, ntest=64):
    """An MNIST idx directory with the first images of the shipped files (28x28, labels 0-9)."""
    os.makedirs(dst_dir, exist_ok=True)
    for prefix, n in (("train", ntrain), ("t10k", ntest)):
        with open(os.path.join(src_dir, prefix + "-images-idx3-ubyte"), "rb") as f:
            img = f.read()
        with open(os.path.join(src_dir, prefix + "-labels-idx1-ubyte"), "rb") as f:
            lab = f.read()
        rows, cols = struct.unpack(">II", img[8:16])
        with open(os.path.join(dst_dir, prefix + "-images-idx3-ubyte"), "wb") as f:
            f.write(idx_header(2051, (n, rows, cols)) + img[16:16 + n * rows * cols])
        with open(os.path.join(dst_dir, prefix + "-labels-idx1-ubyte"), "wb") as f:
            f.write(idx_header(2049, (n,)) + lab[8:8 + n])
    return dst_dir


# ---- the checkpoint format (include/convlab/train/checkpoint.h) -----------------------------
#   "CONVLABK" | u32 version | u64 header bytes | JSON header | u32 tensor count |
#   per tensor: u32 name bytes | name | u32 rank | i64 dims[rank] | f32 data | u64 FNV-1a-64 of all
#   preceding bytes; little-endian.

def fnv1a64(data):
    h = 1469598103934665603
    for b in data:
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


@dataclasses.dataclass
class Tensor:
    name: bytes
    dims: list
    data: bytes


@dataclasses.dataclass
class Checkpoint:
    """A parsed checkpoint; build() writes it back with a freshly computed checksum."""
    magic: bytes
    version: int
    header: bytes
    tensors: list
    trailing: bytes = b""
    header_size: int = None  # override the stored header length (None: the real one)
    count: int = None        # override the stored tensor count

    @staticmethod
    def parse(raw):
        pos = 0

        def take(n):
            nonlocal pos
            if pos + n > len(raw) - 8:
                raise ValueError("truncated checkpoint")
            out = raw[pos:pos + n]
            pos += n
            return out

        magic = take(8)
        version, = struct.unpack("<I", take(4))
        hsize, = struct.unpack("<Q", take(8))
        header = take(hsize)
        count, = struct.unpack("<I", take(4))
        tensors = []
        for _ in range(count):
            nlen, = struct.unpack("<I", take(4))
            name = take(nlen)
            rank, = struct.unpack("<I", take(4))
            dims = list(struct.unpack("<%dq" % rank, take(8 * rank)))
            numel = 1
            for d in dims:
                numel *= d
            tensors.append(Tensor(name, dims, take(4 * numel)))
        return Checkpoint(magic, version, header, tensors, raw[pos:len(raw) - 8])

    def header_json(self):
        return json.loads(self.header)

    def set_header(self, obj):
        self.header = json.dumps(obj).encode()

    def tensor(self, name):
        for t in self.tensors:
            if t.name == name.encode():
                return t
        raise KeyError(name)

    def body(self):
        out = [self.magic, struct.pack("<I", self.version & 0xFFFFFFFF),
               struct.pack("<Q", (len(self.header) if self.header_size is None
                                  else self.header_size) & 0xFFFFFFFFFFFFFFFF),
               self.header,
               struct.pack("<I", (len(self.tensors) if self.count is None else self.count)
                           & 0xFFFFFFFF)]
        for t in self.tensors:
            out.append(struct.pack("<I", len(t.name)) + t.name)
            out.append(struct.pack("<I", len(t.dims)))
            out.append(b"".join(struct.pack("<q", d) for d in t.dims))
            out.append(t.data)
        out.append(self.trailing)
        return b"".join(out)

    def build(self):
        body = self.body()
        return body + struct.pack("<Q", fnv1a64(body))


def checkpoint_header(path):
    """The JSON header of a checkpoint file, read directly from the format (no convlab)."""
    with open(path, "rb") as f:
        head = f.read(20)
        if len(head) < 20 or head[:8] != CKPT_MAGIC:
            raise ValueError("%s: no CONVLABK header" % path)
        hsize, = struct.unpack("<Q", head[12:20])
        if hsize > 64 << 20:
            raise ValueError("%s: header size %d" % (path, hsize))
        return json.loads(f.read(hsize))


# ---- run directories -----------------------------------------------------------------------

def run_dir_problems(out, expect_epoch=None):
    """Checks that OUT/checkpoint.bin and OUT/metrics.json describe the same epoch.

    Both are opened as paths (they may be symlinks into hidden directories). Returns a list of
    problems (empty when consistent)."""
    problems = []
    ck = os.path.join(out, "checkpoint.bin")
    mj = os.path.join(out, "metrics.json")
    try:
        epoch = checkpoint_header(ck)["epoch"]
    except Exception as e:  # noqa: BLE001 - any failure is a finding to report
        return ["checkpoint.bin unreadable: %s" % e]
    try:
        with open(mj, "rb") as f:
            metrics = json.load(f)
        epochs = metrics["epochs"]
    except Exception as e:  # noqa: BLE001
        return ["metrics.json unreadable: %s" % e]
    if len(epochs) != epoch:
        problems.append("metrics.json has %d epochs; checkpoint.bin holds epoch %s"
                        % (len(epochs), epoch))
    elif epochs and epochs[-1].get("epoch") != epoch:
        problems.append("metrics.json's last epoch is %s; checkpoint.bin holds epoch %s"
                        % (epochs[-1].get("epoch"), epoch))
    if expect_epoch is not None and epoch != expect_epoch:
        problems.append("checkpoint.bin holds epoch %s; expected %s" % (epoch, expect_epoch))
    return problems


def temp_leftovers(out):
    """Names (relative to OUT, recursively) that look like temporary files: '*.tmp.*'."""
    found = []
    for root, dirs, files in os.walk(out):
        for name in dirs + files:
            if ".tmp." in name:
                found.append(os.path.relpath(os.path.join(root, name), out))
    return sorted(found)


def orphan_hidden_dirs(out):
    """Hidden directories in OUT that no visible entry (symlink) of OUT points into.

    A layout may keep the files of the current epoch in a hidden directory and expose them
    through symlinks; any other hidden directory is a leftover of an interrupted save."""
    try:
        names = os.listdir(out)
    except OSError:
        return []
    referenced = set()
    for name in names:
        p = os.path.join(out, name)
        if os.path.islink(p):
            target = os.path.realpath(p)
            rel = os.path.relpath(target, os.path.realpath(out))
            referenced.add(rel.split(os.sep)[0])
    return sorted(n for n in names if n.startswith(".") and os.path.isdir(os.path.join(out, n))
                  and not os.path.islink(os.path.join(out, n)) and n not in referenced)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def dead_pid(start=4194000):
    """A pid that no process has (for stale temporary files of a 'dead' writer)."""
    pid = start
    while pid_alive(pid):
        pid -= 1
    return pid


# ---- running the binary --------------------------------------------------------------------

@dataclasses.dataclass
class Result:
    code: int          # exit code; negative: killed by that signal
    stdout: bytes
    stderr: bytes
    timed_out: bool
    seconds: float


def signal_name(code):
    try:
        return signal.Signals(-code).name
    except ValueError:
        return "signal %d" % -code


def start(argv, cwd, log_prefix, env=None, stdout_path=None):
    """Starts argv in its own process group with stdout/stderr going to files (no pipe can
    fill up and block the child); stdout_path sends stdout elsewhere (e.g. /dev/full)."""
    out = open(stdout_path or log_prefix + ".out", "wb")
    err = open(log_prefix + ".err", "wb")
    try:
        return subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                env=env, start_new_session=True)
    finally:
        out.close()
        err.close()


def finish(proc, log_prefix, limit, t0):
    """Waits up to `limit` seconds; on timeout kills the whole process group."""
    timed_out = False
    try:
        proc.wait(timeout=max(0.0, limit - (time.monotonic() - t0)))
    except subprocess.TimeoutExpired:
        timed_out = True
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    try:
        with open(log_prefix + ".out", "rb") as f:
            out = f.read()
    except FileNotFoundError:  # stdout went elsewhere
        out = b""
    with open(log_prefix + ".err", "rb") as f:
        err = f.read()
    return Result(proc.returncode, out, err, timed_out, time.monotonic() - t0)


def run(argv, cwd, log_prefix, limit, env=None, stdout_path=None):
    t0 = time.monotonic()
    return finish(start(argv, cwd, log_prefix, env, stdout_path), log_prefix, limit, t0)


def catches_sigint(pid):
    """Whether process `pid` has installed a SIGINT handler (the SigCgt mask in its status):
    convlab does so first thing in main; before that a signal finds the default action, as for
    any program the dynamic linker is still loading."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
    except (OSError, ValueError):
        pass
    return False
