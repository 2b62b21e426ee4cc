"""Who talks to whom, and in which order: the client and the server, the run flow."""

from __future__ import annotations

import html

from .. import catalog
from .drawing import Picture, _arrow, _svg


def client_server(inst=None) -> Picture:
    """The clients, the two sockets, labkitd, and what it drives (the socket paths are this lab's)."""
    from ..paths import instance

    inst = inst or instance()
    t = catalog.entry("picture.client-server")
    e = html.escape
    clients = [("docker CLI", "HTTP: Docker Engine API"), ("docker-py", "HTTP: Docker Engine API"),
               ("lk.run, labkit CLI", t.get("own_protocol", "labkit's own protocol (JSON lines)"))]
    parts = []
    for i, (name, proto) in enumerate(clients):
        y = 30 + i * 70
        parts += [f"<rect x='10' y='{y}' width='170' height='44' rx='6' fill='#eef3fb' stroke='#4a6fa5'/>",
                  f"<text x='20' y='{y + 27}' font-size='13' font-weight='bold'>{e(name)}</text>",
                  _arrow(182, y + 22, 388, 120 + (i - 1) * 30, proto)]
    parts += ["<rect x='390' y='70' width='180' height='110' rx='8' fill='#fdf0d5' stroke='#c08a1e'/>",
              "<text x='400' y='94' font-size='14' font-weight='bold'>labkitd</text>",
              f"<text x='400' y='112' font-size='10'>{e(t.get('server', 'the server: one loop'))}</text>",
              f"<text x='400' y='140' font-size='9' fill='#555'>{e(str(inst.run / 'docker.sock'))}</text>",
              f"<text x='400' y='154' font-size='9' fill='#555'>{e(str(inst.run / 'labkitd.sock'))}</text>"]
    for i, what in enumerate((t.get("containers", "containers: namespaces, cgroups, overlay"),
                              t.get("images", "images: layers in the store"), t.get("networks", "networks: bridges, veths"))):
        y = 30 + i * 70
        parts += [_arrow(572, 125, 648, y + 22),
                  f"<rect x='650' y='{y}' width='280' height='44' rx='6' fill='#e3f4e1' stroke='#3a7d44'/>",
                  f"<text x='660' y='{y + 27}' font-size='12'>{e(what)}</text>"]
    parts += ["<rect x='390' y='230' width='180' height='44' rx='6' fill='#f2f2f2' stroke='#777'/>",
              f"<text x='400' y='257' font-size='12'>{e(t.get('registry', 'a registry: HTTP /v2/...'))}</text>",
              _arrow(480, 182, 480, 228, t.get("pull_push", "pull, push"))]
    text = (f"{t.get('clients', 'clients')}: docker CLI, docker-py (HTTP on {inst.run / 'docker.sock'}); "
            f"lk.run, labkit CLI ({inst.run / 'labkitd.sock'})\n  -> labkitd -> containers, images, networks; "
            f"labkitd <-> registry (HTTP /v2/)")
    return Picture(_svg(940, 290, parts), text)


def run_flow(result) -> Picture:
    """The seed's `docker run` flow for one traced run (lk.run(..., trace=True)): a box per step that
    happened, in the seed's order, with the milliseconds labkit's steps of it took (runtime/flow.py
    says which step each belongs to, by its ID). Step 1 shows only when the image had to be pulled."""
    from ..runtime.flow import seed_totals

    t = catalog.entry("picture.run-flow")
    totals = seed_totals(result.steps, result.trace)
    w, h, gap, x0 = 150, 74, 26, 10
    parts = [f"<text x='{x0}' y='16' font-size='12' fill='#555'>{html.escape(t.get('caption', ''))}</text>"]
    for i, (seed, ms) in enumerate(totals.items()):
        x = x0 + i * (w + gap)
        parts.append(f"<rect x='{x}' y='28' width='{w}' height='{h}' rx='8' fill='{'#718096' if seed == '0' else '#2b6cb0'}'/>"
                     f"<text x='{x + w / 2}' y='50' font-size='13' font-weight='bold' fill='white' text-anchor='middle'>"
                     f"{html.escape(t.get('step', 'step {n}').format(n=seed))}</text>"
                     f"<text x='{x + w / 2}' y='70' font-size='12' fill='white' text-anchor='middle'>{ms:.1f} ms</text>")
        words, line, lines = t.get(seed, "").split(), "", []
        for word in words:  # the step's words under its box, wrapped at ~24 characters
            if len(line) + len(word) > 24 and line:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}".strip()
        lines.append(line)
        for k, text in enumerate(lines):
            parts.append(f"<text x='{x + w / 2}' y='{124 + k * 14}' font-size='11' text-anchor='middle'>{html.escape(text)}</text>")
        if i:
            parts.append(_arrow(x - gap + 2, 28 + h / 2, x - 2, 28 + h / 2))
    text = "\n".join(f"{t.get('step', 'step {n}').format(n=seed):<8} {ms:8.1f} ms  {t.get(seed, '')}" for seed, ms in totals.items())
    return Picture(_svg(max(400, x0 + len(totals) * (w + gap)), 190, parts), text)


