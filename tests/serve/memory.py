# SPDX-License-Identifier: GPL-3.0-or-later
"""`rvm serve` receiving a 1 GiB upload: its peak RSS (VmHWM, the kernel's high-water mark of
the server process) must stay within 50 MB of its RSS when idle, so uploads are streamed to
disk and never held in memory. Prints both figures.

usage: memory.py RVM"""
import http.client
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

rvm = sys.argv[1]
common.need_serve(rvm)
SIZE = 1 << 30
work = common.tempdir('rvm-serve-memory-')
server = None


def status_kb(pid, key):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1])
    raise KeyError(key)


try:
    if shutil.disk_usage(work).free < SIZE + (512 << 20):
        common.skip('less than 1.5 GB free for the 1 GB upload')
    server = common.Server(rvm, os.path.join(work, 'data'), '--max-upload', '2G')
    pid = server.proc.pid
    server.jobs()  # one request answered: the server is warm
    idle = status_kb(pid, 'VmRSS')
    head, ctype = common.multipart({}, [])
    boundary = ctype.split('boundary=')[1]
    opening = ('--%s\r\nContent-Disposition: form-data; name="video"; filename="big.mp4"\r\n'
               'Content-Type: application/octet-stream\r\n\r\n' % boundary).encode()
    closing = ('\r\n--%s--\r\n' % boundary).encode()
    chunk = bytes(range(256)) * 4096  # 1 MiB

    def body():
        yield opening
        for _ in range(SIZE // len(chunk)):
            yield chunk
        yield closing
    length = len(opening) + SIZE + len(closing)
    c = http.client.HTTPConnection('127.0.0.1', server.port, timeout=600)
    c.request('POST', '/api/jobs', body=body(), headers={'Content-Type': ctype,
                                                          'Content-Length': str(length)})
    r = c.getresponse()
    answer = r.read()
    c.close()
    peak = status_kb(pid, 'VmHWM')
    print('idle RSS %.1f MB, peak RSS while receiving 1 GiB %.1f MB (+%.1f MB)'
          % (idle / 1024, peak / 1024, (peak - idle) / 1024))
    assert r.status == 201, (r.status, answer)
    job_id = answer.split(b'"id":"')[1].split(b'"')[0].decode()
    stored = os.path.getsize(os.path.join(server.data_dir, 'jobs', job_id, 'source'))
    assert stored == SIZE, stored
    assert peak - idle <= 50 * 1024, 'peak %d kB, idle %d kB' % (peak, idle)
    server.wait(job_id)  # not a video: the job fails at once
    server.json('DELETE', '/api/jobs/' + job_id)
    print('ok')
finally:
    if server:
        server.stop()
    shutil.rmtree(work, ignore_errors=True)
