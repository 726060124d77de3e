#!/usr/bin/env python3
"""Copies the web demo's sample photos from Debian's python3-skimage package into DEST
(default: web-demo/samples), with a manifest the page reads and a LICENSE that records where each
photo comes from and under which terms. The photos are never committed: this runs at set-up time.

Each photo's terms are read from scikit-image's own data docstrings (skimage/data/_fetchers.py, parsed,
not imported) and the package's Debian copyright file; a photo whose terms cannot be found there is
not copied, so the LICENSE never claims something the package does not say.

usage: copy_sample_images.py [DEST]
"""
import ast
import hashlib
import json
import os
import re
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DEST = os.path.join(HERE, "..", "web-demo", "samples")
SKIMAGE = os.environ.get("SKIMAGE_DIR", "/usr/lib/python3/dist-packages/skimage")
DEBIAN_COPYRIGHT = "/usr/share/doc/python3-skimage/copyright"

# (loader function in skimage.data, file, what the photo shows: the label a good model picks)
SAMPLES = [
    ("chelsea", "chelsea.png", "cat"),
    ("coffee", "coffee.png", "cup of coffee"),
    ("astronaut", "astronaut.png", "astronaut"),
    ("rocket", "rocket.jpg", "rocket"),
]
TERMS = re.compile(r"copyright|public domain|CC0|licen[cs]e", re.IGNORECASE)


def docstrings(path):
    """Top-level function name -> docstring, without importing scikit-image."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    return {node.name: ast.get_docstring(node) or "" for node in tree.body if isinstance(node, ast.FunctionDef)}


def paragraphs(text):
    """Paragraphs on one line each, without numpydoc section rulers or reST link markup."""
    out = []
    for part in re.split(r"\n\s*\n", text):
        part = re.sub(r"^\s*\w+\n\s*-+\s*$", "", part, flags=re.MULTILINE)  # "Notes\n-----"
        part = re.sub(r"`([^`<]*?)\s*<([^>]+)>`_+", r"\1 <\2>", part)  # `text <url>`__
        part = re.sub(r">`_+", ">", part)  # a link whose opening quote was left out
        part = " ".join(part.split())
        if part:
            out.append(part)
    return out


def describe(doc):
    """(title, terms, source): the docstring's first line, the paragraphs that state terms, the
    paragraph that says where it was taken from (if any)."""
    parts = paragraphs(doc)
    title = parts[0] if parts else ""
    terms = [p for p in parts if TERMS.search(p) and not p.startswith("Returns")]
    sentences = [s for p in parts for s in re.split(r"(?<=\.)\s+(?=[A-Z])", p)]
    source = [s for s in sentences if re.search(r"downloaded from|courtesy of", s)]
    return title, terms, source


def package_license():
    """The Debian copyright file's 'Files: *' stanza (copyright and license of the package)."""
    with open(DEBIAN_COPYRIGHT, encoding="utf-8") as f:
        text = f.read()
    match = re.search(r"^Files: \*\n((?:[A-Z][^\n]*\n(?: [^\n]*\n)*)+)", text, re.MULTILINE)
    if not match:
        sys.exit(f"copy_sample_images: no 'Files: *' stanza in {DEBIAN_COPYRIGHT}")
    return match.group(1).strip()


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    if len(sys.argv) > 2:
        sys.exit(__doc__)
    dest = os.path.abspath(sys.argv[1] if len(sys.argv) == 2 else DEFAULT_DEST)
    data = os.path.join(SKIMAGE, "data")
    fetchers = os.path.join(data, "_fetchers.py")
    for needed in (fetchers, DEBIAN_COPYRIGHT):
        if not os.path.exists(needed):
            sys.exit(f"copy_sample_images: {needed} is missing (Debian: apt-get install python3-skimage)")
    docs = docstrings(fetchers)
    os.makedirs(dest, exist_ok=True)

    manifest, notes = [], []
    for function, name, label in SAMPLES:
        source_file = os.path.join(data, name)
        if function not in docs or not os.path.exists(source_file):
            sys.exit(f"copy_sample_images: skimage.data.{function} / {source_file} not found")
        title, terms, source = describe(docs[function])
        if not terms:
            sys.exit(f"copy_sample_images: skimage.data.{function} states no terms; not copying {name}")
        target = os.path.join(dest, name)
        if not os.path.exists(target) or sha256(target) != sha256(source_file):
            shutil.copyfile(source_file, target)
        manifest.append({"file": name, "name": function, "label": label, "title": title.rstrip(".")})
        notes.append("\n".join([f"{name}: skimage.data.{function}() - {title}", *[f"  {t}" for t in terms],
                                *[f"  {s}" for s in source], f"  sha256 {sha256(target)}"]))

    with open(os.path.join(dest, "samples.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1)
    with open(os.path.join(dest, "LICENSE"), "w", encoding="utf-8") as f:
        f.write("Sample photos for the clip-wasm web demo, copied from Debian's python3-skimage package\n"
                f"({data}) by tools/copy_sample_images.py. Not part of clip-wasm's source.\n\n"
                "Terms of each photo, as scikit-image's data documentation states them:\n\n")
        f.write("\n\n".join(notes))
        f.write("\n\nThe scikit-image package as a whole (Debian copyright file):\n\n")
        f.write(package_license() + "\n")
    print(f"copied {len(manifest)} sample photos to {dest}")


if __name__ == "__main__":
    main()
