"""NoNN's knowledge partitioning (Bhardwaj et al., CODES+ISSS 2019): the filters of the teacher's last
convolution become the nodes of an "activation network" whose edge weights say how strongly two
filters fire together, and Louvain community detection splits it into one group per student.

Louvain chooses its own number of communities. To reach exactly K groups we scan its resolution
parameter and keep, among the scan's partitions with exactly K communities, the one with the
highest modularity; when no resolution gives exactly K, we start from the scan's closest partition
with more than K communities and merge the smallest community into the one it is most densely
connected to until K remain (or, if every resolution gives fewer than K, bisect the largest with
Kernighan-Lin). Pure functions: arrays in, groups out."""
import networkx as nx
import numpy as np
from networkx.algorithms import community

RESOLUTIONS = tuple(round(0.5 + 0.05 * i, 2) for i in range(51))  # 0.5 .. 3.0


def activation_network(activations):
    """activations [images, filters], each filter's spatially averaged (post-ReLU) activation per image.
    Returns the symmetric weight matrix W[i, j] = sum over images of a_i * a_j (the paper's Hebbian
    "fire together" weight), diagonal zero."""
    a = np.asarray(activations, dtype=np.float64)
    weights = a.T @ a
    np.fill_diagonal(weights, 0.0)
    return weights


def _graph(weights):
    g = nx.Graph()
    n = weights.shape[0]
    g.add_nodes_from(range(n))
    g.add_weighted_edges_from((i, j, weights[i, j]) for i in range(n) for j in range(i + 1, n) if weights[i, j] > 0)
    return g


def _density(weights, a, b):
    """Mean edge weight between two disjoint groups of filters."""
    return weights[np.ix_(sorted(a), sorted(b))].mean()


def _merge_down(weights, groups, k):
    groups = [set(g) for g in groups]
    merges = []
    while len(groups) > k:
        groups.sort(key=lambda g: (len(g), min(g)))
        smallest = groups.pop(0)
        target = max(range(len(groups)), key=lambda i: _density(weights, smallest, groups[i]))
        merges.append((sorted(smallest), sorted(groups[target])))
        groups[target] |= smallest
    return groups, merges


def _split_up(g, groups, k, seed):
    groups = [set(x) for x in groups]
    splits = 0
    while len(groups) < k:
        groups.sort(key=lambda x: (-len(x), min(x)))
        largest = groups.pop(0)
        a, b = community.kernighan_lin_bisection(g.subgraph(largest), weight="weight", seed=seed)
        groups += [set(a), set(b)]
        splits += 1
    return groups, splits


def partition(weights, k, seed=0):
    """Splits the activation network into exactly k groups covering every filter.
    Returns (groups: list of sorted filter-index lists, ordered by their smallest filter; report: dict
    saying how k was reached, for the bundle's README)."""
    g = _graph(weights)
    scan = []
    for resolution in RESOLUTIONS:
        found = community.louvain_communities(g, weight="weight", resolution=resolution, seed=seed)
        scan.append((resolution, found, community.modularity(g, found, weight="weight")))
    counts = {r: len(found) for r, found, _ in scan}
    exact = [s for s in scan if len(s[1]) == k]
    report = {"resolutions": f"{RESOLUTIONS[0]} to {RESOLUTIONS[-1]} in steps of 0.05", "seed": seed,
              "counts": counts}
    if exact:
        resolution, groups, _ = max(exact, key=lambda s: (s[2], -s[0]))
        report.update(method="exact", resolution=resolution, louvain_count=k)
    else:
        above = [s for s in scan if len(s[1]) > k]
        if above:
            resolution, found, _ = min(above, key=lambda s: (len(s[1]), s[0]))
            groups, merges = _merge_down(weights, found, k)
            report.update(method="merged", resolution=resolution, louvain_count=len(found), merges=merges)
        else:
            resolution, found, _ = max(scan, key=lambda s: (len(s[1]), -s[0]))
            groups, splits = _split_up(g, found, k, seed)
            report.update(method="split", resolution=resolution, louvain_count=len(found), splits=splits)
    groups = sorted((sorted(int(f) for f in x) for x in groups), key=lambda x: x[0])
    report["modularity"] = community.modularity(g, [set(x) for x in groups], weight="weight")
    check_partition(groups, weights.shape[0], k)
    return groups, report


def check_partition(groups, filters, k):
    """Raises ValueError unless `groups` are k non-empty disjoint groups covering range(filters)."""
    flat = [f for group in groups for f in group]
    if len(groups) != k or any(not group for group in groups) or sorted(flat) != list(range(filters)):
        raise ValueError(f"not a partition of {filters} filters into {k} groups: {groups}")
