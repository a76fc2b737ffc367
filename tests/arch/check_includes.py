#!/usr/bin/env python3
"""Fails when a source file includes across a forbidden edge between areas of the tree.

The rules are the tables under "Forbidden includes" and "Known exceptions" in
docs/architecture.md, so the map and the test cannot drift: one row per area,
    | `from/` | `target/`, `<header` ... | `allowed/` ... | why |
A file under `from/` may not include a header under any `target/` (a path prefix in the
repository) or a system header whose name starts with `<header`, unless the header is also under
one of the row's allowed prefixes or under `from/` itself. A known exception
    | `path/of/file.h` | `target/` | why |
allows one file one edge until the work that removes it lands; an exception that no longer
matches anything is reported (not failed), so that it gets deleted.

    check_includes.py [--root DIR] [--rules FILE]     exit 0 clean, 1 violations, 2 bad input
Prints one line per violation: "file:line: includes X (area): rule: from/ must not include target/ — why".
"""
import argparse
import os
import re
import sys

SOURCE_SUFFIXES = (".h", ".hpp", ".c", ".cc", ".cpp", ".cu", ".cuh", ".inc")
SKIP_DIRS = {".git", "__pycache__", ".gpukit"}
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
CELL_CODE = re.compile(r"`([^`]+)`")
# Where `#include "a/b.h"` and `<a/b.h>` are looked up, after the including file's folder: the
# include directories the CMake targets add.
INCLUDE_ROOTS = ["runtime", "runtime/include", "kernels", "plugins", "schedules", "", "tests"]


class Rule:
    def __init__(self, source, forbidden, allowed, why, line):
        self.source, self.forbidden, self.allowed, self.why, self.line = source, forbidden, allowed, why, line

    def describe(self):
        return f"{self.source} must not include {', '.join(self.forbidden)} — {self.why}"


def table_rows(lines, heading):
    """The cells of each body row of the first table after `heading`, with its line number."""
    rows, inside, seen_table = [], False, False
    for number, line in enumerate(lines, 1):
        if line.startswith("#"):
            if inside and seen_table:
                break
            inside = line.strip("# \n").lower() == heading.lower()
            continue
        if not inside:
            continue
        if line.startswith("|"):
            seen_table = True
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if cells and not set(cells[0]) <= set("-: "):
                rows.append((number, cells))
        elif seen_table and line.strip():
            break
    return rows[1:]  # the header row


def codes(cell):
    return CELL_CODE.findall(cell)


def read_rules(path):
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError as error:
        sys.exit(f"check_includes: cannot read the rules: {error}")
    rules = []
    for number, cells in table_rows(lines, "Forbidden includes"):
        if len(cells) < 4 or len(codes(cells[0])) != 1 or not codes(cells[1]):
            print(f"{path}:{number}: a rule row needs | `from/` | `target/`, ... | `allowed/`, ... | why |", file=sys.stderr)
            sys.exit(2)
        rules.append(Rule(codes(cells[0])[0], codes(cells[1]), codes(cells[2]), cells[3], number))
    exceptions = []
    for number, cells in table_rows(lines, "Known exceptions"):
        if len(cells) < 3 or len(codes(cells[0])) != 1 or len(codes(cells[1])) != 1:
            print(f"{path}:{number}: an exception row needs | `file` | `target/` | why |", file=sys.stderr)
            sys.exit(2)
        exceptions.append([codes(cells[0])[0], codes(cells[1])[0], number, 0])
    if not rules:
        print(f"{path}: no rows under a '## Forbidden includes' table", file=sys.stderr)
        sys.exit(2)
    return rules, exceptions


def resolve(root, source, quoted, name):
    """The included file as a repository path, or `<name>` for a header outside the tree."""
    folders = [os.path.dirname(source)] if quoted else []
    for folder in folders + INCLUDE_ROOTS:
        candidate = os.path.normpath(os.path.join(folder, name))
        if os.path.isfile(os.path.join(root, candidate)):
            return candidate
    return f"<{name}>"


def source_files(root):
    for folder, subfolders, files in os.walk(root):
        rel_folder = os.path.relpath(folder, root)
        subfolders[:] = sorted(d for d in subfolders
                               if d not in SKIP_DIRS and not d.startswith("build") and
                               not (rel_folder == "." and d == "data"))
        for name in sorted(files):
            if name.endswith(SOURCE_SUFFIXES):
                yield os.path.normpath(os.path.join(rel_folder, name))


def check(root, rules, exceptions):
    violations = []
    for source in source_files(root):
        applicable = [rule for rule in rules if source.startswith(rule.source)]
        if not applicable:
            continue
        with open(os.path.join(root, source), encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, 1):
                found = INCLUDE.match(line)
                if not found:
                    continue
                target = resolve(root, source, found.group(1) == '"', found.group(2))
                for rule in applicable:
                    if target.startswith(rule.source) or any(target.startswith(a) for a in rule.allowed):
                        continue
                    hit = next((f for f in rule.forbidden if target.startswith(f)), None)
                    if hit is None:
                        continue
                    excused = next((e for e in exceptions if e[0] == source and target.startswith(e[1])), None)
                    if excused:
                        excused[3] += 1
                        continue
                    violations.append(f"{source}:{number}: includes {found.group(2)} ({target}): "
                                      f"rule: {rule.source} must not include {hit} — {rule.why}")
    return violations


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=os.path.normpath(os.path.join(here, "..", "..")))
    parser.add_argument("--rules", help="the Markdown file with the tables (default ROOT/docs/architecture.md)")
    args = parser.parse_args()
    if not os.path.isdir(args.root):
        print(f"check_includes: --root {args.root}: not a folder", file=sys.stderr)
        return 2
    rules, exceptions = read_rules(args.rules or os.path.join(args.root, "docs", "architecture.md"))
    violations = check(args.root, rules, exceptions)
    for file, target, number, used in exceptions:
        if used == 0:
            print(f"note: known exception (rules line {number}) {file} -> {target} no longer occurs: delete its row")
    for violation in violations:
        print(violation)
    print(f"check_includes: {len(rules)} rules, {len(exceptions)} known exceptions: "
          f"{len(violations)} forbidden include{'s' if len(violations) != 1 else ''}")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
