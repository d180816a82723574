"""kwok Stages: how the test cluster's fake nodes and pods behave, driven by labels and annotations.

kwok has no kubelet: these stages stand in for it. kwokctl uses its defaults only when it is given
no Stage at all, so this file holds the whole set; the node stages are kwok v0.8.0's "fast" and
"heartbeat-with-lease" ones, changed only to leave out nodes that are meant to be unready.

Pods (set these in pod templates):

- every scheduled pod becomes ``Running`` at once, its containers running but not ready;
- it becomes Ready after the Go duration in annotation ``kubepulse.dev/ready-after`` (default at
  once); with annotation ``kubepulse.dev/ready-jitter`` (a longer duration) at a uniformly random
  moment between the two;
- label ``kubepulse.dev/never-ready: "true"``: Running, never Ready;
- label ``kubepulse.dev/crashloop: "true"``: Running, containers waiting with reason
  ``CrashLoopBackOff``, ``restartCount`` 1 at once and one more every 10 s (annotation
  ``kubepulse.dev/crashloop-period`` changes the period), never Ready;
- pods owned by a Job complete (``Succeeded``) once Ready (annotation
  ``kubepulse.dev/complete-after`` delays it);
- a pod being deleted is removed at once (what a kubelet would do after the grace period).

Nodes: Ready at once and kept alive by kwok's lease heartbeat. Label
``kubepulse.dev/node-not-ready: "true"`` turns a node's Ready condition False (reason
``KubepulseNodeNotReady``) and keeps it so; removing the label makes it Ready again. kwok rewrites a
Ready condition set through the API, so the label is the way to get an unready node. Taints and
other spec fields set through the API are left alone.
"""

from __future__ import annotations

import textwrap
from typing import Any

import yaml

__all__ = ["NODE_RESOURCE_YAML", "STAGES_YAML"]


def _fill(template: str, **values: str) -> str:
    """``template`` with every ``{name}`` replaced by ``values[name]``; Go's ``{{ }}`` untouched."""
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    return template


def _node_resources(field: str) -> str:
    """A node's ``allocatable`` or ``capacity``: the node's own, else kwok's (room for anything)."""
    return _fill(
        """\
      {field}:
      {{ with .status.{field} }}
      {{ YAML . 1 }}
      {{ else }}
        cpu: 1k
        memory: 1Ti
        pods: 1M
      {{ end }}""",
        field=field,
    )


_NODE_STATUS_COMMON = "\n".join(
    [
        """\
      {{ with NodePort }}
      daemonEndpoints:
        kubeletEndpoint:
          Port: {{ . }}
      {{ end }}""",
        _node_resources("allocatable"),
        _node_resources("capacity"),
        """\
      {{ $nodeInfo := .status.nodeInfo }}
      {{ $kwokVersion := printf "kwok-%s" Version }}
      nodeInfo:
        architecture: {{ or $nodeInfo.architecture "amd64" }}
        bootID: {{ or $nodeInfo.bootID `""` }}
        containerRuntimeVersion: {{ or $nodeInfo.containerRuntimeVersion $kwokVersion }}
        kernelVersion: {{ or $nodeInfo.kernelVersion $kwokVersion }}
        kubeProxyVersion: {{ or $nodeInfo.kubeProxyVersion $kwokVersion }}
        kubeletVersion: {{ or $nodeInfo.kubeletVersion $kwokVersion }}
        machineID: {{ or $nodeInfo.machineID `""` }}
        operatingSystem: {{ or $nodeInfo.operatingSystem "linux" }}
        osImage: {{ or $nodeInfo.osImage `""` }}
        systemUUID: {{ or $nodeInfo.systemUUID `""` }}
      phase: Running""",
    ]
)

# The addresses kwok gives a node that lacks them: address type -> the template function giving it.
_NODE_OWN_ADDRESSES = {"InternalIP": "NodeIP", "Hostname": "NodeName"}


def _node_address(kind: str) -> str:
    """The node's own address of type ``kind``, as one ``addresses`` entry."""
    return _fill(
        """\
      {{ with {source} }}
      - address: {{ . | Quote }}
        type: {kind}
      {{ end }}""",
        source=_NODE_OWN_ADDRESSES[kind],
        kind=kind,
    )


