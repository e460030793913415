/// The review station's Mustache templates and its two scripts (served as `/static/*.js`, so pages carry no inline
/// script). Values only ever appear as `{{name}}` (HTML-escaped); there is no `{{{...}}}` anywhere.
enum ReviewTemplates {
    static let all: [(String, String)] = [
        ("head", head), ("patients", patients), ("patient", patient), ("cell", cell), ("report", report),
    ]

    static let head = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="csrf-token" content="{{csrf}}">
        <title>{{title}} - KaryoCount review</title>
        <style>
        body { font: 15px/1.4 system-ui, sans-serif; margin: 0; color: #1b1f23; background: #f6f7f9; }
        header { background: #24323f; color: #fff; padding: 8px 16px; display: flex; gap: 16px; align-items: baseline; }
        header a { color: #fff; text-decoration: none; font-weight: 600; }
        main { padding: 12px 16px; }
        table { border-collapse: collapse; background: #fff; }
        th, td { padding: 5px 10px; border-bottom: 1px solid #dde1e6; text-align: left; vertical-align: top; }
        th { background: #eef1f4; }
        .flag { color: #a4000f; font-weight: 600; }
        .ok { color: #1a7f37; }
        .muted { color: #5c6670; }
        .badge { display: inline-block; padding: 0 6px; border-radius: 8px; font-size: 12px; background: #e4e8ec; }
        .badge.flag { background: #ffe1e1; }
        .badge.done { background: #d9f2df; color: #11602a; }
        .grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr)); gap: 10px; }
        .tile { background: #fff; border: 1px solid #dde1e6; border-radius: 4px; padding: 6px; color: inherit;
          text-decoration: none; }
        .tile img { width: 100%; display: block; background: #ddd; }
        .tile.abnormal { border-color: #d9534f; }
        .count { font-size: 20px; font-weight: 700; }
        button { font: inherit; padding: 3px 10px; }
        input { font: inherit; }
        .error { color: #a4000f; }
        </style></head><body>
        <header><a href="/">KaryoCount review</a><span>{{title}}</span></header>
        """

    static let patients = """
        {{> head}}
        <main>
        {{#none}}<p>No patient has a counted image yet.</p>{{/none}}
        {{^none}}
        <table id="patients">
        <tr><th>Patient</th><th>State</th><th>Flag</th><th>Modal</th><th>Distribution</th><th>Counted</th>
        <th>Reviewed</th><th>Sign-off</th></tr>
        {{#patients}}
        <tr data-patient="{{name}}"><td><a href="{{url}}">{{name}}</a></td><td>{{state}}</td>
        <td>{{#flagged}}<span class="flag">{{flagReason}}</span>{{/flagged}}{{^flagged}}-{{/flagged}}</td>
        <td>{{modal}}</td><td>{{distribution}}</td><td>{{counted}}</td>
        <td>{{#allReviewed}}<span class="badge done">{{reviewed}}</span>{{/allReviewed}}{{^allReviewed}}{{reviewed}}{{/allReviewed}}</td>
        <td>{{#signedOff}}signed off by {{signedOffBy}}{{/signedOff}}{{^signedOff}}open{{/signedOff}}</td></tr>
        {{/patients}}
        </table>
        {{/none}}
        <p class="muted">Flagged patients first, then those with unreviewed counts. A flag is a call for review, not a
        diagnosis.</p>
        </main></body></html>
        """

    static let patient = """
        {{> head}}
        <main id="patient" data-api="{{api}}">
        <h1>{{name}} <span class="badge">{{state}}</span></h1>
        {{#flagged}}<p class="flag" id="flag">Numerical abnormality suspected: {{flagReason}}. A call for review, not a
        diagnosis.</p>{{/flagged}}
        {{^flagged}}<p class="ok" id="flag">No flag raised.</p>{{/flagged}}
        <p><b>{{distribution}}</b> &middot; {{reviewed}} of {{counted}} counts reviewed &middot;
        <a href="{{report}}">printable report</a></p>
        <ul class="muted">{{#notes}}<li>{{.}}</li>{{/notes}}</ul>
        <section id="sign-off">
        {{#signedOff}}<p><b>Signed off by {{signedOffBy}}.</b> Counts are frozen.
        <input id="reason" placeholder="reason to reopen" size="30"> <button id="reopen">Reopen</button></p>{{/signedOff}}
        {{^signedOff}}<p><button id="sign">Sign off patient</button></p>{{/signedOff}}
        <p><label>Your name <input id="reviewer" size="18"></label> <span id="message" class="error"></span></p>
        {{#events.0}}<p class="muted">History:</p><ul class="muted">{{/events.0}}
        {{#events}}<li>{{action}} by {{by}} at {{at}}{{#reason}}: {{reason}}{{/reason}}</li>{{/events}}
        {{#events.0}}</ul>{{/events.0}}
        </section>
        <div class="grid" id="cells">
        {{#cells}}
        <a class="tile{{#abnormal}} abnormal{{/abnormal}}" href="{{url}}" data-stem="{{stem}}">
        <img src="{{thumb}}" alt="{{stem}}" loading="lazy">
        <div><span class="count">{{count}}</span>
        {{#changed}}<span class="muted">(detector {{detectorCount}})</span>{{/changed}}
        {{#reviewed}}<span class="badge done">reviewed by {{reviewedBy}}</span>{{/reviewed}}
        {{^reviewed}}<span class="badge">not reviewed</span>{{/reviewed}}
        {{#uncertain}}<span class="badge flag">uncertain</span>{{/uncertain}}</div>
        <div class="muted">{{stem}}</div>
        {{#warnings}}<div class="error">{{.}}</div>{{/warnings}}
        </a>
        {{/cells}}
        </div>
        </main>
        <script src="/static/patient.js"></script>
        </body></html>
        """

    static let cell = """
        {{> head}}
        <main id="cell" data-cell="{{data}}">
        <div id="bar" style="display:flex; gap:12px; align-items:center; flex-wrap:wrap; margin-bottom:8px">
        <a href="{{patientURL}}">&larr; {{patient}}</a><b>{{stem}}</b>
        <span>count <span class="count" id="count"></span> <span class="muted" id="detector"></span></span>
        <button id="prev" title="previous cell (p)">&lsaquo; prev</button>
        <button id="next" title="next cell (n)">next &rsaquo;</button>
        <button id="accept" title="save the boxes shown as the count, then go to the next cell (a)">Accept (a)</button>
        <label>type count <input id="typed" type="number" min="0" max="500" style="width:5em"></label>
        <button id="save-typed">Save typed count</button>
        <label><input id="below" type="checkbox"> below threshold (b)</label>
        {{^signedIn}}<label>reviewer <input id="reviewer" size="14"></label>{{/signedIn}}
        {{#signedIn}}<span class="muted">signed in as {{user}}</span>{{/signedIn}}
        <span id="status" class="muted"></span>
        </div>
        {{#signedOff}}<p class="flag">Signed off by {{signedOffBy}}: counts are frozen until the patient is
        reopened.</p>{{/signedOff}}
        {{#warnings}}<p class="error">{{.}}</p>{{/warnings}}
        <p class="muted">Click a box to remove it; drag on the image to draw a missed chromosome; wheel or +/- to
        zoom, shift-drag or right-drag to pan, 0 to fit; u undoes.</p>
        <svg id="view" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {{width}} {{height}}"
          style="width:100%; max-height:82vh; background:#222; cursor:crosshair; user-select:none">
        <image href="{{image}}" x="0" y="0" width="{{width}}" height="{{height}}"></image>
        <g id="below-boxes" style="display:none"></g><g id="boxes"></g>
        <rect id="drawing" fill="none" stroke="#4da3ff" stroke-width="1.5" vector-effect="non-scaling-stroke"
          style="display:none"></rect>
        </svg>
        <h3>Review history</h3><ul id="history" class="muted"></ul>
        </main>
        <script src="/static/cell.js"></script>
        </body></html>
        """

    static let report = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>{{title}} - KaryoCount</title>
        <style>
        body { font: 14px/1.5 Georgia, serif; max-width: 800px; margin: 24px auto; color: #000; }
        h1 { font-size: 22px; } table { border-collapse: collapse; } td, th { padding: 3px 10px;
        border-bottom: 1px solid #999; text-align: left; } .flag { color: #a4000f; font-weight: bold; }
        .muted { color: #444; } @media print { a.screen { display: none; } body { margin: 0; } }
        </style></head><body>
        <p><a class="screen" href="{{patientURL}}">&larr; back to the patient</a></p>
        <h1>Chromosome count report: {{name}}</h1>
        <table>
        <tr><th>Images counted</th><td>{{counted}} ({{state}})</td></tr>
        <tr><th>Counts reviewed by a cytologist</th><td>{{reviewed}} of {{counted}}</td></tr>
        <tr><th>Modal count</th><td>{{modal}}</td></tr>
        <tr><th>Distribution (ISCN)</th><td>{{distribution}}</td></tr>
        <tr><th>Flag</th><td>{{#flagged}}<span class="flag">{{flagName}}</span>: {{flagReason}}{{/flagged}}
        {{^flagged}}not raised (fewer than {{minDisagreeing}} images differ from {{expected}}){{/flagged}}</td></tr>
        <tr><th>Reviewed by</th><td>{{#anyReviewers}}{{reviewers}}{{/anyReviewers}}{{^anyReviewers}}no one yet{{/anyReviewers}}</td></tr>
        <tr><th>Signed off</th><td>{{#signedOff}}by {{signedOffBy}} at {{signedOffAt}}{{/signedOff}}
        {{^signedOff}}not signed off: this report may still change{{/signedOff}}</td></tr>
        </table>
        {{#anySince}}<p class="flag">{{since}} image(s) were counted after the sign-off and are not in this
        report.</p>{{/anySince}}
        <h2>Cells that disagree with {{expected}}</h2>
        {{#anyDisagreeing}}<table><tr><th>Cell</th><th>Count</th><th>Detector count</th><th>Reviewed by</th></tr>
        {{#disagreeing}}<tr><td>{{stem}}</td><td>{{count}}</td><td>{{detectorCount}}</td><td>{{reviewedBy}}</td></tr>{{/disagreeing}}
        </table>{{/anyDisagreeing}}
        {{^anyDisagreeing}}<p>None.</p>{{/anyDisagreeing}}
        <h2>Notes</h2><ul>{{#notes}}<li>{{.}}</li>{{/notes}}</ul>
        <p class="muted"><b>Limitation.</b> {{limitation}} A flag is a call for review, never a diagnosis.</p>
        </body></html>
        """

    /// The patient page's sign-off and reopen buttons.
    static let patientScript = """
        (function () {
          var main = document.getElementById('patient');
          var csrf = document.querySelector('meta[name=csrf-token]').content;
          var name = document.getElementById('reviewer');
          name.value = localStorage.getItem('karyocount.reviewer') || '';
          function post(path, body) {
            localStorage.setItem('karyocount.reviewer', name.value);
            fetch(main.dataset.api + path, {method: 'POST', credentials: 'same-origin',
              headers: {'Content-Type': 'application/json', 'X-KaryoCount-CSRF': csrf}, body: JSON.stringify(body)})
              .then(function (r) { return r.ok ? location.reload() : r.text().then(function (t) {
                document.getElementById('message').textContent = t; }); });
          }
          var sign = document.getElementById('sign');
          if (sign) sign.onclick = function () { post('/sign-off', {by: name.value}); };
          var reopen = document.getElementById('reopen');
          if (reopen) reopen.onclick = function () {
            post('/reopen', {by: name.value, reason: document.getElementById('reason').value}); };
        })();
        """

    /// The cell page's editor: boxes over the image in an SVG whose viewBox is the image's pixel grid, so box
    /// coordinates are source pixels throughout.
    static let cellScript = """
        (function () {
          'use strict';
          var main = document.getElementById('cell');
          var data = JSON.parse(main.dataset.cell);
          var cell = data.cell;
          var csrf = document.querySelector('meta[name=csrf-token]').content;
          var svg = document.getElementById('view');
          var layer = document.getElementById('boxes');
          var belowLayer = document.getElementById('below-boxes');
          var drawing = document.getElementById('drawing');
          var status = document.getElementById('status');
          var reviewer = document.getElementById('reviewer');
          var boxes = cell.boxes.map(function (b) { return b.slice(); });
          var undo = [];
          var frozen = cell.signed_off_by !== null && cell.signed_off_by !== undefined;
          var view = {x: 0, y: 0, w: cell.width, h: cell.height};
          var NS = 'http://www.w3.org/2000/svg';
          var label = Math.max(12, Math.round(cell.width / 110));
          if (reviewer) reviewer.value = localStorage.getItem('karyocount.reviewer') || '';

          function el(name, attrs) {
            var e = document.createElementNS(NS, name);
            for (var k in attrs) e.setAttribute(k, attrs[k]);
            return e;
          }
          function rect(b, colour, dash) {
            return el('rect', {x: b[0], y: b[1], width: b[2] - b[0], height: b[3] - b[1], fill: 'transparent',
              stroke: colour, 'stroke-width': 1.5, 'vector-effect': 'non-scaling-stroke',
              'stroke-dasharray': dash || 'none'});
          }
          function area(b) { return (b[2] - b[0]) * (b[3] - b[1]); }
          function render() {
            layer.textContent = '';
            // Largest first, so a box inside another stays on top and clickable; numbers follow the list.
            var order = boxes.map(function (b, i) { return i; });
            order.sort(function (i, j) { return area(boxes[j]) - area(boxes[i]); });
            order.forEach(function (i) {
              var b = boxes[i];
              var g = el('g', {'class': 'box', 'data-index': i});
              g.appendChild(rect(b, '#39d353'));
              var t = el('text', {x: b[0], y: Math.max(label, b[1] - 2), fill: '#39d353', 'font-size': label,
                'font-family': 'sans-serif', 'paint-order': 'stroke', stroke: '#000', 'stroke-width': 3,
                'pointer-events': 'none'});
              t.textContent = String(i + 1);
              g.appendChild(t);
              g.style.cursor = frozen ? 'default' : 'pointer';
              g.addEventListener('mousedown', function (e) { e.stopPropagation(); });
              g.addEventListener('click', function (e) {
                e.stopPropagation();
                if (frozen) return;
                undo.push(boxes.slice());
                boxes.splice(i, 1);
                render();
              });
              layer.appendChild(g);
            });
            document.getElementById('count').textContent = String(boxes.length);
            document.getElementById('detector').textContent =
              '(detector ' + cell.detector_count + (cell.reviewed ? ', reviewed ' + cell.count : '') + ')';
          }
          function renderBelow() {
            cell.below_threshold.forEach(function (d) {
              var g = el('g', {'class': 'below'});
              g.appendChild(rect(d.box, '#ff9f1a', '4 3'));
              var t = el('title', {});
              t.textContent = 'score ' + d.score.toFixed(2) + ' (click to count it)';
              g.appendChild(t);
              g.style.cursor = 'copy';
              g.addEventListener('mousedown', function (e) { e.stopPropagation(); });
              g.addEventListener('click', function (e) {
                e.stopPropagation();
                if (frozen) return;
                undo.push(boxes.slice());
                boxes.push(d.box.slice());
                render();
              });
              belowLayer.appendChild(g);
            });
          }
          function setView() {
            svg.setAttribute('viewBox', [view.x, view.y, view.w, view.h].join(' '));
          }
          function point(e) {
            var p = svg.createSVGPoint();
            p.x = e.clientX; p.y = e.clientY;
            var q = p.matrixTransform(svg.getScreenCTM().inverse());
            return {x: Math.min(cell.width, Math.max(0, q.x)), y: Math.min(cell.height, Math.max(0, q.y))};
          }
          function zoom(factor, at) {
            var w = Math.min(cell.width, Math.max(cell.width / 20, view.w * factor));
            var h = w * cell.height / cell.width;
            var c = at || {x: view.x + view.w / 2, y: view.y + view.h / 2};
            view.x = c.x - (c.x - view.x) * w / view.w;
            view.y = c.y - (c.y - view.y) * h / view.h;
            view.w = w; view.h = h;
            setView();
          }
          var drag = null;
          svg.addEventListener('contextmenu', function (e) { e.preventDefault(); });
          svg.addEventListener('mousedown', function (e) {
            e.preventDefault();
            if (e.button === 2 || e.button === 1 || e.shiftKey) {
              drag = {pan: true, x: e.clientX, y: e.clientY, vx: view.x, vy: view.y};
            } else if (!frozen) {
              var p = point(e);
              drag = {pan: false, x0: p.x, y0: p.y, x1: p.x, y1: p.y};
            }
          });
          window.addEventListener('mousemove', function (e) {
            if (!drag) return;
            if (drag.pan) {
              var scale = view.w / svg.getBoundingClientRect().width;
              view.x = drag.vx - (e.clientX - drag.x) * scale;
              view.y = drag.vy - (e.clientY - drag.y) * scale;
              setView();
              return;
            }
            var p = point(e);
            drag.x1 = p.x; drag.y1 = p.y;
            drawing.setAttribute('x', Math.min(drag.x0, drag.x1));
            drawing.setAttribute('y', Math.min(drag.y0, drag.y1));
            drawing.setAttribute('width', Math.abs(drag.x1 - drag.x0));
            drawing.setAttribute('height', Math.abs(drag.y1 - drag.y0));
            drawing.style.display = '';
          });
          window.addEventListener('mouseup', function () {
            if (drag && !drag.pan) {
              var b = [Math.min(drag.x0, drag.x1), Math.min(drag.y0, drag.y1),
                Math.max(drag.x0, drag.x1), Math.max(drag.y0, drag.y1)].map(function (v) {
                  return Math.round(v * 10) / 10; });
              if (b[2] - b[0] >= 3 && b[3] - b[1] >= 3) {
                undo.push(boxes.slice());
                boxes.push(b);
                render();
              }
            }
            drawing.style.display = 'none';
            drag = null;
          });
          svg.addEventListener('wheel', function (e) {
            e.preventDefault();
            zoom(e.deltaY > 0 ? 1.25 : 0.8, point(e));
          }, {passive: false});

          function who() {
            if (data.user) return data.user;
            var name = reviewer ? reviewer.value.trim() : '';
            if (name) localStorage.setItem('karyocount.reviewer', name);
            return name;
          }
          function submit(body, then) {
            body.reviewer = who();
            if (!body.reviewer) { status.textContent = 'type your name as reviewer first'; return; }
            status.textContent = 'saving...';
            fetch(data.review_api, {method: 'POST', credentials: 'same-origin',
              headers: {'Content-Type': 'application/json', 'X-KaryoCount-CSRF': csrf}, body: JSON.stringify(body)})
              .then(function (r) {
                if (!r.ok) return r.text().then(function (t) { status.textContent = 'not saved: ' + t; });
                return r.json().then(function (c) {
                  cell = c;
                  status.textContent = 'saved: count ' + c.count + ' (' + c.reviews[c.reviews.length - 1].changes + ')';
                  history();
                  render();
                  if (then) then();
                });
              });
          }
          function accept() {
            submit({boxes: boxes}, function () { if (data.next_url) location.href = data.next_url; });
          }
          function history() {
            var list = document.getElementById('history');
            list.textContent = '';
            if (cell.reviews.length === 0) {
              var none = document.createElement('li');
              none.textContent = 'not reviewed yet';
              list.appendChild(none);
            }
            cell.reviews.forEach(function (r) {
              var li = document.createElement('li');
              li.textContent = r.reviewed_at + ' ' + r.reviewer + ': ' + r.changes;
              list.appendChild(li);
            });
          }
          function go(url) { if (url) location.href = url; }
          document.getElementById('prev').onclick = function () { go(data.previous_url); };
          document.getElementById('next').onclick = function () { go(data.next_url); };
          document.getElementById('prev').disabled = !data.previous_url;
          document.getElementById('next').disabled = !data.next_url;
          document.getElementById('accept').onclick = accept;
          document.getElementById('accept').disabled = frozen;
          document.getElementById('save-typed').disabled = frozen;
          document.getElementById('save-typed').onclick = function () {
            var n = parseInt(document.getElementById('typed').value, 10);
            if (isNaN(n)) { status.textContent = 'type a count first'; return; }
            submit({count: n});
          };
          var below = document.getElementById('below');
          below.onchange = function () { belowLayer.style.display = below.checked ? '' : 'none'; };
          document.addEventListener('keydown', function (e) {
            if (e.target.tagName === 'INPUT' || e.ctrlKey || e.metaKey || e.altKey) return;
            var k = e.key;
            if (k === 'n' || k === 'ArrowRight') go(data.next_url);
            else if (k === 'p' || k === 'ArrowLeft') go(data.previous_url);
            else if (k === 'a' && !frozen) accept();
            else if (k === 'b') { below.checked = !below.checked; below.onchange(); }
            else if (k === '+' || k === '=') zoom(0.8);
            else if (k === '-') zoom(1.25);
            else if (k === '0') { view = {x: 0, y: 0, w: cell.width, h: cell.height}; setView(); }
            else if (k === 'u' && undo.length) { boxes = undo.pop(); render(); }
          });
          renderBelow();
          render();
          history();
        })();
        """
}
