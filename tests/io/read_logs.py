"""Reads our TensorBoard event files and VisualDL logs with third-party readers, for the tests.

usage: read_logs.py protobuf EVENT_FILE VDL_FILE   (google.protobuf with the schemas below)
       read_logs.py tensorboard RUN_DIR            (tensorboard's EventAccumulator)
       read_logs.py visualdl VDL_FILE              (visualdl's LogReader)
Prints one JSON object: {"tensorboard"|"visualdl": {tag: [[step, value], ...]}}.
"""
import json
import struct
import sys
from collections import defaultdict


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecords(path):
    with open(path, "rb") as f:
        raw = f.read()
    at = 0
    while at < len(raw):
        (n,) = struct.unpack_from("<Q", raw, at)
        assert struct.unpack_from("<I", raw, at + 8)[0] == masked(raw[at:at + 8]), "length crc"
        data = raw[at + 12:at + 12 + n]
        assert struct.unpack_from("<I", raw, at + 12 + n)[0] == masked(data), "data crc"
        yield data
        at += 16 + n


def vdl_records(path):
    with open(path, "rb") as f:
        raw = f.read()
    at = 0
    while at < len(raw):
        (n,) = struct.unpack_from("<Q", raw, at)
        yield raw[at + 8:at + 8 + n]
        at += 8 + n


def schemas():
    """tensorflow.Event / Summary and visualdl.Record, only the fields the logs use."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    pool = descriptor_pool.DescriptorPool()

    def add(package, messages):
        fdp = descriptor_pb2.FileDescriptorProto(name=package + ".proto", package=package,
                                                 syntax="proto3")
        for name, fields in messages:
            m = fdp.message_type.add(name=name)
            for fname, number, ftype, label, type_name in fields:
                fd = m.field.add(name=fname, number=number, type=ftype, label=label)
                if type_name:
                    fd.type_name = type_name
        pool.Add(fdp)

    opt, rep = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    add("tensorflow", [
        ("SummaryValue", [("tag", 1, F.TYPE_STRING, opt, None),
                          ("simple_value", 2, F.TYPE_FLOAT, opt, None)]),
        ("Summary", [("value", 1, F.TYPE_MESSAGE, rep, ".tensorflow.SummaryValue")]),
        ("Event", [("wall_time", 1, F.TYPE_DOUBLE, opt, None),
                   ("step", 2, F.TYPE_INT64, opt, None),
                   ("file_version", 3, F.TYPE_STRING, opt, None),
                   ("summary", 5, F.TYPE_MESSAGE, opt, ".tensorflow.Summary")]),
    ])
    add("visualdl", [
        ("MetaData", [("display_name", 1, F.TYPE_STRING, opt, None)]),
        ("Value", [("id", 1, F.TYPE_INT64, opt, None), ("tag", 2, F.TYPE_STRING, opt, None),
                   ("timestamp", 3, F.TYPE_INT64, opt, None),
                   ("value", 4, F.TYPE_FLOAT, opt, None),
                   ("meta_data", 10, F.TYPE_MESSAGE, opt, ".visualdl.MetaData")]),
        ("Record", [("values", 1, F.TYPE_MESSAGE, rep, ".visualdl.Value")]),
    ])
    get = getattr(message_factory, "GetMessageClass", None)
    if get is None:
        factory = message_factory.MessageFactory(pool)
        get = factory.GetPrototype
    return (get(pool.FindMessageTypeByName("tensorflow.Event")),
            get(pool.FindMessageTypeByName("visualdl.Record")))


def main():
    mode = sys.argv[1]
    tb, vdl = defaultdict(list), defaultdict(list)
    if mode == "protobuf":
        Event, Record = schemas()
        for i, data in enumerate(tfrecords(sys.argv[2])):
            ev = Event()
            ev.ParseFromString(data)
            if i == 0:
                assert ev.file_version == "brain.Event:2", ev.file_version
                continue
            for v in ev.summary.value:
                tb[v.tag].append([ev.step, v.simple_value])
        for i, data in enumerate(vdl_records(sys.argv[3])):
            rec = Record()
            rec.ParseFromString(data)
            v = rec.values[0]
            if i == 0:
                assert v.tag == "meta_data_tag" and v.HasField("meta_data"), v
                continue
            vdl[v.tag].append([v.id, v.value])
    elif mode == "tensorboard":
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        acc = EventAccumulator(sys.argv[2], size_guidance={"scalars": 0})
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            tb[tag] = [[e.step, e.value] for e in acc.Scalars(tag)]
    elif mode == "visualdl":
        from visualdl import LogReader

        reader = LogReader(file_path=sys.argv[2])
        for tag in reader.get_tags().get("scalar", []):
            vdl[tag] = [[v.id, v.value] for v in reader.get_data("scalar", tag)]
    print(json.dumps({"tensorboard": tb, "visualdl": vdl}))


main()
