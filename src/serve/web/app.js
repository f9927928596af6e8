// SPDX-License-Identifier: GPL-3.0-or-later
// The page of `rvm serve`: upload a video, follow the queue, watch and download the result.
'use strict';

const $ = (id) => document.getElementById(id);
const state = {
  maxUpload: 0,
  jobs: [],
  selected: null,   // id of the job shown under Result
  shownDone: null,  // id whose players are loaded
  events: null,     // EventSource of the selected job
  matte: false,
};

const STATE_TEXT = {
  queued: 'Waiting', running: 'Working', done: 'Done', failed: 'Failed',
  cancelled: 'Cancelled', interrupted: 'Interrupted',
};

function formatSize(bytes) {
  const units = ['bytes', 'KB', 'MB', 'GB', 'TB'];
  let u = 0;
  while (bytes >= 1024 && u < units.length - 1) { bytes /= 1024; u++; }
  return u ? bytes.toFixed(1) + ' ' + units[u] : bytes + ' bytes';
}

function formatTime(s) {
  s = Math.max(0, Math.round(s));
  const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, sec = s % 60;
  const two = (n) => String(n).padStart(2, '0');
  return h ? h + ':' + two(m) + ':' + two(sec) : m + ':' + two(sec);
}

function progressText(job) {
  const p = job.progress || {};
  if (job.state === 'queued')
    return job.queue_position > 1 ? 'waiting: ' + (job.queue_position - 1) + ' before it' : 'next';
  if (job.state !== 'running') return '';
  let t = p.frames + (p.total ? ' of ' + p.total : '') + ' frames';
  if (p.fps) t += ' · ' + p.fps.toFixed(1) + ' frames/s';
  if (p.eta !== undefined && p.frames > 0) t += ' · ' + formatTime(p.eta) + ' left';
  return t;
}

function showError(el, text) {
  el.textContent = text || '';
  el.hidden = !text;
}

// Answers carry {"error": "rvm: ..."}; anything else becomes one line too.
async function errorOf(response) {
  try {
    const body = await response.json();
    if (body && body.error) return body.error;
  } catch (e) { /* not JSON */ }
  return 'rvm: the server answered ' + response.status + ' ' + response.statusText;
}

async function api(method, url) {
  const r = await fetch(url, { method, credentials: 'same-origin' });
  if (r.status === 401) { location.reload(); throw new Error('rvm: log in again'); }
  if (!r.ok) throw new Error(await errorOf(r));
  return r.status === 204 ? null : r.json();
}

// ---- the form ----------------------------------------------------------------------------

function chosenBackground() {
  return document.querySelector('input[name=bg]:checked').value;
}

function updateForm() {
  const file = $('video-file').files[0];
  $('drop-text').innerHTML = '';
  if (file) {
    const s = document.createElement('strong');
    s.textContent = file.name;
    $('drop-text').append(s, ' (' + formatSize(file.size) + '): drop or click to change');
  } else {
    $('drop-text').innerHTML = '<strong>Drop a video here</strong> or click to choose one';
  }
  const transparent = chosenBackground() === 'none';
  const format = $('format');
  if (transparent && format.value === 'mp4') format.value = 'webm';
  format.options[0].disabled = transparent && $('out-composition').checked;
  $('format-hint').textContent = transparent
    ? 'Transparency needs WebM or MOV: MP4 cannot hold it.'
    : format.value === 'mov' ? 'MOV files download; browsers cannot play them here.' : '';
  const anyOutput = ['composition', 'alpha', 'foreground'].some((k) => $('out-' + k).checked);
  $('start').disabled = !file || !anyOutput;
  showError($('error'), '');
}

