#!/usr/bin/env python3
"""Pulls every C code block out of README.md and docs/*.md so the test suite
can compile and run it.

Every ```c block must be introduced, on the line just before its fence, by

    <!-- sample: NAME harness=HARNESS -->

NAME is unique and becomes the ctest test docs_sample_NAME; HARNESS names
tests/docs/harness_HARNESS.c, which supplies what the fragment assumes and
checks what it did. A C block without a marker is an error, so no sample
escapes the build.

    extract_samples.py --root SRC --check     report problems, exit 1 if any
    extract_samples.py --root SRC --out DIR   write DIR/NAME.head.h (the
        block's leading #include lines), DIR/NAME.body.h (the rest, with
        #line pointing into the document) and DIR/samples.txt
        ("NAME HARNESS" per line); problems go to stderr and do not stop it,
        so one bad block cannot break the whole build (--check fails instead)

Python 3.11 standard library only.
"""

import argparse
import pathlib
import re
import sys

MARKER = re.compile(
    r"^\s*<!--\s*sample:\s*([A-Za-z][A-Za-z0-9_]*)\s+harness=([A-Za-z][A-Za-z0-9_]*)\s*-->\s*$")
ANY_MARKER = re.compile(r"<!--\s*sample:")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([^\s`]*)")
C_INFO = {"c", "h"}


class Block:
    def __init__(self, doc, line, info, indent, text):
        self.doc = doc          # path relative to the root, '/' separated
        self.line = line        # 1-based line of the first code line
        self.info = info
        self.indent = indent
        self.text = text        # list of code lines, dedented
        self.name = None
        self.harness = None


def documents(root):
    docs = []
    readme = root / "README.md"
    if readme.is_file():
        docs.append(readme)
    docs.extend(sorted((root / "docs").rglob("*.md")))
    return docs


def scan(root, path, problems):
    """The fenced blocks of one document, with the marker before each."""
    rel = path.relative_to(root).as_posix()
    lines = path.read_text(encoding="utf-8").split("\n")
    blocks = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            if ANY_MARKER.search(lines[i]):
                nxt = FENCE.match(lines[i + 1]) if i + 1 < len(lines) else None
                if not nxt or nxt.group(3).lower() not in C_INFO:
                    problems.append(f"{rel}:{i + 1}: sample marker not followed by a ```c block")
            i += 1
            continue
        indent, fence, info = len(m.group(1)), m.group(2), m.group(3).lower()
        start = i
        i += 1
        body = []
        while i < len(lines):
            close = re.match(r"^\s*" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}\s*$",
                             lines[i])
            if close:
                break
            body.append(lines[i][indent:] if lines[i][:indent].isspace() else lines[i].lstrip())
            i += 1
        if i == len(lines):
            problems.append(f"{rel}:{start + 1}: code block is never closed")
        i += 1
        if info not in C_INFO:
            continue
        block = Block(rel, start + 2, info, indent, body)
        prev = lines[start - 1] if start > 0 else ""
        mk = MARKER.match(prev)
        if mk:
            block.name, block.harness = mk.group(1), mk.group(2)
        elif ANY_MARKER.search(prev):
            problems.append(f"{rel}:{start}: malformed sample marker "
                            "(want <!-- sample: NAME harness=HARNESS -->)")
        else:
            problems.append(f"{rel}:{start + 1}: ```{info} block without a "
                            "<!-- sample: NAME harness=HARNESS --> line before it")
        blocks.append(block)
    return blocks


def collect(root):
    problems = []
    blocks = []
    for doc in documents(root):
        blocks.extend(scan(root, doc, problems))
    seen = {}
    harness_dir = root / "tests" / "docs"
    for b in blocks:
        if not b.name:
            continue
        if b.name in seen:
            problems.append(f"{b.doc}:{b.line - 1}: sample name {b.name} already used at {seen[b.name]}")
        seen.setdefault(b.name, f"{b.doc}:{b.line - 1}")
        if not (harness_dir / f"harness_{b.harness}.c").is_file():
            problems.append(f"{b.doc}:{b.line - 1}: no tests/docs/harness_{b.harness}.c")
    return blocks, problems


def split(block):
    """Leading #include lines (and blank lines or comments between them) go
    to the head, which a harness places at file scope; the rest is the
    body."""
    n = 0
    for idx, line in enumerate(block.text):
        s = line.strip()
        if s.startswith("#include"):
            n = idx + 1
        elif s and not s.startswith("/*") and not s.startswith("//"):
            break
    return block.text[:n], block.text[n:], block.line + n


def write_if_changed(path, text):
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return
    path.write_text(text, encoding="utf-8")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True, type=pathlib.Path)
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--check", action="store_true")
    group.add_argument("--out", type=pathlib.Path)
    args = ap.parse_args()
    root = args.root.resolve()
    blocks, problems = collect(root)

    if args.check:
        for p in problems:
            print(p, file=sys.stderr)
        marked = [b for b in blocks if b.name]
        print(f"{len(blocks)} C blocks, {len(marked)} marked, {len(problems)} problems")
        if not blocks:
            print("no C blocks found: wrong --root?", file=sys.stderr)
            return 1
        return 1 if problems else 0

    for p in problems:
        print(f"warning: {p}", file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = []
    done = set()
    harness_dir = root / "tests" / "docs"
    for b in blocks:
        # A block --check reports (duplicate name, missing harness) gets no
        # target: it would break the build for everyone, not just the test.
        if not b.name or b.name in done or not (harness_dir / f"harness_{b.harness}.c").is_file():
            continue
        done.add(b.name)
        head, body, body_line = split(b)
        src = (root / b.doc).as_posix()
        header = f"/* Generated from {b.doc}; edit the document, not this file. */\n"
        write_if_changed(args.out / f"{b.name}.head.h",
                         header + f'#line {b.line} "{src}"\n' + "\n".join(head) + "\n")
        write_if_changed(args.out / f"{b.name}.body.h",
                         header + f'#line {body_line} "{src}"\n' + "\n".join(body) + "\n")
        manifest.append(f"{b.name} {b.harness}")
    write_if_changed(args.out / "samples.txt", "".join(m + "\n" for m in manifest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
