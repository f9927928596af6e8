# SPDX-License-Identifier: GPL-3.0-or-later
"""`rvm serve`'s HTTP API, as a client and as an attacker would use it: every answer is
checked against what the issue asks (status codes, bodies, files on disk, ffprobe's frame
counts), with small clips made by ffmpeg from the shipped sample.

usage: api.py RVM SOURCE_DIR [TEST...]   (no TEST: all)"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

rvm, source_dir = sys.argv[1:3]
only = sys.argv[3:]
common.need('ffmpeg')
common.need_serve(rvm)
common.need('ffprobe')
sample = os.path.join(source_dir, 'samples', 'asl_gestures_again.mkv')
work = common.tempdir('rvm-serve-api-')
servers = []


def clip(name, size, frames):
    """An H.264 clip cut from the shipped sample (looped when more frames are asked)."""
    path = os.path.join(work, name)
    subprocess.run(['ffmpeg', '-v', 'error', '-stream_loop', '-1', '-i', sample, '-an', '-vf',
                    'scale=' + size, '-frames:v', str(frames), '-c:v', 'libx264', '-preset',
                    'ultrafast', '-pix_fmt', 'yuv420p', path, '-y'], check=True)
    with open(path, 'rb') as f:
        return f.read()


SMALL = clip('small.mp4', '160:120', 10)     # a second or so to convert
LONG = clip('long.mp4', '320:240', 300)      # long enough to be caught in the middle and to
                                             # follow (~4 s on an idle AVX-512 machine; progress
                                             # lines come every 0.25 s)


def server(*args, data=None, **kw):
    s = common.Server(rvm, data or os.path.join(work, 'data-%d' % len(servers)), *args, **kw)
    servers.append(s)
    return s


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print('  ok: ' + what)


def files_on_disk(s, job_id):
    d = os.path.join(s.data_dir, 'jobs', job_id)
    return sorted(os.listdir(d)) if os.path.isdir(d) else None


def wait_running(s, job_id, frames=1, timeout=300):
    end = time.time() + timeout
    while time.time() < end:
        job = s.job(job_id)
        if job['state'] == 'running' and job['progress']['frames'] >= frames:
            return job
        assert job['state'] in ('queued', 'running'), job
        time.sleep(0.1)
    raise AssertionError('job never ran')


def one_line_error(text):
    return text.startswith('rvm: ') and '\n' not in text


# ---- the tests ------------------------------------------------------------------------------

def test_progress_fd():
    """rvm --progress-fd: JSON lines, the last one with done and the frame count."""
    r, w = os.pipe()
    out = os.path.join(work, 'pfd.mp4')
    p = subprocess.Popen([rvm, '-i', os.path.join(work, 'small.mp4'), '--output-composition', out,
                          '--progress-fd', str(w)], pass_fds=(w,), stderr=subprocess.PIPE)
    os.close(w)
    with os.fdopen(r) as f:
        lines = f.read().splitlines()
    p.wait()
    check(p.returncode == 0, 'rvm with --progress-fd exits 0')
    objs = [json.loads(line) for line in lines]
    check(all({'frames', 'total', 'fps', 'eta', 'elapsed'} <= set(o) for o in objs),
          'every progress line is JSON with frames, total, fps, eta, elapsed (%d lines)' % len(objs))
    check(objs[-1].get('done') is True and objs[-1]['frames'] == common.probe_frames(out) == 10,
          'the last line says done with the frame count ffprobe finds (10)')
    q = subprocess.run([rvm, '-i', 'x.mp4', '--output-alpha', out, '--progress-fd', '57'],
                       capture_output=True, text=True)
    check(q.returncode == 2 and q.stderr.strip() == 'rvm: --progress-fd 57: not an open file descriptor',
          'a descriptor that is not open is a usage error: ' + q.stderr.strip())


def test_convert_and_ranges():
    s = server()
    status, job = common.upload(s, SMALL, 'my clip.mp4')
    check(status == 201 and job['state'] in ('queued', 'running'), 'an upload makes a job (201)')
    check(len(job['id']) == 32 and all(c in '0123456789abcdef' for c in job['id']),
          'the job id is 128 random bits in hex: ' + job['id'])
    job = s.wait(job['id'])
    check(job['state'] == 'done', 'the job ends done')
    names = sorted(f['name'] for f in job['files'])
    check(names == ['alpha.mp4', 'composition.mp4', 'source'], 'its files: %s' % names)
    url = '/api/jobs/%s/files/composition.mp4' % job['id']
    status, h, full = s.request('GET', url)
    check(status == 200 and h['accept-ranges'] == 'bytes' and h['content-type'] == 'video/mp4',
          'the composition is served whole with Accept-Ranges: bytes')
    path = os.path.join(work, 'got.mp4')
    with open(path, 'wb') as f:
        f.write(full)
    check(common.probe_frames(path) == 10, 'the composition holds the 10 frames (ffprobe)')
    size = len(full)
    for rng, want in (('bytes=0-99', full[:100]), ('bytes=100-', full[100:]),
                      ('bytes=-50', full[-50:]), ('bytes=%d-%d' % (size - 10, size + 1000), full[-10:])):
        status, h, body = s.request('GET', url, headers={'Range': rng})
        lo = size - len(want)
        lo = 0 if rng == 'bytes=0-99' else lo
        check(status == 206 and body == want and h['content-range'] ==
              'bytes %d-%d/%d' % (lo, lo + len(want) - 1, size),
              'Range %s: 206, %s, the right bytes' % (rng, h.get('content-range')))
    status, h, body = s.request('GET', url, headers={'Range': 'bytes=%d-' % size})
    check(status == 416 and h['content-range'] == 'bytes */%d' % size,
          'a range past the end: 416 with Content-Range bytes */%d' % size)
    status, h, body = s.request('GET', url, headers={'Range': 'bytes=0-1,5-9'})
    check(status == 200 and body == full, 'several ranges: the whole file (200)')
    status, h, body = s.request('GET', url + '?download=1')
    check(h['content-disposition'] == 'attachment; filename="my clip-composition.mp4"',
          'download=1 names the file after the upload: ' + h['content-disposition'])
    check(h['x-content-type-options'] == 'nosniff' and "default-src 'none'" in
          h['content-security-policy'], 'files carry nosniff and the Content-Security-Policy')
    status, h, body = s.request('GET', '/')
    check(status == 200 and h['x-content-type-options'] == 'nosniff' and
          "script-src 'self'" in h['content-security-policy'] and b'<script src="/app.js"' in body,
          'the page carries nosniff and the CSP, and loads only its own script')
    # SSE: one event with the finished job, then the stream ends.
    status, h, body = s.request('GET', '/api/jobs/%s/events' % job['id'], timeout=20)
    events = [json.loads(line[6:]) for line in body.decode().splitlines() if line.startswith('data: ')]
    check(status == 200 and h['content-type'] == 'text/event-stream' and events[-1]['state'] == 'done',
          'the event stream of an ended job sends its state and ends')
    status, _ = s.json('DELETE', '/api/jobs/' + job['id'])
    check(status == 204 and files_on_disk(s, job['id']) is None and s.request(
        'GET', url)[0] == 404, 'DELETE removes the job and its folder (204, then 404)')


def test_events_progress():
    s = server()
    status, job = common.upload(s, LONG, 'long.mp4')
    c = http.client.HTTPConnection('127.0.0.1', s.port, timeout=600)
    c.request('GET', '/api/jobs/%s/events' % job['id'])
    r = c.getresponse()
    states, frames, rates = [], [], []
    for raw in r:
        line = raw.decode().strip()
        if line.startswith('data: '):
            j = json.loads(line[6:])
            states.append(j['state'])
            frames.append(j['progress']['frames'])
            if j['state'] == 'running' and j['progress']['frames'] > 0:
                rates.append(('fps' in j['progress'], 'eta' in j['progress']))
    c.close()
    check(states[-1] == 'done' and 'running' in states and len(set(frames)) > 3 and
          frames == sorted(frames) and frames[-1] == 300,
          'events follow the job: %d events, frames rising to 300, then done (%s %s)'
          % (len(states), states, frames))
    check(rates and all(a and b for a, b in rates), 'running events carry fps and ETA')
    s.json('DELETE', '/api/jobs/' + job['id'])


def first_frame_rgb(path):
    """The first frame as RGB bytes (ffmpeg decodes it), and its width."""
    out = subprocess.run(['ffmpeg', '-v', 'error', '-i', path, '-frames:v', '1', '-f', 'rawvideo',
                          '-pix_fmt', 'rgb24', '-'], capture_output=True, check=True).stdout
    return out


def stream_info(path):
    out = subprocess.run(['ffprobe', '-v', 'error', '-select_streams', 'v:0', '-show_entries',
                          'stream=codec_name,pix_fmt:stream_tags=alpha_mode', '-of', 'json', path],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)['streams'][0]


def test_options():
    """The page's choices reach the command: a colour, an image, transparency (WebM, MOV)."""
    s = server()
    image = os.path.join(work, 'blue.png')
    subprocess.run(['ffmpeg', '-v', 'error', '-f', 'lavfi', '-i', 'color=c=0x0000ff:s=64x48',
                    '-frames:v', '1', image, '-y'], check=True)
    with open(image, 'rb') as f:
        png = f.read()
    # Every colour form the command's --background takes: #RRGGBB, a name, #RGB, R,G,B
    # (it took #RRGGBB only).
    cases = [({'background': '#ff0000', 'outputs': 'composition'}, (), 'composition.mp4'),
             ({'background': 'Red', 'outputs': 'composition'}, (), 'composition.mp4'),
             ({'background': '#f00', 'outputs': 'composition'}, (), 'composition.mp4'),
             ({'background': '255,0,0', 'outputs': 'composition'}, (), 'composition.mp4'),
             ({'background': 'image', 'outputs': 'composition'},
              [('background_image', 'blue.png', png)], 'composition.mp4'),
             ({'background': 'none', 'format': 'webm', 'outputs': 'composition,foreground'}, (),
              'composition.webm'),
             ({'background': 'none', 'format': 'mov', 'outputs': 'composition', 'ratio': '0.5'}, (),
              'composition.mov')]
    for fields, files, name in cases:
        status, job = common.upload(s, SMALL, 'o.mp4', fields=fields, files=files)
        assert status == 201, job
        job = s.wait(job['id'])
        assert job['state'] == 'done', job
        status, _, data = s.request('GET', '/api/jobs/%s/files/%s' % (job['id'], name))
        path = os.path.join(work, 'opt-' + name)
        with open(path, 'wb') as f:
            f.write(data)
        info = stream_info(path)
        if fields['background'] == 'none':
            want = ('vp9', '1') if name.endswith('webm') else ('prores', None)
            got = (info['codec_name'], info.get('tags', {}).get('alpha_mode'))
            ok = got == want if name.endswith('webm') else (got[0] == 'prores' and 'a' in info['pix_fmt'][:4])
            check(status == 200 and ok, 'background none, %s: %s %s %s' % (
                fields['format'], info['codec_name'], info['pix_fmt'], info.get('tags', {})))
        else:
            rgb = first_frame_rgb(path)
            corner = tuple(rgb[0:3])  # the top left of the sample is room, not person
            want = (255, 0, 0) if fields['background'] != 'image' else (0, 0, 255)
            check(all(abs(a - b) <= 40 for a, b in zip(corner, want)),
                  'background %s: the top-left pixel is %s (want about %s)' % (fields['background'], corner, want))
    check(s.jobs()[5]['files'][-1]['name'] == 'foreground.webm' and
          s.jobs()[6]['options']['ratio'] == 0.5, 'the outputs and the ratio asked for are made')
    check(s.jobs()[1]['options']['background'] == 'Red', 'a job keeps the colour as it was asked')


