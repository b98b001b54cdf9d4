// Agora moderation: a small page for the review queues (docs/moderation.md), on Agora's
// public HTTP API only. Plain JavaScript, no build step. It keeps the signed-in
// moderator's token in this tab's sessionStorage.
//
// Configuration, first found wins: the URL fragment (#token=<JWT>&api=<HTTP API URL>),
// what this tab stored at its last sign-in, the local stack's GET /local/config, the
// page's own origin.
(() => {
  'use strict';

  const STORAGE_KEY = 'agora-moderation';
  const PAGE = 20;

  const $ = (id) => document.getElementById(id);

  const { el, jwtSubject, enc } = window.Agora;

  const state = {
    api: '',
    token: '',
    me: '',
    community: '', // the queue shown: '' is the global one
    cursor: null,
    entries: [],
    review: null, // the open review item (its detail)
  };

  // ---- HTTP API --------------------------------------------------------------------

  function api(method, path, body) {
    return window.Agora.call(
      state.api,
      state.token,
      () => signOut('Your token was refused (expired?). Sign in again.'),
      method,
      path,
      body,
    );
  }

  // ---- what an entry is about ------------------------------------------------------

  const KINDS = {
    topic: 'Topic', reply: 'Reply', message: 'Chat message', room: 'Group name',
    activity: 'Activity', comment: 'Comment', community: 'Community',
  };

  function kindOf(entry) {
    return KINDS[entry.content && entry.content.kind] || 'Item';
  }

  function excerpt(entry) {
    const text = Object.values(entry.text || {}).filter(Boolean).join(' — ');
    if (!text) return '(gone)';
    return text.length > 140 ? `${text.slice(0, 139)}…` : text;
  }

  function categories(screening) {
    const list = (screening && screening.categories) || [];
    return list.length ? list.join(', ') : 'none';
  }

  function verdictText(screening) {
    if (!screening) return '';
    const how = screening.status === 'reported' ? 'hidden after reports' : screening.status;
    const confidence = typeof screening.confidence === 'number' ? screening.confidence.toFixed(2) : '?';
    return `${how}; confidence ${confidence}; categories: ${categories(screening)}`;
  }

  // ---- the queue -------------------------------------------------------------------

  async function loadQueue(more = false) {
    const list = $('queue');
    $('queue-error').textContent = '';
    if (!more) {
      state.cursor = null;
      state.entries = [];
      list.dataset.ready = 'false';
    }
    const params = new URLSearchParams({ limit: String(PAGE) });
    if (state.community) params.set('communityId', state.community);
    if (more && state.cursor) params.set('cursor', state.cursor);
    $('queue-title').textContent = state.community ? `Queue of ${state.community}` : 'Global queue';
    try {
      const page = await api('GET', `/v1/moderation/queue?${params}`);
      state.entries.push(...(page.items || []));
      state.cursor = page.nextCursor || null;
    } catch (error) {
      $('queue-error').textContent = `The queue could not be read: ${error.message}`;
    }
    renderQueue();
    list.dataset.ready = 'true';
  }

  function renderQueue() {
    const list = $('queue');
    list.replaceChildren(...state.entries.map((entry) => el('li', {
      class: `inbox-entry${state.review && state.review.reviewId === entry.reviewId ? ' active' : ''}`,
      'data-testid': 'queue-entry',
      'data-review-id': entry.reviewId,
    }, el('button', {
      type: 'button',
      class: 'entry-button',
      'data-testid': 'open-review',
      onclick: () => openReview(entry.reviewId),
    },
    el('strong', { text: `${kindOf(entry)} · ${categories(entry.screening)}` }),
    el('span', { class: 'preview', text: excerpt(entry) }),
    el('span', {
      class: 'hint',
      text: `by ${entry.authorId}${entry.reports ? ` · ${entry.reports} report(s)` : ''}`,
    })))));
    $('queue-empty').hidden = state.entries.length > 0;
    $('queue-more').hidden = !state.cursor;
  }

  // ---- one item --------------------------------------------------------------------

  async function openReview(reviewId) {
    $('decision-error').textContent = '';
    $('decision-result').textContent = '';
    try {
      state.review = await api('GET', `/v1/moderation/queue/${enc(reviewId)}`);
    } catch (error) {
      $('queue-error').textContent = `That item could not be read: ${error.message}`;
      return;
    }
    renderReview();
    renderQueue();
  }

  function renderReview() {
    const review = state.review;
    $('review-placeholder').hidden = Boolean(review);
    const detail = $('review-detail');
    detail.hidden = !review;
    if (!review) return;
    detail.dataset.reviewId = review.reviewId;
    detail.dataset.status = review.status;
    $('review-title').textContent = `${kindOf(review)} by ${review.authorId}`;
    $('review-meta').textContent = [
      `flagged ${new Date(review.flaggedAt).toLocaleString()}`,
      review.communityId ? `community ${review.communityId}` : 'outside communities',
      `status ${review.status}`,
    ].join(' · ');
    $('review-text').replaceChildren(...Object.entries(review.text || { text: '(gone)' })
      .flatMap(([field, value]) => [el('dt', { text: field }), el('dd', { 'data-testid': 'review-text-value', text: value })]));
    $('review-verdict').textContent = verdictText(review.screening);
    const reports = review.reportList || [];
    $('review-reports').replaceChildren(...(reports.length ? reports.map((r) => el('li', {
      'data-testid': 'review-report',
    }, `${r.reason} — ${r.reporterId}${r.note ? `: “${r.note}”` : ''}`)) : [el('li', { class: 'hint', text: 'No reports.' })]));
    const history = review.authorHistory || [];
    $('review-history').replaceChildren(...(history.length ? history.map((h) => el('li', {
      'data-testid': 'review-history-entry',
    }, `${kindOf(h)} · ${categories(h.screening)} · ${h.decision ? h.decision.action : h.status}`)) : [el('li', { class: 'hint', text: 'Nothing else hidden.' })]));
    const open = review.status === 'open';
    $('decision-form').hidden = !open;
    if (!open && review.decision) {
      $('decision-result').textContent = `Decided: ${review.decision.action} (${review.decision.reason})`;
    }
  }

  async function decide(action) {
    const review = state.review;
    if (!review) return;
    const reason = $('decision-reason').value.trim();
    $('decision-error').textContent = '';
    if (!reason) {
      $('decision-error').textContent = 'Give a reason: it goes to the audit log.';
      return;
    }
    for (const button of $('decision-form').querySelectorAll('button')) button.disabled = true;
    try {
      const decided = await api('POST', `/v1/moderation/queue/${enc(review.reviewId)}`, { action, reason });
      state.review = { ...review, ...decided };
      state.entries = state.entries.filter((entry) => entry.reviewId !== review.reviewId);
      $('decision-reason').value = '';
      renderReview();
      renderQueue();
    } catch (error) {
      $('decision-error').textContent = `Not decided: ${error.message}`;
    } finally {
      for (const button of $('decision-form').querySelectorAll('button')) button.disabled = false;
    }
  }

  // ---- sign-in ---------------------------------------------------------------------

  async function readConfig() {
    const hash = new URLSearchParams(location.hash.slice(1));
    let stored = {};
    try { stored = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || '{}'); } catch { stored = {}; }
    const fromHash = hash.has('token') || hash.has('api');
    const config = {
      token: hash.get('token') || (fromHash ? '' : stored.token) || '',
      api: hash.get('api') || stored.api || '',
    };
    if (fromHash) history.replaceState(null, '', location.pathname + location.search);
    if (!config.api) {
      try {
        const response = await fetch(`${location.origin}/local/config`);
        config.api = response.ok ? (await response.json()).httpApi || '' : '';
      } catch {
        config.api = '';
      }
    }
    config.api = (config.api || location.origin).replace(/\/+$/, '');
    return config;
  }

  async function showSignIn(config, message) {
    $('moderation').hidden = true;
    $('sign-in').hidden = false;
    $('sign-in-error').textContent = message || '';
    $('token-form').elements.api.value = config.api || '';
    await window.Agora.offerDemoUsers(config.api, (token) => signIn({ api: config.api, token }));
  }

  async function signIn(config) {
    const me = jwtSubject(config.token);
    if (!me) {
      showSignIn(config, 'That token is not a JWT with a subject.');
      return;
    }
    Object.assign(state, { api: config.api, token: config.token, me });
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ api: state.api, token: state.token }));
    $('sign-in').hidden = true;
    $('moderation').hidden = false;
    $('sign-out').hidden = false;
    $('me').hidden = false;
    $('me').textContent = me;
    await loadQueue();
  }

  function signOut(message) {
    sessionStorage.removeItem(STORAGE_KEY);
    const config = { api: state.api };
    Object.assign(state, { token: '', me: '', review: null, entries: [], cursor: null });
    $('sign-out').hidden = true;
    $('me').hidden = true;
    renderReview();
    showSignIn(config, message);
  }

  // ---- wiring ----------------------------------------------------------------------

  function wire() {
    $('token-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const form = event.target;
      signIn({
        token: form.elements.token.value.trim(),
        api: (form.elements.api.value.trim() || location.origin).replace(/\/+$/, ''),
      });
    });
    $('sign-out').addEventListener('click', () => signOut());
    $('queue-form').addEventListener('submit', (event) => {
      event.preventDefault();
      state.community = $('queue-community').value.trim();
      state.review = null;
      renderReview();
      loadQueue();
    });
    $('queue-more').addEventListener('click', () => loadQueue(true));
    $('decision-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const action = event.submitter && event.submitter.value;
      if (action === 'approve' || action === 'remove') decide(action);
    });
  }

  async function start() {
    wire();
    const config = await readConfig();
    if (config.token) await signIn(config);
    else await showSignIn(config);
  }

  start();
})();