_NODE_ADDRESSES = _fill(
    """\
      addresses:
      {{ with .status.addresses }}
      {{ YAML . 1 }}
      {{ else }}
{own}
      {{ end }}""",
    own="\n".join(_node_address(kind) for kind in _NODE_OWN_ADDRESSES),
)

# Adds whichever of the node's own addresses its status lacks.
_NODE_INIT_ADDRESSES = "\n".join(
    [
        *(_fill("      {{ $has{kind} := false }}", kind=kind) for kind in _NODE_OWN_ADDRESSES),
        "      {{ range .status.addresses }}",
        *(
            _fill(
                """\
        {{ if eq .type "{kind}" }}
          {{ $has{kind} = true }}
        {{ end }}""",
                kind=kind,
            )
            for kind in _NODE_OWN_ADDRESSES
        ),
        """\
      {{ end }}
      {{ if or (not $hasInternalIP) (not $hasHostname) }}
      addresses:
      {{ end }}""",
        *(
            "\n".join(
                [
                    _fill("      {{ if not $has{kind} }}", kind=kind),
                    _node_address(kind),
                    "      {{ end }}",
                ]
            )
            for kind in _NODE_OWN_ADDRESSES
        ),
    ]
)


def _node_condition(
    since: str,
    message: str = "{{ .message | Quote }}",
    reason: str = "{{ .reason | Quote }}",
    status: str = "{{ .status | Quote }}",
    kind: str = "{{ .type | Quote }}",
) -> str:
    """One node condition, heartbeat now, changed at ``since``; by default the ``NodeConditions``
    entry being ranged over."""
    return "\n".join(
        [
            "      - lastHeartbeatTime: {{ $now | Quote }}",
            f"        lastTransitionTime: {{{{ {since} | Quote }}}}",
            f"        message: {message}",
            f"        reason: {reason}",
            f"        status: {status}",
            f"        type: {kind}",
        ]
    )


_NODE_CONDITIONS = _fill(
    """\
      {{ $now := Now }}
      {{ $lastTransitionTime := or .metadata.creationTimestamp $now }}
      conditions:
      {{ range NodeConditions }}
{condition}
      {{ end }}""",
    condition=_node_condition("$lastTransitionTime"),
)

_NODE_NOT_READY_CONDITIONS = _fill(
    """\
      {{ $now := Now }}
      conditions:
      {{ range NodeConditions }}
      {{ if eq .type "Ready" }}
{not_ready}
      {{ else }}
{condition}
      {{ end }}
      {{ end }}""",
    not_ready=_node_condition(
        "$now",
        message='"node marked not ready by label kubepulse.dev/node-not-ready"',
        reason="KubepulseNodeNotReady",
        status='"False"',
        kind="Ready",
    ),
    condition=_node_condition("$now"),
)


def _pod_ips(field: str, ips: str) -> str:
    """``field`` (``hostIP``, ``podIP``) and its plural from the list ``ips`` (a template
    variable), if that list is not empty."""
    return _fill(
        """\
      {{ with {ips} }}
      {field}: {{ index . 0 | Quote }}
      {field}s:
      {{ range . }}
      - ip: {{ . | Quote }}
      {{ end }}
      {{ end }}""",
        ips=ips,
        field=field,
    )


_POD_IPS = "\n".join(
    [
        "      {{ $hostIPs := NodeIPsWith .spec.nodeName }}",
        _pod_ips("hostIP", "$hostIPs"),
        '      {{ $podIPs := PodIPsWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) }}',  # noqa: E501
        _pod_ips("podIP", "$podIPs"),
    ]
)


def _pod_condition(kind: str, status: str) -> str:
    return _fill(
        """\
      - lastTransitionTime: {{ $now | Quote }}
        status: "{status}"
        type: {kind}""",
        status=status,
        kind=kind,
    )


def _pod_conditions(ready: str) -> str:
    """A started pod's conditions: initialized, Ready and ContainersReady ``ready`` (``True``,
    ``False``), and every readiness gate true."""
    return "\n".join(
        [
            "      conditions:",
            _pod_condition("Initialized", "True"),
            _pod_condition("Ready", ready),
            _pod_condition("ContainersReady", ready),
            "      {{ range .spec.readinessGates }}",
            _pod_condition("{{ .conditionType | Quote }}", "True"),
            "      {{ end }}",
        ]
    )


