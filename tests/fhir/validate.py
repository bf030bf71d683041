#!/usr/bin/env python3
"""Validate a JSON file against the FHIR R4 JSON schema (draft-06) with a real validator.

Usage: validate.py [--schema PATH] FILE

The schema defaults to ../shared/data/fhir/fhir.schema.json beside the repository. Exits 0 when the
file is valid, 1 when it is not (each error is printed with its path), 2 when the file or the schema
cannot be read.
"""
import argparse
import json
import os
import sys

import jsonschema

MAX_ERRORS = 50


def resources(doc, path=""):
    """The document and, for a Bundle, each entry's resource (recursively), with their paths."""
    if not isinstance(doc, dict):
        yield path, {}
        return
    entries = doc.get("entry") if doc.get("resourceType") == "Bundle" else None
    if isinstance(entries, list):
        top = {k: v for k, v in doc.items() if k != "entry"}
        yield path, top
        for i, e in enumerate(entries):
            if isinstance(e, dict) and isinstance(e.get("resource"), dict):
                yield from resources(e["resource"], f"{path + '/' if path else ''}entry/{i}/resource")
    else:
        yield path, doc


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_schema = os.path.normpath(
        os.path.join(here, "..", "..", "..", "shared", "data", "fhir", "fhir.schema.json"))
    ap = argparse.ArgumentParser(description="Validate JSON against the FHIR R4 schema.")
    ap.add_argument("--schema", default=default_schema)
    ap.add_argument("file")
    args = ap.parse_args()

    try:
        with open(args.schema, encoding="utf-8") as f:
            schema = json.load(f)
    except (OSError, ValueError) as e:
        print(f"cannot read the FHIR schema {args.schema}: {e}", file=sys.stderr)
        return 2
    try:
        with open(args.file, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        print(f"cannot read {args.file}: {e}", file=sys.stderr)
        return 2

    jsonschema.Draft6Validator.check_schema(schema)
    validator = jsonschema.Draft6Validator(schema)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if not errors:
        return 0
    # A oneOf over every resource type only says "no branch matched"; validating each resource against
    # the definition its resourceType names says what is wrong.
    shown = 0
    for path, res in resources(doc):
        rt = res.get("resourceType")
        if not isinstance(rt, str) or rt not in schema["definitions"]:
            print(f"{path or '(root)'}: unknown resourceType {rt!r}", file=sys.stderr)
            shown += 1
            continue
        sub = jsonschema.Draft6Validator({"$ref": f"#/definitions/{rt}", "definitions": schema["definitions"]})
        for e in sub.iter_errors(res):
            if shown < MAX_ERRORS:
                where = "/".join(x for x in [path] + [str(p) for p in e.absolute_path] if x)
                print(f"{where or '(root)'}: {e.message[:300]}", file=sys.stderr)
            shown += 1
    if shown == 0:
        for e in errors[:MAX_ERRORS]:
            print(f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message[:300]}", file=sys.stderr)
    print(f"{len(errors)} schema errors", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
