#!/usr/bin/env python3
"""Benchmarks against the real API server (not tests: nothing here is asserted on time).

    python3 tests/cluster/bench.py [--namespaces 570] [--changes 500]

1. A live scan of the generated cluster (570 namespaces: about 10,000 objects) stored in a
   real kube-apiserver: wall time, peak RSS, and LIST requests per kind against
   ceil(objects of that kind / 500).
2. apply --yes and rollback --yes of the bundle's first N changes: wall time and requests per
   change, from the server's audit log.

Needs release builds: cargo build --release && cargo build --release --example gen_cluster.
"""
import argparse, collections, json, math, os, re, subprocess, sys, tempfile, time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KH = os.path.join(REPO, "target/release/kubeharden")
GEN = os.path.join(REPO, "target/release/examples/gen_cluster")


def sh(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw)


def timed(args, **kw):
    """Runs args under /usr/bin/time; returns (wall seconds, peak RSS MB, completed process)."""
    start = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", *args], capture_output=True, text=True, **kw)
    wall = time.monotonic() - start
    rss_kb = int(p.stderr.strip().splitlines()[-1])
    return wall, rss_kb / 1024, p


def kubeconfig_for(cluster, user):
    token = next(l.split(",")[0] for l in open(os.path.join(cluster, "tokens.csv")) if l.split(",")[1] == user)
    env = dict(l.strip().split("=", 1) for l in open(os.path.join(cluster, "env")) if "=" in l)
    path = os.path.join(cluster, f"{user}.kubeconfig")
    with open(path, "w") as f:
        f.write(f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "{env['SERVER']}", certificate-authority: "{env['CA']}"}}}}]
users: [{{name: {user}, user: {{token: {token}}}}}]
contexts: [{{name: {user}, context: {{cluster: c, user: {user}}}}}]
current-context: {user}
""")
    return path


def audit(cluster, user):
    out = []
    with open(os.path.join(cluster, "audit.log")) as f:
        for line in f:
            e = json.loads(line)
            if e.get("stage") == "ResponseComplete" and e["user"]["username"] == user:
                out.append(e)
    return out


def load(cluster, gen_dir, admin):
    """Creates the generated objects as controllers would have left them."""
    files = sorted(os.listdir(os.path.join(gen_dir, "files")))
    namespaces = [f[: -len(".yaml")] for f in files]
    sas = {"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": ns}}
        for ns in namespaces]}
    nss = {"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}} for ns in namespaces]}
    start = time.monotonic()
    # Namespaces and their default ServiceAccounts (the controller's work) before the pods.
    for doc in (nss, sas):
        subprocess.run(["kubectl", "--kubeconfig", admin, "create", "-f", "-"], input=json.dumps(doc),
                       capture_output=True, text=True)
    failures = 0
    # One kubectl for the whole folder (a process per file costs more than the requests).
    # Pods name ServiceAccounts that come later in their file: a second pass creates them.
    folder = os.path.join(gen_dir, "files")
    subprocess.run(["kubectl", "--kubeconfig", admin, "create", "-f", folder],
                   capture_output=True, text=True)
    p = subprocess.run(["kubectl", "--kubeconfig", admin, "create", "-f", folder],
                       capture_output=True, text=True)
    for line in p.stderr.splitlines():
        if "AlreadyExists" not in line and line.strip():
            failures += 1
            if failures <= 5:
                print(f"  load: {line.strip()}", file=sys.stderr)
    if failures:
        print(f"  {failures} objects not created", file=sys.stderr)
    return time.monotonic() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--namespaces", type=int, default=570)
    ap.add_argument("--changes", type=int, default=500)
    a = ap.parse_args()
    cluster = tempfile.mkdtemp(prefix="kh-bench-")
    sh(os.path.join(REPO, "tests/cluster/start"), cluster, str(os.getpid()))
    try:
        gen_dir = os.path.join(cluster, "gen")
        sh(GEN, "--namespaces", str(a.namespaces), "--seed", "1", "--out", gen_dir)
        admin = os.path.join(cluster, "kubeconfig")
        loaded = load(cluster, gen_dir, admin)
        print(f"loaded {a.namespaces} namespaces into kube-apiserver in {loaded:.0f} s")

        scanner = kubeconfig_for(cluster, "admin-00")
        runs = []
        for _ in range(3):
            wall, rss, p = timed([KH, "--kubeconfig", scanner, "scan", "-o", "json"])
            runs.append((wall, rss))
        report = json.loads(p.stdout)
        walls = sorted(w for w, _ in runs)
        print(f"live scan: {report['objects']} objects, {len(report['findings'])} findings; "
              f"wall min {walls[0]:.2f} s, median {walls[1]:.2f} s; peak RSS {max(r for _, r in runs):.0f} MB")
        events = audit(cluster, "admin-00")
        lists = collections.Counter(e["objectRef"]["resource"] for e in events if e["verb"] == "list")
        counts = {}
        for res in lists:
            p = subprocess.run(["kubectl", "--kubeconfig", admin, "get", res, "-A", "-o", "name"],
                               capture_output=True, text=True)
            counts[res] = len(p.stdout.split())
        print("LIST requests per kind over 3 scans (expected 3 × ceil(N/500)):")
        for res in sorted(lists):
            expected = 3 * max(1, math.ceil(counts[res] / 500))
            mark = "" if lists[res] == expected else "  <-- differs"
            print(f"  {res:32} objects {counts[res]:6}  lists {lists[res]:4}  expected {expected:4}{mark}")
        others = collections.Counter(e["verb"] for e in events if e["verb"] != "list")
        print(f"  other requests: {dict(others)}")

        bundle = os.path.join(cluster, "bundle")
        wall, rss, p = timed([KH, "--kubeconfig", scanner, "fix", "--out", bundle])
        manifest = json.load(open(os.path.join(bundle, "manifest.json")))
        numbers = [e["number"] for e in manifest["patches"] if e["form"] != "host-file"][: a.changes]
        print(f"fix: {len(manifest['patches'])} changes in {wall:.2f} s, {rss:.0f} MB")
        only = ",".join(map(str, numbers))
        applier = kubeconfig_for(cluster, "admin-01")
        wall, rss, p = timed([KH, "--kubeconfig", applier, "apply", "--yes", "--allow-recreate", "--only", only, bundle])
        ev = audit(cluster, "admin-01")
        verbs = collections.Counter((e["verb"], "dry run" if "dryRun=All" in e["requestURI"] else "")
                                    for e in ev)
        failed = re.search(r"(\d+) failed", p.stderr)
        print(f"apply --yes of {len(numbers)} changes: {wall:.1f} s, {len(ev) / len(numbers):.2f} requests per change "
              f"({dict(verbs)}), failed: {failed.group(1) if failed else '?'}, exit {p.returncode}")
        roller = kubeconfig_for(cluster, "admin-02")
        wall, rss, p = timed([KH, "--kubeconfig", roller, "rollback", "--yes", "--allow-recreate", bundle])
        ev = audit(cluster, "admin-02")
        failed = re.search(r"(\d+) failed", p.stderr)
        print(f"rollback --yes of {len(numbers)} changes: {wall:.1f} s, {len(ev) / len(numbers):.2f} requests per change, "
              f"failed: {failed.group(1) if failed else '?'}, exit {p.returncode}")
        for line in [l for l in (p.stdout + p.stderr).splitlines() if ": Failed" in l][:3]:
            print(f"  {line[:300]}")
    finally:
        subprocess.run([os.path.join(REPO, "tests/cluster/stop"), cluster])


if __name__ == "__main__":
    main()
