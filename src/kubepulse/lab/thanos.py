"""A Thanos global view over several clusters' Prometheus replicas, on loopback.

The lab ``start_thanos_lab`` starts, all through one ``ProcessGroup``:

- per cluster (``a`` and ``b``): what one Kubernetes cluster contributes to a global view. Here a
  "cluster" is its own kubepulse system exporter (the real exporter, reading this host) and two
  Prometheus replicas (``0`` and ``1``) scraping it and themselves every ``interval``, with
  external labels ``cluster`` and ``replica``, as ``kubepulse.lab.ha`` runs them. Given a
  cluster's kubeconfig (``kubeconfigs``: a kwok cluster of ``kubepulse.lab.cluster``), it also
  runs a kubepulse cluster exporter on it, scraped by both replicas as job
  ``kube-state-metrics``; the replicas' Kubernetes discovery jobs are not used (their targets
  are static). Each replica has a Thanos sidecar, which serves its Prometheus over the StoreAPI
  and ships its TSDB blocks to the shared bucket (a ``FILESYSTEM`` object store, a directory).
  Prometheus runs with ``--storage.tsdb.min-block-duration`` equal to ``max-block-duration``
  (2h, local compaction off), which the sidecar checks before it uploads;
- above the clusters: a Store Gateway serving the bucket's blocks and a Query fanning out to the
  four sidecars and the store, deduplicating along ``--query.replica-label=replica``.

Everything binds 127.0.0.1, HTTP and gRPC both (Thanos defaults to 0.0.0.0); Thanos has no
gossip. History older than what the Prometheus replicas hold is put in the bucket the way a
migration from plain Prometheus does it: ``create_blocks`` (promtool's OpenMetrics backfill)
writes a block, ``upload_blocks`` (``thanos tools bucket upload-blocks``, the sidecar's shipper)
uploads it with a cluster's external labels. A sidecar ships a block once Prometheus cuts it,
2 h after its first sample, which the lab's short runs never reach (``tests/stack/
test_thanos_kubernetes.py`` cuts 1 min blocks to see it happen); a block put in a replica's
data dir before it starts (``blocks``) is shipped by its sidecar within seconds.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from kubepulse.lab.processes import LOOPBACK, ProcessGroup, free_port, require_loopback
from kubepulse.lab.releases import binary as release_binary
from kubepulse.lab.servers import start_cluster_exporter, start_prometheus
from kubepulse.stack.prometheus import (
    render_prometheus_config,
    render_rule_files,
    replica_config,
)

__all__ = [
    "CLUSTERS",
    "KUBE_JOB",
    "REPLICAS",
    "REPLICA_LABEL",
    "SYSTEM_JOB",
    "Replica",
    "ThanosEndpoint",
    "ThanosLab",
    "bucket_config",
    "create_blocks",
    "start_cluster_prometheus",
    "start_query",
    "start_receive",
    "start_sidecar",
    "start_store",
    "start_system_exporter",
    "start_thanos_lab",
    "upload_blocks",
    "with_remote_write",
]

CLUSTERS = ("a", "b")
REPLICAS = ("0", "1")
REPLICA_LABEL = "replica"
# The job scraping a cluster's system exporter (outside the stack's config, whose exporter jobs
# all discover through Kubernetes).
SYSTEM_JOB = "system"
# The job scraping a cluster's kubepulse cluster exporter, named as the stack's rules expect.
KUBE_JOB = "kube-state-metrics"
# Prometheus's default block size; equal min and max switch local compaction off, which the
# sidecar requires before it uploads (it would otherwise ship blocks Prometheus later rewrites).
BLOCK_DURATION = "2h"


@dataclass(frozen=True)
class ThanosEndpoint:
    """One Thanos component: its process name, HTTP URL and gRPC (StoreAPI) ``host:port``."""

    name: str
    http_url: str
    grpc_address: str


@dataclass(frozen=True)
class Replica:
    """One Prometheus replica of a cluster and its sidecar."""

    cluster: str
    replica: str
    prometheus_url: str
    data_dir: Path
    sidecar: ThanosEndpoint

    @property
    def process(self) -> str:
        """The Prometheus process's name in the ``ProcessGroup``."""
        return f"prometheus-{self.cluster}-{self.replica}"


