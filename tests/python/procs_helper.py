"""A process of tests/python/test_procs.py: procs_helper.py ROLE SPACE_FILE ARGS.
  produce ID N       send N messages (ID, i) as two uint32 on channel "c"
  work GROUP         take from queue group GROUP of channel "q" until an
                     empty message; print the taken numbers, one a line
"""
import struct
import sys

import wom


def produce(path, ident, n):
    with wom.open("shm:" + path) as s:
        ch = s.channel("c", bound=128)
        for i in range(n):
            ch.send(struct.pack("<II", ident, i), timeout=30)


def work(path, group):
    with wom.open("shm:" + path) as s:
        ch = s.channel("q")
        with ch.join(group) as q:
            while True:
                m = q.take(timeout=30)
                if not m:
                    break
                print(struct.unpack("<I", m)[0])


if __name__ == "__main__":
    role, path = sys.argv[1], sys.argv[2]
    if role == "produce":
        produce(path, int(sys.argv[3]), int(sys.argv[4]))
    elif role == "work":
        work(path, sys.argv[3])
    else:
        sys.exit("procs_helper.py: unknown role %r" % role)
