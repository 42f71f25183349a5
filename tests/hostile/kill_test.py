#!/usr/bin/env python3
"""convlab's kill test: runs killed at random moments never lose or split a run directory.

Repeatedly trains into one OUT (resuming from OUT/checkpoint.bin once it exists), and stops each
run at a seeded random moment: SIGKILL while training, SIGKILL the instant a save begins, or
SIGINT (which must stop cleanly with exit 130). After every round:
  - OUT/checkpoint.bin, if present, loads (convlab evaluate exits 0);
  - its epoch equals the number of entries in OUT/metrics.json "epochs" and the last entry's
    "epoch" (checkpoint and metrics describe the same epoch), and never goes backwards;
  - once a later run has got as far as saving an epoch, no temporary file of an earlier (dead)
    run is left; after SIGINT no temporary file is left at all.
A last ordinary run must leave no '*.tmp.*' file and no orphaned hidden directory.

  kill_test.py --cli build/release/convlab --data data/cifar-10-batches-bin [--kills 5]
               [--sigints 3] [--seed 1] [--timeout-scale 1] [--keep]
"""
import argparse
import os
import random
import shutil
import signal
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # keep the source tree clean of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

TRAIN_RECORDS = 1024  # with --batch-size 8: an epoch of the standard model takes ~0.1-0.3 s
TEST_RECORDS = 64
BATCH = "8"
MANY_EPOCHS = 100000  # never reached: every round is stopped by a signal


