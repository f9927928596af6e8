# SPDX-License-Identifier: GPL-3.0-or-later
"""`rvm serve` in a real browser: headless Chromium (Debian's chromium and chromium-driver,
driven with python3-selenium) opens the page, uploads the shipped clip, waits for the
result, checks that both players loaded it (readyState, durations against ffprobe's), plays
them together, toggles the matte, downloads the composition through the page's link and
counts its frames with ffprobe, and saves a screenshot in the build folder.

usage: browser.py RVM SOURCE_DIR BUILD_DIR"""
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

rvm, source_dir, build_dir = sys.argv[1:4]
clip = os.path.join(source_dir, 'samples', 'asl_gestures_again.mkv')
chromium = '/usr/bin/chromium'
chromedriver = '/usr/bin/chromedriver'
for path in (chromium, chromedriver):
    if not os.access(path, os.X_OK):
        common.skip(path + ' is not installed (Debian chromium, chromium-driver)')
try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.common.exceptions import StaleElementReferenceException
except ImportError:
    common.skip('python3-selenium is not installed')
common.need('ffprobe')
common.need('ffmpeg')
common.need_serve(rvm)

work = common.tempdir('rvm-serve-browser-')
downloads = os.path.join(work, 'downloads')
os.mkdir(downloads)
screenshot = os.path.join(build_dir, 'serve_screenshot.png')
server = driver = None


def wait_for(what, fn, timeout):
    end = time.time() + timeout
    while time.time() < end:
        value = fn()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError('timed out waiting for ' + what)


def click_first(selector):
    """Clicks the first element matching selector. The page redraws the queue every 2 s, so
    an element found just before a redraw is gone when clicked: find it again then."""
    for _ in range(20):
        try:
            driver.find_element(By.CSS_SELECTOR, selector).click()
            return
        except StaleElementReferenceException:
            time.sleep(0.1)
    raise AssertionError(selector + ': kept being redrawn before it could be clicked')


def players():
    return driver.execute_script(
        "const a = document.getElementById('player-source'), b = document.getElementById('player-result');"
        "return [a.readyState, a.duration, b.readyState, b.duration, a.currentTime, b.currentTime,"
        " a.error && a.error.code, b.error && b.error.code, b.currentSrc];")