def vm_and_container(side=None) -> Picture:
    """The seed's first comparison as two stacks on one machine: a VM brings virtual hardware and a
    kernel of its own, inside QEMU, a process of the host; a container is processes of the host's
    kernel, in namespaces and a cgroup. With lk.vm.side_by_side()'s result, each stack carries what it
    cost now: the time to its first instruction of user code, the memory charged to it."""
    t = catalog.entry("picture.vm-and-container")
    e = html.escape
    w, h, gap, x0, top = 300, 34, 6, 20, 52
    left = [("#fdf0d5", t.get("guest_init", "its init and programs")), ("#fdf0d5", t.get("guest_kernel", "its own kernel")),
            ("#fbe3c0", t.get("virtual_hw", "virtual hardware: CPU, memory, devices")),
            ("#eeeeee", t.get("qemu", "QEMU: one process of the host"))]
    right = [("#e3f4e1", t.get("processes", "its processes: PID 1 and its children")),
             ("#cfe8cc", t.get("namespaces", "namespaces and a cgroup: what they see and use"))]
    figures = dict((r, (a, b)) for r, a, b in side.rows) if side is not None else {}
    parts = [f"<text x='{x0}' y='18' font-size='12' fill='#555'>{e(t.get('caption', ''))}</text>"]
    text = []
    for col, (key, stack) in enumerate((("vm", left), ("container", right))):  # each title just above its stack
        title = t.get(key, key) + (f": {figures['first_user'][col]} · {figures['memory'][col]}" if figures else "")
        y = top + (len(left) - len(stack)) * (h + gap) - 8
        parts.append(f"<text x='{x0 + col * (w + 40) + w / 2}' y='{y}' font-size='13' font-weight='bold' "
                     f"text-anchor='middle'>{e(title)}</text>")
        text.append(f"{title}: " + " / ".join(label for _f, label in stack))
    for col, stack in ((0, left), (1, right)):
        x = x0 + col * (w + 40)
        y0 = top + (len(left) - len(stack)) * (h + gap)  # both stacks stand on the host's kernel
        for i, (fill, label) in enumerate(stack):
            y = y0 + i * (h + gap)
            parts.append(f"<rect x='{x}' y='{y}' width='{w}' height='{h}' rx='5' fill='{fill}' stroke='#888'/>"
                         f"<text x='{x + 10}' y='{y + 22}' font-size='12'>{e(label)}</text>")
    base = top + len(left) * (h + gap)
    for i, (fill, label) in enumerate(((("#bee3f8"), t.get("host_kernel", "the host's kernel: one, shared")),
                                       ("#dddddd", t.get("hardware", "the machine: CPUs, memory, disks")))):
        y = base + i * (h + gap)
        parts.append(f"<rect x='{x0}' y='{y}' width='{2 * w + 40}' height='{h}' rx='5' fill='{fill}' stroke='#888'/>"
                     f"<text x='{x0 + 10}' y='{y + 22}' font-size='12' font-weight='bold'>{e(label)}</text>")
    text.append(f"{t.get('host_kernel', 'host kernel')} / {t.get('hardware', 'hardware')}")
    height = base + 2 * (h + gap) + 10
    return Picture(_svg(2 * w + 40 + 2 * x0, height, parts), "\n".join(text))


#: the stack from the bottom, and how many of its layers the provider manages in each model
CLOUD_LAYERS = ("network", "storage", "servers", "virtualization", "os", "container_runtime", "runtime", "data", "application")
CLOUD_MODELS = (("on_premises", 0), ("iaas", 4), ("caas", 6), ("paas", 7), ("saas", 9))


def cloud_models() -> Picture:
    """The seed's cloud service models (云服务类型) as stacks: who manages each layer, you (dark) or
    the provider (light). CaaS sits between IaaS and PaaS: you bring images, the provider runs them."""
    t = catalog.entry("picture.cloud-models")
    e = html.escape
    w, h, gap, x0, top = 130, 24, 14, 10, 30
    parts = [f"<text x='{x0}' y='18' font-size='12' fill='#555'>{e(t.get('caption', ''))}</text>"]
    rows = []
    for i, (model, provider) in enumerate(CLOUD_MODELS):
        x = x0 + i * (w + gap)
        for j, layer in enumerate(CLOUD_LAYERS):
            yours = j >= provider
            y = top + (len(CLOUD_LAYERS) - 1 - j) * (h + 2)  # the network at the bottom
            parts.append(f"<rect x='{x}' y='{y}' width='{w}' height='{h}' rx='3' fill='{'#2b6cb0' if yours else '#bee3f8'}'/>"
                         f"<text x='{x + w / 2}' y='{y + 16}' font-size='10' text-anchor='middle' "
                         f"fill='{'white' if yours else '#2a4365'}'>{e(t.get(layer, layer))}</text>")
        parts.append(f"<text x='{x + w / 2}' y='{top + len(CLOUD_LAYERS) * (h + 2) + 16}' font-size='13' font-weight='bold' "
                     f"text-anchor='middle'>{e(t.get(model, model))}</text>")
        rows.append(f"{t.get(model, model):<12} {t.get('yours', 'you')}: "
                    + ", ".join(t.get(layer, layer) for layer in CLOUD_LAYERS[provider:]))
    return Picture(_svg(x0 + len(CLOUD_MODELS) * (w + gap), top + len(CLOUD_LAYERS) * (h + 2) + 28, parts), "\n".join(rows))