function setupForm() {
  const drop = $('drop');
  ['dragenter', 'dragover'].forEach((ev) => drop.addEventListener(ev, (e) => {
    e.preventDefault();
    drop.classList.add('over');
  }));
  ['dragleave', 'drop'].forEach((ev) => drop.addEventListener(ev, () => drop.classList.remove('over')));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    if (e.dataTransfer.files.length) {
      $('video-file').files = e.dataTransfer.files;
      updateForm();
    }
  });
  $('form').addEventListener('change', updateForm);
  // The picker gives #rrggbb; the text box takes the command's other colour forms (a name,
  // #RGB, R,G,B), which the server checks. The last one used is the colour.
  $('bg-colour').addEventListener('input', () => { $('bg-colour-name').value = ''; document.querySelector('input[name=bg][value=colour]').checked = true; updateForm(); });
  $('bg-colour-name').addEventListener('input', () => { document.querySelector('input[name=bg][value=colour]').checked = true; updateForm(); });
  $('bg-image').addEventListener('change', () => { document.querySelector('input[name=bg][value=image]').checked = true; updateForm(); });
  $('form').addEventListener('submit', (e) => { e.preventDefault(); upload(); });
  updateForm();
}

function upload() {
  const file = $('video-file').files[0];
  if (!file) return;
  const err = $('error');
  if (state.maxUpload && file.size > state.maxUpload) {
    showError(err, 'rvm: the upload (' + formatSize(file.size) + ") is larger than this server's limit of " + formatSize(state.maxUpload));
    return;
  }
  const data = new FormData();
  let bg = chosenBackground();
  const typed = bg === 'colour' ? $('bg-colour-name').value.trim() : '';
  if (bg === 'colour') {
    bg = typed || $('bg-colour').value;
    // Typed here, a word is a colour name as the command's --background takes it (green is
    // #008000 there); the API's own words green (the official green screen) and image are
    // the choices above, so they go capitalised (names are matched in any case). Typed
    // green gave the official green; typed image, the image picked under the other choice.
    if (bg === 'green' || bg === 'image') bg = bg[0].toUpperCase() + bg.slice(1);
  }
  if (bg === 'image') {
    const image = $('bg-image').files[0];
    if (!image) { showError(err, 'rvm: choose the background image first'); return; }
    data.append('background_image', image, image.name);
  }
  data.append('background', bg);
  data.append('outputs', ['composition', 'alpha', 'foreground'].filter((k) => $('out-' + k).checked).join(','));
  data.append('format', $('format').value);
  data.append('ratio', $('ratio').value);
  data.append('video', file, file.name); // last, so the small fields arrive first

  const xhr = new XMLHttpRequest();
  xhr.open('POST', '/api/jobs');
  $('upload').hidden = false;
  $('start').disabled = true;
  xhr.upload.onprogress = (e) => {
    if (!e.lengthComputable) return;
    $('upload-bar').value = e.loaded / e.total;
    $('upload-text').textContent = 'Sending ' + formatSize(e.loaded) + ' of ' + formatSize(e.total);
  };
  xhr.onload = () => {
    $('upload').hidden = true;
    updateForm();
    let body = null;
    try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
    if (xhr.status === 201 && body) {
      $('video-file').value = '';
      updateForm();
      select(body.id);
      refresh();
    } else if (typed && body && body.error && body.error.startsWith('rvm: background ' + bg + ': ')) {
      // The API's refusals name its own words (green, image, none); here only what the box
      // takes applies, said as what to type there or which choice to make.
      showError(err, body.error.includes('see-through')
        ? 'rvm: "' + typed + '" is see-through, but a composition over a colour is opaque: choose Transparent (WebM or MOV) for a see-through one'
        : 'rvm: "' + typed + '" is not a colour: type a name (red), #RRGGBB, #RGB or R,G,B in the box, or pick one with the colour button');
    } else {
      showError(err, body && body.error ? body.error : 'rvm: the server answered ' + xhr.status);
    }
  };
  xhr.onerror = () => {
    $('upload').hidden = true;
    updateForm();
    showError(err, 'rvm: the upload was cut off (the server refused it or stopped)');
  };
  xhr.send(data);
}

// ---- the queue --------------------------------------------------------------------------------