try:
    server = common.Server(rvm, os.path.join(work, 'data'), '--max-upload', '1M')
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
                 '--disable-component-update', '--disable-sync', '--no-first-run',
                 '--window-size=1280,1000', '--user-data-dir=' + os.path.join(work, 'profile')):
        options.add_argument(flag)
    options.add_experimental_option('prefs', {'download.default_directory': downloads,
                                              'download.prompt_for_download': False})
    options.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    driver.execute_cdp_cmd('Browser.setDownloadBehavior', {'behavior': 'allow', 'downloadPath': downloads})
    driver.get(server.url)
    assert 'rvm' in driver.title, driver.title

    # A person picks the clip (the file input the drop zone wraps) and presses the button. Its
    # name has quotes and accents: Chromium sends '"' as %22, the server names the job and
    # the downloads with the quote.
    named = os.path.join(work, 'asl "again" \u00e9t\u00e9.mkv')
    shutil.copyfile(clip, named)
    driver.find_element(By.ID, 'video-file').send_keys(named)
    # A colour typed as the command takes it (the picker gives #rrggbb only): it picks the
    # colour choice and is what the job gets.
    driver.find_element(By.ID, 'bg-colour-name').send_keys('#f80')
    assert driver.find_element(By.CSS_SELECTOR, 'input[name=bg][value=colour]').is_selected()
    start = driver.find_element(By.ID, 'start')
    wait_for('the start button', start.is_enabled, 60)
    start.click()
    result = driver.find_element(By.ID, 'result')
    try:
        wait_for('the job to show', result.is_displayed, 120)
    except AssertionError:
        raise AssertionError('the job did not show; the page says %r, the server lists %r, stderr %r'
                             % (driver.find_element(By.ID, 'error').text, server.jobs(),
                                [e['message'] for e in driver.get_log('browser')]))
    seen_progress = set()

    def finished():
        s = result.get_attribute('data-state')
        if s == 'running':
            text = driver.find_element(By.ID, 'job-text').text
            if 'left' in text and not any('left' in t for t in seen_progress):
                driver.save_screenshot(os.path.join(build_dir, 'serve_screenshot_progress.png'))
            seen_progress.add(text)
        return s if s in ('done', 'failed', 'cancelled', 'interrupted') else None
    state = wait_for('the conversion', finished, 900)
    background = server.jobs()[0]['options']['background']
    assert background == '#f80', background
    if state != 'done':
        raise AssertionError('the job ended ' + state + ': ' + driver.find_element(By.ID, 'result-error').text)
    print('progress lines seen on the page: %d, e.g. %r' % (len(seen_progress), sorted(seen_progress)[-1:]))
    assert any('frames/s' in t and 'left' in t for t in seen_progress), seen_progress

    # Both players load: readyState 4 (enough data to play through), durations from ffprobe.
    wait_for('both players', lambda: players()[0] == 4 and players()[2] == 4, 60)
    a_state, a_dur, b_state, b_dur, _, _, a_err, b_err, b_src = players()
    in_dur, in_fps, in_frames = common.probe_duration(clip), common.probe_fps(clip), common.probe_frames(clip)
    print('input: %.3f s, %.3f fps, %d frames; players: original %.3f s, composition %.3f s (%s)'
          % (in_dur, in_fps, in_frames, a_dur, b_dur, b_src))
    assert a_err is None and b_err is None, (a_err, b_err)
    assert abs(a_dur - in_dur) < 0.002, (a_dur, in_dur)
    # The composition is as long as the input to within one frame (the container's duration
    # of the source may count its last frame's length differently).
    assert abs(b_dur - in_dur) <= 1 / in_fps + 0.002, (b_dur, in_dur)
    assert b_src.endswith('/files/composition.mp4'), b_src

    # Played together, the players stay together.
    driver.find_element(By.ID, 'play-both').click()
    wait_for('playback', lambda: players()[5] > 1.0, 60)
    _, _, _, _, ta, tb, _, _, _ = players()
    print('playing: original at %.3f s, composition at %.3f s' % (ta, tb))
    assert abs(ta - tb) < 0.3, (ta, tb)
    driver.find_element(By.ID, 'play-both').click()

    # The matte toggle swaps the result for the matte and back.
    driver.find_element(By.ID, 'toggle-matte').click()
    wait_for('the matte', lambda: players()[8].endswith('/files/alpha.mp4') and players()[2] == 4, 60)
    driver.find_element(By.ID, 'toggle-matte').click()
    wait_for('the composition again', lambda: players()[8].endswith('/files/composition.mp4') and players()[2] == 4, 60)

    # A still frame for the screenshot: both at 1.3 s.
    driver.execute_script("for (const id of ['player-source', 'player-result']) document.getElementById(id).currentTime = 1.3;")
    wait_for('seek', lambda: abs(players()[4] - 1.3) < 0.05 and abs(players()[5] - 1.3) < 0.05, 60)
    time.sleep(0.5)
    driver.save_screenshot(screenshot)
    print('screenshot: ' + screenshot)

    # The page's download link, as a person would click it.
    link = driver.find_element(By.ID, 'download-composition')
    link.click()

    def downloaded():
        names = [n for n in os.listdir(downloads) if not n.endswith('.crdownload')]
        return names[0] if names else None
    name = wait_for('the download', downloaded, 60)
    path = os.path.join(downloads, name)
    frames = common.probe_frames(path)
    print('downloaded %s: %d frames (input %d)' % (name, frames, in_frames))
    title = driver.find_element(By.ID, 'result-title').text
    assert title == 'asl "again" \u00e9t\u00e9.mkv', title
    # The UTF-8 name of filename* (the ASCII one has '_' for the accents); Chromium saves a
    # '"' as '_' (a character it keeps out of file names on every system).
    assert name == 'asl _again_ \u00e9t\u00e9-composition.mp4', name
    assert frames == in_frames, (frames, in_frames)

    # Nothing the page did was refused by its own Content-Security-Policy or failed.
    problems = [e['message'] for e in driver.get_log('browser') if e['level'] == 'SEVERE']
    assert not problems, problems

    # Errors read as the command's one line: a text file given as the video, a file over the
    # server's limit (1 MB here).
    notes = os.path.join(work, 'notes.txt')
    with open(notes, 'w') as f:
        f.write('not a video\n' * 100)
    big = os.path.join(work, 'big.mp4')
    with open(big, 'wb') as f:
        f.write(b'\0' * (2 << 20))
    driver.find_element(By.ID, 'video-file').send_keys(big)
    driver.find_element(By.ID, 'start').click()
    error = driver.find_element(By.ID, 'error')
    wait_for('the size error', error.is_displayed, 60)
    print('too large, on the page: ' + error.text)
    assert error.text == "rvm: the upload (2.0 MB) is larger than this server's limit of 1.0 MB", error.text
    # Typed in the colour box, green is the colour green, as the command's --background
    # green (the API's own "green" is the official green screen, the first choice): it
    # gave the official green. (The job fails on its video, so nothing is converted.)
    driver.find_element(By.ID, 'bg-colour-name').clear()
    driver.find_element(By.ID, 'bg-colour-name').send_keys('green')
    driver.find_element(By.ID, 'video-file').send_keys(notes)
    driver.find_element(By.ID, 'start').click()
    wait_for('the failed job', lambda: result.get_attribute('data-state') == 'failed', 120)
    typed = [j['options']['background'] for j in server.jobs() if j['name'] == 'notes.txt']
    assert typed == ['Green'], typed
    line = driver.find_element(By.ID, 'result-error').text
    print('a text file, on the page: ' + line)
    assert line == 'rvm: notes.txt: not a video or image file FFmpeg can read', line
    driver.save_screenshot(os.path.join(build_dir, 'serve_screenshot_error.png'))
    # A typed colour that is none is refused in the page's terms (what to type in the box),
    # not the API's ("expected green, a colour (...), image (with background_image) or
    # none"); no job is made.
    driver.find_element(By.ID, 'bg-colour-name').clear()
    driver.find_element(By.ID, 'bg-colour-name').send_keys('blurple')
    driver.find_element(By.ID, 'video-file').send_keys(notes)
    driver.find_element(By.ID, 'start').click()
    want = ('rvm: "blurple" is not a colour: type a name (red), #RRGGBB, #RGB or R,G,B in the '
            'box, or pick one with the colour button')
    wait_for('the colour error', lambda: error.is_displayed() and error.text == want, 60)
    print('a typed colour that is none, on the page: ' + error.text)
    driver.find_element(By.ID, 'bg-colour-name').clear()
    driver.find_element(By.ID, 'bg-colour-name').send_keys('#ff000080')
    driver.find_element(By.ID, 'start').click()
    want = ('rvm: "#ff000080" is see-through, but a composition over a colour is opaque: choose '
            'Transparent (WebM or MOV) for a see-through one')
    wait_for('the see-through error', lambda: error.is_displayed() and error.text == want, 60)
    assert len(server.jobs()) == 2, server.jobs()
    driver.find_element(By.ID, 'bg-colour-name').clear()
    click_first('#queue li.job button.delete')  # the failed job (the list shows the newest first)
    wait_for('one job left', lambda: len(server.jobs()) == 1, 60)

    # Delete, from the queue: gone from the page, the server and the disk.
    click_first('#queue li.job button.delete')
    wait_for('the queue to empty', lambda: driver.find_element(By.ID, 'queue-empty').is_displayed(), 60)
    assert server.jobs() == [] and os.listdir(os.path.join(server.data_dir, 'jobs')) == []
    assert not driver.find_element(By.ID, 'result').is_displayed()

    # An original the browser cannot play (MJPEG in AVI, which rvm reads): its player gives
    # way to a line saying so (it stayed a black player at 0:00); the result still plays.
    avi = os.path.join(work, 'tiny.avi')
    subprocess.run(['ffmpeg', '-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=96x64:rate=10',
                '-frames:v', '3', '-c:v', 'mjpeg', avi], check=True)
    driver.find_element(By.ID, 'video-file').send_keys(avi)
    driver.find_element(By.ID, 'start').click()
    wait_for('the AVI job', lambda: result.get_attribute('data-state') == 'done', 300)
    note = driver.find_element(By.ID, 'no-source-preview')
    wait_for('the note on the original', note.is_displayed, 60)
    assert not driver.find_element(By.ID, 'player-source').is_displayed()
    wait_for('the result player', lambda: players()[2] == 4, 60)
    print('an original the browser cannot play: ' + note.text)
    click_first('#queue li.job button.delete')
    wait_for('the queue to empty', lambda: driver.find_element(By.ID, 'queue-empty').is_displayed(), 60)
    print('ok')
finally:
    if driver:
        driver.quit()
    if server:
        server.stop()
    shutil.rmtree(work, ignore_errors=True)
