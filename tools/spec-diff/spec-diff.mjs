#!/usr/bin/env node
// `make spec-diff`: the breaking changes between spec/openapi.yaml at a git ref (main by default) and the
// working copy. Fails (exit 1) when there are any and info.version was not bumped accordingly; exit 2 is a
// usage error (unknown ref, unreadable spec).
//
//   node tools/spec-diff/spec-diff.mjs [--base REF | --base-file FILE] [--head-file FILE]
//
// Who decides what is breaking: openapi-diff (Atlassian), which compares request and response bodies as JSON
// Schema value sets: a removed path or operation, a request body that accepts less (a field newly required,
// retyped or narrowed) and a response body that can return more (a field removed, retyped or made nullable)
// are breaking. It reads OpenAPI 3.0 only, so both specs go through openapi-down-convert (3.1 -> 3.0) first.
// This script adds only what those two leave out, each marked "Extra rule" below:
//   - `null`: 3.0's `nullable` is unknown to JSON Schema, so openapi-diff would not see a field become
//     nullable. Null is spelled as a plain JSON Schema (`not` any other type) instead.
//   - parameters: openapi-diff does not look at them. A parameter that is new and required, newly required,
//     or whose schema accepts less (compared by json-schema-diff, the library openapi-diff uses) is breaking.
//   - a request body that was optional and is now required is breaking.
// Not seen (the libraries ignore these keywords): narrowed `enum`, `const`, `pattern` and `format`.
// Response schemas here leave additionalProperties open; one that sets it to false makes any added field
// breaking, as JSON Schema says it is.
//
// Version rule ("bumped accordingly", semver): breaking changes pass when the working copy's info.version has
// a new major version, or, while the major version is 0, a new minor version (semver's 0.x convention:
// 0.1.0 -> 0.2.0). Non-breaking changes always pass.

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

import $RefParser from "@apidevtools/json-schema-ref-parser";
import { Converter } from "@apiture/openapi-down-convert";
import yaml from "js-yaml";
import jsonSchemaDiff from "json-schema-diff";
import openApiDiff from "openapi-diff";

const SPEC = "spec/openapi.yaml";
const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

function fail(message) {
  console.error(`spec-diff: ${message}`);
  process.exit(2);
}

function parseArgs(argv) {
  const args = { base: "main", baseFile: null, headFile: SPEC };
  const names = { "--base": "base", "--base-file": "baseFile", "--head-file": "headFile" };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (!names[flag]) fail(`unknown option ${flag} (use --base REF, --base-file FILE, --head-file FILE)`);
    if (value === undefined) fail(`${flag} needs a value`);
    args[names[flag]] = value;
  }
  return args;
}

function read(file) {
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    fail(`cannot read ${file}: ${error.code ?? error.message}`);
  }
}

function git(...args) {
  return execFileSync("git", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

// The base spec's text, or null when the ref exists but has no spec yet (nothing to break).
function baseText(args) {
  if (args.baseFile) return read(args.baseFile);
  try {
    git("rev-parse", "--verify", "--quiet", `${args.base}^{commit}`);
  } catch {
    fail(`git ref '${args.base}' not found; name an existing one: make spec-diff BASE=<ref>`);
  }
  try {
    git("cat-file", "-e", `${args.base}:${SPEC}`);
  } catch {
    return null;
  }
  return git("show", `${args.base}:${SPEC}`);
}

// Extra rule (null): `{not: <every other type>}` is exactly JSON's null, in a form OpenAPI 3.0 accepts.
const NULL = { not: { anyOf: ["boolean", "object", "array", "number", "string"].map((type) => ({ type })) } };

function spellNull(node) {
  if (Array.isArray(node)) return node.map(spellNull);
  if (node === null || typeof node !== "object") return node;
  const out = Object.fromEntries(Object.entries(node).map(([key, value]) => [key, spellNull(value)]));
  if (out.type === "null") {
    // openapi-down-convert leaves `{type: 'null'}` (e.g. in `oneOf: [$ref, {type: 'null'}]`) as it is.
    delete out.type;
    return { ...out, ...NULL };
  }
  if (out.nullable === true) {
    delete out.nullable;
    return { anyOf: [out, NULL] };
  }
  return out;
}

// The `$ref`s a dereference that ignores cycles leaves (every reference to a schema on a cycle, such as a
// tree node whose `children` are nodes), unrolled once: the schema is inlined where it is first referenced,
// and a reference back to a schema being inlined becomes `{"x-cycle": "<ref>"}` (openapi-diff would try to
// inline it again, and fail). A change to the node is then seen where it is inlined.
function unrollCycles(node, root, inlining = []) {
  if (Array.isArray(node)) return node.map((value) => unrollCycles(value, root, inlining));
  if (!node || typeof node !== "object") return node;
  if (typeof node.$ref === "string") {
    if (inlining.includes(node.$ref)) return { "x-cycle": node.$ref };
    const target = node.$ref
      .slice(2)
      .split("/")
      .reduce((at, part) => at[part.replaceAll("~1", "/").replaceAll("~0", "~")], root);
    return unrollCycles(target, root, [...inlining, node.$ref]);
  }
  return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, unrollCycles(value, root, inlining)]));
}