function jobItem(job) {
  const li = document.createElement('li');
  li.className = 'job ' + job.state + (job.id === state.selected ? ' selected' : '');
  li.dataset.id = job.id;
  const name = document.createElement('button');
  name.type = 'button';
  name.className = 'name';
  name.textContent = job.name;
  name.title = 'Show this video';
  name.addEventListener('click', () => select(job.id));
  const badge = document.createElement('span');
  badge.className = 'badge';
  badge.textContent = STATE_TEXT[job.state] || job.state;
  li.append(name, badge);
  if (job.state === 'running') {
    const bar = document.createElement('progress');
    bar.max = 1;
    const p = job.progress || {};
    if (p.total) bar.value = Math.min(1, p.frames / p.total);
    li.append(bar);
  }
  const text = document.createElement('span');
  text.className = 'detail';
  text.textContent = job.error || progressText(job);
  li.append(text);
  const actions = document.createElement('span');
  actions.className = 'actions';
  if (job.state === 'queued' || job.state === 'running') {
    const cancel = document.createElement('button');
    cancel.type = 'button';
    cancel.className = 'cancel';
    cancel.textContent = 'Cancel';
    cancel.addEventListener('click', () => api('POST', '/api/jobs/' + job.id + '/cancel').then(refresh, (e) => showError($('error'), e.message)));
    actions.append(cancel);
  }
  const del = document.createElement('button');
  del.type = 'button';
  del.className = 'delete';
  del.textContent = 'Delete';
  del.title = 'Delete the video and its results from this computer';
  del.addEventListener('click', () => api('DELETE', '/api/jobs/' + job.id).then(() => {
    if (state.selected === job.id) select(null);
    refresh();
  }, (e) => showError($('error'), e.message)));
  actions.append(del);
  li.append(actions);
  return li;
}

function renderQueue() {
  const list = $('queue');
  list.replaceChildren(...state.jobs.slice().reverse().map(jobItem));
  $('queue-empty').hidden = state.jobs.length > 0;
}

async function refresh() {
  // A listing asked for before a job was selected may not hold that job yet (an upload that
  // finished while the request was under way): only a listing asked for after the selection
  // can tell that the selected job is gone.
  const selectedBefore = state.selected;
  try {
    const body = await api('GET', '/api/jobs');
    const first = state.maxUpload === 0;
    state.jobs = body.jobs;
    state.maxUpload = body.max_upload;
    // On opening the page, the latest video is shown.
    if (first && !state.selected && state.jobs.length) select(state.jobs[state.jobs.length - 1].id);
    renderQueue();
    const job = state.jobs.find((j) => j.id === state.selected);
    if (state.selected && !job) { if (state.selected === selectedBefore) select(null); }
    else if (job && !state.events) renderResult(job);
  } catch (e) {
    showError($('error'), e.message.startsWith('rvm:') ? e.message : 'rvm: the server cannot be reached');
  }
}

// ---- the result -------------------------------------------------------------------------------

function select(id) {
  if (state.events) { state.events.close(); state.events = null; }
  state.selected = id;
  state.shownDone = null;
  state.matte = false;
  $('result').hidden = !id;
  $('players').hidden = true;
  $('player-actions').hidden = true;
  ['player-source', 'player-result'].forEach((p) => { $(p).removeAttribute('src'); $(p).load(); });
  $('downloads').replaceChildren();
  if (!id) return;
  const job = state.jobs.find((j) => j.id === id);
  if (job) renderResult(job);
  if (!job || job.state === 'queued' || job.state === 'running') {
    const es = new EventSource('/api/jobs/' + id + '/events');
    es.addEventListener('job', (e) => {
      const j = JSON.parse(e.data);
      const i = state.jobs.findIndex((x) => x.id === j.id);
      if (i >= 0) state.jobs[i] = j; else state.jobs.push(j);
      renderQueue();
      renderResult(j);
      if (j.state !== 'queued' && j.state !== 'running') { es.close(); if (state.events === es) state.events = null; }
    });
    es.onerror = () => { es.close(); if (state.events === es) state.events = null; };
    state.events = es;
  }
  renderQueue();
}

function fileOf(job, kind) {
  return (job.files || []).find((f) => f.kind === kind);
}

function renderResult(job) {
  if (job.id !== state.selected) return;
  const result = $('result');
  result.dataset.state = job.state;
  $('result-title').textContent = job.name;
  $('result-status').textContent = STATE_TEXT[job.state] + (job.state === 'queued' ? ' (' + progressText(job) + ')' : '');
  const running = job.state === 'running';
  $('result-progress').hidden = !running;
  if (running) {
    const p = job.progress || {};
    $('job-bar').value = p.total ? Math.min(1, p.frames / p.total) : 0;
    $('job-text').textContent = progressText(job);
  }
  showError($('result-error'), job.error || '');
  if (job.state === 'done' && state.shownDone !== job.id) {
    state.shownDone = job.id;
    showPlayers(job);
  }
}

