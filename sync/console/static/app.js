// campusgate school console: live updates (server-sent events), the alert
// sound, printing, the report's charts. Everything works without it too:
// this only keeps pages current and makes them speak up.
'use strict';
(function () {
  const page = document.body.dataset.page;

  // Print buttons.
  document.querySelectorAll('button.print').forEach(b => b.addEventListener('click', () => window.print()));

  // The alert sound: browsers let a page play sound only after a click.
  let audio = null;
  const sound = document.getElementById('sound');
  if (sound) sound.addEventListener('click', () => {
    audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    audio.resume();
    beep(1);
    sound.textContent = sound.dataset.ready;
  });
  function beep(times) {
    if (!audio) return;
    for (let i = 0; i < times; i++) {
      const o = audio.createOscillator(), g = audio.createGain();
      o.type = 'square'; o.frequency.value = i % 2 ? 660 : 880;
      g.gain.value = 0.15;
      o.connect(g); g.connect(audio.destination);
      const t = audio.currentTime + i * 0.35;
      o.start(t); o.stop(t + 0.25);
    }
  }

  // Live sections: on an event, fetch this page again and swap each
  // [data-live] section that changed, unless someone is typing in it.
  const live = document.querySelectorAll('[data-live]');
  // An event while a fetch is under way fetches again after it: the page
  // fetched may be older than the event.
  let pending = false, again = false;
  async function refresh() {
    if (pending) { again = true; return; }
    pending = true;
    try {
      const r = await fetch(location.href, { credentials: 'same-origin', headers: { 'Accept': 'text/html' } });
      if (r.redirected && r.url.includes('/login')) { location.href = r.url; return; }
      const doc = new DOMParser().parseFromString(await r.text(), 'text/html');
      document.querySelectorAll('[data-live]').forEach(el => {
        const fresh = doc.querySelector('[data-live="' + el.dataset.live + '"]');
        if (!fresh || fresh.innerHTML === el.innerHTML) return;
        if (el.contains(document.activeElement) && document.activeElement.tagName !== 'BUTTON') {
          el.addEventListener('focusout', () => setTimeout(refresh, 100), { once: true });
          return;
        }
        el.replaceWith(fresh);
      });
      // The database started or stopped refusing writes: the banner, on every page.
      const state = doc.getElementById('store-state'), el = document.getElementById('store-state');
      if (state && el && state.innerHTML !== el.innerHTML) el.replaceWith(state);
      countAlerts(doc);
    } catch (e) { /* the next event tries again */ } finally {
      pending = false;
      if (again) { again = false; refresh(); }
    }
  }
  function countAlerts(doc) {
    const badge = document.getElementById('alert-count');
    if (!badge) return;
    const n = (doc || document).querySelectorAll('article.alert.fever[data-alert], article.alert.fever[data-unsaved]').length;
    if (page === 'alerts') { badge.hidden = n === 0; badge.textContent = n; }
  }
  countAlerts();

  if (document.querySelector('header.top nav')) {
    const lost = document.getElementById('live-lost');
    const es = new EventSource('/api/events');
    // Events sent while the stream was away (campusd restarting, the network
    // gone) are not sent again: a page whose stream is back fetches itself.
    let opened = false;
    es.onopen = () => {
      lost.hidden = true;
      if (opened) refresh();
      opened = true;
    };
    es.onerror = () => { lost.hidden = false; };
    es.addEventListener('alert', e => {
      beep(3);
      const badge = document.getElementById('alert-count');
      if (badge && page !== 'alerts') { badge.hidden = false; badge.textContent = (parseInt(badge.textContent || '0', 10) + 1); }
      if (live.length) refresh();
    });
    es.addEventListener('escalated', () => { beep(5); if (live.length) refresh(); });
    es.addEventListener('changed', () => { if (live.length) refresh(); });
    es.addEventListener('store', refresh);
  }

  // The daily report's charts.
  const data = document.getElementById('chart-data');
  if (data && window.echarts) {
    const d = JSON.parse(data.textContent);
    const arr = echarts.init(document.getElementById('chart-arrivals'));
    arr.setOption({
      tooltip: { trigger: 'axis' }, legend: { top: 0 }, grid: { left: 40, right: 16, bottom: 30, top: 36 },
      xAxis: { type: 'category', data: d.slots || [] }, yAxis: { type: 'value', minInterval: 1 },
      series: Object.keys(d.gates || {}).sort().map(g => ({ name: g, type: 'bar', stack: 'all', barMaxWidth: 28, data: d.gates[g] })),
    });
    const fev = echarts.init(document.getElementById('chart-fevers'));
    fev.setOption({
      tooltip: { trigger: 'axis' }, grid: { left: 40, right: 16, bottom: 30, top: 20 },
      xAxis: { type: 'category', data: (d.fever_days || []).map(x => x.slice(5)) }, yAxis: { type: 'value', minInterval: 1 },
      series: [{ name: d.fever_label, type: 'line', data: d.fever_counts || [], areaStyle: {} }],
    });
    window.addEventListener('resize', () => { arr.resize(); fev.resize(); });
    document.body.dataset.charts = 'drawn';
  }
})();
