"""pybpf's eBPF verifier: Linux 6.18's kernel/bpf/verifier.c, followed rule by rule.

It accepts what the running kernel accepts and refuses what it refuses, with
the kernel's reason and (at log levels 1 and 2) the kernel's log, line for line.
Entry points:

- :func:`pybpf.verifier.check.verify` / :class:`~pybpf.verifier.check.Verifier`:
  check one program (raises VerifierError, returns statistics and the log);
- :func:`pybpf.verifier.helper_rules.check_helper_calls`: the static checks on
  helper calls (unknown, not allowed for the program type, GPL-only, not
  modelled) that need no path walk.

Modules, in the order a check meets them: cfg (bpf_check()'s checks before any
state), check (do_check: the walk), alu and scalar (arithmetic), memory and
stack (loads, stores, spills), branches (conditional jumps), calls, args,
helper_rules and globals (helpers, bpf-to-bpf calls, global functions), refs
(references), precision and prune (mark_chain_precision and state
equivalence), paths (pending branches, checkpoints), liveness (register and
stack liveness), state, reg and tnum (the abstract values), log and explain
(the kernel's log, and plain-language notes on its errors).
"""