def test_repeated_fields():
    """A field sent twice is refused with one line, nothing stored or queued (two videos were
    stored as one file, the first's bytes then the second's, and a second text field replaced
    the first)."""
    s = server()
    other = clip('other.mp4', '128:96', 5)
    png = b'\x89PNG\r\n\x1a\n' + b'x' * 100
    cases = [('video', [], [('video', 'a.mp4', SMALL)]),
             ('background_image', [('background', 'image')],
              [('background_image', 'x.png', png), ('background_image', 'y.jpg', png)]),
             ('format', [('format', 'webm'), ('format', 'mp4')], []),
             ('background', [('background', 'red'), ('format', 'mp4'), ('background', 'blue')],
              [])]
    for what, fields, files in cases:
        body, ctype = common.multipart(fields, files + [('video', 'b.mp4', other)])
        status, answer = s.json('POST', '/api/jobs', body=body, headers={'Content-Type': ctype})
        message = 'rvm: the form field %s came twice (send each field once)' % what
        check(status == 400 and answer.get('error') == message,
              '%s twice: %d %s' % (what, status, answer))
        check(os.listdir(os.path.join(s.data_dir, 'jobs')) == [] and s.jobs() == [],
              '%s twice: nothing stored, nothing queued' % what)
    # Each field once still makes a job, with the one video as sent; also when every value
    # arrives in two pieces, its first two bytes then the rest, so that the server is handed
    # an empty first piece of each field (too few bytes to tell where the value ends) and then
    # the value from its start again: that is the same field, not a second one.
    body, ctype = common.multipart([('background', 'image'), ('format', 'webm')],
                                   [('background_image', 'x.png', png), ('video', 'b.mp4', other)])
    cuts = [i + 6 for i in range(len(body)) if body.startswith(b'\r\n\r\n', i)]
    pieces = [body[a:b] for a, b in zip([0] + cuts, cuts + [len(body)])]

    def slowly():
        for piece in pieces:
            yield piece
            time.sleep(0.3)
    for what, send in [('at once', body), ('in pieces', slowly())]:
        status, job = s.json('POST', '/api/jobs', body=send,
                             headers={'Content-Type': ctype, 'Content-Length': str(len(body))})
        check(status == 201 and job['options']['background'] == 'image' and
              job['options']['background_image'] is True and
              job['options']['format'] == 'webm', 'each field once, %s: accepted: %d %s'
              % (what, status, job))
        with open(os.path.join(s.data_dir, 'jobs', job['id'], 'source'), 'rb') as f:
            check(f.read() == other, 'each field once, %s: the source is the video sent' % what)
        s.json('DELETE', '/api/jobs/' + job['id'])