@dataclass(frozen=True)
class ThanosLab:
    exporters: dict[str, str]  # cluster -> host:port of its system exporter
    cluster_exporters: dict[str, str]  # cluster -> host:port of its cluster exporter, if any
    replicas: dict[str, dict[str, Replica]]  # cluster -> replica -> Replica
    bucket: Path  # the FILESYSTEM bucket's directory
    bucket_config: Path
    store: ThanosEndpoint
    query: ThanosEndpoint


def bucket_config(directory: Path) -> str:
    """The objstore config of a ``FILESYSTEM`` bucket in ``directory``."""
    return yaml.safe_dump({"type": "FILESYSTEM", "config": {"directory": str(directory)}})


def _start_thanos(
    group: ProcessGroup, name: str, component: Sequence[str], flags: Sequence[str]
) -> ThanosEndpoint:
    """Start ``thanos COMPONENT`` with its HTTP and gRPC servers on 127.0.0.1; return where once
    ``/-/ready`` answers."""
    http_port, grpc_port = free_port(), free_port()
    url = f"http://{LOOPBACK}:{http_port}"
    argv = [
        str(release_binary("thanos")),
        *component,
        f"--http-address={LOOPBACK}:{http_port}",
        f"--grpc-address={LOOPBACK}:{grpc_port}",
        *flags,
    ]
    group.start(name, argv, ready_url=f"{url}/-/ready", timeout=90)
    return ThanosEndpoint(name, url, f"{LOOPBACK}:{grpc_port}")


def start_sidecar(
    group: ProcessGroup,
    *,
    name: str,
    prometheus_url: str,
    tsdb_path: Path,
    bucket_config_file: Path,
    heartbeat: str = "2s",
) -> ThanosEndpoint:
    """Start a sidecar for the Prometheus at ``prometheus_url`` whose data dir is ``tsdb_path``,
    shipping its blocks to the bucket of ``bucket_config_file``.

    ``heartbeat`` is how often it re-reads Prometheus's external labels and lowest timestamp
    (default 30 s): the time range it announces to Query, and how soon it reports its
    Prometheus gone.
    """
    return _start_thanos(
        group,
        name,
        ["sidecar"],
        [
            f"--prometheus.url={require_loopback(prometheus_url)}",
            f"--tsdb.path={tsdb_path}",
            f"--objstore.config-file={bucket_config_file}",
            f"--prometheus.get_config_interval={heartbeat}",
        ],
    )


def start_store(
    group: ProcessGroup,
    workdir: Path,
    *,
    bucket_config_file: Path,
    name: str = "thanos-store",
    sync_interval: str = "2s",
) -> ThanosEndpoint:
    """Start a Store Gateway on the bucket of ``bucket_config_file``, caching index headers in
    ``workdir``; it looks for new blocks every ``sync_interval`` (default 15 min)."""
    workdir.mkdir(parents=True, exist_ok=True)
    return _start_thanos(
        group,
        name,
        ["store"],
        [
            f"--data-dir={workdir}",
            f"--objstore.config-file={bucket_config_file}",
            f"--sync-block-duration={sync_interval}",
        ],
    )


def start_query(
    group: ProcessGroup,
    *,
    endpoints: Sequence[str],
    replica_labels: Sequence[str] = (REPLICA_LABEL,),
    name: str = "thanos-query",
) -> ThanosEndpoint:
    """Start a Query over the StoreAPI ``endpoints`` (loopback ``host:port``), deduplicating
    along ``replica_labels``."""
    for endpoint in endpoints:
        require_loopback(f"grpc://{endpoint}")
    config = {"endpoints": [{"address": endpoint} for endpoint in endpoints]}
    return _start_thanos(
        group,
        name,
        ["query"],
        [
            f"--endpoint.sd-config={json.dumps(config)}",
            *(f"--query.replica-label={label}" for label in replica_labels),
        ],
    )


