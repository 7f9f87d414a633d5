"""harness.py — what every tests/ref/test_*.py shares: paths, the run's seed, PASS/FAIL
reporting and the exit code, running ./deepc and build/tests/tool_*, temporary folders.

A reference test script looks like this:

    from harness import DEEPC, report, run_script, seed, deepc
    SEED = seed()                       # prints "# seed N (repeat with DEEPC_TEST_SEED=N)"
    def main():
        r = deepc("score", "--model", folder)
        report("score_runs", r.returncode == 0, r.stderr[-300:])
    if __name__ == "__main__":
        run_script(main)                # exit 1 if any FAIL was reported, else 0

Import: tests/run.sh starts each script as `python3 tests/ref/test_X.py`; Python puts the
script's own folder (tests/ref) first on sys.path, so `from harness import ...` works from
any working directory. Paths here are computed from this file's location, never from the cwd.

Output contract (read by tests/run.sh, which counts lines starting "PASS " / "FAIL "):
  PASS name                 (or "PASS name: detail" with detail_on_pass=True)
  FAIL name: detail
Notes a script prints start with "# " (or are indented), never with PASS/FAIL.

Seeds: every run draws a fresh random seed and prints it. To repeat a run, set
DEEPC_TEST_SEED=N; the names some scripts honoured before the harness existed,
DEEPC_REF_SEED and SEED, are honoured too (in that order of precedence, after
DEEPC_TEST_SEED), now by every script.

Offered:
  ROOT, DEEPC, DATA          repo root, ./deepc, ../shared/data (real data; tests may be without it)
  tool_path(name, env=None)  build/tests/tool_<name>, or $DEEPC_TOOL_<NAME> / $env if set
  seed()                     the run's seed (env or fresh), printed once on first call
  report(name, ok, ...)      print PASS/FAIL, count failures
  finish()                   exit 1 if any FAIL was reported, else 0
  run_script(main, ...)      main(), a crash reported as a FAIL if asked, then finish()
  need_program(path, name)   FAIL name (and False) when a program is not built
  run(argv, ...)             run a program, capture its output (optionally raise on failure)
  deepc(*args, ...)          run(./deepc args...)
  temp_dir(prefix)           a temporary folder, removed afterwards (context manager)
  quiet_transformers()       import transformers with its logging cut to errors, no progress bars
  randomize_weights(model)   random weights for a tiny transformers DeepSeek model (torch's RNG)
"""
import contextlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import traceback

# Shared machines: OpenMP threads (ours and torch's) sleep instead of spinning while they wait.
# It must be set before torch loads its OpenMP runtime: import the harness before torch.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEEPC = os.path.join(ROOT, "deepc")
DATA = os.path.join(ROOT, "..", "shared", "data")   # CI lays shared/ beside the clone

SEED_ENV = ("DEEPC_TEST_SEED", "DEEPC_REF_SEED", "SEED")   # first one set wins
DETAIL_LIMIT = 2000    # characters of a FAIL detail printed (a whole stderr can be huge)

_failures = 0
_seed = None


def tool_path(name, env=None):
    """Path of the helper program build/tests/tool_<name> (built from tests/tool_<name>.c by
    `make test`). $DEEPC_TOOL_<NAME> (e.g. DEEPC_TOOL_FP8), or the variable named by env, if
    set, names another binary instead."""
    for var in (f"DEEPC_TOOL_{name.upper()}", env):
        if var and os.environ.get(var):
            return os.environ[var]
    return os.path.join(ROOT, "build", "tests", "tool_" + name)


def seed():
    """The run's seed: the value of the first of DEEPC_TEST_SEED, DEEPC_REF_SEED, SEED that is
    set, else a fresh random one in [1, 2^31). The first call prints "# seed N (repeat with
    DEEPC_TEST_SEED=N)"; later calls return the same number silently. A value that is not an
    integer is a FAIL (seed_from_environment) and exit 1."""
    global _seed
    if _seed is None:
        var = next((v for v in SEED_ENV if os.environ.get(v, "").strip()), None)
        if var:
            try:
                _seed = int(os.environ[var])
            except ValueError:
                report("seed_from_environment", False, f"{var}={os.environ[var]!r} is not an integer")
                finish()
        else:
            _seed = random.SystemRandom().randrange(1, 1 << 31)
        print(f"# seed {_seed} (repeat with DEEPC_TEST_SEED={_seed})", flush=True)
    return _seed