def test_not_a_video():
    s = server()
    status, job = common.upload(s, b'These are my notes, not a video.\n' * 20, 'notes.txt')
    check(status == 201, 'a text file is accepted as an upload (the command decides)')
    job = s.wait(job['id'])
    check(job['state'] == 'failed' and one_line_error(job['error']) and
          job['error'] == 'rvm: notes.txt: not a video or image file FFmpeg can read',
          'the job fails with the command\'s one line, naming the upload: ' + job['error'])
    check([f['name'] for f in job['files']] == ['source'] and
          files_on_disk(s, job['id']) == ['job.json', 'source'], 'and leaves no output behind')
    # A background image that is none reads in the page's terms (it was "rvm: background:
    # background: not a video ...", the file's fixed name in the data folder).
    status, bg_job = common.upload(s, SMALL, 'x.mp4', fields={'background': 'image'},
                                   files=[('background_image', 'notes.png', b'notes\n' * 20)])
    bg_job = s.wait(bg_job['id'])
    check(bg_job['state'] == 'failed' and
          bg_job['error'] == 'rvm: the background image: not a video or image file FFmpeg can read',
          'a background image that is none: ' + bg_job['error'])
    s.json('DELETE', '/api/jobs/' + bg_job['id'])
    # An animated WebP (FFmpeg 5.1 cannot decode one), as the video or the background: what
    # to upload instead, not the command's advice with a shell command line garbled by the
    # names put in (it read "convert the background image -coalesce ...").
    anim = os.path.join(work, 'anim.webp')
    subprocess.run(['ffmpeg', '-v', 'error', '-f', 'lavfi', '-i', 'testsrc=s=64x48:r=10',
                    '-frames:v', '4', '-c:v', 'libwebp_anim', '-loop', '0', anim], check=True)
    anim_data = open(anim, 'rb').read()
    advice = 'animated WebP is not supported: upload a video (MP4, WebM) or a still image'
    for upload, fields, files, name in (
            (anim_data, {}, (), 'anim.webp'),
            (SMALL, {'background': 'image'}, [('background_image', 'anim.webp', anim_data)],
             'the background image')):
        status, webp_job = common.upload(s, upload, 'anim.webp' if upload is anim_data else 'x.mp4',
                                         fields=fields, files=files)
        webp_job = s.wait(webp_job['id'])
        check(webp_job['state'] == 'failed' and
              webp_job['error'].startswith('rvm: ' + name + ': ') and
              webp_job['error'].endswith(advice) and 'convert' not in webp_job['error'],
              'an animated WebP as %s: %s' % (name, webp_job['error']))
        s.json('DELETE', '/api/jobs/' + webp_job['id'])
    status, body = common.upload(s, SMALL, 'x.mp4', fields={'background': 'none'})
    check(status == 400 and 'WebM' in body['error'], 'transparency in MP4 is refused: ' + body['error'])
    status, body = common.upload(s, SMALL, 'x.mp4', fields={'outputs': 'composition,../../x'})
    check(status == 400 and one_line_error(body['error']), 'an unknown output: ' + body['error'])
    status, body = common.upload(s, SMALL, 'x.mp4', fields={'background': 'image'})
    check(status == 400, 'an image background without an image: ' + body['error'])
    for bad, why in (('bikeshed', 'expected green, a colour (a name, #RRGGBB, #RGB or R,G,B)'),
                     ('source', 'expected green, a colour'),  # a job file's name: no colour
                     ('#ff000080', 'cannot be see-through'), ('red@0.5', 'cannot be see-through'),
                     ('256,0,0', 'expected green')):
        status, body = common.upload(s, SMALL, 'x.mp4', fields={'background': bad})
        check(status == 400 and why in body['error'] and one_line_error(body['error']),
              'background %s is refused: %s' % (bad, body['error']))
    status, body = common.upload(s, SMALL, 'x.mp4', fields={'ratio': 'nan'})
    check(status == 400, 'ratio nan: ' + body['error'])
    status, body = s.json('POST', '/api/jobs', body=b'video=abc',
                          headers={'Content-Type': 'application/x-www-form-urlencoded'})
    check(status == 400 and body['error'] == 'rvm: no video was sent (the form field is video)',
          'a form without a video file: ' + body['error'])
    check(os.listdir(os.path.join(s.data_dir, 'jobs')) == [job['id']],
          'refused uploads leave no folder behind')


