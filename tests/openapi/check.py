#!/usr/bin/env python3
"""Check docs/openapi.yaml against the server's route table (service/routes.c).

Run by ctest (test "openapi"). Fails, listing every problem, when:
  - the spec is not shaped like OpenAPI 3.1 (version, info, paths, unique operationIds, declared tags,
    declared path parameters, string status codes, a success response per operation);
  - a route in routes.c has no operation with the same method and path, or an operation has no route
    ({...} segments compare equal whatever their names);
  - an operation's x-roles differ from the route's roles, a public route lacks `security: []` (or a
    protected one has it), a route that requires a body has no required requestBody, or a route that
    honours Idempotency-Key does not declare the header (or one that does not, does);
  - an error response (4xx, 5xx, default) is not application/problem+json with the Problem schema;
  - a JSON request body schema allows unknown fields (foreign formats marked x-external-format aside);
  - a $ref does not resolve, or a component is never used;
  - an example does not validate against its schema (JSON Schema 2020-12).
Needs python3-yaml and python3-jsonschema (Debian packages).
"""
import json
import pathlib
import re
import sys
import warnings

ROOT = pathlib.Path(__file__).resolve().parents[2]
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
ROLE_BITS = {
    "SVC_ROLE_NONE": set(),
    "SVC_ROLE_MEMBER": {"member"},
    "SVC_ROLE_RESEARCHER": {"researcher"},
    "SVC_ROLE_COORDINATOR": {"coordinator"},
    "SVC_ROLE_ADMIN": {"admin"},
    "SVC_ROLE_ANY": {"member", "researcher", "coordinator", "admin"},
    "0": set(),
}
FLAG_BITS = {"SVC_R_DB": {"db"}, "SVC_R_TX": {"tx"}, "SVC_R_BODY": {"body"},
             "SVC_R_IDEMPOTENT": {"idempotent"}, "0": set()}
BASE_URI = "urn:carecommons:openapi"

problems = []


def problem(msg):
    problems.append(msg)


def load_yaml(path):
    try:
        import yaml
    except ImportError:
        sys.exit("openapi check: python3-yaml is not installed (apt-get install python3-yaml)")
    # Duplicate keys would silently hide an operation: refuse them.
    class Loader(yaml.SafeLoader):
        pass

    def mapping(loader, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if key in seen:
                problem(f"{path}: duplicate key {key!r} at line {key_node.start_mark.line + 1}")
            seen.add(key)
        return loader.construct_mapping(node, deep=deep)

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=Loader)


# ---- routes.c ----

def expand(expr, macros, bits, what, depth=0):
    out = set()
    for tok in (t.strip() for t in expr.strip().strip("()").split("|")):
        if tok in bits:
            out |= bits[tok]
        elif tok in macros and depth < 8:
            out |= expand(macros[tok], macros, bits, what, depth + 1)
        else:
            problem(f"routes.c: cannot read {what} {tok!r}")
    return out


def read_routes(path):
    text = pathlib.Path(path).read_text(encoding="utf-8")
    macros = dict(re.findall(r"^#define\s+(\w+)\s+(.+?)\s*$", text, re.M))
    body = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    table = body[body.find("svc_routes[]"):]
    row = re.compile(r'\{\s*"([A-Z]+)"\s*,\s*"([^"]+)"\s*,\s*(\w+)\s*,\s*([^,{}]+?)\s*,'
                     r'\s*([^,{}]+?)\s*,\s*([^,{}]+?)\s*\}', re.S)
    routes = []
    for m in row.finditer(table):
        method, pattern, handler, roles, flags, _limit = m.groups()
        routes.append({"method": method, "path": pattern, "handler": handler,
                       "roles": expand(roles, macros, ROLE_BITS, "role"),
                       "flags": expand(flags, macros, FLAG_BITS, "flag")})
    rows = len(re.findall(r'^\s*\{\s*"[A-Z]+"', table, re.M))
    if rows != len(routes) or not routes:
        problem(f"routes.c: read {len(routes)} routes but the table has {rows} rows")
    return routes


