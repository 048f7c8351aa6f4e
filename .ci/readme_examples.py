"""Writes the example crates of README.md into a folder, so CI builds them.

Every fenced ```toml or ```rust block whose first line is a comment naming a
path (`# my-sink/Cargo.toml`, `// my-sink/src/lib.rs …`) becomes that file.
`../ixn/` in a Cargo.toml (the README's name for this repository) becomes
the repository's real path, and every crate gets an empty [workspace] so
that cargo does not take it for a member of the repository's workspace.
Prints the crate folders it wrote.
"""
import pathlib
import re
import sys

readme, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
repo = readme.resolve().parent
blocks = re.findall(r"^```(toml|rust)\n(.*?)^```$", readme.read_text(), re.S | re.M)
crates = set()
for lang, body in blocks:
    first = body.split("\n", 1)[0]
    m = re.match(r"^(?:#|//)\s*([\w.-]+/[\w./-]+\.(?:toml|rs))\b", first)
    if not m:
        continue
    path = out / m.group(1)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name == "Cargo.toml":
        body = body.replace("../ixn/", f"{repo}/") + "\n[workspace]\n"
    path.write_text(body)
    crates.add(m.group(1).split("/")[0])
for crate in sorted(crates):
    print(out / crate)