// The operations of a spec by "METHOD /path", dereferenced (self-contained, so equal JSON means no change)
// and with the path item's parameters merged in; also info.version.
async function load(text, label) {
  let spec;
  try {
    spec = yaml.load(text);
    const v30 = new Converter(spec).convert();
    const inlined = await $RefParser.dereference(v30, { dereference: { circular: "ignore" } });
    inlined.paths = unrollCycles(inlined.paths ?? {}, inlined);
    spec = { version: String(spec.info?.version ?? ""), v30: inlined };
  } catch (error) {
    fail(`cannot read the ${label} spec: ${error.message.split("\n")[0]}`);
  }
  const operations = new Map();
  for (const [path, item] of Object.entries(spec.v30.paths ?? {})) {
    for (const method of METHODS.filter((m) => item[m])) {
      const parameters = new Map();
      for (const p of [...(item.parameters ?? []), ...(item[method].parameters ?? [])]) {
        parameters.set(`${p.in} parameter '${p.name}'`, p);
      }
      operations.set(`${method.toUpperCase()} ${path}`, { path, method, op: item[method], parameters });
    }
  }
  return { version: spec.version, operations };
}

// Path-level parameters live in `parameters` only, so both are compared.
const same = (a, b) =>
  JSON.stringify([a.op, [...a.parameters]]) === JSON.stringify([b.op, [...b.parameters]]);

// The operations openapi-diff needs to see: removed ones (base only) and changed ones (both sides). Equal
// ones are left out: it validates every schema anew, about 8 s for the whole spec, well under one for a few.
function changedOperations(base, head) {
  const removed = [...base.keys()].filter((key) => !head.has(key));
  const changed = [...base.keys()].filter((key) => head.has(key) && !same(base.get(key), head.get(key)));
  const document = (operations, keys) => {
    const paths = {};
    for (const key of keys.filter((k) => operations.has(k))) {
      const { path, method, op } = operations.get(key);
      // openapi-diff ignores parameters (extraRules checks them); without them the document stays small.
      const { parameters, ...rest } = op;
      paths[path] = { ...paths[path], [method]: spellNull(rest) };
    }
    return JSON.stringify({ openapi: "3.0.3", info: { title: "spec-diff", version: "0" }, paths });
  };
  return {
    changed,
    sourceSpec: { content: document(base, [...removed, ...changed]), location: "base", format: "openapi3" },
    destinationSpec: { content: document(head, changed), location: "head", format: "openapi3" },
  };
}

// For the report only (openapi-diff has decided already): the fields of a body schema by path
// (`data[].email`), with their types and whether they are always there, so a finding can name its fields.
function fields(schema, prefix = "", out = new Map(), required = true, depth = 0) {
  if (!schema || typeof schema !== "object" || depth > 40) return out;
  if (prefix) {
    const field = out.get(prefix) ?? { types: new Set(), required: false };
    if (schema.type) field.types.add(schema.type);
    if (schema.nullable) field.types.add("null");
    field.required ||= required;
    out.set(prefix, field);
  }
  for (const sub of [...(schema.allOf ?? []), ...(schema.anyOf ?? []), ...(schema.oneOf ?? [])]) {
    fields(sub, prefix, out, required, depth + 1);
  }
  for (const [name, sub] of Object.entries(schema.properties ?? {})) {
    const path = prefix ? `${prefix}.${name}` : name;
    fields(sub, path, out, required && (schema.required ?? []).includes(name), depth + 1);
  }
  if (schema.items) fields(schema.items, `${prefix}[]`, out, required, depth + 1);
  return out;
}

const typeNames = (field) => [...field.types].sort().join("|") || "any";
const retyped = (name, from, to) => `field '${name}' retyped ${typeNames(from)} -> ${typeNames(to)}`;

function fieldHints(before, after, isRequest) {
  const [old, now] = [fields(before), fields(after)];
  const hints = [];
  if (isRequest) {
    // What a client sends today and may now be refused for.
    for (const [name, field] of now) {
      const was = old.get(name);
      if (was && typeNames(was) !== typeNames(field)) hints.push(retyped(name, was, field));
      else if (field.required && !was) hints.push(`new required field '${name}'`);
      else if (field.required && !was.required) hints.push(`field '${name}' now required`);
    }
  } else {
    // What a client reads today and may now miss or find of another type.
    for (const [name, field] of old) {
      const is = now.get(name);
      if (!is) hints.push(`field '${name}' removed`);
      else if (typeNames(field) !== typeNames(is)) hints.push(retyped(name, field, is));
      else if (field.required && !is.required) hints.push(`field '${name}' no longer always present`);
    }
  }
  return hints;
}

// "paths./api/users.get.responses.200.content.application/json.schema" -> "GET /api/users" and the rest.
function splitLocation(location) {
  const match = /^paths\.(\/.*?)\.(get|put|post|delete|options|head|patch|trace)(?:\.(.*))?$/.exec(location);
  if (!match) return { key: location, rest: "" };
  return { key: `${match[2].toUpperCase()} ${match[1]}`, rest: match[3] ?? "" };
}