def norm(path):
    return re.sub(r"\{[^}/]*\}", "{}", path)


# ---- the spec ----

def pointer_get(doc, ref):
    if not ref.startswith("#/"):
        return None
    node = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def resolve(doc, node, seen=None):
    """Follow $ref chains of non-schema objects (responses, parameters, examples)."""
    seen = seen or set()
    while isinstance(node, dict) and "$ref" in node and len(node) == 1:
        ref = node["$ref"]
        if ref in seen:
            return None
        seen.add(ref)
        node = pointer_get(doc, ref)
    return node


def walk(node, ptr=""):
    yield ptr, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk(v, f"{ptr}/{str(k).replace('~', '~0').replace('/', '~1')}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, f"{ptr}/{i}")


def check_refs(spec):
    used = set()
    for ptr, node in walk(spec):
        if isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            if pointer_get(spec, ref) is None:
                problem(f"{ptr}: $ref {ref} does not resolve")
            used.add(ref)
            # A reference into a component counts as using that component.
            m = re.match(r"#/components/(\w+)/([^/]+)", ref)
            if m:
                used.add(f"#/components/{m.group(1)}/{m.group(2)}")
    for kind, items in (spec.get("components") or {}).items():
        if kind == "securitySchemes":
            continue
        for name in items or {}:
            if f"#/components/{kind}/{name}" not in used:
                problem(f"components/{kind}/{name} is never used")


def check_problem_response(spec, where, resp):
    resp = resolve(spec, resp)
    if not isinstance(resp, dict) or not isinstance(resp.get("description"), str):
        problem(f"{where}: a response needs a description")
        return
    media = (resp.get("content") or {}).get("application/problem+json")
    if not media or media.get("schema") != {"$ref": "#/components/schemas/Problem"}:
        problem(f"{where}: an error response must be application/problem+json with the Problem schema")


def closed(spec, schema, depth=0):
    """Does a request schema refuse unknown fields?"""
    while isinstance(schema, dict) and "$ref" in schema and depth < 16:
        target = pointer_get(spec, schema["$ref"])
        if schema.get("additionalProperties") is False or schema.get("unevaluatedProperties") is False:
            return True
        schema, depth = target, depth + 1
    if not isinstance(schema, dict):
        return False
    if schema.get("x-external-format") is True:
        return True
    return schema.get("additionalProperties") is False or schema.get("unevaluatedProperties") is False


def check_shape(spec, routes):
    if not re.fullmatch(r"3\.1\.\d+", str(spec.get("openapi", ""))):
        problem("openapi must be 3.1.x")
    info = spec.get("info") or {}
    if not isinstance(info.get("title"), str) or not isinstance(info.get("version"), str):
        problem("info needs a title and a version (strings)")
    schemes = (spec.get("components") or {}).get("securitySchemes") or {}
    bearer = schemes.get("bearerAuth") or {}
    if bearer.get("type") != "http" or bearer.get("scheme") != "bearer":
        problem("components/securitySchemes/bearerAuth must be an http bearer scheme")
    if spec.get("security") != [{"bearerAuth": []}]:
        problem("the top-level security must be [{bearerAuth: []}]")
    tags = {t.get("name") for t in spec.get("tags") or []}
    used_tags = set()
    op_ids = {}
    by_route = {(r["method"], norm(r["path"])): r for r in routes}
    if len(by_route) != len(routes):
        problem("routes.c lists a method and path twice")
    seen_ops = set()
    paths = spec.get("paths") or {}
    if not paths:
        problem("the spec has no paths")
    for path, item in paths.items():
        if not path.startswith("/"):
            problem(f"path {path!r} must start with /")
        item = item or {}
        names = re.findall(r"\{([^}/]+)\}", path)
        if len(set(names)) != len(names):
            problem(f"{path}: a path parameter name is used twice")
        path_params = [resolve(spec, p) for p in item.get("parameters") or []]
        for method in item:
            if method == "parameters":
                continue
            if method not in METHODS:
                problem(f"{path}: unexpected key {method!r}")
                continue
            op = item[method] or {}
            where = f"{method.upper()} {path}"
            key = (method.upper(), norm(path))
            if key in seen_ops:
                problem(f"{where}: the same method and path are described twice")
            seen_ops.add(key)
            oid = op.get("operationId")
            if not isinstance(oid, str) or not oid:
                problem(f"{where}: operationId missing")
            elif oid in op_ids:
                problem(f"{where}: operationId {oid} also used by {op_ids[oid]}")
            else:
                op_ids[oid] = where
            if not isinstance(op.get("summary"), str) or not op["summary"].strip():
                problem(f"{where}: summary missing")
            if not op.get("tags"):
                problem(f"{where}: no tags")
            for t in op.get("tags") or []:
                used_tags.add(t)
                if t not in tags:
                    problem(f"{where}: tag {t!r} is not declared")
            params = path_params + [resolve(spec, p) for p in op.get("parameters") or []]
            declared = [p.get("name") for p in params if isinstance(p, dict) and p.get("in") == "path"]
            for p in params:
                if not isinstance(p, dict) or "name" not in p or "in" not in p:
                    problem(f"{where}: a parameter lacks name or in")
                elif p["in"] == "path" and p.get("required") is not True:
                    problem(f"{where}: path parameter {p['name']} must be required")
                elif "schema" not in p:
                    problem(f"{where}: parameter {p['name']} has no schema")
            if sorted(declared) != sorted(names):
                problem(f"{where}: path parameters {sorted(declared)} do not match the template {names}")
            responses = op.get("responses") or {}
            if not responses:
                problem(f"{where}: no responses")
            if not any(re.fullmatch(r"2\d\d", str(k)) for k in responses):
                problem(f"{where}: no success (2xx) response")
            for code, resp in responses.items():
                if not isinstance(code, str) or not re.fullmatch(r"[1-5]\d\d|default", code):
                    problem(f"{where}: response key {code!r} must be a quoted status code or default")
                    continue
                r = resolve(spec, resp)
                if not isinstance(r, dict) or not isinstance(r.get("description"), str):
                    problem(f"{where} {code}: response needs a description")
                if code == "default" or code[0] in "45":
                    check_problem_response(spec, f"{where} {code}", resp)
            if "default" not in responses:
                problem(f"{where}: no default (500/503) response")
            body = op.get("requestBody")
            if body is not None:
                body = resolve(spec, body)
                content = (body or {}).get("content") or {}
                if not content:
                    problem(f"{where}: requestBody without content")
                for mt, media in content.items():
                    if "json" in mt and not closed(spec, (media or {}).get("schema")):
                        problem(f"{where}: the {mt} request schema must refuse unknown fields "
                                "(additionalProperties or unevaluatedProperties false)")

            # Against the route table.
            route = by_route.get(key)
            if route is None:
                problem(f"{where}: no such route in service/routes.c")
                continue
            roles = op.get("x-roles")
            if not isinstance(roles, list) or set(roles) != route["roles"]:
                problem(f"{where}: x-roles {roles} but routes.c admits {sorted(route['roles'])}")
            public = not route["roles"]
            if public and op.get("security") != []:
                problem(f"{where}: a public route must say security: []")
            if not public and op.get("security") == []:
                problem(f"{where}: a route that needs a role must not say security: []")
            if "body" in route["flags"] and (body is None or body.get("required") is not True):
                problem(f"{where}: routes.c requires a body; the requestBody must be required")
            idem = any(isinstance(p, dict) and p.get("in") == "header" and
                       str(p.get("name", "")).lower() == "idempotency-key" for p in params)
            if idem != ("idempotent" in route["flags"]):
                problem(f"{where}: Idempotency-Key {'declared' if idem else 'missing'} but routes.c "
                        f"{'does not honour' if idem else 'honours'} it")
    for key, r in sorted(by_route.items()):
        if key not in seen_ops:
            problem(f"route {r['method']} {r['path']} ({r['handler']}) is not in the spec")
    for t in tags - used_tags:
        problem(f"tag {t!r} is declared but no operation uses it")
    return len(seen_ops)


# ---- examples ----

def make_validator(spec):
    try:
        import jsonschema
    except ImportError:
        sys.exit("openapi check: python3-jsonschema is not installed (apt-get install python3-jsonschema)")
    cls = jsonschema.Draft202012Validator
    try:
        from referencing import Registry
        from referencing.jsonschema import DRAFT202012
        registry = Registry().with_resource(BASE_URI, DRAFT202012.create_resource(spec))

        def validator(ptr):
            return cls({"$ref": f"{BASE_URI}#{ptr}"}, registry=registry)
    except ImportError:  # jsonschema before 4.18 (Debian 12 ships 4.10)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            resolver = jsonschema.RefResolver(base_uri=BASE_URI, referrer=spec,
                                              store={BASE_URI: spec})

        def validator(ptr):
            return cls({"$ref": f"{BASE_URI}#{ptr}"}, resolver=resolver)
    return validator


