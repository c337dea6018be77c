"""Writes ModelProto messages in which every field of every ONNX message is set.

Used by schema_fields.rs: if our Rust structs miss a field or get a tag or type wrong, the onnx
package sees a different message after our re-encoding. Each variant picks a different member of
every oneof, so all members are covered across the variants.

usage: kitchen_sink.py OUT_DIR VARIANTS DEPTH
"""

import os
import sys

from google.protobuf.descriptor import FieldDescriptor as F
from onnx import ModelProto


def scalar(field, k):
    t = field.type
    if t in (F.TYPE_INT64, F.TYPE_SINT64, F.TYPE_SFIXED64):
        return -(2**40) - k  # negative: ten-byte varints
    if t in (F.TYPE_INT32, F.TYPE_SINT32, F.TYPE_SFIXED32):
        return -7 - k
    if t in (F.TYPE_UINT64, F.TYPE_FIXED64):
        return 2**63 + k
    if t in (F.TYPE_UINT32, F.TYPE_FIXED32):
        return 2**31 + k
    if t == F.TYPE_FLOAT:
        return 1.5 + k
    if t == F.TYPE_DOUBLE:
        return -2.25 - k
    if t == F.TYPE_BOOL:
        return True
    if t == F.TYPE_STRING:
        return f"{field.name}-{k}"
    if t == F.TYPE_BYTES:
        return bytes([0, 255, k % 256])
    if t == F.TYPE_ENUM:
        values = field.enum_type.values
        return values[(k + 1) % len(values)].number
    raise ValueError(f"unhandled field type {t} for {field.full_name}")


def is_repeated(field):
    # `label` is deprecated in recent protobuf releases in favour of `is_repeated`.
    flag = getattr(field, "is_repeated", None)
    return flag if isinstance(flag, bool) else field.label == F.LABEL_REPEATED


COVERED = set()


def fill(msg, depth, pick):
    desc = msg.DESCRIPTOR
    chosen = {o.name: o.fields[pick % len(o.fields)].name for o in desc.oneofs}
    for field in desc.fields:
        oneof = field.containing_oneof
        if oneof is not None and chosen[oneof.name] != field.name:
            continue
        if field.message_type is not None:
            if depth <= 0:
                continue
        COVERED.add(field.full_name)
        if field.message_type is not None:
            if is_repeated(field):
                for i in range(2):
                    fill(getattr(msg, field.name).add(), depth - 1, pick + i)
            else:
                sub = getattr(msg, field.name)
                sub.SetInParent()
                fill(sub, depth - 1, pick)
        elif is_repeated(field):
            # Three values: packed and unpacked encodings of them differ in length.
            getattr(msg, field.name).extend([scalar(field, pick + i) for i in range(3)])
        else:
            setattr(msg, field.name, scalar(field, pick))


def all_fields(desc, seen):
    if desc.full_name in seen:
        return
    seen.add(desc.full_name)
    for field in desc.fields:
        yield field.full_name
        if field.message_type is not None:
            yield from all_fields(field.message_type, seen)


def main():
    out, variants, depth = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    for pick in range(variants):
        model = ModelProto()
        fill(model, depth, pick)
        with open(os.path.join(out, f"sink_{pick}.onnx"), "wb") as f:
            f.write(model.SerializeToString())
    # Fail loudly if the depth or variant count is too small to reach every field.
    missing = sorted(set(all_fields(ModelProto.DESCRIPTOR, set())) - COVERED)
    if missing:
        sys.exit(f"fields never set: {missing}")
    print(len(COVERED))


main()
