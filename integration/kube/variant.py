#!/usr/bin/python3
"""Turns `kubectl kustomize deploy/kubernetes` output into what Debian's podman 4.3 `kube play` runs.

Reads the kustomize output on stdin, writes the podman variant on stdout. The differences, each
forced by podman or by the test machine's network rules (README "Kubernetes" lists them too):
  - the Deployment runs 1 replica, not 3 (one host: hostNetwork and the anti-affinity);
  - the Service and the PodDisruptionBudget are dropped (podman has no Services or evictions);
  - --listen / --metrics_listen / --advertise_address get 127.0.0.1 and the test's ports (podman has
    no status.podIP / status.hostIP for the downward API, and the test may only use loopback);
  - the rules' first line (deny loopback) is dropped: the test's target is on 127.0.0.1;
  - the Secret is written to its own file (--secret_out) for `podman secret create`, its
    stringData as plain text under `data` (podman 4.3's kube play mounts no file for a
    stringData key and writes a `data` value into the file still base64-encoded);
  - the Secret volume's mode is 0444, not 0440 (podman applies no fsGroup: root-owned files);
  - the image is the one under test; the probes become exec probes with the image's bash (podman
    runs an httpGet probe as `curl` inside the container, which the image does not have).
Everything else (flagfile, Secret and ConfigMap volumes and their paths, the security context,
resources, annotations, preStop, --watch_config) is taken unchanged.
"""
import argparse
import sys

import yaml


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--image", required=True)
    ap.add_argument("--socks_port", type=int, required=True)
    ap.add_argument("--metrics_port", type=int, required=True)
    ap.add_argument("--rules", help="replace the ConfigMap's rules with this text")
    ap.add_argument("--secret_out", required=True, help="where to write the Secret")
    args = ap.parse_args()

    docs = [d for d in yaml.safe_load_all(sys.stdin) if d]
    out = []
    for doc in docs:
        kind = doc["kind"]
        if kind in ("Service", "PodDisruptionBudget"):
            continue
        if kind == "ConfigMap" and "rules" in doc.get("data", {}):
            if args.rules is not None:
                doc["data"]["rules"] = args.rules
            else:
                lines = doc["data"]["rules"].splitlines(keepends=True)
                doc["data"]["rules"] = "".join(l for l in lines if not l.startswith("deny  to=127."))
        if kind == "Secret":
            # podman 4.3's kube play mounts no file for a stringData key, and writes a `data` value
            # into the file still base64-encoded. So the Secret goes to its own file, with the
            # plain text under `data`, for `podman secret create` (which stores it unchecked).
            doc["data"] = doc.pop("stringData", {})
            with open(args.secret_out, "w") as f:
                yaml.safe_dump(doc, f, sort_keys=False)
            continue
        if kind == "Deployment":
            template = doc["spec"]["template"]
            spec = template["spec"]
            for v in spec.get("volumes", []):
                if "secret" in v:
                    # podman writes the files root-owned with defaultMode and applies no fsGroup.
                    v["secret"]["defaultMode"] = 0o444
            for c in spec["containers"]:
                c["image"] = args.image
                c["imagePullPolicy"] = "Never"
                # hostNetwork: podman refuses port mappings (nothing to map: the ports are the host's).
                c.pop("ports", None)
                c["env"] = [e for e in c.get("env", []) if e["name"] not in ("HOST_IP", "POD_IP")]
                fixed = []
                for a in c["args"]:
                    a = a.replace("$(POD_IP):1080", f"127.0.0.1:{args.socks_port}")
                    a = a.replace("$(POD_IP):9100", f"127.0.0.1:{args.metrics_port}")
                    a = a.replace("$(HOST_IP)", "127.0.0.1")
                    fixed.append(a)
                c["args"] = fixed
                for probe in ("livenessProbe", "readinessProbe"):
                    path = c[probe]["httpGet"]["path"]
                    del c[probe]["httpGet"]
                    c[probe]["exec"] = {"command": [
                        "/bin/bash", "-c",
                        f"exec 3<>/dev/tcp/127.0.0.1/{args.metrics_port} && "
                        f"printf 'GET {path} HTTP/1.0\\r\\n\\r\\n' >&3 && "
                        "head -n1 <&3 | grep -q ' 200 '"]}
            template["metadata"]["annotations"]["prometheus.io/port"] = str(args.metrics_port)
            # One host: one replica (hostNetwork; podman runs each replica as a pod, and ignores
            # the anti-affinity that keeps them on separate nodes).
            doc["spec"]["replicas"] = 1
        out.append(doc)
    yaml.safe_dump_all(out, sys.stdout, sort_keys=False)


if __name__ == "__main__":
    main()