def report(name, ok, detail="", detail_on_pass=False):
    """Print "PASS name" or "FAIL name: detail" (detail cut to DETAIL_LIMIT characters) and count
    a failure. detail_on_pass=True also prints the detail on a PASS line ("PASS name: detail"),
    for figures worth seeing every run. Returns ok, so `if not report(...): return` reads well."""
    global _failures
    ok = bool(ok)
    detail = str(detail)
    if len(detail) > DETAIL_LIMIT:
        detail = detail[:DETAIL_LIMIT] + f" ... ({len(detail) - DETAIL_LIMIT} more characters)"
    show = detail and (detail_on_pass or not ok)
    print(("PASS " if ok else "FAIL ") + name + (": " + detail if show else ""), flush=True)
    if not ok:
        _failures += 1
    return ok


def finish():
    """Exit the script: status 1 if any FAIL was reported, else 0."""
    sys.stdout.flush()
    sys.exit(1 if _failures else 0)


def run_script(main, crash_name=None):
    """Run main(), then finish(). An exception escaping main() is reported as FAIL crash_name
    (with its traceback) when crash_name is given; otherwise it propagates as usual (traceback,
    exit status 1, which tests/run.sh counts as a failure)."""
    try:
        main()
    except Exception as e:  # noqa: BLE001 — a crash is a failure, with its reason
        if crash_name is None:
            raise
        traceback.print_exc(file=sys.stdout)
        report(crash_name, False, repr(e))
    finish()


def need_program(path, name):
    """True if path is an executable file; else report FAIL name (saying to run `make test`,
    which builds ./deepc and build/tests/tool_*) and return False."""
    if os.access(path, os.X_OK):
        return True
    report(name, False, f"{path} is not built; run `make test`")
    return False


def run(argv, input=None, text=True, timeout=None, env=None, check=False):
    """Run argv (items turned into strings) with stdout and stderr captured; returns the
    subprocess.CompletedProcess. input: bytes (or str with text=True) for stdin. env: variables
    to add to (or change in) this process's environment. check=True raises RuntimeError naming
    the program, its exit status and the end of its stderr when it exits non-zero."""
    argv = [str(a) for a in argv]
    r = subprocess.run(argv, input=input, capture_output=True, text=text, timeout=timeout,
                       env=None if env is None else {**os.environ, **env})
    if check and r.returncode != 0:
        err = r.stderr if text else r.stderr.decode("utf-8", "replace")
        raise RuntimeError(f"{os.path.basename(argv[0])} {' '.join(argv[1:])[:300]}: exit {r.returncode}: "
                           f"{err.strip()[-800:]}")
    return r


def deepc(*args, **kw):
    """run([./deepc, *args], **kw) (same keywords as run)."""
    return run([DEEPC, *args], **kw)


@contextlib.contextmanager
def temp_dir(prefix="deepc_test_"):
    """A fresh temporary folder (path yielded), removed with everything in it afterwards,
    also when the body fails."""
    d = tempfile.mkdtemp(prefix=prefix)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def quiet_transformers():
    """Import and return transformers with its logging cut to errors and its download /
    loading progress bars off, so that PASS/FAIL lines stay whole."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import transformers
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    return transformers


def randomize_weights(model, std=0.15, bias_std=None):
    """Overwrite the parameters of a (tiny) transformers DeepSeek model in place, drawing from
    torch's global RNG in named_parameters() order, so that routing and attention are far from
    uniform and a wrong norm weight shows: names containing "norm" get 1 + 0.1·N(0,1),
    names containing "embed" N(0,1), every other parameter std·N(0,1); std is a number or a
    function of the parameter (e.g. lambda p: 0.7 / p.shape[-1] ** 0.5 for N(0, 0.7²/fan_in)).
    bias_std: None leaves the V3 e_score_correction_bias buffers as they are, 0 zeroes them,
    otherwise they get bias_std·N(0,1) (drawn after the parameters). Returns the model."""
    import torch
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            elif "embed" in name:
                p.copy_(torch.randn_like(p))
            else:
                p.copy_((std(p) if callable(std) else std) * torch.randn_like(p))
        if bias_std is not None:
            for name, b in model.named_buffers():
                if name.endswith("e_score_correction_bias"):
                    b.copy_(bias_std * torch.randn_like(b) if bias_std else torch.zeros_like(b))
    return model
