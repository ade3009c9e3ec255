"""Scripted stand-ins for Lean, for the backend contract tests.

``FakeLean`` plays a LeanDojo ``Dojo``: it answers with lean_dojo's own result classes
(TacticState, ProofFinished, LeanError, ProofGivenUp) and raises lean_dojo's own exceptions
(DojoTacticTimeoutError, DojoCrashError, DojoInitError). ``FakeRepl`` plays a Lean REPL process
behind lean-interact: it builds the REPL's JSON answers and turns them into lean-interact's own
response models exactly as ``LeanServer.run`` does, raising what ``LeanServer.run`` raises;
``#print axioms NAME`` is answered with Lean's info message, in an environment where a proof
command declared ``NAME`` (``FakeRepl.axioms`` says which axioms); a proof command sent in the
header's environment answers as the header followed by it would (``FakeRepl.proofs``).

Both are strict where a real Lean would be: a Dojo used from another thread than the one that
entered it, a TacticState or proof state from another process, or a Dojo used after it timed
out (LeanDojo#218) makes them fail loudly, so a backend bug cannot pass silently. A ``"block"``
fault runs a real ``sleep`` process as the prover process, which only a kill ends.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import textwrap
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from lean_dojo import (
    CommandState,
    DojoCrashError,
    DojoInitError,
    DojoTacticTimeoutError,
    LeanError,
    ProofFinished,
    ProofGivenUp,
    TacticState,
)
from lean_interact.interface import (
    Command,
    CommandResponse,
    ProofStep,
    ProofStepResponse,
)
from lean_interact.interface import LeanError as ReplLeanError

from prover.types import Theorem

PROVED = "<proved>"
GIVEN_UP = "<given up>"
ERROR = "<error>"

HYPS = "p q : Prop\nhp : p\nhq : q"
ROOT = f"{HYPS}\n⊢ p ∧ q"
LEFT = f"case left\n{HYPS}\n⊢ p"
RIGHT = f"case right\n{HYPS}\n⊢ q"
BOTH = f"{LEFT}\n\n{RIGHT}"
"""The two-goal state after ``constructor`` (LeanDojo's pp: goals separated by blank lines)."""

TWO_GOAL_EDGES: dict[tuple[str, str], str] = {
    (ROOT, "constructor"): BOTH,
    (ROOT, "simp"): ERROR + "simp made no progress",
    (ROOT, "exact?"): GIVEN_UP,
    (BOTH, "exact hp"): RIGHT,
    (BOTH, "bad"): ERROR + "unknown identifier 'bad'",
    (RIGHT, "exact hq"): PROVED,
}
"""``theorem t (p q : Prop) (hp : p) (hq : q) : p ∧ q`` as LeanDojo would answer it."""

THEOREM = Theorem("two_goals", statement="theorem two_goals (p q : Prop) (hp : p) (hq : q) : "
                  "p ∧ q := by")


def run_blocker() -> subprocess.Popen[bytes]:
    """A real process that only a kill ends early (30 s otherwise)."""
    return subprocess.Popen(["sleep", "30"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


class _Concurrency:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active = 0
        self.max = 0

    def __enter__(self) -> None:
        with self.lock:
            self.active += 1
            self.max = max(self.max, self.active)

    def __exit__(self, *exc: Any) -> None:
        with self.lock:
            self.active -= 1


# ---- LeanDojo ------------------------------------------------------------------------------
class FakeLean:
    """The Lean that stand-in Dojos pretend to run: transitions keyed by ``(pp, tactic)``.

    ``faults[(pp, tactic)]`` is a queue of faults used up one per call: ``"timeout"``,
    ``"crash"`` (Unexpected EOF), ``"oom"``, ``"slow"`` (0.3 s, then the normal answer),
    ``"block"`` (wait on a real process until it is killed), ``"unparsable"`` (Lean prints a
    state whose hypothesis shows a ``⊢``: lean_dojo's TacticState fails its own assertion, the
    process lives on) or ``"sigkill"`` (Lean killed by SIGKILL: ``Dojo._check_alive`` fails its
    ``assert exit_code is not None``). ``init_faults[i]`` is raised by the i-th ``__enter__``;
    ``init_delays[i]`` seconds pass in it first, and ``init_blocks`` holds the indices of
    ``__enter__`` calls that wait on a real process until it is killed (then "Unexpected EOF").

    Command-mode Dojos (:meth:`command_factory`, for the claim check) answer the redeclared
    theorem and its ``#print axioms`` as LeanDojo's command REPL does: the printed messages as
    ``CommandState.message``, errors as a ``LeanError``; ``claim_axioms[path]`` says what the
    proof ``path`` depends on (a list; absent: none) or, as a string, the error compiling it
    gives. With ``pexpect_procs``, each tactic Dojo's ``proc`` is a stand-in with pexpect's
    ``timeout`` attribute.
    """

    def __init__(self, root: str = ROOT, edges: dict[tuple[str, str], str] | None = None
                 ) -> None:
        self.root = root
        self.edges = dict(TWO_GOAL_EDGES if edges is None else edges)
        self.faults: dict[tuple[str, str], list[str]] = {}
        self.init_faults: dict[int, BaseException] = {}
        self.init_delays: dict[int, float] = {}
        self.init_blocks: set[int] = set()
        self.dojos: list[FakeDojo] = []
        self.command_dojos: list[FakeCommandDojo] = []
        self.claim_axioms: dict[tuple[str, ...], Any] = {}
        self.pexpect_procs = False
        self.calls: list[tuple[int, str, str]] = []
        self.violations: list[str] = []
        self.concurrency = _Concurrency()

    def fault(self, pp: str, tactic: str, *kinds: str) -> FakeLean:
        self.faults.setdefault((pp, tactic), []).extend(kinds)
        return self

    def factory(self, theorem: Theorem, timeout_s: int) -> FakeDojo:
        dojo = FakeDojo(self, len(self.dojos), timeout_s)
        self.dojos.append(dojo)
        return dojo

    def command_factory(self, theorem: Theorem, timeout_s: int) -> tuple[FakeCommandDojo, str]:
        dojo = FakeCommandDojo(self, len(self.command_dojos))
        self.command_dojos.append(dojo)
        return dojo, theorem.statement.rstrip().removesuffix("by").rstrip()

    def calls_on(self, index: int) -> list[tuple[str, str]]:
        return [(pp, tactic) for i, pp, tactic in self.calls if i == index]


class FakeDojo:
    """One stand-in ``lean_dojo.Dojo`` (one 'Lean process')."""

    def __init__(self, lean: FakeLean, index: int, timeout_s: int) -> None:
        self.lean = lean
        self.index = index
        self.timeout_s = timeout_s
        self.thread: int | None = None
        self.entered = False
        self.exited = False
        self.dead = False
        self.busy = False
        self.proc: Any = None
        self._ids = itertools.count(index * 1000)

    def __enter__(self) -> tuple[FakeDojo, TacticState]:
        self.thread = threading.get_ident()
        time.sleep(self.lean.init_delays.get(self.index, 0.0))
        if self.index in self.lean.init_blocks:  # as Dojo.__enter__ reading Lean's first line
            self.proc = run_blocker()
            code = self.proc.wait(timeout=30)
            if code < 0:
                raise DojoInitError("Unexpected EOF")
        fault = self.lean.init_faults.get(self.index)
        if fault is not None:
            raise fault
        self.entered = True
        if self.lean.pexpect_procs:
            self.proc = _PexpectProc(self.timeout_s)
        return self, TacticState(self.lean.root, next(self._ids))

    def _violation(self, text: str) -> RuntimeError:
        """Backends swallow some exceptions (a crash is data): keep a record the tests check."""
        self.lean.violations.append(text)
        return RuntimeError(text)

    def __exit__(self, *exc: Any) -> None:
        if threading.get_ident() != self.thread:
            raise self._violation("Dojo exited from another thread than the one that entered it")
        self.exited = True

    def run_tac(self, state: TacticState, tactic: str) -> Any:
        if threading.get_ident() != self.thread:
            raise self._violation("Dojo driven from another thread than the one that entered it")
        if not self.entered or self.exited:
            raise self._violation("Dojo used outside its with-block")
        if self.dead:
            raise self._violation("Dojo used after its Lean process died")
        if self.busy:
            raise self._violation("Dojo used after a tactic timed out in it (LeanDojo#218)")
        if not isinstance(state, TacticState):
            raise self._violation(f"Attempting to run a tactic on an invalid state {state}.")
        if state.id // 1000 != self.index:
            raise self._violation(f"state {state.id} belongs to another Dojo than {self.index}")
        with self.lean.concurrency:
            self.lean.calls.append((self.index, state.pp, tactic))
            queue = self.lean.faults.get((state.pp, tactic))
            if queue:
                kind = queue.pop(0)
                if kind == "timeout":
                    self.busy = True
                    raise DojoTacticTimeoutError()
                if kind == "crash":
                    self.dead = True
                    raise DojoCrashError("Unexpected EOF")
                if kind == "oom":
                    self.dead = True
                    raise DojoCrashError("OOM")
                if kind == "unparsable":
                    # what Dojo.run_tac builds from such an answer: the assertion fails there
                    return TacticState("Γ : Ctx\nh : Γ ⊢ p\n⊢ q", next(self._ids))
                if kind == "sigkill":
                    self.dead = True
                    self.proc = _KilledProc(signal=9)
                    raise AssertionError()
                if kind == "slow":
                    time.sleep(0.3)
                elif kind == "block":
                    self.proc = run_blocker()
                    try:
                        code = self.proc.wait(timeout=30)
                    finally:
                        self.proc.wait()
                    self.dead = True
                    if code < 0:
                        raise DojoCrashError("Unexpected EOF")
                    raise DojoTacticTimeoutError()
                else:
                    raise AssertionError(f"unknown fault {kind}")
            answer = self.lean.edges.get((state.pp, tactic))
        if answer is None:
            return LeanError(f"unknown tactic {tactic!r}")
        if answer == PROVED:
            return ProofFinished(next(self._ids), "")
        if answer == GIVEN_UP:
            return ProofGivenUp()
        if answer.startswith(ERROR):
            return LeanError(answer[len(ERROR):])
        return TacticState(answer, next(self._ids))


class _PexpectProc:
    """A live pexpect process, as far as a backend may touch it (no pid to kill here)."""

    def __init__(self, timeout: float) -> None:
        self.pid = None
        self.timeout = timeout

    def isalive(self) -> bool:
        return True


class FakeCommandDojo:
    """A stand-in command-mode ``lean_dojo.Dojo`` (``#lean_dojo_repl`` at the theorem's line)."""

    def __init__(self, lean: FakeLean, index: int) -> None:
        self.lean = lean
        self.index = index
        self.thread: int | None = None
        self.entered = False
        self.exited = False
        self.proc: Any = None
        self.commands: list[str] = []
        self._ids = itertools.count(1)

    def __enter__(self) -> tuple[FakeCommandDojo, CommandState]:
        self.thread = threading.get_ident()
        self.entered = True
        return self, CommandState(0)

    def __exit__(self, *exc: Any) -> None:
        if threading.get_ident() != self.thread:
            self.lean.violations.append("command Dojo exited from another thread")
        self.exited = True

    def run_cmd(self, state: CommandState, command: str) -> Any:
        if threading.get_ident() != self.thread or not self.entered or self.exited:
            self.lean.violations.append("command Dojo used off its thread or with-block")
            raise RuntimeError("misused command Dojo")
        if not isinstance(state, CommandState):
            raise RuntimeError(f"Attempting to run a command on an invalid state {state}.")
        self.commands.append(command)
        code, sep, name = command.rpartition("\n\n#print axioms ")
        _, by, body = code.partition(" by\n")
        if not sep or not by:
            return LeanError(f"<stdin>:1:0: unexpected command {command[:40]!r}")
        answer = self.lean.claim_axioms.get(tuple(textwrap.dedent(body).splitlines()), [])
        if isinstance(answer, str):
            return LeanError(answer)
        if answer:
            text = f"'{name}' depends on axioms: [{', '.join(sorted(answer))}]"
        else:
            text = f"'{name}' does not depend on any axioms"
        return CommandState(next(self._ids), text)


class _KilledProc:
    """What a pexpect process looks like after a signal killed it."""

    def __init__(self, signal: int) -> None:
        self.pid = None
        self.signalstatus = signal
        self.exitstatus = None

    def isalive(self) -> bool:
        return False


# ---- the Lean REPL through lean-interact -----------------------------------------------------
def goals_key(goals: list[str]) -> str:
    return "\n\n".join(goals)


def message(severity: str, data: str) -> dict[str, Any]:
    """A REPL message object (the REPL sends positions with every message)."""
    return {"severity": severity, "pos": {"line": 0, "column": 0},
            "endPos": {"line": 0, "column": 0}, "data": data}


REPL_STEPS: dict[tuple[str, str], Any] = {
    (ROOT, "constructor"): [LEFT, RIGHT],
    (ROOT, "simp"): {"goals": [ROOT], "messages": [message("error", "simp made no progress")]},
    # the REPL's invalid_tactic test: a new proofState, no goals, and an error message
    (ROOT, "exact my_fake_premise"): {
        "proofStatus": "Incomplete: contains sorry", "goals": [],
        "messages": [message("error", "Unknown identifier `my_fake_premise`")]},
    (ROOT, "exact?"): {"goals": [], "proofStatus": "Incomplete: contains sorry"},
    (ROOT, "refine ⟨?_, ?_⟩ <;> skip"): {"goals": [],
                                        "proofStatus": "Incomplete: contains metavariable(s)"},
    (ROOT, "kernel"): {"goals": [], "proofStatus": "Error: kernel type check failed: boom"},
    (ROOT, "crashy"): "Lean error:\nPANIC at something",
    ((goals_key([LEFT, RIGHT])), "exact hp"): [RIGHT],
    (RIGHT, "exact hq"): [],
}
"""``(goals joined, tactic) -> answer``: a goal list (``[]`` is Completed), a dict of fields
overriding the ProofStep answer, or a string for a ``{"message": ...}`` error."""


_THEOREM_NAME = re.compile(r"(?:theorem|lemma)\s+([^\s(\[{:]+)")


@dataclass
class FakeRepl:
    """The Lean behind the stand-in REPL processes, shared by all of them."""

    header: str = "import Mathlib\n\n"
    statements: dict[str, str] = field(default_factory=dict)
    steps: dict[tuple[str, str], Any] = field(default_factory=lambda: dict(REPL_STEPS))
    faults: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    proofs: dict[str, dict[str, Any]] = field(default_factory=dict)
    servers: list[FakeReplServer] = field(default_factory=list)
    concurrency: _Concurrency = field(default_factory=_Concurrency)
    start_faults: dict[int, BaseException] = field(default_factory=dict)
    command_delays: dict[str, float] = field(default_factory=dict)
    """``cmd -> seconds`` a command takes (a header importing Mathlib, say)."""
    axioms: dict[str, Any] = field(default_factory=dict)
    """``theorem name -> what `#print axioms NAME` answers`` in an environment where a proof
    command (one of ``proofs``) declared it: a list of axiom names (the message Lean prints;
    a name absent here depends on none), or a whole answer dict, for odd answers. A proof's
    answer may carry ``"_axioms"`` instead: what that proof in particular depends on."""

    def statement(self, text: str, goal: str = ROOT) -> FakeRepl:
        """``text`` (the statement with `` sorry``) elaborates to one sorry at ``goal``."""
        self.statements[text] = goal
        return self

    def fault(self, pp: str, tactic: str, *kinds: str) -> FakeRepl:
        self.faults.setdefault((pp, tactic), []).extend(kinds)
        return self

    def factory(self) -> FakeReplServer:
        index = len(self.servers)
        if index in self.start_faults:
            self.servers.append(FakeReplServer(self, index, dead=True))
            raise self.start_faults[index]
        server = FakeReplServer(self, index)
        self.servers.append(server)
        return server

    def requests(self, index: int) -> list[dict[str, Any]]:
        return self.servers[index].requests


class FakeReplServer:
    """One stand-in lean-interact ``LeanServer`` (one REPL process)."""

    def __init__(self, lean: FakeRepl, index: int, dead: bool = False) -> None:
        self.lean = lean
        self.index = index
        self.alive = not dead
        self.killed = 0
        self.requests: list[dict[str, Any]] = []
        self.answers: list[dict[str, Any]] = []  # the REPL's JSON, one per answered request
        self._proc: subprocess.Popen[bytes] | None = None
        self._envs: set[int] = set()
        self._declared: dict[int, set[str]] = {}  # env -> theorems a proof command declared
        self._header_envs: set[int] = set()
        self._proof_axioms: dict[int, Any] = {}
        self._states: dict[int, list[str]] = {}
        self._counter = itertools.count()

    def kill(self) -> None:
        self.killed += 1
        self.alive = False

    def forget(self) -> None:
        """Lose every environment and proof state, as a server that restarts itself does
        (lean-interact's AutoLeanServer under memory pressure)."""
        self._envs.clear()
        self._declared.clear()
        self._header_envs.clear()
        self._states.clear()

    def run(self, request: Any, *, timeout: float | None = None) -> Any:
        """As ``LeanServer.run``: REPL JSON in, lean-interact models out."""
        if not self.alive:
            raise ChildProcessError("The Lean server is not running.")
        wire = request.model_dump(exclude_none=True, by_alias=True)
        self.requests.append(wire)
        with self.lean.concurrency:
            answer = self._answer(request, wire, timeout)
        self.answers.append(answer)
        if set(answer) == {"message"}:
            return ReplLeanError.model_validate(answer)
        if isinstance(request, Command):
            return CommandResponse.model_validate(answer)
        assert isinstance(request, ProofStep)
        return ProofStepResponse.model_validate(answer)

    def _fault(self, kind: str) -> None:
        if kind == "timeout":
            self.kill()  # lean-interact kills the process on a timeout
            raise TimeoutError("The Lean server did not respond in time and is now killed.")
        if kind == "crash":
            self.kill()
            raise ConnectionAbortedError("The Lean server closed unexpectedly.\nstderr:\n")
        if kind == "oom":
            self.kill()
            raise ConnectionAbortedError("The Lean server closed unexpectedly.\nstderr:\n"
                                         "INTERNAL PANIC: out of memory")
        if kind == "block":
            self._proc = run_blocker()
            try:
                self._proc.wait(timeout=30)
            finally:
                self._proc.wait()
                self._proc = None
            self.kill()
            raise ConnectionAbortedError("The Lean server closed unexpectedly.")
        raise AssertionError(f"unknown fault {kind}")

    def _answer(self, request: Any, wire: dict[str, Any], timeout: float | None
                ) -> dict[str, Any]:
        if isinstance(request, Command):
            return self._command(wire)
        state = self._states.get(wire["proofState"])
        if state is None:
            return {"message": "Unknown proof state."}
        pp = goals_key(state)
        queue = self.lean.faults.get((pp, wire["tactic"]))
        if queue:
            self._fault(queue.pop(0))
        step = self.lean.steps.get((pp, wire["tactic"]))
        if step is None:
            return {"proofStatus": "Incomplete: open goals remain", "goals": state,
                    "proofState": self._new_state(state),
                    "messages": [message("error", f"unknown tactic {wire['tactic']!r}")]}
        if isinstance(step, str):
            return {"message": step}
        if isinstance(step, list):
            status = "Completed" if not step else "Incomplete: open goals remain"
            return {"proofStatus": status, "proofState": self._new_state(step), "goals": step}
        goals = step.get("goals", [])
        return {"proofStatus": "Incomplete: open goals remain", **step,
                "proofState": self._new_state(goals)}

    def _new_state(self, goals: list[str]) -> int:
        number = next(self._counter)
        self._states[number] = list(goals)
        return number

    def _command(self, wire: dict[str, Any]) -> dict[str, Any]:
        cmd, env = wire["cmd"], wire.get("env")
        time.sleep(self.lean.command_delays.get(cmd, 0.0))
        if env is not None and env not in self._envs:
            return {"message": "Unknown environment."}
        if cmd.startswith("#print axioms "):
            return self._print_axioms(cmd.removeprefix("#print axioms "), env)
        # A proof compiled in the header's environment answers as header + proof would.
        proof = cmd if env is None else (self.lean.header + cmd if env in self._header_envs
                                         else None)
        if proof is not None and proof in self.lean.proofs:
            answer = dict(self.lean.proofs[proof])
            answer["env"] = self._new_env()
            if "_axioms" in answer:  # what this proof in particular depends on
                self._proof_axioms[answer["env"]] = answer.pop("_axioms")
            if not any(m["severity"] == "error" for m in answer.get("messages", [])):
                # as Lean: the declaration exists in the new environment unless it failed
                self._declared[answer["env"]] = set(_THEOREM_NAME.findall(cmd))
            return answer
        if env is None and cmd == self.lean.header:
            made = self._new_env()
            self._header_envs.add(made)
            return {"env": made}
        goal = self.lean.statements.get(cmd)
        if goal is None or (self.lean.header and env is None):
            return {"messages": [message("error", f"cannot elaborate {cmd[:40]!r}")],
                    "env": self._new_env()}
        number = self._new_state([goal])
        return {"sorries": [{"proofState": number, "pos": {"line": 1, "column": 43},
                             "goal": goal, "endPos": {"line": 1, "column": 48}}],
                "messages": [{"severity": "warning", "pos": {"line": 1, "column": 8},
                              "endPos": {"line": 1, "column": 18},
                              "data": "declaration uses 'sorry'"}],
                "env": self._new_env()}

    def _print_axioms(self, name: str, env: int | None) -> dict[str, Any]:
        """As Lean's ``#print axioms``: an info message, or an error for an unknown name."""
        if env is None or name not in self._declared.get(env, set()):
            return {"messages": [message("error", f"unknown constant '{name}'")],
                    "env": self._new_env()}
        axioms = self._proof_axioms.get(env, self.lean.axioms.get(name, []))
        if isinstance(axioms, dict):
            if set(axioms) == {"message"}:  # a LeanError carries no env
                return dict(axioms)
            return {**axioms, "env": self._new_env()}
        if axioms:  # Lean sorts them and prints a list
            text = f"'{name}' depends on axioms: [{', '.join(sorted(axioms))}]"
        else:
            text = f"'{name}' does not depend on any axioms"
        return {"messages": [message("info", text)], "env": self._new_env()}

    def _new_env(self) -> int:
        number = next(self._counter)
        self._envs.add(number)
        return number