def test_too_large():
    s = server('--max-upload', '1M')
    big = b'\0' * (2 << 20)
    body, ctype = common.multipart({}, [('video', 'big.mp4', big)])
    # As curl sends a large upload: the headers with Expect: 100-continue, then the body only
    # when the server says so. The server answers 413 at once, and no byte of the body is sent.
    sock = socket.create_connection(('127.0.0.1', s.port), timeout=30)
    sock.sendall(('POST /api/jobs HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\n'
                  'Content-Length: %d\r\nExpect: 100-continue\r\n\r\n'
                  % (s.host, ctype, len(body))).encode())
    answer = b''
    while True:
        data = sock.recv(65536)
        if not data:
            break
        answer += data
        if b'\r\n\r\n' in answer and answer.split(b'\r\n\r\n', 1)[1].endswith(b'}'):
            break
    sock.close()
    head, _, payload = answer.partition(b'\r\n\r\n')
    check(head.startswith(b'HTTP/1.1 413') and json.loads(payload)['error'] ==
          "rvm: the upload (2.0 MB) is larger than this server's limit of 1.0 MB",
          'an upload over --max-upload: 413 before the body is sent: ' + payload.decode())
    # Sent without waiting, the client reads the 413 or finds the connection closed under it.
    try:
        status, answer = common.upload(s, big, 'big.mp4')
    except (ConnectionError, http.client.HTTPException, OSError) as e:
        status, answer = type(e).__name__, None
    check(status in (413, 'BrokenPipeError', 'ConnectionResetError'),
          'the same sent at once: %s' % status)
    # Without a length (chunked, as curl -T - sends): the same 413 and JSON error once the body
    # has passed the limit (it was an empty reply: the connection was cut), and the connection
    # closed then: a client that sends the whole body before it reads (http.client) may find
    # it closed under it, as above.
    c = http.client.HTTPConnection('127.0.0.1', s.port, timeout=30)
    got = None
    try:
        c.request('POST', '/api/jobs', body=iter([body[i:i + 65536] for i in range(0, len(body), 65536)]),
                  headers={'Content-Type': ctype}, encode_chunked=True)
        resp = c.getresponse()
        got = (resp.status, json.loads(resp.read())['error'])
    except (ConnectionError, http.client.HTTPException, OSError, ValueError) as e:
        got = 'cut off: %r' % e
    c.close()
    check(got == (413, "rvm: the upload (more than 1.0 MB) is larger than this server's limit of 1.0 MB")
          or 'RemoteDisconnected' in str(got) or 'BrokenPipe' in str(got) or 'ConnectionReset' in str(got),
          'a chunked upload over the limit: 413 or closed: %s' % (got,))
    # The 413 comes as soon as the body passes the limit, not after the rest of it (which it
    # waited for, reading and dropping it: a stream that goes on was never answered). Here the
    # body stops, unfinished, 64 KiB past the limit, and the answer and the close come anyway.
    sock = socket.create_connection(('127.0.0.1', s.port), timeout=30)
    sock.sendall(('POST /api/jobs HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\n'
                  'Transfer-Encoding: chunked\r\n\r\n' % (s.host, ctype)).encode())
    answer = b''
    try:
        for i in range(0, (1 << 20) + 65536, 65536):
            piece = body[i:i + 65536]
            sock.sendall(b'%x\r\n' % len(piece) + piece + b'\r\n')
        while True:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    except OSError as e:  # the close may come while the body is still being sent
        answer = answer or ('%r' % e).encode()
    sock.close()
    head, _, payload = answer.partition(b'\r\n\r\n')
    check(head.startswith(b'HTTP/1.1 413') and json.loads(payload)['error'] ==
          "rvm: the upload (more than 1.0 MB) is larger than this server's limit of 1.0 MB",
          'a chunked upload that stops unfinished past the limit: 413 and closed: %r' % answer[:200])
    # The server shuts the connection before it removes the cut-off upload's folder (in its
    # connection's thread, which a loaded machine may not run for a while): waited for.
    jobs_dir = os.path.join(s.data_dir, 'jobs')
    end = time.time() + 60
    while os.listdir(jobs_dir) and time.time() < end:
        time.sleep(0.1)
    check(os.listdir(jobs_dir) == [] and s.jobs() == [], 'nothing of either upload is kept on disk')