def check_examples(spec):
    validator = make_validator(spec)
    count = 0

    def check(schema_ptr, value, where):
        nonlocal count
        count += 1
        try:
            errs = sorted(validator(schema_ptr).iter_errors(value),
                          key=lambda e: [str(p) for p in e.absolute_path])
        except Exception as e:  # an unresolvable $ref: reported by check_refs too
            problem(f"{where}: cannot validate the example: {e}")
            return
        for e in errs[:5]:
            at = "/".join(str(p) for p in e.absolute_path) or "(root)"
            problem(f"{where}: example invalid at {at}: {e.message[:300]}")

    for ptr, node in walk(spec):
        if not isinstance(node, dict) or "schema" not in node:
            continue
        # Media types and parameters: example / examples next to a schema.
        if "example" in node:
            check(ptr + "/schema", node["example"], ptr)
        for name, ex in (node.get("examples") or {}).items() if isinstance(node.get("examples"), dict) else []:
            ex = resolve(spec, ex)
            if not isinstance(ex, dict) or "value" not in ex:
                problem(f"{ptr}/examples/{name}: an example needs a value")
                continue
            check(ptr + "/schema", ex["value"], f"{ptr}/examples/{name}")
    # Examples inside schemas.
    for name, schema in ((spec.get("components") or {}).get("schemas") or {}).items():
        for sptr, node in walk(schema, f"/components/schemas/{name}"):
            if isinstance(node, dict) and isinstance(node.get("examples"), list) and "value" not in node:
                for i, value in enumerate(node["examples"]):
                    check(sptr, value, f"{sptr}/examples/{i}")
    return count


