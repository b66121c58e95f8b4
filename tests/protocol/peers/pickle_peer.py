"""Python peer for tests/protocol/pickle_test.ts (run with /usr/bin/python3).

Reads one JSON request on stdin, writes one JSON answer on stdout:
  {"op": "loads", "pickles": [hex...]}          -> {"reprs": [repr(pickle.loads(p))...]}
  {"op": "apply", "frames": [hex...]}           -> {"f": repr(f), "args": repr(args),
                                                    "kwargs": repr(kwargs), "result": repr(f(*args, **kwargs))}
  {"op": "serialize", "exprs": [python expr...]} -> {"frames": [[hex...]...]} (serialize_object of each)
  {"op": "dumps", "exprs": [python expr...]}    -> {"pickles": [hex...]} (pickle.dumps, default protocol)
  {"op": "pack", "calls": [python expr of (f, args, kwargs)...]}
                                               -> {"frames": [[hex...]...]} (pack_apply_message)
"""
import json
import pickle
import sys

from ipyparallel import Reference  # noqa: F401  (used by eval'd expressions)
from ipyparallel.serialize import pack_apply_message, serialize_object, unpack_apply_message

try:
    import numpy as np  # noqa: F401  (used by eval'd expressions)
except ImportError:
    np = None

req = json.load(sys.stdin)
op = req["op"]
if op == "loads":
    out = {"reprs": [repr(pickle.loads(bytes.fromhex(h))) for h in req["pickles"]]}
elif op == "apply":
    f, args, kwargs = unpack_apply_message([bytes.fromhex(h) for h in req["frames"]])
    out = {"f": repr(f), "args": repr(args), "kwargs": repr(kwargs), "result": repr(f(*args, **kwargs))}
elif op == "serialize":
    out = {"frames": [[bytes(b).hex() for b in serialize_object(eval(e))] for e in req["exprs"]]}
elif op == "dumps":
    out = {"pickles": [pickle.dumps(eval(e)).hex() for e in req["exprs"]]}
elif op == "pack":
    out = {"frames": [[bytes(b).hex() for b in pack_apply_message(*eval(c))] for c in req["calls"]]}
else:
    raise SystemExit(f"unknown op {op}")
json.dump(out, sys.stdout)
