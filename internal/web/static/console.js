// imapmigrate console: live figures without reloading.
//
// Every page works without this file. With it, a table that has a
// data-poll attribute is refreshed every 2 seconds from that JSON route:
// cells are rewritten in place (so keyboard focus stays where it is), and
// a batch's buttons are swapped when its state changes. A row that appears
// or disappears reloads the page. The status filter of a batch hides rows
// at once instead of submitting its form.
'use strict';

(() => {
  const INTERVAL = 2000;
  document.documentElement.classList.add('js');

  const setText = (el, text) => {
    text = String(text);
    if (el && el.textContent !== text) el.textContent = text;
  };

  // setProgress updates a cell holding a <progress> and its text.
  const setProgress = (cell, p) => {
    if (!cell) return;
    const bar = cell.querySelector('progress');
    if (bar) {
      bar.max = p.max;
      if (p.indeterminate) bar.removeAttribute('value');
      else bar.value = p.value;
      bar.setAttribute('aria-label', p.text);
      setText(bar, p.text);
    }
    setText(cell.querySelector('.progress-text'), p.text);
  };

  // setActions swaps a batch's buttons when the possible actions changed.
  const setActions = (el, actions, html) => {
    const key = actions.join(' ');
    if (!el || el.dataset.actions === key) return;
    el.dataset.actions = key;
    el.innerHTML = html; // rendered by the server's html/template
  };

  // poll calls apply with the JSON of url every INTERVAL, skipping while
  // the tab is hidden or the previous request is still out.
  const poll = (url, apply) => {
    let busy = false;
    const tick = async () => {
      if (busy || document.hidden) return;
      busy = true;
      try {
        const r = await fetch(url, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
        if (r.status === 401) {
          location.assign('/login?next=' + encodeURIComponent(location.pathname + location.search));
          return;
        }
        if (r.ok) apply(await r.json());
      } catch (e) {
        // The server is restarting or the network is down: keep the last
        // figures and try again at the next tick.
      } finally {
        busy = false;
      }
    };
    setInterval(tick, INTERVAL);
  };

  const rowsBy = (table, attr) => {
    const m = new Map();
    table.querySelectorAll('tbody tr[' + attr + ']').forEach((tr) => m.set(tr.getAttribute(attr), tr));
    return m;
  };

  const sameKeys = (map, names) => map.size === names.length && names.every((n) => map.has(n));

  const batchesTable = document.querySelector('table#batches[data-poll]');
  if (batchesTable) {
    poll(batchesTable.dataset.poll, (data) => {
      const rows = rowsBy(batchesTable, 'data-batch');
      if (!sameKeys(rows, data.batches.map((b) => b.name))) {
        location.reload();
        return;
      }
      for (const b of data.batches) {
        const tr = rows.get(b.name);
        for (const [cls, v] of [['state', b.state], ['users', b.users], ['synced', b.synced], ['failed', b.failed],
          ['blocked', b.blocked], ['items', b.items], ['skipped', b.skipped], ['last-sync', b.last_sync], ['next-sync', b.next_sync]]) {
          setText(tr.querySelector('td.' + cls), v);
        }
        setProgress(tr.querySelector('td.progress'), b.progress);
        setActions(tr.querySelector('td.actions'), b.actions, b.actions_html);
      }
    });
  }

  const usersTable = document.querySelector('table#users[data-poll]');
  const filter = document.getElementById('status-filter');

  const applyFilter = () => {
    if (!usersTable || !filter) return;
    usersTable.querySelectorAll('tbody tr[data-user]').forEach((tr) => {
      tr.hidden = filter.value !== '' && tr.dataset.status !== filter.value;
    });
  };

  if (filter) {
    filter.addEventListener('change', () => {
      applyFilter();
      const u = new URL(location.href);
      if (filter.value) u.searchParams.set('status', filter.value);
      else u.searchParams.delete('status');
      history.replaceState(null, '', u);
    });
  }

  if (usersTable) {
    poll(usersTable.dataset.poll, (data) => {
      const rows = rowsBy(usersTable, 'data-user');
      if (!sameKeys(rows, data.users.map((u) => u.email))) {
        location.reload();
        return;
      }
      for (const [id, v] of [['batch-state', data.state], ['batch-items', data.items], ['batch-size', data.size],
        ['batch-last-sync', data.last_sync], ['batch-next-sync', data.next_sync], ['batch-grade', data.grade]]) {
        setText(document.getElementById(id), v);
      }
      setActions(document.getElementById('batch-actions'), data.actions, data.actions_html);
      for (const u of data.users) {
        const tr = rows.get(u.email);
        tr.dataset.status = u.status;
        for (const [cls, v] of [['status', u.status], ['grade', u.grade], ['synced', u.synced], ['skipped', u.skipped], ['failed', u.failed],
          ['bytes', u.bytes_text], ['last-sync', u.last_sync], ['error', u.error]]) {
          setText(tr.querySelector('td.' + cls), v);
        }
        const bytes = tr.querySelector('td.bytes');
        if (bytes) bytes.dataset.value = u.bytes;
        setProgress(tr.querySelector('td.progress'), u.progress);
      }
      applyFilter();
    });
  }

  // The endpoint form's profile select shows the profile's defaults as
  // the placeholders of the fields left to it: they stay empty, so that
  // the profile's figures apply (and follow it).
  const profile = document.getElementById('ep-profile');
  if (profile) {
    const fields = { host: 'ep-host', port: 'ep-port', maxMigrations: 'ep-max-migrations', maxMessageSize: 'ep-max-message-size' };
    const initial = {};
    for (const [key, id] of Object.entries(fields)) {
      const el = document.getElementById(id);
      if (el) initial[key] = el.placeholder;
    }
    const secDefault = document.querySelector('#ep-security option[value=""]');
    const showDefaults = () => {
      const o = profile.selectedOptions[0];
      if (!o) return;
      for (const [key, id] of Object.entries(fields)) {
        const el = document.getElementById(id);
        if (el) el.placeholder = o.dataset[key] || initial[key];
      }
      if (secDefault) {
        secDefault.textContent = o.dataset.security ? `default (${o.dataset.security}, the profile's)` : 'default (tls on port 993, else starttls)';
      }
    };
    profile.addEventListener('change', showDefaults);
    showDefaults();
  }
})();
