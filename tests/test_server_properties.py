"""Generated requests thrown at labkitd's socket: whatever a client sends, it gets an answer, labkitd
goes on answering everyone (`ps` right after each one), and nothing it did not expect is logged."""

from __future__ import annotations

import json
import socket

from hypothesis import HealthCheck, given, settings, strategies as st

from labkit.runtime.client import labkitd as client

OPS = ["ps", "ping", "inspect", "top", "stats", "kill", "stop", "rm", "pause", "unpause", "update", "exec", "attach",
       "start", "restart", "run", "create", "run_bundle", "wait", "nosuch", "", None, 7]
KEYS = ["id", "options", "timeout", "signal", "resources", "seen", "args", "env", "user", "workdir", "bundle", "all",
        "force", "attach", "t0"]
# Never a real container's reference: ids are made of characters no ID or name has.
scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(alphabet="!#%&*+,:;<=>?@^~ ü/", max_size=20))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(st.sampled_from(KEYS + ["image", "command", "memory", "pids"]), inner, max_size=4)),
                      max_leaves=12)
requests = st.fixed_dictionaries({"op": st.sampled_from(OPS)}, optional={k: values for k in KEYS})


def _send(inst, payload: bytes) -> dict:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(60)
        s.connect(str(inst.run / client.SOCKET))
        s.sendall(payload)
        data = b""
        while b"\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data.split(b"\n", 1)[0])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(req=requests)
def test_labkitd_answers_every_request_and_keeps_serving(inst, req):
    client.call("ping", inst=inst)  # labkitd runs (started on first use)
    reply = _send(inst, json.dumps(req).encode() + b"\n")
    assert isinstance(reply, dict)
    assert "error" in reply or req["op"] in ("ps", "ping"), reply  # nothing of these can succeed but a listing
    assert "containers" in _send(inst, b'{"op": "ps", "all": true}\n')
