// Agora web pages: what the chat page (app.js) and the moderation page (moderation.js)
// share. Plain JavaScript, no build step: loaded first, it defines window.Agora.
(() => {
  'use strict';

  /** Creates an element: attrs (text, class, data-*, on*), then children. */
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'text') node.textContent = value;
      else if (key === 'class') node.className = value;
      else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /** The subject (`sub`) of a JWT, or '' when it is not one. */
  function jwtSubject(token) {
    try {
      const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      const padded = part + '='.repeat((4 - (part.length % 4)) % 4);
      const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
      const claims = JSON.parse(new TextDecoder().decode(bytes));
      return typeof claims.sub === 'string' ? claims.sub : '';
    } catch {
      return '';
    }
  }

  /** A failed call, with the problem's detail (problem+json) when there is one. */
  class ApiError extends Error {
    constructor(status, body) {
      const detail = body && typeof body === 'object' ? body.detail || body.title || body.message : '';
      super(detail ? `${detail} (HTTP ${status})` : `HTTP ${status}`);
      this.status = status;
      this.body = body;
    }
  }

  /**
   * Calls the HTTP API at `base` with `token`; resolves with the JSON answer, rejects
   * with an ApiError (after calling `onUnauthorized` for a 401).
   */
  async function call(base, token, onUnauthorized, method, path, body) {
    const headers = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(base + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch { data = text; }
    }
    if (!response.ok) {
      if (response.status === 401) onUnauthorized();
      throw new ApiError(response.status, data);
    }
    return data;
  }

  /**
   * Lists the local stack's demo users (GET /local/demo-users) in #demo-users, each a
   * button that calls `pick` with its token; #demo-block stays hidden when there are
   * none (anywhere but the local stack).
   */
  async function offerDemoUsers(base, pick) {
    const list = document.getElementById('demo-users');
    const block = document.getElementById('demo-block');
    list.replaceChildren();
    try {
      const response = await fetch(`${base}/local/demo-users`);
      const users = response.ok ? (await response.json()).items || [] : [];
      for (const user of users) {
        list.append(el('button', {
          type: 'button',
          'data-testid': 'demo-user',
          'data-user-id': user.userId,
          onclick: () => pick(user.token),
        }, el('span', { text: user.displayName }), el('span', { class: 'handle', text: `@${user.handle}` })));
      }
      block.hidden = users.length === 0;
    } catch {
      block.hidden = true;
    }
  }

  window.Agora = { el, jwtSubject, ApiError, call, offerDemoUsers, enc: encodeURIComponent };
})();
