# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared parts of the `rvm serve` tests: start and stop the server, talk to it, probe files."""
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SKIP = 77


def skip(reason):
    print('skip: ' + reason)
    sys.exit(SKIP)


def need(tool):
    path = shutil.which(tool)
    if not path:
        skip(tool + ' is not installed')
    return path


def need_serve(rvm):
    """Skips when this rvm was built without libmicrohttpd."""
    r = subprocess.run([rvm, 'serve', '--help'], capture_output=True, text=True)
    if r.returncode != 0:
        skip('rvm was built without libmicrohttpd (no rvm serve)')


class Server:
    """`rvm serve` on 127.0.0.1 and a port the kernel picks (--port 0): the address is read
    from the first line it prints."""

    def __init__(self, rvm, data_dir, *args, env=None):
        self.rvm, self.data_dir, self.args, self.env = rvm, data_dir, list(args), env
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            [self.rvm, 'serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', self.data_dir]
            + self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env)
        line = self.proc.stdout.readline()
        if not line.startswith('rvm serve: http://127.0.0.1:'):
            self.proc.kill()
            raise RuntimeError('rvm serve did not start: ' + line + self.proc.stderr.read())
        self.port = int(line.split('http://127.0.0.1:')[1].split('/')[0])
        self.host = '127.0.0.1:%d' % self.port
        self.url = 'http://%s/' % self.host

    def request(self, method, path, body=None, headers=None, timeout=60):
        c = http.client.HTTPConnection('127.0.0.1', self.port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data
        finally:
            c.close()

    def json(self, method, path, **kw):
        status, headers, data = self.request(method, path, **kw)
        return status, (json.loads(data) if data else None)

    def jobs(self, headers=None):
        status, body = self.json('GET', '/api/jobs', headers=headers)
        assert status == 200, status
        return body['jobs']

    def job(self, job_id, headers=None):
        status, body = self.json('GET', '/api/jobs/' + job_id, headers=headers)
        assert status == 200, (status, body)
        return body

    def wait(self, job_id, states=('done', 'failed', 'cancelled', 'interrupted'), timeout=600,
             headers=None):
        end = time.time() + timeout
        while time.time() < end:
            job = self.job(job_id, headers)
            if job['state'] in states:
                return job
            time.sleep(0.2)
        raise AssertionError('job %s still %s after %d s' % (job_id, job['state'], timeout))

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.proc.stdout.close()
            self.proc.stderr.close()
        self.proc = None


def multipart(fields, files, boundary='rvmtestboundary7d3a'):
    """A multipart/form-data body: fields {name: value} or [(name, value)] (a name may
    repeat), files [(field, filename, bytes)]."""
    parts = []
    for k, v in (fields.items() if isinstance(fields, dict) else fields):
        parts.append(('--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
                      % (boundary, k, v)).encode())
    for field, filename, data in files:
        parts.append(('--%s\r\nContent-Disposition: form-data; name="%s"; filename="%s"\r\n'
                      'Content-Type: application/octet-stream\r\n\r\n'
                      % (boundary, field, filename)).encode() + data + b'\r\n')
    parts.append(('--%s--\r\n' % boundary).encode())
    return b''.join(parts), 'multipart/form-data; boundary=' + boundary


def upload(server, video, name='clip.mp4', fields=None, files=(), headers=None):
    body, ctype = multipart(fields or {}, list(files) + [('video', name, video)])
    h = {'Content-Type': ctype}
    h.update(headers or {})
    return server.json('POST', '/api/jobs', body=body, headers=h)


def probe_frames(path):
    out = subprocess.run(['ffprobe', '-v', 'error', '-count_frames', '-select_streams', 'v:0',
                          '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', path],
                         capture_output=True, text=True, check=True).stdout
    return int(out.strip().split(',')[0])


def probe_duration(path):
    out = subprocess.run(['ffprobe', '-v', 'error', '-show_entries', 'format=duration', '-of',
                          'csv=p=0', path], capture_output=True, text=True, check=True).stdout
    return float(out.strip())


def probe_fps(path):
    out = subprocess.run(['ffprobe', '-v', 'error', '-select_streams', 'v:0', '-show_entries',
                          'stream=avg_frame_rate', '-of', 'csv=p=0', path],
                         capture_output=True, text=True, check=True).stdout.strip()
    num, den = out.split('/')
    return float(num) / float(den)


def children(pid):
    """Process ids whose parent is pid (from /proc)."""
    kids = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % entry) as f:
                fields = f.read().rsplit(')', 1)[1].split()
            if int(fields[1]) == pid:
                kids.append(int(entry))
        except (OSError, IndexError, ValueError):
            pass
    return kids


def tempdir(prefix):
    return tempfile.mkdtemp(prefix=prefix)