_COMPLETED_CONDITIONS = """\
      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "False"
        reason: PodCompleted
        type: Ready
      - lastTransitionTime: {{ $now | Quote }}
        status: "False"
        reason: PodCompleted
        type: ContainersReady"""

# A started pod's containers keep their image, name and (unless a crash adds one) restart count
# from the status the previous stage wrote; $origin is that status, $item the spec.
_CONTAINERS_AFTER_START = """\
      containerStatuses:
      {{ range $index, $item := .spec.containers }}
      {{ $origin := index $root.status.containerStatuses $index }}
      - image: {{ $item.image | Quote }}
        name: {{ $item.name | Quote }}
        ready: {ready}
        started: {ready}
        restartCount: {restart_count}
{state}
      {{ end }}"""

_STILL_RUNNING = """\
        state:
          running:
            startedAt: {{ $origin.state.running.startedAt | Quote }}"""

_CRASHED = """\
        lastState:
          terminated:
            exitCode: 1
            reason: Error
            startedAt: {{ $now | Quote }}
            finishedAt: {{ $now | Quote }}
        state:
          waiting:
            reason: CrashLoopBackOff
            message: back-off restarting failed container {{ $item.name }}"""

_COMPLETED = """\
        state:
          terminated:
            exitCode: 0
            reason: Completed
            startedAt: {{ $origin.state.running.startedAt | Quote }}
            finishedAt: {{ $now | Quote }}"""

_NOW_AND_ROOT = "      {{ $now := Now }}\n      {{ $root := . }}"


def _running_pod(ready: bool) -> str:
    """A freshly started pod's status: Running, containers running, and Ready or not."""
    status, flag = ("True", "true") if ready else ("False", "false")
    return "\n".join(
        [
            "      {{ $now := Now }}",
            _pod_conditions(status),
            _fill(
                """\
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: {ready}
        started: true
        restartCount: 0
        state:
          running:
            startedAt: {{ $now | Quote }}
      {{ end }}""",
                ready=flag,
            ),
            """\
      initContainerStatuses:
      {{ range .spec.initContainers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: true
        restartCount: 0
        state:
          terminated:
            exitCode: 0
            finishedAt: {{ $now | Quote }}
            reason: Completed
            startedAt: {{ $now | Quote }}
      {{ end }}""",
            _POD_IPS,
            "      phase: Running",
            "      startTime: {{ $now | Quote }}",
        ]
    )


def _started_pod(
    *, conditions: str = "", ready: bool, restart_count: str, state: str, phase: str = ""
) -> str:
    """A started pod's next status: its containers ``ready`` and started or neither, with
    ``restart_count`` and ``state``; ``conditions`` and ``phase`` if given."""
    containers = _fill(
        _CONTAINERS_AFTER_START,
        ready="true" if ready else "false",
        restart_count=restart_count,
        state=state,
    )
    parts = [_NOW_AND_ROOT, conditions, containers, f"      phase: {phase}" if phase else ""]
    return "\n".join(part for part in parts if part)


_READY_POD = _started_pod(
    conditions=_pod_conditions("True"),
    ready=True,
    restart_count="{{ $origin.restartCount }}",
    state=_STILL_RUNNING,
)
_CRASHING_POD = _started_pod(
    ready=False, restart_count="{{ add1 $origin.restartCount }}", state=_CRASHED
)
_COMPLETED_POD = _started_pod(
    conditions=_COMPLETED_CONDITIONS,
    ready=False,
    restart_count="{{ $origin.restartCount }}",
    state=_COMPLETED,
    phase="Succeeded",
)


Selector = dict[str, Any]