// One openapi-diff finding as [operation, what changed] lines.
function describe(difference, base, head) {
  const details = difference.sourceSpecEntityDetails[0] ?? difference.destinationSpecEntityDetails[0];
  if (difference.code === "path.remove") {
    const path = details.location.replace(/^paths\./, "");
    // Only the removed operations of the path: unchanged ones were left out of openapi-diff's view.
    const gone = (key) => key.endsWith(` ${path}`) && !head.operations.has(key);
    const removed = [...base.operations.keys()].filter(gone);
    return removed.map((key) => [key, "operation removed"]);
  }
  const { key, rest } = splitLocation(details.location);
  if (difference.code === "method.remove") return [[key, "operation removed"]];
  if (difference.code === "response.status-code.remove") {
    return [[key, `${rest.replace(/^responses\./, "response ")} removed`]];
  }
  const body = /^(?:requestBody|responses\.(\w+))\.content\.(.+)\.schema$/.exec(rest);
  if (!body) return [[key, `${rest}: ${difference.code}`]];
  const [, status, mediaType] = body;
  const isRequest = status === undefined;
  const schemaIn = (side) => {
    const op = side.operations.get(key)?.op;
    return (isRequest ? op?.requestBody : op?.responses?.[status])?.content?.[mediaType]?.schema;
  };
  const hints = fieldHints(schemaIn(base), schemaIn(head), isRequest);
  const where = isRequest ? `request body (${mediaType})` : `response ${status} (${mediaType})`;
  const what = isRequest ? "accepts less than before" : "may return what it did not before";
  return [[key, `${where}: ${hints.length ? hints.join("; ") : what}`]];
}

// Extra rules (parameters, required request body) for an operation in both specs.
async function extraRules(key, before, after) {
  const found = [];
  for (const [name, p] of after.parameters) {
    const old = before.parameters.get(name);
    if (!old) {
      if (p.required) found.push([key, `new required ${name}`]);
    } else if (p.required && !old.required) {
      found.push([key, `${name} now required`]);
    } else {
      const sourceSchema = spellNull(old.schema ?? {});
      const destinationSchema = spellNull(p.schema ?? {});
      const { removalsFound } = await jsonSchemaDiff.diffSchemas({ sourceSchema, destinationSchema });
      if (removalsFound) found.push([key, `${name} accepts less than before (retyped or narrowed)`]);
    }
  }
  if (after.op.requestBody?.required && before.op.requestBody && !before.op.requestBody.required) {
    found.push([key, "request body now required"]);
  }
  return found;
}

function semver(version) {
  const match = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  return match ? { major: Number(match[1]), minor: Number(match[2]) } : null;
}

// See the version rule at the top.
function bumpedAccordingly(from, to) {
  const [a, b] = [semver(from), semver(to)];
  if (!a || !b) return false;
  return b.major > a.major || (a.major === 0 && b.major === 0 && b.minor > a.minor);
}

function neededVersion(from) {
  const a = semver(from);
  if (!a) return "a new major version";
  return a.major === 0 ? `${a.major}.${a.minor + 1}.0` : `${a.major + 1}.0.0`;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const against = args.baseFile ?? args.base;
  const [before, after] = [baseText(args), read(args.headFile)];
  if (before === null) {
    console.log(`spec-diff: ${against} has no ${SPEC}; nothing to compare`);
    return 0;
  }
  if (before === after) {
    console.log(`spec-diff: ${args.headFile} is the same as on ${against}; no changes`);
    return 0;
  }
  const [base, head] = [await load(before, against), await load(after, args.headFile)];
  const { changed, ...specs } = changedOperations(base.operations, head.operations);
  let result;
  try {
    result = await openApiDiff.diffSpecs(specs);
  } catch (error) {
    fail(`openapi-diff failed: ${String(error.message ?? error).split("\n")[0]}`);
  }
  const breaking = (result.breakingDifferences ?? []).flatMap((d) => describe(d, base, head));
  for (const key of changed) {
    breaking.push(...(await extraRules(key, base.operations.get(key), head.operations.get(key))));
  }

  const versions = `info.version ${base.version} -> ${head.version}`;
  if (breaking.length === 0) {
    const added = [...head.operations.keys()].filter((key) => !base.operations.has(key)).length;
    const other = `${added} operation(s) added, ${changed.length} changed`;
    console.log(`spec-diff: no breaking changes against ${against} (${other}; ${versions})`);
    return 0;
  }
  const lines = [...new Set(breaking.map(([key, what]) => `  - ${key}: ${what}`))].sort();
  const ok = bumpedAccordingly(base.version, head.version);
  const verdict = ok ? "allowed by the version bump" : "not allowed without a version bump";
  console.log(`spec-diff: ${lines.length} breaking change(s) against ${against}, ${verdict} (${versions}):`);
  console.log(lines.join("\n"));
  if (ok) return 0;
  console.log(
    `To make this pass: set info.version in ${SPEC} to ${neededVersion(base.version)} or later ` +
      "(a new major version; a new minor one while the major is 0), or undo the breaking change.",
  );
  return 1;
}

process.exitCode = await main();