class KillTest:
    def __init__(self, args, tmp):
        self.cli = os.path.abspath(args.cli)
        self.scale = args.timeout_scale
        self.tmp = tmp
        self.rng = random.Random(args.seed)
        self.seed = args.seed
        self.logs = os.path.join(tmp, "logs")
        os.makedirs(self.logs)
        self.data = common.make_tiny_cifar(args.data, os.path.join(tmp, "data"),
                                           TRAIN_RECORDS, TEST_RECORDS)
        self.out = os.path.join(tmp, "out")
        self.round = 0
        self.passed = 0
        self.failed = 0
        self.epoch = 0            # the epoch OUT/checkpoint.bin held after the last round
        self.leftovers = set()    # temporary entries that dead runs had left before this round

    # ---- running ---------------------------------------------------------------------------

    def log(self, tag):
        return os.path.join(self.logs, "%d-%s" % (self.round, tag))

    def run(self, argv, tag, limit=60.0):
        return common.run([self.cli] + argv, self.tmp, self.log(tag), limit * self.scale)

    def train_argv(self, epochs):
        """Resume OUT once it has a checkpoint, else start fresh (replacing whatever a run
        killed before its first save left)."""
        ck = os.path.join(self.out, "checkpoint.bin")
        common_flags = ["--data", self.data, "--out", self.out, "--threads", "1",
                        "--epochs", str(epochs)]
        if os.path.exists(ck):
            return ["train", "--resume", ck] + common_flags
        argv = ["train", "--model", "standard", "--batch-size", BATCH, "--seed", str(self.seed)]
        if os.path.exists(self.out):
            argv.append("--overwrite")
        return argv + common_flags

    def calibrate(self):
        """Seconds per epoch (training, evaluation and saving), from a two-epoch run."""
        out = os.path.join(self.tmp, "calibrate")
        t0 = time.monotonic()
        r = self.run(["train", "--model", "standard", "--batch-size", BATCH, "--data", self.data,
                      "--out", out, "--threads", "1", "--epochs", "2"], "calibrate")
        wall = time.monotonic() - t0
        if r.code != 0:
            raise SystemExit("kill_test: the calibration run failed: exit %s: %s"
                             % (r.code, r.stderr.decode(errors="replace")[:300]))
        shutil.rmtree(out)
        return wall / 2

    # ---- observing OUT ---------------------------------------------------------------------

    def out_state(self):
        """A fingerprint of OUT that changes when a save starts (a new entry anywhere) or ends
        (checkpoint.bin replaced)."""
        names = []
        for root, dirs, files in os.walk(self.out):
            names += [os.path.join(root, n) for n in dirs + files]
        try:
            st = os.stat(os.path.join(self.out, "checkpoint.bin"))
            ck = (st.st_ino, st.st_mtime_ns)
        except OSError:
            ck = None
        return tuple(sorted(names)), ck

    def wait_for_save(self, proc, limit):
        """Returns as soon as OUT changes (a save began) or the limit passes."""
        before = self.out_state()
        t0 = time.monotonic()
        while time.monotonic() - t0 < limit and proc.poll() is None:
            if self.out_state() != before:
                return True
            time.sleep(0.0005)
        return False

    def temp_files(self):
        """Temporary files ('*.tmp.*') and hidden directories nothing links to."""
        if not os.path.isdir(self.out):
            return []
        return common.temp_leftovers(self.out) + common.orphan_hidden_dirs(self.out)


    # ---- one round ---------------------------------------------------------------------------

    def stop_run(self, mode, epoch_seconds):
        """Starts a run, stops it as `mode` says, returns (result, how it was stopped)."""
        argv = [self.cli] + self.train_argv(MANY_EPOCHS)
        log = self.log("train")
        t0 = time.monotonic()
        proc = common.start(argv, self.tmp, log)
        if mode == "kill-save":
            # A save is a sequence of changes to OUT (staging entries appear, files are
            # renamed, links switched, old entries removed): kill at the n-th change seen, so
            # kills land at every step of it.
            n = self.rng.randint(1, 12)
            for _ in range(n):
                if not self.wait_for_save(proc, 10 * self.scale):
                    break
            how = "SIGKILL at change %d of OUT after %.3f s" % (n, time.monotonic() - t0)
            sig = signal.SIGKILL
        else:
            # Spread over startup and the first few epochs (training, evaluation and saving).
            low = 0.15 if mode == "sigint" else 0.02
            delay = self.rng.uniform(low, low + 3 * epoch_seconds)
            if mode == "sigint":  # counted from the moment convlab takes over Ctrl-C
                while not common.catches_sigint(proc.pid) and proc.poll() is None:
                    time.sleep(0.0005)
            time.sleep(delay)
            sig = signal.SIGINT if mode == "sigint" else signal.SIGKILL
            how = "%s after %.3f s" % (sig.name, delay)
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        return common.finish(proc, log, 20 * self.scale, t0), proc.pid, how

    def check_out(self):
        """OUT after a round: loads, agrees, never goes backwards; returns (problems, epoch)."""
        ck = os.path.join(self.out, "checkpoint.bin")
        mj = os.path.join(self.out, "metrics.json")
        if not os.path.exists(ck):
            if os.path.exists(mj):
                return ["metrics.json exists without checkpoint.bin"], 0
            if self.epoch:
                return ["checkpoint.bin (epoch %d) has disappeared" % self.epoch], 0
            return [], 0
        problems = common.run_dir_problems(self.out)
        try:
            epoch = common.checkpoint_header(ck)["epoch"]
        except Exception as e:  # noqa: BLE001
            return problems + ["checkpoint header unreadable: %s" % e], self.epoch
        if epoch < self.epoch:
            problems.append("checkpoint went back from epoch %d to %d" % (self.epoch, epoch))
        r = self.run(["evaluate", "--checkpoint", ck, "--data", self.data], "evaluate")
        if r.code != 0:
            problems.append("evaluate exit %s: %s" % (r.code, r.stderr.decode(
                errors="replace").strip()[:300]))
        # A run that saved an epoch had started, so it must have removed what the runs that
        # died before it had left. (What it leaves itself when killed is the next run's job.)
        if epoch > self.epoch:
            stale = sorted(self.leftovers & set(self.temp_files()))
            if stale:
                problems.append("leftovers of dead runs survived a run: %s" % stale)
        return problems, epoch

    def one_round(self, mode, epoch_seconds):
        self.round += 1
        res, pid, how = self.stop_run(mode, epoch_seconds)
        problems = []
        if res.timed_out:
            problems.append("HANG: did not exit within the limit after %s" % how)
        elif mode == "sigint":
            if res.code != 130:
                problems.append("exit %s after SIGINT, expected 130%s" % (
                    res.code, " (%s)" % common.signal_name(res.code) if res.code < 0 else ""))
            lines = res.stderr.splitlines()
            if len(lines) != 1 or not res.stderr.endswith(b"\n"):
                problems.append("stderr is %d lines, not one: %r" % (len(lines),
                                                                      res.stderr[:300]))
            left = self.temp_files()
            if left:
                problems.append("temporary files or orphaned hidden directories left after a "
                                "clean SIGINT stop: %s" % left)
        elif res.code != -signal.SIGKILL:
            problems.append("exit %s before the SIGKILL: %r" % (res.code, res.stderr[:300]))
        out_problems, epoch = self.check_out()
        problems += out_problems
        self.leftovers = set(self.temp_files())
        what = "%-9s %s: epoch %d -> %d" % (mode, how, self.epoch, epoch)
        if self.leftovers:
            what += ", left %s" % sorted(self.leftovers)
        self.report(what, problems)
        self.epoch = max(self.epoch, epoch)

    def final_run(self):
        """An ordinary run to the end: OUT consistent, nothing temporary or orphaned left."""
        self.round += 1
        target = self.epoch + 1
        argv = self.train_argv(target)
        if not os.path.exists(os.path.join(self.out, "checkpoint.bin")):
            argv = self.train_argv(1)
            target = 1
        r = self.run(argv, "final")
        problems = []
        if r.code != 0:
            problems.append("exit %s: %s" % (r.code, r.stderr.decode(errors="replace")[:300]))
        else:
            problems += common.run_dir_problems(self.out, target)
            left = self.temp_files()
            if left:
                problems.append("temporary files or orphaned hidden directories left: %s" % left)
        self.report("final     run to epoch %d: %s" % (target, "exit %s" % r.code), problems,
                    argv)

    def report(self, what, problems, argv=None):
        if problems:
            self.failed += 1
            print("FAIL round %d %s: %s" % (self.round, what, "; ".join(problems)), flush=True)
            if argv:
                print("     argv: convlab %s" % " ".join(argv), flush=True)
        else:
            self.passed += 1
            print("ok   round %d %s" % (self.round, what), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cli", required=True)
    ap.add_argument("--data", required=True, help="the shipped CIFAR-10 directory")
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--sigints", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout-scale", type=float, default=1.0)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="kill_test-")
    try:
        t = KillTest(args, tmp)
        epoch_seconds = t.calibrate()
        print("kill_test: seed %d, %.3f s per epoch" % (args.seed, epoch_seconds), flush=True)
        # Half the kills land wherever the clock says, half the instant a save begins.
        modes = (["kill"] * (args.kills - args.kills // 2) + ["kill-save"] * (args.kills // 2)
                 + ["sigint"] * args.sigints)
        t.rng.shuffle(modes)
        for mode in modes:
            t.one_round(mode, epoch_seconds)
        t.final_run()
    finally:
        if args.keep:
            print("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print("kill_test: %d passed, %d failed" % (t.passed, t.failed))
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main())