def start_receive(
    group: ProcessGroup,
    workdir: Path,
    *,
    labels: Mapping[str, str],
    name: str = "thanos-receive",
) -> tuple[ThanosEndpoint, str]:
    """Start a Receive, alone (no hashring: it ingests what it is sent), with external
    ``labels`` and its TSDB in ``workdir``; return it and its remote-write URL. Its four
    servers (HTTP, gRPC, remote write, Cap'n Proto replication) bind 127.0.0.1."""
    workdir.mkdir(parents=True, exist_ok=True)
    write_port, capnproto_port = free_port(), free_port()
    receive = _start_thanos(
        group,
        name,
        ["receive"],
        [
            f"--tsdb.path={workdir}",
            f"--remote-write.address={LOOPBACK}:{write_port}",
            f"--receive.capnproto-address={LOOPBACK}:{capnproto_port}",
            *(f"--label={k}={json.dumps(v)}" for k, v in labels.items()),
        ],
    )
    return receive, f"http://{LOOPBACK}:{write_port}/api/v1/receive"


def with_remote_write(config_text: str, url: str) -> str:
    """``config_text`` (a Prometheus config) sending every sample to ``url`` (loopback), in
    batches of at most a second."""
    config = yaml.safe_load(config_text)
    config["remote_write"] = [
        {"url": require_loopback(url), "queue_config": {"batch_send_deadline": "1s"}}
    ]
    text: str = yaml.safe_dump(config, sort_keys=False, width=120)
    return text