def main():
    spec_path = ROOT / "docs" / "openapi.yaml"
    routes_path = ROOT / "service" / "routes.c"
    args = sys.argv[1:]
    if len(args) == 2:
        spec_path, routes_path = pathlib.Path(args[0]), pathlib.Path(args[1])
    elif args:
        sys.exit("usage: check.py [SPEC ROUTES_C]")
    for p in (spec_path, routes_path):
        if not p.is_file():
            sys.exit(f"openapi check: {p} is missing")
    spec = load_yaml(spec_path)
    if not isinstance(spec, dict):
        sys.exit(f"openapi check: {spec_path} is not a YAML mapping")
    # The spec must also be plain JSON data (no YAML dates or other types).
    try:
        json.dumps(spec)
    except TypeError as e:
        problem(f"the spec holds a value JSON cannot represent (quote dates): {e}")
    routes = read_routes(routes_path)
    ops = check_shape(spec, routes)
    check_refs(spec)
    examples = check_examples(spec)
    if problems:
        for p in problems:
            print(f"FAIL {p}")
        print(f"openapi: {len(problems)} problem(s)")
        return 1
    print(f"openapi: {ops} operations match the {len(routes)} routes of service/routes.c; "
          f"{examples} examples validate")
    return 0


if __name__ == "__main__":
    sys.exit(main())
