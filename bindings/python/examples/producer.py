# producer.py SPACE_FILE: send 1000 NumPy arrays over a channel of a shm: space
import sys
import numpy as np
import wom

with wom.open("shm:" + sys.argv[1]) as space:
    frames = space.channel("frames", bound=64)
    for i in range(1000):
        frames.send(np.full(1024, i, dtype=np.float64))  # 8 KiB, read in place
    frames.send(b"")  # the end