def test_disk_full():
    if os.geteuid() != 0 or not shutil.which('mount'):
        print('  skipped: a small tmpfs needs root')
        return
    mnt = os.path.join(work, 'small-disk')
    os.mkdir(mnt)
    if subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=3M', 'tmpfs', mnt]).returncode != 0:
        print('  skipped: mount -t tmpfs failed')
        return
    try:
        s = server(data=os.path.join(mnt, 'data'))
        status, body = common.upload(s, SMALL, 'small.mp4')
        check(status == 507 and body['error'].startswith('rvm: not enough free disk space for this upload'),
              'a disk without room for the upload and its results: 507 ' + body['error'])
        check(os.listdir(os.path.join(s.data_dir, 'jobs')) == [], 'and nothing is kept')
        s.stop()
    finally:
        subprocess.run(['umount', mnt])


def test_unknown_and_traversal():
    s = server()
    status, job = common.upload(s, SMALL, '../../../evil.mp4')
    job = s.wait(job['id'])
    check('/' not in job['name'] and not os.path.exists(os.path.join(work, 'evil.mp4')) and
          not os.path.exists(os.path.join(s.data_dir, 'evil.mp4')),
          'a file name with ../ is only a label (%s), never a path' % job['name'])
    status, named = common.upload(s, SMALL, 'vid\u00e9o \u00e9t\u00e9.mp4')
    status, h, _ = s.request('GET', '/api/jobs/%s/files/source?download=1' % named['id'])
    check(named['name'] == 'vid\u00e9o \u00e9t\u00e9.mp4' and h['content-disposition'] ==
          'attachment; filename="vid_o _t_.mp4"; filename*=UTF-8\'\'vid%C3%A9o%20%C3%A9t%C3%A9.mp4',
          'a UTF-8 name is kept, and sent as filename* (RFC 6266): ' + h['content-disposition'])
    s.wait(named['id'])
    jid = job['id']
    for path in ('/api/jobs/0123456789abcdef0123456789abcdef', '/api/jobs/nothing',
                 '/api/jobs/' + jid.upper(), '/api/jobs/' + jid + 'a',
                 '/api/jobs/../../../../etc/passwd', '/api/jobs/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
                 '/api/jobs/' + jid + '/files/../job.json', '/api/jobs/' + jid + '/files/..%2fjob.json',
                 '/api/jobs/' + jid + '/files/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd',
                 '/api/jobs/' + jid + '/files/job.json', '/api/jobs/' + jid + '/files/',
                 '/api/jobs/' + jid + '/files/source%00.mp4', '/api/jobs/' + jid + '/files/.',
                 '/api/jobs/' + jid + '/files//etc/passwd', '/../../../../etc/passwd',
                 '/api/jobs/' + jid + '/files/composition.mp4/../../job.json',
                 '/app.js/../../../etc/passwd', '/api/jobs/' + jid + '/job.json'):
        status, h, body = s.request('GET', path)
        check(status == 404 and b'root:' not in body and b'"seq"' not in body,
              'GET %s: %d %s' % (path, status, body[:60].decode(errors='replace')))
    status, _, _ = s.request('DELETE', '/api/jobs/0123456789abcdef0123456789abcdef')
    check(status == 404, 'DELETE of an unknown job: 404')
    status, _, _ = s.request('POST', '/api/jobs/0123456789abcdef0123456789abcdef/cancel')
    check(status == 404, 'cancel of an unknown job: 404')
    status, _, _ = s.request('POST', '/api/jobs/%s/cancel' % jid)
    check(status == 409, 'cancel of an ended job: 409')


def test_quoted_names():
    """A browser sends '"' in a file name as %22 (the HTML standard's multipart encoding): the
    job is named with the quote, and its downloads carry the name in filename* (RFC 6266/5987)
    with an ASCII filename beside it that has no quote, backslash or '%'."""
    s = server()
    cases = (('my %22x%22.mp4', 'my "x".mp4',
              'filename="my _x_-composition.mp4"; filename*=UTF-8\'\'my%20%22x%22-composition.mp4'),
             ('caf\u00e9 %22\u00e9t\u00e9%22 100%.mp4', 'caf\u00e9 "\u00e9t\u00e9" 100%.mp4',
              'filename="caf_ __t__ 100_-composition.mp4"; filename*=UTF-8\'\'caf%C3%A9%20%22%C3%A9t%C3%A9%22%20100%25-composition.mp4'),
             ('a%0Ab\\c.mp4', 'a_b_c.mp4', 'filename="a_b_c-composition.mp4"'))
    for sent, name, disp in cases:
        status, job = common.upload(s, SMALL, sent)
        job = s.wait(job['id'])
        check(job['state'] == 'done' and job['name'] == name, 'uploaded as %r: named %r' % (sent, job['name']))
        dl = [f['download_name'] for f in job['files'] if f['kind'] == 'composition']
        check(dl == [name.rsplit('.', 1)[0] + '-composition.mp4'], 'download_name %r' % dl)
        status, h, _ = s.request('GET', '/api/jobs/%s/files/composition.mp4?download=1' % job['id'])
        check(status == 200 and h['content-disposition'] == 'attachment; ' + disp,
              'Content-Disposition: ' + h['content-disposition'])