function showPlayers(job) {
  const source = fileOf(job, 'source');
  const com = fileOf(job, 'composition') || fileOf(job, 'foreground');
  const matte = fileOf(job, 'alpha');
  const shown = com || matte;
  $('players').hidden = false;
  $('player-source').hidden = false;
  $('no-source-preview').hidden = true;
  $('player-source').src = source ? source.url : '';
  const playable = shown && job.options.format !== 'mov';
  $('player-result').hidden = !playable;
  $('no-preview').hidden = !!playable;
  state.matte = !com;
  if (playable) $('player-result').src = shown.url;
  $('result-caption').textContent = state.matte ? 'Matte' : com && com.kind === 'foreground' ? 'Foreground' : 'Result';
  $('toggle-matte').hidden = !(com && matte && playable);
  $('toggle-matte').textContent = 'Show the matte';
  $('player-actions').hidden = !playable;
  const names = { source: 'Original', composition: 'Result', alpha: 'Matte', foreground: 'Foreground' };
  $('downloads').replaceChildren(...job.files.map((f) => {
    const li = document.createElement('li');
    const a = document.createElement('a');
    a.href = f.url + '?download=1';
    a.id = 'download-' + f.kind;
    a.setAttribute('download', '');
    a.textContent = 'Download ' + names[f.kind].toLowerCase() + ' (' + f.download_name + ', ' + formatSize(f.size) + ')';
    li.append(a);
    return li;
  }));
}

// The two players move together: play, pause, seek and rate follow the one the person uses.
function setupPlayers() {
  const a = $('player-source'), b = $('player-result');
  let following = false;
  // rvm reads more than browsers play (an MJPEG AVI, 10-bit HEVC, ProRes, a photo): the
  // original's player would stay black at 0:00, so it gives way to a line saying why.
  a.addEventListener('error', () => {
    if (!a.getAttribute('src')) return;
    a.hidden = true;
    $('no-source-preview').hidden = false;
  });
  const follow = (from, to) => {
    from.addEventListener('play', () => { if (!following && to.paused && to.src) to.play().catch(() => {}); });
    from.addEventListener('pause', () => { if (!following && !to.paused) to.pause(); });
    from.addEventListener('seeking', () => {
      if (following || !to.src) return;
      following = true;
      to.currentTime = from.currentTime;
      setTimeout(() => { following = false; }, 50);
    });
    from.addEventListener('ratechange', () => { to.playbackRate = from.playbackRate; });
  };
  follow(a, b);
  follow(b, a);
  // Drift correction while both play.
  b.addEventListener('timeupdate', () => {
    if (!b.paused && !a.paused && Math.abs(a.currentTime - b.currentTime) > 0.15) a.currentTime = b.currentTime;
  });
  $('play-both').addEventListener('click', () => {
    if (b.paused) { a.currentTime = b.currentTime; a.play().catch(() => {}); b.play().catch(() => {}); }
    else { a.pause(); b.pause(); }
  });
  b.addEventListener('play', () => { $('play-both').textContent = 'Pause both'; });
  b.addEventListener('pause', () => { $('play-both').textContent = 'Play both'; });
  $('toggle-matte').addEventListener('click', () => {
    const job = state.jobs.find((j) => j.id === state.selected);
    if (!job) return;
    const com = fileOf(job, 'composition') || fileOf(job, 'foreground');
    const matte = fileOf(job, 'alpha');
    if (!com || !matte) return;
    state.matte = !state.matte;
    const t = b.currentTime, playing = !b.paused;
    b.src = (state.matte ? matte : com).url;
    b.addEventListener('loadedmetadata', () => {
      b.currentTime = t;
      if (playing) b.play().catch(() => {});
    }, { once: true });
    $('toggle-matte').textContent = state.matte ? 'Show the result' : 'Show the matte';
    $('result-caption').textContent = state.matte ? 'Matte' : 'Result';
  });
}

setupForm();
setupPlayers();
refresh();
setInterval(refresh, 2000);
