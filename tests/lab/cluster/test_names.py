"""Cluster names: only DNS labels whose directory is inside ``clusters_dir()``, since ``down()``
removes that directory with everything in it.

Every refused name is tried against a tmp tree baited so that an unchecked name would find a
"cluster" there and remove it: the canaries prove nothing outside was touched. No test here uses
a real system directory, so a regression can only ever damage tmp_path.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kubepulse.lab.cluster import cluster_workdir, clusters_dir, find_cluster, start_cluster

# Linux's largest pid (pid_max 2^22): the longest name a pid makes. Not this process's pid,
# which would give each pytest-xdist worker different test ids.
PID = 4194304
VALID = [
    "kubepulse",
    f"pytest-{PID}",
    f"pytest-metrics-{PID}",
    "kubepulse-bench-podmon",
    "bench-cluster-exporter",
    "bench-up-0",
    "bench-plain-0",
    "kubepulse-demo",
    f"cli-{PID}",
    "a",
    "0",
    "a" * 63,
]


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """clusters_dir() is tmp/root/clusters; canaries sit inside and beside it."""
    root = tmp_path / "root"
    clusters = root / "clusters"
    outside = root / "outside"
    canaries = {
        "outside": outside / "keep.txt",
        # kwok dir an unchecked "a/b" would find: clusters/a/b/clusters/a/b
        "a/b": clusters / "a" / "b" / "clusters" / "a" / "b" / "keep.txt",
        # kwok dir an unchecked "" would find: clusters/clusters
        "": clusters / "clusters" / "keep.txt",
        "other cluster": clusters / "other" / "clusters" / "other" / "keep.txt",
    }
    # kwok dir an unchecked absolute name would find: the canary directory itself.
    (outside / "clusters").mkdir(parents=True)
    for path in canaries.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("canary")
    (clusters / "escape").symlink_to(outside, target_is_directory=True)
    monkeypatch.setenv("KUBEPULSE_CLUSTERS_DIR", str(clusters))
    return {"root": root, "clusters": clusters, "outside": outside, **canaries}


def refused_names(tree: dict[str, Path]) -> list[str]:
    # An absolute path stands for "/etc": were the check broken, only tmp_path could suffer.
    return [str(tree["outside"]), "..", "", "a/b", "escape"]


def assert_untouched(tree: dict[str, Path]) -> None:
    for key in ("outside", "a/b", "", "other cluster"):
        assert tree[key].read_text() == "canary", key
    assert (tree["clusters"] / "escape").is_symlink()


@pytest.mark.parametrize("name", VALID)
def test_names_in_use_are_valid(name: str, tree: dict[str, Path]) -> None:
    assert cluster_workdir(name) == clusters_dir() / name


@pytest.mark.parametrize(
    "name", ["/etc", "..", ".", "", "a/b", "a" * 64, "-a", "a-", "A", "a_b", "a.b", "a\n", " a"]
)
def test_cluster_workdir_refuses_non_dns_labels(name: str, tree: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match=r"^name: .* is not a DNS label"):
        cluster_workdir(name)


def test_cluster_workdir_refuses_a_symlink_out_of_clusters_dir(tree: dict[str, Path]) -> None:
    """A valid name whose directory is a symlink pointing elsewhere is refused."""
    with pytest.raises(ValueError, match=r"^name: 'escape': its directory .* is not inside"):
        cluster_workdir("escape")


def test_find_and_start_refuse_bad_names_and_touch_nothing(tree: dict[str, Path]) -> None:
    for name in refused_names(tree):
        with pytest.raises(ValueError, match=r"^name: "):
            find_cluster(name)
        # Raised before binaries are looked for or any directory is created or removed.
        with pytest.raises(ValueError, match=r"^name: "):
            start_cluster(name, nodes=0, timeout=1)
        assert_untouched(tree)
    assert sorted(p.name for p in tree["clusters"].iterdir()) == [
        "a",
        "clusters",
        "escape",
        "other",
    ]