def test_long_and_dotted_names():
    """A name longer than the job keeps (127 bytes) loses the end of its stem at a character's
    boundary and keeps its extension (it ended in '_' where half a character was, without its
    .mp4, so the source downloaded without one); a leading dot becomes '_' (a download named
    '.-composition.mp4' is a hidden file)."""
    s = server()
    cases = (('\u00e9' * 100 + '.mp4', '\u00e9' * 61 + '.mp4'),
             ('x' * 300 + '.webm', 'x' * 122 + '.webm'),
             ('..mp4', '__mp4'), ('.hidden.mov', '_hidden.mov'))
    for sent, name in cases:
        status, job = common.upload(s, SMALL, sent)
        job = s.wait(job['id'])
        check(job['state'] == 'done' and job['name'] == name,
              'uploaded as %r: named %r, want %r' % (sent, job['name'], name))
        dl = sorted(f['download_name'] for f in job['files'] if f['kind'] in ('composition', 'source'))
        want = sorted([name, name.rsplit('.', 1)[0] + '-composition.mp4'] if '.' in name[1:]
                      else [name, name + '-composition.mp4'])
        check(dl == want, 'download names %r, want %r' % (dl, want))


def test_origin_and_host():
    s = server()
    evil = {'Origin': 'http://evil.example'}
    status, body = common.upload(s, SMALL, 'a.mp4', headers=evil)
    check(status == 403 and s.jobs() == [] and os.listdir(os.path.join(s.data_dir, 'jobs')) == [],
          'an upload with a foreign Origin: 403 %s, nothing kept' % body['error'])
    status, body = common.upload(s, SMALL, 'a.mp4', headers={'Sec-Fetch-Site': 'cross-site'})
    check(status == 403, 'Sec-Fetch-Site: cross-site: 403')
    status, job = common.upload(s, SMALL, 'a.mp4', headers={'Origin': 'http://' + s.host})
    check(status == 201, 'the page\'s own Origin: 201')
    status, _, _ = s.request('DELETE', '/api/jobs/' + job['id'], headers=evil)
    check(status == 403 and s.job(job['id']), 'DELETE with a foreign Origin: 403, the job stays')
    status, _, _ = s.request('POST', '/api/jobs/%s/cancel' % job['id'], headers={'Origin': 'null'})
    check(status == 403, 'cancel with Origin null: 403')
    for host in ('rebound.example:%d' % s.port, '127.0.0.1.rebound.example', '127.rebound.example'):
        status, _, _ = s.request('GET', '/api/jobs', headers={'Host': host})
        check(status == 403, 'Host: %s (DNS rebinding) without a token: 403' % host)
    s.wait(job['id'])


def test_port_in_use_and_bad_data_dir():
    """A port held by another program is transient (75: free again once it ends), a data
    folder nothing can be made in is the request's (2); both were exit 1."""
    import socket
    held = socket.socket()
    held.bind(('127.0.0.1', 0))
    held.listen()
    q = subprocess.run([rvm, 'serve', '--port', str(held.getsockname()[1]), '--data-dir',
                        os.path.join(work, 'inuse')], capture_output=True, text=True, timeout=30)
    held.close()
    check(q.returncode == 75 and q.stderr.count('\n') == 1 and 'in use' in q.stderr,
          'a port in use: exit 75, one line: %d %s' % (q.returncode, q.stderr.strip()))
    q = subprocess.run([rvm, 'serve', '--port', '0', '--data-dir', '/proc/x'],
                       capture_output=True, text=True, timeout=30)
    # Said why ('No such file or directory' misled: /proc is there, and takes no folders).
    check(q.returncode == 2 and q.stderr.count('\n') == 1 and q.stderr.strip() ==
          'rvm: serve: --data-dir /proc/x: cannot make a folder in /proc: its file system takes no new folders',
          '--data-dir /proc/x: exit 2, one line: %d %s' % (q.returncode, q.stderr.strip()))
    q = subprocess.run([rvm, 'serve', '--port', '0', '--data-dir', os.path.join(work, 'no such', 'x')],
                       capture_output=True, text=True, timeout=30)
    check(q.returncode == 2 and q.stderr.strip() == 'rvm: serve: --data-dir %s: cannot make it: %s '
          'does not exist (make it first)' % (os.path.join(work, 'no such', 'x'), os.path.join(work, 'no such')),
          '--data-dir under a missing folder: exit 2: %d %s' % (q.returncode, q.stderr.strip()))
    # The first missing folder is named (it named the last: 'no such/a does not exist'), a
    # file on the way is named as a file (it said only 'Not a directory'), and an empty name
    # is said so (it said the file system takes no new folders).
    deep = os.path.join(work, 'no such', 'a', 'b')
    afile = os.path.join(work, 'afile')
    open(afile, 'w').close()
    for d, want in ((deep, 'cannot make it: %s does not exist (make it first)' % os.path.join(work, 'no such')),
                    (os.path.join(afile, 'sub'), '%s is a file, not a folder' % afile),
                    (os.path.join(afile, 'sub', 'deeper'), '%s is a file, not a folder' % afile)):
        q = subprocess.run([rvm, 'serve', '--port', '0', '--data-dir', d],
                           capture_output=True, text=True, timeout=30)
        check(q.returncode == 2 and q.stderr == 'rvm: serve: --data-dir %s: %s\n' % (d, want),
              '--data-dir %s: exit 2: %d %s' % (d, q.returncode, q.stderr.strip()))
    q = subprocess.run([rvm, 'serve', '--port', '0', '--data-dir', ''],
                       capture_output=True, text=True, timeout=30)
    check(q.returncode == 2 and q.stderr == 'rvm: serve: --data-dir: an empty name (give a folder)\n',
          '--data-dir "": exit 2: %d %s' % (q.returncode, q.stderr.strip()))