def create_blocks(openmetrics: str, out_dir: Path, workdir: Path) -> list[Path]:
    """Write ``openmetrics`` (OpenMetrics text ending ``# EOF``) as TSDB blocks in ``out_dir``
    with ``promtool tsdb create-blocks-from openmetrics``; return the new block directories."""
    workdir.mkdir(parents=True, exist_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    source = workdir / "backfill.om"
    source.write_text(openmetrics, encoding="utf-8")
    before = set(out_dir.iterdir())
    subprocess.run(
        [
            str(release_binary("promtool")),
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            str(source),
            str(out_dir),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return sorted(p for p in set(out_dir.iterdir()) - before if (p / "meta.json").is_file())


def upload_blocks(blocks_dir: Path, bucket_config_file: Path, labels: Mapping[str, str]) -> str:
    """Upload the blocks in ``blocks_dir`` to the bucket with external ``labels``, the way the
    sidecar's shipper does (``thanos tools bucket upload-blocks``); return its log."""
    out = subprocess.run(
        [
            str(release_binary("thanos")),
            "tools",
            "bucket",
            "upload-blocks",
            f"--path={blocks_dir}",
            f"--objstore.config-file={bucket_config_file}",
            *(f"--label={k}={json.dumps(v)}" for k, v in labels.items()),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if out.returncode != 0:
        raise RuntimeError(f"thanos tools bucket upload-blocks failed:\n{out.stderr}")
    return out.stderr


def start_system_exporter(group: ProcessGroup, cluster: str) -> str:
    """Start cluster ``cluster``'s kubepulse system exporter on 127.0.0.1; return its
    ``host:port``."""
    port = free_port()
    group.start(
        f"system-exporter-{cluster}",
        [
            sys.executable,
            "-m",
            "kubepulse",
            "exporter",
            "system",
            "--web.listen-address",
            f"{LOOPBACK}:{port}",
        ],
        ready_url=f"http://{LOOPBACK}:{port}/healthz",
    )
    return f"{LOOPBACK}:{port}"


def start_cluster_prometheus(
    group: ProcessGroup,
    workdir: Path,
    *,
    cluster: str,
    replica: str,
    exporter: str,
    cluster_exporter: str | None = None,
    interval: str = "1s",
    blocks: Sequence[Path] = (),
    remote_write_url: str | None = None,
    rules: bool = False,
) -> tuple[str, Path]:
    """Start replica ``replica`` of ``cluster``'s Prometheus (process ``prometheus-CLUSTER-
    REPLICA``, home under ``workdir``) scraping ``exporter``, ``cluster_exporter`` if given, and
    itself, with uncompacted 2 h blocks; ``blocks`` are copied into its data dir first,
    ``remote_write_url`` gets every sample; with ``rules`` it evaluates the stack's rules (alerts
    stay in Prometheus: no Alertmanager). Return its URL and data dir."""
    port = free_port()
    name = f"prometheus-{cluster}-{replica}"
    home = workdir / name
    config = render_prometheus_config(
        cluster=cluster,
        scrape_interval=interval,
        evaluation_interval=interval,
        targets={"prometheus": f"{LOOPBACK}:{port}"},
        alertmanagers=[],
        rule_files=render_rule_files(home / "rules") if rules else [],
    )
    static = {SYSTEM_JOB: exporter}
    if cluster_exporter is not None:
        static[KUBE_JOB] = cluster_exporter
    config = replica_config(config, replica, static)
    if remote_write_url is not None:
        config = with_remote_write(config, remote_write_url)
    for block in blocks:
        shutil.copytree(block, home / "data" / block.name)
    url = start_prometheus(
        group,
        home,
        config,
        port=port,
        extra_args=[
            f"--storage.tsdb.min-block-duration={BLOCK_DURATION}",
            f"--storage.tsdb.max-block-duration={BLOCK_DURATION}",
        ],
        name=name,
    )
    return url, home / "data"


def _start_replica(
    group: ProcessGroup,
    workdir: Path,
    *,
    cluster: str,
    replica: str,
    exporter: str,
    cluster_exporter: str | None,
    interval: str,
    bucket_config_file: Path,
    blocks: Sequence[Path] = (),
    rules: bool = False,
) -> Replica:
    url, data = start_cluster_prometheus(
        group,
        workdir,
        cluster=cluster,
        replica=replica,
        exporter=exporter,
        cluster_exporter=cluster_exporter,
        interval=interval,
        blocks=blocks,
        rules=rules,
    )
    sidecar = start_sidecar(
        group,
        name=f"sidecar-{cluster}-{replica}",
        prometheus_url=url,
        tsdb_path=data,
        bucket_config_file=bucket_config_file,
    )
    return Replica(cluster, replica, url, data, sidecar)


def start_thanos_lab(
    group: ProcessGroup,
    workdir: Path,
    *,
    clusters: Sequence[str] = CLUSTERS,
    replicas: Sequence[str] = REPLICAS,
    interval: str = "1s",
    replica_labels: Sequence[str] = (REPLICA_LABEL,),
    blocks: Mapping[tuple[str, str], Sequence[Path]] | None = None,
    rules: bool = False,
    kubeconfigs: Mapping[str, Path] | None = None,
) -> ThanosLab:
    """Start the lab described in the module docstring under ``workdir``; return its parts.

    With ``rules`` every replica evaluates the stack's rules (``kubepulse demo --clusters``).
    ``kubeconfigs`` maps a cluster name to its Kubernetes cluster's kubeconfig: that cluster
    gets a cluster exporter too.

    ``replica_labels`` are Query's ``--query.replica-label`` flags. ``blocks`` maps (cluster,
    replica) to TSDB block directories copied into that replica's data dir before its
    Prometheus starts: Prometheus serves them, and its sidecar ships them to the bucket at once
    (as it would ship the blocks Prometheus cuts every 2 h).
    """
    bucket = workdir / "bucket"
    bucket.mkdir(parents=True, exist_ok=True)
    bucket_file = workdir / "bucket.yml"
    bucket_file.write_text(bucket_config(bucket), encoding="utf-8")
    exporters: dict[str, str] = {}
    cluster_exporters: dict[str, str] = {}
    lab_replicas: dict[str, dict[str, Replica]] = {}
    for cluster in clusters:
        exporters[cluster] = start_system_exporter(group, cluster)
        if cluster in (kubeconfigs or {}):
            kubeconfig = (kubeconfigs or {})[cluster]
            port, _ = start_cluster_exporter(group, kubeconfig, name=f"cluster-exporter-{cluster}")
            cluster_exporters[cluster] = f"{LOOPBACK}:{port}"
        lab_replicas[cluster] = {
            r: _start_replica(
                group,
                workdir,
                cluster=cluster,
                replica=r,
                exporter=exporters[cluster],
                cluster_exporter=cluster_exporters.get(cluster),
                interval=interval,
                bucket_config_file=bucket_file,
                blocks=(blocks or {}).get((cluster, r), ()),
                rules=rules,
            )
            for r in replicas
        }
    store = start_store(group, workdir / "store", bucket_config_file=bucket_file)
    sidecars = [r.sidecar.grpc_address for c in lab_replicas.values() for r in c.values()]
    query = start_query(
        group,
        endpoints=[*sidecars, store.grpc_address],
        replica_labels=replica_labels,
    )
    return ThanosLab(exporters, cluster_exporters, lab_replicas, bucket, bucket_file, store, query)
