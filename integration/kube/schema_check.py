#!/usr/bin/python3
"""Validates Kubernetes YAML (stdin, e.g. `kubectl kustomize deploy/kubernetes`) against the API
schema without a cluster, using the generated models of Debian's python3-kubernetes (22.6: the
Kubernetes 1.22 API).

For each object: its apiVersion/kind must be a model of the library (v1 Secret, apps/v1
Deployment, policy/v1 PodDisruptionBudget, ...); every field at every depth must be a field of its
type (a misspelt or misplaced key is an error, which the API server would also refuse with
strict field validation); every value must have the field's type (string, integer, boolean, map,
list, object, int-or-string); and the library's deserializer must accept it, which checks the
required fields and enumerations the models know. Prints one line per object, exit 1 on any error.
"""
import json
import re
import sys

import kubernetes.client
import yaml
from kubernetes.client import ApiClient


def model_name(api_version, kind):
    # The models are named by version and kind, not group: apps/v1 Deployment is V1Deployment,
    # policy/v1 PodDisruptionBudget V1PodDisruptionBudget, policy/v1beta1 V1beta1PodDisruptionBudget.
    version = api_version.rpartition("/")[2]
    return version[:1].upper() + version[1:] + kind


def check(value, type_name, path, errors):
    if type_name == "object":  # IntOrString, Quantity, RawExtension
        if isinstance(value, bool) or not isinstance(value, (str, int, float, dict, list)):
            errors.append(f"{path}: {value!r} is not a string or number")
        return
    if type_name in ("str", "datetime", "date"):
        if not isinstance(value, str):
            errors.append(f"{path}: {value!r} is not a string")
        return
    if type_name == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append(f"{path}: {value!r} is not an integer")
        return
    if type_name == "float":
        if not isinstance(value, (int, float)):
            errors.append(f"{path}: {value!r} is not a number")
        return
    if type_name == "bool":
        if not isinstance(value, bool):
            errors.append(f"{path}: {value!r} is not a boolean")
        return
    m = re.fullmatch(r"list\[(.+)\]", type_name)
    if m:
        if not isinstance(value, list):
            errors.append(f"{path}: not a list")
            return
        for i, item in enumerate(value):
            check(item, m.group(1), f"{path}[{i}]", errors)
        return
    m = re.fullmatch(r"dict\(str, (.+)\)", type_name)
    if m:
        if not isinstance(value, dict):
            errors.append(f"{path}: not a map")
            return
        for k, item in value.items():
            check(item, m.group(1), f"{path}.{k}", errors)
        return
    cls = getattr(kubernetes.client, type_name, None)
    if cls is None:
        errors.append(f"{path}: unknown schema type {type_name}")
        return
    if not isinstance(value, dict):
        errors.append(f"{path}: not an object ({type_name})")
        return
    fields = {json_name: py_name for py_name, json_name in cls.attribute_map.items()}
    for key, item in value.items():
        if key not in fields:
            errors.append(f"{path}.{key}: no such field in {type_name}")
            continue
        check(item, cls.openapi_types[fields[key]], f"{path}.{key}", errors)


class Response:
    def __init__(self, obj):
        self.data = json.dumps(obj)


def main():
    client = ApiClient()
    failures = 0
    for doc in yaml.safe_load_all(sys.stdin):
        if not doc:
            continue
        name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        errors = []
        type_name = model_name(doc.get("apiVersion", ""), doc.get("kind", ""))
        if getattr(kubernetes.client, type_name, None) is None:
            errors.append(f"no schema for apiVersion {doc.get('apiVersion')} kind {doc.get('kind')}")
        else:
            check(doc, type_name, doc["kind"], errors)
            try:
                client.deserialize(Response(doc), type_name)
            except (ValueError, TypeError) as e:
                errors.append(f"deserializer: {e}")
        if errors:
            failures += 1
            print(f"INVALID {name} ({type_name}):")
            for e in errors:
                print(f"  {e}")
        else:
            print(f"valid {name} ({type_name})")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