def test_token():
    q = subprocess.run([rvm, 'serve', '--host', '0.0.0.0', '--port', '0', '--data-dir',
                        os.path.join(work, 'never')], capture_output=True, text=True, timeout=30)
    check(q.returncode == 2 and q.stderr.count('\n') == 1 and '--token' in q.stderr and
          not os.path.exists(os.path.join(work, 'never')),
          'beyond localhost without a token it refuses to start: ' + q.stderr.strip())
    token = ('correct horse battery staple ' * 4).strip()  # 115 characters: long ones work too
    s = server('--token', token)
    for headers, what in (({}, 'no token'), ({'Authorization': 'Bearer wrong'}, 'a wrong token'),
                          ({'Authorization': 'Bearer ' + token[:-1]}, 'the token less a letter'),
                          ({'Authorization': 'Basic ' + token}, 'another scheme'),
                          ({'Cookie': 'rvm_session=0123456789abcdef0123456789abcdef'}, 'a made-up session')):
        status, body = s.json('GET', '/api/jobs', headers=headers)
        check(status == 401 and one_line_error(body['error']), 'GET /api/jobs with %s: 401' % what)
    status, body = common.upload(s, SMALL, 'a.mp4')
    check(status == 401 and os.listdir(os.path.join(s.data_dir, 'jobs')) == [],
          'an upload without the token: 401, nothing kept')
    status, _, page = s.request('GET', '/')
    check(status == 200 and b'name="token"' in page and b'app.js' not in page,
          'the page without the token is the login form')
    status, h, page = s.request('POST', '/api/login', body='token=wrong',
                                headers={'Content-Type': 'application/x-www-form-urlencoded'})
    check(status == 401 and b'rvm: wrong token' in page and 'set-cookie' not in h,
          'the login form with a wrong token: 401 and the message')
    status, h, _ = s.request('POST', '/api/login', body='token=' + token.replace(' ', '+'),
                             headers={'Content-Type': 'application/x-www-form-urlencoded'})
    cookie = h.get('set-cookie', '')
    check(status == 303 and 'HttpOnly' in cookie and 'SameSite=Strict' in cookie,
          'the right token: 303 to the page with an HttpOnly cookie (%s...)' % cookie[:24])
    session = {'Cookie': cookie.split(';')[0]}
    check(s.json('GET', '/api/jobs', headers=session)[0] == 200, 'the cookie opens the API')
    status, _, page = s.request('GET', '/', headers=session)
    check(b'app.js' in page, 'and the page')
    status, job = common.upload(s, SMALL, 'a.mp4', headers={'Authorization': 'Bearer ' + token})
    check(status == 201, 'the bearer token: 201')
    s.wait(job['id'], headers={'Authorization': 'Bearer ' + token})


