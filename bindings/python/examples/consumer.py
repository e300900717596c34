# consumer.py SPACE_FILE: receive them without a copy and check each, in order
import sys
import numpy as np
import wom

with wom.open("shm:" + sys.argv[1]) as space:
    frames = space.channel("frames", bound=64)
    n = 0
    with frames.subscribe() as sub:
        while True:
            with sub.recv_view(timeout=10.0) as msg:  # a view into the space
                if len(msg) == 0:
                    break
                a = np.frombuffer(msg.data, dtype=np.float64)  # no copy
                assert (a == n).all(), "message %d holds %r" % (n, a[0])
                del a  # the view is released at the end of the with block
            n += 1
    print("received %d arrays, in order" % n)
