"""What fetch.py and reference.py share: where the manifest and the cache are, and the manifest's
entries, all or the ones named with --only."""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST = os.path.join(HERE, "manifest.json")


def default_dir():
    return os.environ.get("ONYX_CORPUS_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "onyx", "corpus")


def load(manifest, only, tool):
    """The entries of `manifest`; with `only`, those named, a name it lacks ending `tool` with a message."""
    with open(manifest) as f:
        entries = json.load(f)
    if only:
        unknown = set(only) - {e["name"] for e in entries}
        if unknown:
            sys.exit(f"{tool}: unknown entries: {', '.join(sorted(unknown))}")
        entries = [e for e in entries if e["name"] in only]
    return entries