def test_three_at_once():
    s = server()
    results = [None] * 3

    def send(i):
        results[i] = common.upload(s, SMALL, 'clip%d.mp4' % i)
    threads = [threading.Thread(target=send, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(all(r[0] == 201 for r in results), 'three uploads at once: three 201s')
    jobs = [s.wait(r[1]['id']) for r in results]
    check(all(j['state'] == 'done' for j in jobs), 'all three complete')
    listed = s.jobs()
    order = sorted(listed, key=lambda j: j['started'])
    check([j['id'] for j in order] == [j['id'] for j in listed],
          'they ran in queue order (the order the list gives)')
    check(all(order[i + 1]['started'] >= order[i]['finished'] for i in range(2)),
          'one at a time (--jobs 1): each started after the one before finished')
    for j in listed:
        status, _, data = s.request('GET', '/api/jobs/%s/files/composition.mp4' % j['id'])
        p = os.path.join(work, j['id'] + '.mp4')
        with open(p, 'wb') as f:
            f.write(data)
        assert common.probe_frames(p) == 10
    check(True, 'each composition holds its 10 frames (ffprobe)')


def test_cancel():
    s = server()
    status, job = common.upload(s, LONG, 'long.mp4')
    status2, queued = common.upload(s, LONG, 'long2.mp4')
    wait_running(s, job['id'], 5)
    # The conversion is held (SIGSTOP) until its cancel is in: on a loaded machine this test
    # could otherwise be slower than the job, which would end done, not cancelled.
    kids = common.children(s.proc.pid)
    check(len(kids) == 1, 'the running job is one rvm process (pid %s), held' % kids)
    os.kill(kids[0], signal.SIGSTOP)
    check(s.job(queued['id'])['state'] == 'queued' and s.job(queued['id'])['queue_position'] == 1,
          'the second job waits (queue position 1)')
    status, _ = s.json('POST', '/api/jobs/%s/cancel' % queued['id'])
    check(status == 200 and s.job(queued['id'])['state'] == 'cancelled', 'a queued job is cancelled at once')
    status, _ = s.json('POST', '/api/jobs/%s/cancel' % job['id'])
    os.kill(kids[0], signal.SIGCONT)
    job = s.wait(job['id'], timeout=60)
    check(status == 200 and job['state'] == 'cancelled', 'a running job is cancelled')
    check(files_on_disk(s, job['id']) == ['job.json', 'source'] and
          [f['name'] for f in job['files']] == ['source'], 'its partial outputs are discarded')
    check(common.children(s.proc.pid) == [], 'its rvm process is gone')


def test_sigkill():
    s = server()
    status, job = common.upload(s, LONG, 'long.mp4')
    wait_running(s, job['id'], 5)
    kids = common.children(s.proc.pid)
    check(len(kids) == 1, 'the conversion runs as a child process (pid %s)' % kids)
    os.kill(kids[0], signal.SIGKILL)
    job = s.wait(job['id'], timeout=60)
    check(job['state'] == 'failed' and job['error'] == 'rvm: the conversion was killed (Killed)',
          'killed with SIGKILL, the job fails: ' + job['error'])
    check(files_on_disk(s, job['id']) == ['job.json', 'source'], 'its partial files are removed')
    status, job2 = common.upload(s, SMALL, 'after.mp4')
    check(s.wait(job2['id'])['state'] == 'done', 'the server lives on: the next job completes')


def test_damaged_job_json():
    """A job folder whose job.json cannot be read is kept as it is, with a line (it was
    removed with its upload and outputs, without a word); only a folder without job.json (an
    upload that never completed: the upload is written first) is removed, with a line."""
    data = os.path.join(work, 'data-damaged')
    broken = os.path.join(data, 'jobs', '0123456789abcdef0123456789abcdef')
    empty = os.path.join(data, 'jobs', '00000000000000000000000000000000')
    half = os.path.join(data, 'jobs', 'fedcba9876543210fedcba9876543210')
    for d, files in ((broken, {'job.json': '{broken', 'source': 'data', 'alpha.mp4': 'out'}),
                     (empty, {'job.json': '', 'source': 'data'}),
                     (half, {'source': 'half an upload'})):
        os.makedirs(d)
        for name, text in files.items():
            with open(os.path.join(d, name), 'w') as f:
                f.write(text)
    s = server(data=data)
    listed = s.jobs()
    s.proc.send_signal(signal.SIGTERM)
    err = s.proc.communicate(timeout=30)[1]
    s.proc = None  # its pipes are closed
    check(listed == [], 'no damaged job is listed: %r' % listed)
    check(sorted(os.listdir(broken)) == ['alpha.mp4', 'job.json', 'source'] and
          open(os.path.join(broken, 'job.json')).read() == '{broken',
          'a folder with a damaged job.json is kept as it was: %r' % os.listdir(broken))
    check(sorted(os.listdir(empty)) == ['job.json', 'source'], 'and one with an empty job.json')
    check(not os.path.exists(half), 'a folder without job.json (a half-received upload) is removed')
    lines = err.splitlines()
    check(any(broken + '/job.json: not a job' in l and 'kept' in l for l in lines) and
          any(empty + '/job.json: empty' in l and 'kept' in l for l in lines) and
          any(half in l and 'removed' in l for l in lines),
          'each is said on stderr: %r' % lines)


def test_restart():
    data = os.path.join(work, 'data-restart')
    s = server(data=data)
    status, done = common.upload(s, SMALL, 'first.mp4')
    s.wait(done['id'])
    status, job = common.upload(s, LONG, 'long.mp4')
    status, queued = common.upload(s, SMALL, 'queued.mp4')
    wait_running(s, job['id'], 5)
    kids = common.children(s.proc.pid)
    s.stop(signal.SIGKILL)
    end = time.time() + 10
    while time.time() < end and any(os.path.exists('/proc/%d' % k) for k in kids):
        time.sleep(0.1)
    check(not any(os.path.exists('/proc/%d' % k) for k in kids),
          'the server killed with SIGKILL mid-job: its conversion dies with it')
    s.start()
    jobs = {j['id']: j for j in s.jobs()}
    check(list(jobs) == [done['id'], job['id'], queued['id']], 'after a restart it lists the three jobs in order')
    check(jobs[done['id']]['state'] == 'done' and len(jobs[done['id']]['files']) == 3,
          'the finished one is still done, with its files')
    check(jobs[job['id']]['state'] == 'interrupted' and
          jobs[job['id']]['error'] == 'rvm: the server stopped while this job ran',
          'the cut-off one is interrupted: ' + jobs[job['id']]['error'])
    check(files_on_disk(s, job['id']) == ['job.json', 'source'], 'its partial outputs are gone')
    check(s.wait(queued['id'])['state'] == 'done', 'the one still queued runs after the restart')
    status, _, data_ = s.request('GET', '/api/jobs/%s/files/composition.mp4' % done['id'])
    check(status == 200 and len(data_) == jobs[done['id']]['files'][1]['size'],
          'the earlier result downloads')
    # A clean stop (SIGTERM) in the middle of a job: the job is interrupted too.
    status, job3 = common.upload(s, LONG, 'long3.mp4')
    wait_running(s, job3['id'], 5)
    t0 = time.time()
    s.stop(signal.SIGTERM)
    check(time.time() - t0 < 10, 'SIGTERM stops the server in %.1f s' % (time.time() - t0))
    with open(os.path.join(data, 'jobs', job3['id'], 'job.json')) as f:
        state = json.load(f)['state']
    check(state == 'interrupted', 'and records the running job as interrupted')


tests = [(n[5:], f) for n, f in sorted(globals().items()) if n.startswith('test_')]
failed = 0
try:
    for name, fn in tests:
        if only and name not in only:
            continue
        print(name)
        try:
            fn()
        except Exception as e:  # report and go on: one line per failure
            failed += 1
            print('  FAILED: %s: %r' % (name, e))
            for s in servers:
                if s.proc and s.proc.poll() is not None:
                    print('  server stderr: ' + s.proc.stderr.read())
finally:
    for s in servers:
        s.stop()
    shutil.rmtree(work, ignore_errors=True)
sys.exit(1 if failed else 0)