def _stage(
    name: str,
    kind: str,
    selector: list[Selector],
    template: str,
    delay: dict[str, Any] | None = None,
    weight: int = 0,
) -> dict[str, Any]:
    """A Stage: objects of ``kind`` matching every ``selector`` expression get the status
    ``template`` renders, or are deleted if it is empty."""
    spec: dict[str, Any] = {
        "resourceRef": {"apiGroup": "v1", "kind": kind},
        "selector": {"matchExpressions": selector},
        "next": {"statusTemplate": textwrap.dedent(template) + "\n"}
        if template
        else {"delete": True},
    }
    if delay:
        spec["delay"] = delay
    if weight:
        spec["weight"] = weight
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Stage",
        "metadata": {"name": name},
        "spec": spec,
    }


def _node_stage(
    name: str,
    selector: list[Selector],
    conditions: str,
    addresses: str,
    delay: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Node stage writing ``conditions`` and ``addresses`` and what every node status has."""
    template = "\n".join([conditions, addresses, _NODE_STATUS_COMMON])
    return _stage(name, "Node", selector, template, delay)


def _pod_stage(
    name: str,
    selector: list[Selector],
    template: str,
    delay: dict[str, Any] | None = None,
    weight: int = 0,
) -> dict[str, Any]:
    """A Pod stage for pods that are not being deleted."""
    return _stage(name, "Pod", [_NOT_DELETED, *selector], template, delay, weight)


def _label(key: str, op: str, value: str) -> Selector:
    return {"key": f'.metadata.labels["{key}"]', "operator": op, "values": [value]}


def _field(key: str, op: str, *values: str) -> Selector:
    return {"key": key, "operator": op, **({"values": list(values)} if values else {})}


def _annotation(key: str) -> str:
    return f'.metadata.annotations["{key}"]'


def _phase(phase: str) -> Selector:
    return _field(".status.phase", "In", phase)


_NOT_DELETED = _field(".metadata.deletionTimestamp", "DoesNotExist")
_NODE_HEALTHY = _label("kubepulse.dev/node-not-ready", "NotIn", "true")
_READY = '.status.conditions.[] | select( .type == "Ready" ) | .status'
_FIRST_WAITING = ".status.containerStatuses.[0].state.waiting.reason"
_SCHEDULED = _field(".spec.nodeName", "Exists")
_CRASHLOOP = _label("kubepulse.dev/crashloop", "In", "true")
# Neither label that keeps a pod from ever turning Ready.
_MAY_TURN_READY = [
    _label("kubepulse.dev/never-ready", "NotIn", "true"),
    _label("kubepulse.dev/crashloop", "NotIn", "true"),
]


def _delay(annotation: str, default_ms: int, jitter_annotation: str = "") -> dict[str, Any]:
    delay: dict[str, Any] = {
        "durationMilliseconds": default_ms,
        "durationFrom": {"expressionFrom": _annotation(annotation)},
    }
    if jitter_annotation:
        delay["jitterDurationFrom"] = {"expressionFrom": _annotation(jitter_annotation)}
    return delay


_STAGES = [
    _node_stage(
        "node-initialize",
        [_field(_READY, "NotIn", "True"), _NODE_HEALTHY],
        _NODE_CONDITIONS,
        _NODE_INIT_ADDRESSES,
    ),
    _node_stage(
        "node-heartbeat-with-lease",
        [_phase("Running"), _field(_READY, "In", "True"), _NODE_HEALTHY],
        _NODE_CONDITIONS,
        _NODE_ADDRESSES,
        delay={"durationMilliseconds": 600000, "jitterDurationMilliseconds": 610000},
    ),
    _node_stage(
        "kubepulse-node-not-ready",
        [_label("kubepulse.dev/node-not-ready", "In", "true"), _field(_READY, "NotIn", "False")],
        _NODE_NOT_READY_CONDITIONS,
        _NODE_INIT_ADDRESSES,
    ),
    # kwok picks among matching stages by weight, so for a pod both of these match (no delay
    # asked for, no failure label), the weight-1 stage wins: one status write instead of two,
    # which is what lets 1,000 pods turn Ready quickly. Every other pod starts unready.
    _pod_stage(
        "kubepulse-pod-start",
        [_phase("Pending"), _SCHEDULED],
        _running_pod(ready=False),
    ),
    _pod_stage(
        "kubepulse-pod-start-ready",
        [
            _phase("Pending"),
            _SCHEDULED,
            _field(_annotation("kubepulse.dev/ready-after"), "DoesNotExist"),
            _field(_annotation("kubepulse.dev/ready-jitter"), "DoesNotExist"),
            *_MAY_TURN_READY,
        ],
        _running_pod(ready=True),
        weight=1,
    ),
    _pod_stage(
        "kubepulse-pod-ready",
        [
            _phase("Running"),
            _field(_READY, "NotIn", "True"),
            *_MAY_TURN_READY,
            _field(".status.containerStatuses.[].state.running.startedAt", "Exists"),
        ],
        _READY_POD,
        delay=_delay("kubepulse.dev/ready-after", 0, "kubepulse.dev/ready-jitter"),
    ),
    _pod_stage(
        "kubepulse-pod-crashloop",
        [_CRASHLOOP, _phase("Running"), _field(_FIRST_WAITING, "NotIn", "CrashLoopBackOff")],
        _CRASHING_POD,
    ),
    _pod_stage(
        "kubepulse-pod-crashloop-again",
        [_CRASHLOOP, _field(_FIRST_WAITING, "In", "CrashLoopBackOff")],
        _CRASHING_POD,
        delay=_delay("kubepulse.dev/crashloop-period", 10000),
    ),
    _pod_stage(
        "kubepulse-pod-complete",
        [
            _phase("Running"),
            _field(_READY, "In", "True"),
            _field(".metadata.ownerReferences.[].kind", "In", "Job"),
        ],
        _COMPLETED_POD,
        delay=_delay("kubepulse.dev/complete-after", 0),
    ),
    # The one stage for pods being deleted.
    _stage("kubepulse-pod-delete", "Pod", [_field(".metadata.deletionTimestamp", "Exists")], ""),
]

STAGES_YAML = yaml.safe_dump_all(_STAGES, sort_keys=False)
"""Every Stage, as one multi-document YAML string for kwokctl's ``--config``."""

NODE_RESOURCE_YAML = """\
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlResource
metadata:
  name: node
parameters:
  allocatable:
    cpu: 32
    memory: 256Gi
    pods: 110
  capacity: {}
  nodeInfo:
    architecture: amd64
    operatingSystem: linux
  podCIDRs:
  - 10.0.0.0/24
  - fd00::/64
template: |-
  kind: Node
  apiVersion: v1
  metadata:
    name: {{ Name }}
    annotations:
      kwok.x-k8s.io/node: fake
      node.alpha.kubernetes.io/ttl: "0"
      metrics.k8s.io/resource-metrics-path: "/metrics/nodes/{{ Name }}/metrics/resource"
    labels:
      beta.kubernetes.io/arch: {{ .nodeInfo.architecture }}
      beta.kubernetes.io/os: {{ .nodeInfo.operatingSystem }}
      kubernetes.io/arch: {{ .nodeInfo.architecture }}
      kubernetes.io/hostname: {{ Name }}
      kubernetes.io/os: {{ .nodeInfo.operatingSystem }}
      kubernetes.io/role: agent
      node-role.kubernetes.io/agent: ""
      type: kwok
  spec:
    {{ $index := Index }}
    {{ $podCIDRs := .podCIDRs }}
    podCIDR: {{ AddCIDR (index $podCIDRs 0) $index }}
    podCIDRs:
    {{ range $podCIDRs }}
    - {{ AddCIDR . $index }}
    {{ end }}
  status:
    addresses:
    - address: "127.0.0.1"
      type: InternalIP
    - address: {{ Name | Quote }}
      type: Hostname
    allocatable:
    {{ range $key, $value := .allocatable }}
      {{ $key }}: {{ $value }}
    {{ end }}
    {{ $capacity := .capacity }}
    capacity:
    {{ range $key, $value := .allocatable }}
      {{ $key }}: {{ or ( index $capacity $key ) $value }}
    {{ end }}
    nodeInfo:
    {{ range $key, $value := .nodeInfo }}
      {{ $key }}: {{ $value }}
    {{ end }}
"""
"""kwokctl's node template for ``kwokctl scale node``, changed from kwok's in one way: every node's
address is 127.0.0.1, where kwok serves each node's kubelet endpoints, so whatever follows node
addresses (metrics-server, Prometheus node discovery) stays on loopback. kwok's own template gives
192.0.2.x addresses."""
