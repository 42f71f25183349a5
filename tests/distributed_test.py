#!/usr/bin/env python3
"""Data-parallel training over Open MPI: the same bits at any process count, clean failures.

  distributed_test.py --cli build/release/convlab --mpirun /usr/bin/mpirun
                      --data data/cifar-10-batches-bin [--timeout-scale 1]

Checks, on a small CIFAR-10 subset and a model with BatchNorm and Dropout (so that the chunk
statistics, the running estimates and the dropout masks are all exercised), with batches that
do not divide into the chunks nor the chunks among the processes:
  1. `convlab train --chunk-size 8` in one process without mpirun, and `mpirun -np 1, 2, 3`
     (one thread per process, and two at -np 3; exchanging through shared memory, and through
     MPI_Allgatherv at -np 2 and 3) write byte-identical checkpoint.bin files, and report the
     same test accuracy;
  2. a run of one epoch at -np 2 resumed to two epochs at -np 3 equals the uninterrupted run;
     compare at -np 2 equals compare in one process with the same chunk size;
  3. processes that read different data, or were given another recipe, stop with one error
     that names what differs, before training;
  4. killing one process mid-run stops every other within 10 s, each with one error line, and
     the checkpoint on disk still loads (convlab evaluate).
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "hostile"))
import common  # noqa: E402

MODEL = """Sequential(
  (0): Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
  (1): BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
  (2): ReLU()
  (3): MaxPool2d(kernel_size=4, stride=4, padding=0, dilation=1, ceil_mode=False)
  (4): Flatten(start_dim=1, end_dim=-1)
  (5): Dropout(p=0.25, inplace=False)
  (6): Linear(in_features=512, out_features=10, bias=True)
)
"""
TRAIN_RECORDS = 1003  # batches of 50: the last holds 3 images, one chunk for three processes
TEST_RECORDS = 101
RECIPE = ["--batch-size", "50", "--chunk-size", "8", "--seed", "7", "--augment", "crop,flip"]

failures = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what, flush=True)
    if not ok:
        failures.append(what)


class Job:
    def __init__(self, args, tmp):
        self.cli = os.path.abspath(args.cli)
        self.mpirun = args.mpirun
        self.scale = args.timeout_scale
        self.tmp = tmp
        self.data = common.make_tiny_cifar(args.data, os.path.join(tmp, "data"), TRAIN_RECORDS,
                                           TEST_RECORDS)
        self.model = os.path.join(tmp, "model.txt")
        with open(self.model, "w") as f:
            f.write(MODEL)
        # CI runs as root; three processes share two cores. When a process dies, mpirun sends the
        # others SIGTERM and, odls_base_sigkill_timeout seconds later (1 by default), SIGKILL: a
        # process whose SIGTERM handler cannot run within that second (its thread in fsync while
        # committing an epoch, or no core free under ctest -j 2) dies without its error line. The
        # test gives it 2 seconds (more under the sanitizers), as a user can.
        self.env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                        OMPI_MCA_rmaps_base_oversubscribe="1",
                        OMPI_MCA_odls_base_sigkill_timeout=str(max(2, int(2 * self.scale))))

    def mpi(self, n):
        return [self.mpirun, "--oversubscribe", "-np", str(n)]

    def run(self, argv, limit=120):
        p = subprocess.run(argv, cwd=self.tmp, env=self.env, capture_output=True, text=True,
                           timeout=limit * self.scale)
        return p.returncode, p.stdout, p.stderr

    def train(self, out, n=None, threads=1, epochs=2, extra=(), shared=True, recipe=RECIPE):
        # Shared memory required (CONVLAB_MPI_SHARED=1: an error if it cannot be used), or MPI's
        # allgather (=0), as processes on several machines exchange.
        mpi = [] if n is None else (self.mpi(n)[:1] + ["-x", "CONVLAB_MPI_SHARED=%d" % shared] +
                                    self.mpi(n)[1:])
        argv = mpi + [
            self.cli, "train", "--model", self.model, "--data", self.data, "--out", out,
            "--epochs", str(epochs), "--threads", str(threads)] + list(recipe) + list(extra)
        return self.run(argv)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def accuracy_line(stdout):
    lines = [l for l in stdout.splitlines() if l.startswith("test accuracy")]
    return lines[-1] if lines else "(none)"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--mpirun", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--timeout-scale", type=float, default=1.0)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="convlab-mpi-")
    try:
        job = Job(args, tmp)

        # 1. One process without mpirun, then 1, 2 and 3 processes.
        code, out, err = job.train("plain", threads=2)
        check(code == 0, "one process without mpirun trains (exit %d) %s" % (code, err.strip()))
        reference = read(os.path.join(tmp, "plain", "checkpoint.bin"))
        # Processes on one machine exchange through shared memory; CONVLAB_MPI_SHARED=0 makes
        # them use MPI_Allgatherv, as processes on different machines do.
        for n, threads, shared in ((1, 1, True), (2, 1, True), (2, 1, False), (3, 1, True),
                                   (3, 2, True), (3, 1, False)):
            how = "" if shared else ", allgather"
            name = "np%d_t%d%s" % (n, threads, "" if shared else "_allgather")
            code, out2, err = job.train(name, n=n, threads=threads, shared=shared)
            check(code == 0, "mpirun -np %d (%d thread each%s) trains (exit %d) %s"
                  % (n, threads, how, code, err.strip()[-300:]))
            if code == 0:
                got = read(os.path.join(tmp, name, "checkpoint.bin"))
                check(got == reference, "mpirun -np %d, %d thread(s)%s: checkpoint.bin equals the "
                      "one-process run byte for byte (%d bytes)" % (n, threads, how, len(got)))
                check(accuracy_line(out2) == accuracy_line(out),
                      "mpirun -np %d reports the same test accuracy: %s"
                      % (n, accuracy_line(out2)))

        # 1b. Batches of 72 in chunks of 5 at -np 3: the epoch's last batch (67 images, 14 chunks)
        # gives one process more subtree sums to share than the full batches (15 chunks) do, so
        # the shared windows grow mid-epoch.
        grow = ["--batch-size", "72", "--chunk-size", "5", "--seed", "7"]
        code, _, err = job.train("grow_plain", epochs=1, recipe=grow)
        check(code == 0, "one process, batches of 72 in chunks of 5 (exit %d) %s" % (code, err))
        code, _, err = job.train("grow_np3", n=3, epochs=1, recipe=grow)
        check(code == 0, "mpirun -np 3, batches of 72 in chunks of 5 (exit %d) %s"
              % (code, err.strip()[-300:]))
        if code == 0:
            check(read(os.path.join(tmp, "grow_np3", "checkpoint.bin")) ==
                  read(os.path.join(tmp, "grow_plain", "checkpoint.bin")),
                  "... equals one process byte for byte, though the exchange grew mid-epoch")
        code, _, err = job.run(job.mpi(2)[:1] + ["-x", "CONVLAB_MPI_SHARED=2"] + job.mpi(2)[1:] + [
            job.cli, "train", "--model", job.model, "--data", job.data, "--out", "bad-env",
            "--epochs", "1"] + RECIPE)
        check(code != 0 and "CONVLAB_MPI_SHARED must be 0 or 1" in err,
              "CONVLAB_MPI_SHARED=2 is refused (exit %d)" % code)

        # 2. Resume with another process count.
        code, _, err = job.train("resumed", n=2, epochs=1)
        check(code == 0, "one epoch at -np 2 (exit %d) %s" % (code, err.strip()[-300:]))
        code, _, err = job.run(job.mpi(3) + [
            job.cli, "train", "--data", job.data, "--resume", "resumed/checkpoint.bin",
            "--epochs", "2", "--out", "resumed", "--threads", "1"])
        check(code == 0, "resumed at -np 3 (exit %d) %s" % (code, err.strip()[-300:]))
        if code == 0:
            check(read(os.path.join(tmp, "resumed", "checkpoint.bin")) == reference,
                  "1 epoch at -np 2 + 1 epoch at -np 3 equals 2 epochs in one process")

        # 2b. compare: both models, one after the other, each shared among the processes; the
        # default chunk size under mpirun is 16, as --chunk-size 16 gives one process.
        runs = {}
        for tag, prefix, extra in (("one", [], ["--chunk-size", "16"]), ("np2", job.mpi(2), [])):
            code, _, err = job.run(prefix + [job.cli, "compare", "--data", job.data, "--epochs", "1",
                                             "--out", "compare-" + tag, "--threads", "1"] + extra)
            check(code == 0, "compare (%s) runs (exit %d) %s" % (tag, code, err.strip()[-300:]))
            runs[tag] = [read(os.path.join(tmp, "compare-" + tag, "seed0", m, "checkpoint.bin"))
                         if code == 0 else b"" for m in ("standard", "sumfirst")]
        check(runs["one"] == runs["np2"] and runs["one"][0],
              "compare at -np 2 writes the same checkpoints as one process with --chunk-size 16")

        # 3. Processes that disagree stop before training (MPMD: each part its own arguments).
        other = os.path.join(tmp, "other-data")
        shutil.copytree(job.data, other)
        with open(os.path.join(other, "data_batch_1.bin"), "r+b") as f:
            f.seek(500)
            b = f.read(1)
            f.seek(500)
            f.write(bytes([b[0] ^ 1]))
        base = [job.cli, "train", "--model", job.model, "--out", "mismatch", "--epochs", "1",
                "--threads", "1"] + RECIPE
        for what, second, expect in (
                ("data", base + ["--data", other], "different training data"),
                ("learning rate", base + ["--data", job.data, "--lr", "0.002"],
                 "different training recipe")):
            argv = ([job.mpirun, "--oversubscribe", "-np", "1"] + base + ["--data", job.data] +
                    [":", "-np", "1"] + second)
            code, _, err = job.run(argv)
            lines = [l for l in err.splitlines() if l.startswith("convlab: error:")]
            # Each process's line whole: written piece by piece, two processes' pieces once
            # interleaved into "convlab: error: convlab: error: process 0 of 2: process 1 ...".
            check(code != 0 and any(expect in l for l in lines) and
                  all(l.count("convlab: error:") == 1 for l in lines),
                  "processes given different %s stop with an error naming it (exit %d): %s"
                  % (what, code, lines[:1]))
            check(not os.path.exists(os.path.join(tmp, "mismatch", "checkpoint.bin")),
                  "... and nothing was trained or written")

        # 4. Kill one process mid-run.
        out_dir = os.path.join(tmp, "killed")
        argv = job.mpi(3) + [job.cli, "train", "--model", job.model, "--data", job.data,
                             "--out", out_dir, "--epochs", "100000", "--threads", "1"] + RECIPE
        proc = subprocess.Popen(argv, cwd=tmp, env=job.env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        deadline = time.time() + 120 * job.scale
        ckpt = os.path.join(out_dir, "checkpoint.bin")
        while not os.path.exists(ckpt) and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        victim = None
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/environ" % pid, "rb") as f:
                    env = f.read().split(b"\0")
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            if (b"OMPI_COMM_WORLD_RANK=1" in env and job.cli.encode() in cmd
                    and out_dir.encode() in cmd):
                victim = int(pid)
        check(victim is not None and os.path.exists(ckpt),
              "found process 1 of the running job after its first checkpoint")
        if victim is not None:
            time.sleep(0.3)  # mid-epoch
            os.kill(victim, signal.SIGKILL)
            t0 = time.time()
            try:
                _, err = proc.communicate(timeout=30 * job.scale)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                _, err = proc.communicate()
                err = "(still running after 30 s)\n" + err
            stopped = time.time() - t0
            check(proc.returncode != 0 and stopped < 10 * job.scale,
                  "killing process 1 stops the job in %.1f s (exit %s)" % (stopped, proc.returncode))
            for rank in (0, 2):
                lines = [l for l in err.splitlines()
                         if l.startswith("convlab: error: process %d of 3:" % rank)]
                check(len(lines) == 1, "process %d says why it stopped, in one line: %s%s"
                      % (rank, lines, "" if len(lines) == 1 else "\n  stderr ends: " + err[-600:]))
            code, out, e = job.run([job.cli, "evaluate", "--checkpoint", ckpt, "--data", job.data])
            check(code == 0 and "accuracy" in out,
                  "the checkpoint left on disk loads and evaluates (exit %d) %s" % (code, e.strip()))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    print("all distributed checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
